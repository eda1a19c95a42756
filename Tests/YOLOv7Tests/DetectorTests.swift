import Foundation
import Testing
import YOLOv7

/// The library as a user calls it, on the shipped model and pictures: what it finds (against
/// official detect.py, Tests/Fixtures/detect, made by tools/make_detect_fixtures.py), the JSON it
/// encodes, and that every way in (path, bytes, image, batch, async, many tasks at once) gives
/// the same boxes.
struct DetectorTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let weights = root.appendingPathComponent("weights/yolov7-tiny-bccd.pt")
    static let images = ["BloodImage_00031.jpg", "BloodImage_00178.jpg", "BloodImage_00249.jpg", "BloodImage_00391.jpg"]
        .map { root.appendingPathComponent("images/\($0)") }

    /// One loaded detector per size for the whole suite (loading is the slow part).
    static let detector640 = Result { try Detector(contentsOf: weights) }
    static let detector416 = Result { try Detector(contentsOf: weights, options: Detector.Options(imageSize: 416)) }

    struct Official: Decodable {
        let image: String
        let detections: [Detection]
    }

    static func iou(_ a: Detection, _ b: Detection) -> Float {
        let ix = max(0, min(a.x2, b.x2) - max(a.x1, b.x1)), iy = max(0, min(a.y2, b.y2) - max(a.y1, b.y1))
        let inter = ix * iy
        let union = a.width * a.height + b.width * b.height - inter
        return union > 0 ? inter / union : 0
    }

    /// Official boxes found with IoU >= 0.98 and |confidence change| <= 0.005 (our forward pass
    /// is not PyTorch's bit for bit; that is what it moves at most on BCCD), none extra.
    @Test(arguments: [416, 640])
    func findsTheOfficialBoxes(size: Int) throws {
        let detector = try (size == 416 ? Self.detector416 : Self.detector640).get()
        #expect(detector.classNames == ["RBC", "WBC", "Platelets"] && detector.inputSize == size)
        let data = try Data(contentsOf: Self.root.appendingPathComponent("Tests/Fixtures/detect/official_detect_\(size).json"))
        let official = try JSONDecoder().decode([Official].self, from: data)
        var total = 0, matched = 0, extra = 0
        for url in Self.images {
            let reference = try #require(official.first { $0.image == url.lastPathComponent })
            var ours = try detector.detect(contentsOf: url)
            total += reference.detections.count
            for d in reference.detections {
                guard let best = ours.indices.filter({ ours[$0].classID == d.classID })
                    .max(by: { Self.iou(ours[$0], d) < Self.iou(ours[$1], d) }) else { continue }
                if Self.iou(ours[best], d) >= 0.98 && abs(ours[best].confidence - d.confidence) <= 0.005 { matched += 1 }
                ours.remove(at: best)
            }
            extra += ours.count
        }
        #expect(total > 80)
        #expect(Double(matched) >= 0.98 * Double(total), "\(matched)/\(total)")
        #expect(extra == 0)
    }

    /// The detection JSON of the design notes, key for key, and back.
    @Test func encodesTheDetectionJSON() throws {
        let found = ImageDetections(image: "a.jpg", width: 640, height: 480, detections: [
            Detection(classID: 2, className: "Platelets", confidence: 0.5, x1: 1, y1: 2, x2: 3.5, y2: 4)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = String(decoding: try encoder.encode(found), as: UTF8.self)
        #expect(text == #"{"detections":[{"box":[1,2,3.5,4],"class":"Platelets","class_id":2,"confidence":0.5}],"height":480,"image":"a.jpg","width":640}"#)
        #expect(try JSONDecoder().decode(ImageDetections.self, from: Data(text.utf8)) == found)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Detection.self, from: Data(#"{"box":[1,2,3],"class":"x","class_id":0,"confidence":1}"#.utf8))
        }
    }

    /// Path, bytes, decoded image, batch of images, batch of files: the same boxes.
    @Test func everyWayInGivesTheSameBoxes() throws {
        let detector = try Self.detector640.get()
        let url = Self.images[1]
        let expected = try detector.detect(contentsOf: url)
        #expect(expected.count > 10)
        let bytes = try Data(contentsOf: url)
        #expect(try detector.detect(encoded: bytes) == expected)
        #expect(detector.detect(try RGBImage(contentsOf: url)) == expected)
        let images = try Self.images.map { try RGBImage(contentsOf: $0) }
        let batch = detector.detect(images)
        #expect(batch[1] == expected)
        let files = detector.detect(contentsOf: Self.images + [Self.root.appendingPathComponent("README.md")], concurrency: 2)
        #expect(try files[1].get().detections == expected)
        #expect(try files[1].get().image == url.path && files[1].get().width == 640)
        #expect(try files.prefix(4).map { try $0.get().detections } == batch)
        #expect(throws: VisionError.self) { try files[4].get() }
        // A detector loaded from the file's bytes is the same model.
        let fromData = try Detector(data: try Data(contentsOf: Self.weights), name: "tiny.pt")
        #expect(fromData.detect(images[1]) == expected)
    }

    /// The calls a synchronous caller makes (in an async context the async forms win).
    static func alone(_ detector: Detector, _ images: [RGBImage]) -> [[Detection]] {
        images.map { detector.detect($0) }
    }

    /// One detector, many tasks at once (more than its contexts) through the async forms: each
    /// result is the one a call alone gives.
    @Test func concurrentTasksShareOneModel() async throws {
        let detector = try Detector(contentsOf: Self.weights, options: Detector.Options(imageSize: 320, maxConcurrentCalls: 2))
        let images = try Self.images.map { try RGBImage(contentsOf: $0) }
        let alone = Self.alone(detector, images)
        #expect(try await detector.detect(contentsOf: Self.images[0]) == alone[0])
        #expect(try await detector.detect(encoded: Data(contentsOf: Self.images[1])) == alone[1])
        #expect(await detector.detect(images) == alone)
        let together = await withTaskGroup(of: (Int, [Detection]).self) { group in
            for i in 0..<12 { group.addTask { (i, await detector.detect(images[i % images.count])) } }
            var results: [(Int, [Detection])] = []
            for await r in group { results.append(r) }
            return results
        }
        #expect(together.count == 12)
        for (i, found) in together { #expect(found == alone[i % images.count], "task \(i)") }
    }

    /// Per-call settings narrow what a call returns; the detector's own stay as they were.
    @Test func settingsForOneCall() throws {
        let detector = try Self.detector640.get()
        let image = try RGBImage(contentsOf: Self.images[2])
        let all = detector.detect(image)
        var strict = detector.options
        strict.confidenceThreshold = 0.6
        strict.classes = [0]
        strict.maxDetections = 5
        let few = try detector.detect(image, with: strict)
        #expect(!few.isEmpty && few.count <= 5)
        #expect(few.allSatisfy { $0.classID == 0 && $0.confidence > 0.6 })
        #expect(few.allSatisfy { d in all.contains(d) })
        var small = detector.options
        small.imageSize = 320
        #expect(try detector.detect(image, with: small) != all)
        #expect(detector.detect(image) == all)
        small.imageSize = 9000
        #expect(throws: DetectorError.self) { try detector.detect(image, with: small) }
    }

    @Test func refusesBadOptions() throws {
        func options(_ change: (inout Detector.Options) -> Void) -> Detector.Options {
            var o = Detector.Options()
            change(&o)
            return o
        }
        let bad = [options { $0.imageSize = 16 }, options { $0.confidenceThreshold = 1.5 }, options { $0.iouThreshold = -1 },
                   options { $0.maxDetections = 0 }, options { $0.classes = [3] }, options { $0.threads = 0 }]
        for o in bad {
            #expect(throws: DetectorError.self) { try Detector(contentsOf: Self.weights, options: o) }
        }
        // int8 needs its activation ranges from somewhere.
        #expect(throws: DetectorError.self) { try Detector(contentsOf: Self.weights, options: options { $0.precision = .int8 }) }
        // A file that is not weights: the loader's error, naming it.
        let readme = Self.root.appendingPathComponent("README.md")
        #expect { try Detector(contentsOf: readme) } throws: { "\($0)".contains("README.md") }
    }

    /// Kernel options belong to the detector: two with different ones live in one process and
    /// find the same objects (Winograd and sgemm round differently, hence the tolerance).
    @Test func kernelOptionsPerDetector() throws {
        var plain = KernelOptions()
        plain.winograd = false
        plain.pointwise = false
        let slow = try Detector(contentsOf: Self.weights, options: Detector.Options(imageSize: 320, kernels: plain))
        let fast = try Detector(contentsOf: Self.weights, options: Detector.Options(imageSize: 320))
        let image = try RGBImage(contentsOf: Self.images[0])
        let a = slow.detect(image), b = fast.detect(image)
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            #expect(x.classID == y.classID && abs(x.confidence - y.confidence) < 1e-3 && Self.iou(x, y) > 0.999)
        }
    }
}
