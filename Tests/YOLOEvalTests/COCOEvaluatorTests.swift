import Foundation
import Testing
import YOLOVision
@testable import YOLOEval

/// The fixtures of tools/coco_reference.py: annotations, results and pycocotools' 12 stats.
enum COCOFixtures {
    static let folder = Paths.packageRoot.appendingPathComponent("Tests/Fixtures/coco")

    struct Stats: Decodable {
        var stats: [Double]
        var summary: String
    }

    struct EdgeStats: Decodable {
        var cases: [String: Stats]
    }

    static func stats(_ file: URL) throws -> Stats {
        try JSONDecoder().decode(Stats.self, from: Data(contentsOf: file))
    }

    /// The 12 numbers against pycocotools'. The Swift evaluator does the same IEEE operations in
    /// the same order (NumPy's pairwise mean included), so they agree to the last bit in
    /// practice; 1e-9 leaves room for nothing but summation order, far inside the 1e-4 the
    /// issue asks for.
    static func expectMatches(_ metrics: COCOMetrics, _ reference: Stats, _ label: String) {
        #expect(metrics.stats.count == 12)
        for (i, (ours, theirs)) in zip(metrics.stats, reference.stats).enumerated() {
            #expect(abs(ours - theirs) <= 1e-9, "\(label) \(COCOMetrics.names[i]): \(ours) vs pycocotools \(theirs)")
        }
        #expect(metrics.summary == reference.summary, "\(label): summary lines differ")
    }
}

@Suite struct COCOEvaluatorTests {
    /// Acceptance 2: BCCD test (the engine's own `eval --coco-json` results at img 416) and
    /// Aquarium test (the BCCD model's boxes from the official test.py, a stand-in until an
    /// Aquarium model exists: near-zero numbers; and, for numbers with something to compare,
    /// results synthesised from its ground truth), all 12 as pycocotools computes them on the
    /// same files.
    @Test(arguments: ["bccd_test", "aquarium_test", "aquarium_test_synthetic"])
    func datasetSplitsMatchPycocotools(name: String) throws {
        let annotations = try COCOAnnotations.load(path: COCOFixtures.folder.appendingPathComponent("\(name)_annotations.json").path)
        let resultsPath = COCOFixtures.folder.appendingPathComponent("\(name)_results.json").path
        let results = try COCOResults.load(path: resultsPath)
        #expect(results.count > 500)
        let metrics = try COCOEvaluator(annotations: annotations).evaluate(results, resultsPath: resultsPath)
        COCOFixtures.expectMatches(metrics, try COCOFixtures.stats(COCOFixtures.folder.appendingPathComponent("\(name)_stats.json")), name)
    }

    /// Crowd boxes, a category without ground truth, the maxDets cut with tied scores, empty
    /// results, area-range edges, a ground truth with id 0, numeric ids, a random case.
    @Test func edgeCasesMatchPycocotools() throws {
        let edge = COCOFixtures.folder.appendingPathComponent("edge")
        let reference = try JSONDecoder().decode(COCOFixtures.EdgeStats.self, from: Data(contentsOf: edge.appendingPathComponent("stats.json")))
        #expect(reference.cases.count == 8)
        for (name, stats) in reference.cases.sorted(by: { $0.key < $1.key }) {
            let annotations = try COCOAnnotations.load(path: edge.appendingPathComponent("\(name)_annotations.json").path)
            let results = try COCOResults.load(path: edge.appendingPathComponent("\(name)_results.json").path)
            let metrics = try COCOEvaluator(annotations: annotations).evaluate(results)
            COCOFixtures.expectMatches(metrics, stats, name)
        }
    }

