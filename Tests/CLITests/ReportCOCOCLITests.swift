import Foundation
import Testing

/// `compare --report` and `eval --coco-json / --coco-annotations` as a user runs them.
struct ReportCOCOCLITests {
    static let weights = "weights/yolov7-tiny-bccd.pt"

    /// A two-image dataset folder (images/test, labels/test) from the repo's sample pictures,
    /// and a COCO annotation file for it as tools/yolo_to_coco.py writes one.
    static func dataset(_ name: String) throws -> (root: URL, annotations: String) {
        let root = try CLI.temporaryFolder(name)
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("images/test"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("labels/test"), withIntermediateDirectories: true)
        for stem in ["BloodImage_00031", "BloodImage_00178"] {
            try fm.copyItem(at: CLI.packageRoot.appendingPathComponent("images/\(stem).jpg"),
                            to: root.appendingPathComponent("images/test/\(stem).jpg"))
        }
        try "0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n".write(to: root.appendingPathComponent("labels/test/BloodImage_00031.txt"),
                                                            atomically: true, encoding: .utf8)
        let annotations = """
            {"images": [{"id": "BloodImage_00031"}, {"id": "BloodImage_00178"}],
             "categories": [{"id": 0, "name": "RBC"}, {"id": 1, "name": "WBC"}, {"id": 2, "name": "Platelets"}],
             "annotations": [{"id": 1, "image_id": "BloodImage_00031", "category_id": 0, "bbox": [256, 192, 128, 96], "area": 12288, "iscrowd": 0},
                             {"id": 2, "image_id": "BloodImage_00031", "category_id": 1, "bbox": [128, 96, 64, 48], "area": 3072, "iscrowd": 0}]}
            """
        let path = root.appendingPathComponent("annotations.json").path
        try annotations.write(toFile: path, atomically: true, encoding: .utf8)
        return (root, path)
    }