    /// The committed BCCD results are the engine's file: reading it and writing it again gives
    /// the same bytes (json.dump's layout and Python's float repr).
    @Test func resultsFileRoundTripsByteForByte() throws {
        let url = COCOFixtures.folder.appendingPathComponent("bccd_test_results.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        #expect(COCOResults.json(try COCOResults.load(path: url.path)) == text)
    }

    @Test func resultsAreRoundedAsTestPyRoundsThem() {
        // Python: round(v, 3) for [0.0625, 2.6755, 1.0005, 123.4565, 0.0004999, -0.0001] and
        // round(v, 5) for [0.123455, 0.9999951]: the exact binary value, ties to even.
        let three = [0.0625, 2.6755, 1.0005, 123.4565, 0.0004999, -0.0001].map { PythonJSON.round($0, digits: 3) }
        #expect(three == [0.062, 2.675, 1.0, 123.457, 0.0, -0.0])
        #expect(three.map(PythonJSON.number) == ["0.062", "2.675", "1.0", "123.457", "0.0", "-0.0"])
        #expect([0.123455, 0.9999951].map { PythonJSON.round($0, digits: 5) } == [0.12345, 1.0])

        // torch: xyxy2xywh, then the centre moved to the corner, in float32, then rounded:
        // [10.1, 20.35, 50.7, 99.99] -> [10.1, 20.35, 40.6, 79.64];
        // [0.0001, 3.3, 639.99, 479.5] -> [0.0, 3.3, 639.99, 476.2]; score 0.83421987 -> 0.83422.
        let image = ImageEvaluation(path: "data/images/test/000000000139.jpg", width: 640, height: 480, detections: [
            Detection(classID: 2, confidence: 0.83421987, x1: 10.1, y1: 20.35, x2: 50.7, y2: 99.99),
            Detection(classID: 0, confidence: 0.001, x1: 0.0001, y1: 3.3, x2: 639.99, y2: 479.5),
        ], labels: [], statistics: ImageStatistics(detections: [], labels: []))
        let records = COCOResults.records([image], categories: .classIndex)
        #expect(records.map(\.bbox) == [[10.1, 20.35, 40.6, 79.64], [0.0, 3.3, 639.99, 476.2]])
        #expect(records.map(\.score) == [0.83422, 0.001])
        #expect(records.allSatisfy { $0.imageID == .number(139) })
        #expect(COCOResults.json(records) == "[{\"image_id\": 139, \"category_id\": 2, \"bbox\": [10.1, 20.35, 40.6, 79.64], \"score\": 0.83422}, "
                + "{\"image_id\": 139, \"category_id\": 0, \"bbox\": [0.0, 3.3, 639.99, 476.2], \"score\": 0.001}]")
        // The COCO dataset itself numbers its 80 classes with 91-category ids.
        #expect(COCOResults.records([image], categories: .coco91).map(\.categoryID) == [3, 1])
        #expect(COCOResults.Categories(dataPath: "data/coco.yaml") == .coco91)
        #expect(COCOResults.Categories(dataPath: "../shared/datasets/bccd") == .classIndex)
    }

    @Test func imageIDsAreTestPyStems() {
        #expect(COCOImageID(imagePath: "coco/images/val2017/000000000139.jpg") == .number(139))
        #expect(COCOImageID(imagePath: "a/b/12.png") == .number(12))
        #expect(COCOImageID(imagePath: "BloodImage_00007.jpg") == .name("BloodImage_00007"))
        #expect(COCOImageID(imagePath: "12a.jpg") == .name("12a"))
        #expect(COCOImageID(imagePath: "x/1.2.jpg") == .name("1.2"))
        #expect(COCOImageID.name("café\"").description == "\"caf\\u00e9\\\"\"")
        #expect([COCOImageID.number(10), .number(9)].sorted() == [.number(9), .number(10)])
    }

    @Test func pycocotoolsStatsOrderAndSummaryFormat() {
        let metrics = COCOMetrics(stats: [0.5, 0.75, 0.25, -1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
        let lines = metrics.summary.split(separator: "\n").map(String.init)
        #expect(lines.count == 12)
        #expect(lines[0] == " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500")
        #expect(lines[3] == " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000")
        #expect(lines[6] == " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.300")
        let json = String(decoding: try! JSONOutput.encode(metrics), as: UTF8.self)
        #expect(json.contains("\"AP_small\" : -1") && json.contains("\"AR1\" : 0.3"))
        #expect(try! JSONDecoder().decode(COCOMetrics.self, from: Data(json.utf8)) == metrics)
    }

    /// IoU as pycocotools' bbIou: a crowd box's union is the detection's area; touching boxes 0.
    @Test func boxIoU() {
        #expect(COCOEvaluator.boxIoU([0, 0, 10, 10], [5, 0, 10, 10], crowd: false) == 50.0 / 150.0)
        #expect(COCOEvaluator.boxIoU([0, 0, 10, 10], [5, 0, 10, 10], crowd: true) == 0.5)
        #expect(COCOEvaluator.boxIoU([0, 0, 10, 10], [10, 0, 10, 10], crowd: false) == 0)
        #expect(COCOEvaluator.boxIoU([2, 2, 2, 2], [0, 0, 100, 100], crowd: true) == 1)
    }

    @Test func resultsOfUnknownImagesAreRefused() throws {
        let annotations = try COCOAnnotations(path: "a.json", images: [.init(id: .name("x"))], categories: [.init(id: 0, name: "c")],
                                              annotations: [])
        let stray = COCOResult(imageID: .name("y"), categoryID: 0, bbox: [0, 0, 1, 1], score: 0.5)
        #expect(throws: EvalError.cocoMismatch(path: "r.json", reason: "result 0 has image_id \"y\", which is not among the images of a.json")) {
            try COCOEvaluator(annotations: annotations).evaluate([stray], resultsPath: "r.json")
        }
        // No ground truth at all: every number is -1, as pycocotools prints.
        let metrics = try COCOEvaluator(annotations: annotations).evaluate([])
        #expect(metrics.stats == [Double](repeating: -1, count: 12))
    }
}

/// Acceptance 4: annotation files that are not COCO JSON, or do not fit the images and classes.
@Suite struct COCOAnnotationsTests {
    func parse(_ text: String) throws -> COCOAnnotations {
        try COCOAnnotations.parse(Data(text.utf8), path: "A.json")
    }