    @Test func evalWritesCOCOResultsAndPrintsTheTwelveMetrics() throws {
        let (root, annotations) = try Self.dataset("coco-ok")
        defer { try? FileManager.default.removeItem(at: root) }
        let results = root.appendingPathComponent("results.json").path, json = root.appendingPathComponent("eval.json").path
        let r = try CLI.run(["eval", "--weights", Self.weights, "--data", root.path, "--img", "320",
                             "--coco-json", results, "--coco-annotations", annotations, "--json", json])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix(" Average ") }
        #expect(lines.count == 12 && lines[0].hasPrefix(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = "))
        let records = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: results))) as! [[String: Any]]
        #expect(records.count > 10 && records.allSatisfy { Set($0.keys) == ["image_id", "category_id", "bbox", "score"] })
        #expect(Set(records.map { $0["image_id"] as! String }) == ["BloodImage_00031", "BloodImage_00178"])
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any]
        let coco = report["coco"] as! [String: Any]
        #expect(coco.count == 13 && (coco["AP_small"] as! Double) == -1 && (coco["annotations"] as! String) == annotations)
    }

    /// Acceptance 4: annotations that do not fit, or are not COCO JSON: one line naming the
    /// file, exit 1, before any inference (nothing written).
    @Test func badAnnotationsFailBeforeInference() throws {
        let (root, good) = try Self.dataset("coco-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        let text = try String(contentsOfFile: good, encoding: .utf8)
        let cases: [(String, String, String)] = [
            ("notjson.json", "this is not JSON", "not COCO JSON"),
            ("list.json", "[]", "not COCO JSON"),
            ("unknown-image.json", text.replacingOccurrences(of: "\"image_id\": \"BloodImage_00031\", \"category_id\": 1",
                                                             with: "\"image_id\": \"Nope\", \"category_id\": 1"),
             "annotation 2 has image_id \"Nope\", which is not among its images"),
            ("extra-image.json", text.replacingOccurrences(of: "{\"id\": \"BloodImage_00178\"}", with: "{\"id\": \"BloodImage_00178\"}, {\"id\": \"Other\"}"),
             "image \"Other\" is not one of the 2 images of"),
            ("missing-image.json", text.replacingOccurrences(of: ", {\"id\": \"BloodImage_00178\"}", with: ""),
             "no image with id \"BloodImage_00178\""),
            ("unknown-category.json", text.replacingOccurrences(of: "{\"id\": 2, \"name\": \"Platelets\"}", with: "{\"id\": 2, \"name\": \"Platelets\"}, {\"id\": 9, \"name\": \"fish\"}"),
             "category 9 ('fish') is not one of the model's 3 class ids"),
        ]
        for (name, content, message) in cases {
            let path = root.appendingPathComponent(name).path
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            let results = root.appendingPathComponent("results-\(name)").path
            let r = try CLI.run(["eval", "--weights", Self.weights, "--data", root.path, "--coco-json", results, "--coco-annotations", path])
            #expect(r.status == 1, "\(name)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(path) && r.stderr.contains(message), "\(name): \(r.stderr)")
            #expect(!r.stdout.contains("Class") && !FileManager.default.fileExists(atPath: results), "\(name): inference ran")
        }
    }

    /// Acceptance 4: a report folder that exists and is not empty, or cannot be written: one
    /// line before any work (no model is loaded: the weights path is not even read).
    @Test func badReportFoldersFailBeforeAnyWork() throws {
        let root = try CLI.temporaryFolder("report-bad")
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("x".utf8).write(to: root.appendingPathComponent("old.txt"))
        for (folder, message) in [(root.path, "exists and is not empty"),
                                  (root.appendingPathComponent("old.txt").path, "exists and is not a folder"),
                                  ("/proc/yolov7-report", "cannot write the report here")] {
            let r = try CLI.run(["compare", "--baseline", "no/such/weights.pt", "--quantized", "no/such/q.safetensors",
                                 "--report", folder, "images"])
            #expect(r.status == 1)
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(folder) && r.stderr.contains(message), "\(r.stderr)")
        }
    }

    @Test func compareWritesTheReport() throws {
        let root = try CLI.temporaryFolder("report-ok")
        defer { try? FileManager.default.removeItem(at: root) }
        let quantized = root.appendingPathComponent("q4.safetensors").path
        #expect(try CLI.run(["quantize", "--weights", Self.weights, "--scheme", "affine", "--bits", "4", "--granularity", "filter",
                             "--out", quantized]).status == 0)
        let folder = root.appendingPathComponent("runs/report").path, json = root.appendingPathComponent("c.json").path
        let plain = root.appendingPathComponent("plain.json").path
        let r = try CLI.run(["compare", "--baseline", Self.weights, "--quantized", quantized, "--img", "320", "--report", folder,
                             "--json", json, "images/BloodImage_00031.jpg", "images/BloodImage_00178.jpg"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("wrote \(folder)/index.html"))
        let page = try String(contentsOfFile: folder + "/index.html", encoding: .utf8)
        #expect(page.hasPrefix("<!doctype html>") && page.contains("BloodImage_00031.jpg") && page.contains("<svg class=\"chart\""))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/images").sorted() == ["001.jpg", "002.jpg"])
        // The figures at --conf are those of a compare without a report.
        #expect(try CLI.run(["compare", "--baseline", Self.weights, "--quantized", quantized, "--img", "320", "--json", plain,
                             "images/BloodImage_00031.jpg", "images/BloodImage_00178.jpg"]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: json)) == Data(contentsOf: URL(fileURLWithPath: plain)))
        // A second run into the same, now full, folder is refused.
        let again = try CLI.run(["compare", "--baseline", Self.weights, "--quantized", quantized, "--report", folder, "images"])
        #expect(again.status == 1 && again.stderr.contains("exists and is not empty"))
    }

    /// Acceptance 2 and 3 end to end on BCCD test: `eval --coco-json` at 416 writes exactly the
    /// committed results file (the one pycocotools' loadRes read unchanged for the fixture), and
    /// `--coco-annotations` prints pycocotools' numbers for it.
    @Test(.enabled(if: CLI.hasShared, "needs ../shared/datasets/bccd; not found, skipped"))
    func bccdTestMatchesTheCommittedFixture() throws {
        let root = try CLI.temporaryFolder("coco-bccd")
        defer { try? FileManager.default.removeItem(at: root) }
        let fixtures = CLI.fixtures.appendingPathComponent("coco")
        let results = root.appendingPathComponent("results.json").path, json = root.appendingPathComponent("eval.json").path
        let r = try CLI.run(["eval", "--weights", Self.weights, "--data", CLI.shared.appendingPathComponent("datasets/bccd").path,
                             "--img", "416", "--coco-json", results, "--json", json,
                             "--coco-annotations", fixtures.appendingPathComponent("bccd_test_annotations.json").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: results)) == Data(contentsOf: fixtures.appendingPathComponent("bccd_test_results.json")))
        let reference = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtures.appendingPathComponent("bccd_test_stats.json"))) as! [String: Any]
        let coco = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as! [String: Any])["coco"] as! [String: Any]
        let names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]
        for (name, expected) in zip(names, reference["stats"] as! [Double]) {
            #expect(abs((coco[name] as! Double) - expected) <= 1e-9, "\(name)")  // same arithmetic as pycocotools (see COCOEvaluatorTests)
        }
        #expect(r.stdout.contains(reference["summary"] as! String))
    }
}