    func expectError(_ text: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try parse(text)
            Issue.record("no error for \(text)", sourceLocation: sourceLocation)
        } catch {
            let message = "\(error)"
            #expect(message.hasPrefix("A.json: ") && message.contains(fragment) && !message.contains("\n"), "\(message)",
                    sourceLocation: sourceLocation)
        }
    }

    static let image = #"{"id": "a"}"#
    static let category = #"{"id": 0, "name": "RBC"}"#
    func annotation(_ fields: String = "") -> String {
        #"{"id": 1, "image_id": "a", "category_id": 0, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0"# + fields + "}"
    }
    func file(images: String = image, annotations: String? = nil, categories: String = category) -> String {
        #"{"images": [\#(images)], "annotations": [\#(annotations ?? annotation())], "categories": [\#(categories)]}"#
    }

    @Test func aGoodFileReads() throws {
        let a = try parse(file(annotations: annotation() + "," + #"{"id": 2, "image_id": "a", "category_id": 0, "bbox": [0, 0, 5.5, 2], "area": 11, "iscrowd": true, "segmentation": []}"#))
        #expect(a.images.map(\.id) == [.name("a")] && a.categories.map(\.name) == ["RBC"])
        #expect(a.annotations.map(\.isCrowd) == [false, true] && a.annotations[1].bbox == [0, 0, 5.5, 2])
    }

    @Test func notCOCOJSON() {
        expectError("not json", "not COCO JSON (not a JSON object)")
        expectError("[1, 2]", "not COCO JSON (not a JSON object)")
        expectError(#"{"images": []}"#, "'annotations' is missing")
        expectError(file(annotations: #"{"id": 1, "image_id": "a", "category_id": 0, "bbox": [1, 2, 3, 4], "iscrowd": 0}"#),
                    "'annotations[0].area' is missing")
        expectError(file(annotations: annotation().replacingOccurrences(of: "[1, 2, 3, 4]", with: "\"box\"")),
                    "'annotations[0].bbox' has the wrong type")
        expectError(file(annotations: annotation().replacingOccurrences(of: "[1, 2, 3, 4]", with: "[1, 2, 3]")),
                    "annotation 1: 'bbox' is not [x, y, width, height]")
        expectError(file(annotations: annotation().replacingOccurrences(of: "[1, 2, 3, 4]", with: "[1, 2, -3, 4]")),
                    "non-negative size")
        expectError(file(images: Self.image + "," + Self.image), "image id \"a\" is listed twice")
        expectError(file(images: Self.image + "," + #"{"id": 7}"#), "image ids mix numbers and strings")
        expectError(file(annotations: annotation() + "," + annotation()), "annotation id 1 is used twice")
    }

    @Test func unknownImagesAndCategories() {
        expectError(file(annotations: annotation().replacingOccurrences(of: #""image_id": "a""#, with: #""image_id": "zz""#)),
                    "annotation 1 has image_id \"zz\", which is not among its images")
        expectError(file(annotations: annotation().replacingOccurrences(of: #""category_id": 0"#, with: #""category_id": 5"#)),
                    "annotation 1 has category_id 5, which is not among its categories")
    }

    @Test func imagesMustBeTheSplitsImages() throws {
        let a = try parse(file(images: #"{"id": "a"}, {"id": "b"}"#))
        try a.checkImages(["d/images/test/a.jpg", "d/images/test/b.png"], source: "d 'test'")
        #expect(throws: EvalError.cocoMismatch(path: "A.json", reason: "no image with id \"c\" (d/images/test/c.jpg of d 'test')")) {
            try a.checkImages(["d/images/test/a.jpg", "d/images/test/b.png", "d/images/test/c.jpg"], source: "d 'test'")
        }
        #expect(throws: EvalError.cocoMismatch(path: "A.json", reason: "image \"b\" is not one of the 1 images of d 'test'")) {
            try a.checkImages(["d/images/test/a.jpg"], source: "d 'test'")
        }
        #expect(throws: EvalError.self) { try a.checkImages(["x/a.jpg", "y/a.jpg", "b.jpg"], source: "d") }
        try a.checkCategories([0, 1, 2], modelDescription: "the model's classes")
        let b = try parse(file(categories: Self.category + "," + #"{"id": 3, "name": "fish"}"#))
        #expect(throws: EvalError.cocoMismatch(path: "A.json", reason: "category 3 ('fish') is not one of the model's 3 classes")) {
            try b.checkCategories([0, 1, 2], modelDescription: "the model's 3 classes")
        }
    }
}
