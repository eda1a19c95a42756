import Foundation
import Testing
import YOLOModel
import YOLOQuant
import YOLOVision
import class YOLOv7.Detector
@testable import YOLOEval

/// Tests pinned to official test.py on the first 8 BCCD test images
/// (Tests/Fixtures/eval/subset_reference.json, made by tools/make_eval_subset_reference.py).
@Suite struct OfficialSubsetTests {
    struct Reference: Decodable {
        struct Metrics: Decodable {
            struct PerClass: Decodable {
                var class_id: Int
                var labels: Int
                var AP50: Double
                var AP50_95: Double
                var precision: Double
                var recall: Double
            }
            var mAP50: Double
            var mAP50_95: Double
            var precision: Double
            var recall: Double
            var images: Int
            var labels: Int
            var per_class: [PerClass]
        }
        struct Image: Decodable {
            var image: String
            var original_hw: [Int]
            var letterboxed_hw: [Int]
            var pred_xyxy: [[Float]]
            var pred_conf: [Float]
            var pred_class: [Int]
            var label_class: [Int]
            var label_xyxy: [[Float]]
            var correct_masks: [UInt16]
        }
        struct Size: Decodable {
            var metrics: Metrics
            var per_image: [Image]?
        }
        var images: [String]
        var size416: Size
        var size640: Size

        enum CodingKeys: String, CodingKey {
            case images, size416 = "416", size640 = "640"
        }
    }

    static func load() throws -> Reference {
        let data = try Data(contentsOf: Paths.fixtures.appendingPathComponent("subset_reference.json"))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    func detections(_ image: Reference.Image) -> [Detection] {
        image.pred_xyxy.indices.map { i in
            let b = image.pred_xyxy[i]
            return Detection(classID: image.pred_class[i], confidence: image.pred_conf[i], x1: b[0], y1: b[1], x2: b[2], y2: b[3])
        }
    }

    func labels(_ image: Reference.Image) -> [LabelBox] {
        image.label_xyxy.indices.map { i in
            let b = image.label_xyxy[i]
            return LabelBox(classID: image.label_class[i], x1: b[0], y1: b[1], x2: b[2], y2: b[3])
        }
    }

    /// Our matching on the official detections and labels gives the official `correct` matrix.
    @Test func matchingReproducesOfficialCorrectMatrix() throws {
        let reference = try Self.load()
        let images = try #require(reference.size416.per_image)
        #expect(images.count == 8)
        for image in images {
            let stats = ImageStatistics(detections: detections(image), labels: labels(image))
            #expect(stats.correct == image.correct_masks, "\(image.image)")
        }
    }

    /// Our ap_per_class on the official statistics gives the official figures to the last bits.
    @Test func metricsReproduceOfficialFiguresFromOfficialStatistics() throws {
        let reference = try Self.load()
        let images = try #require(reference.size416.per_image)
        let stats = images.map {
            ImageStatistics(correct: $0.correct_masks, confidence: $0.pred_conf, predictedClass: $0.pred_class,
                            labelClasses: $0.label_class)
        }
        let m = DetectionMetrics(statistics: stats, images: images.count)
        let official = reference.size416.metrics
        #expect(abs(m.mAP50 - official.mAP50) < 1e-12)
        #expect(abs(m.mAP50to95 - official.mAP50_95) < 1e-12)
        #expect(abs(m.precision - official.precision) < 1e-12)
        #expect(abs(m.recall - official.recall) < 1e-12)
        #expect(m.labels == official.labels)
        #expect(m.classes.map(\.classID) == official.per_class.map(\.class_id))
        for (ours, theirs) in zip(m.classes, official.per_class) {
            #expect(ours.labels == theirs.labels)
            #expect(abs(ours.ap50 - theirs.AP50) < 1e-12)
            #expect(abs(ours.ap50to95 - theirs.AP50_95) < 1e-12)
            #expect(abs(ours.precision - theirs.precision) < 1e-12)
            #expect(abs(ours.recall - theirs.recall) < 1e-12)
        }
    }

    /// Labels go through the official float32 round trip to the same native boxes, and the
    /// eval letterbox has the official shape.
    @Test(.enabled(if: Paths.hasShared, Paths.sharedMissing))
    func labelBoxesAndLetterboxShapesMatchOfficial() throws {
        let reference = try Self.load()
        let images = try #require(reference.size416.per_image)
        for image in images {
            let path = Paths.bccd.appendingPathComponent("images/test/\(image.image)").path
            let sample = try EvalSample(path: path, imgSize: 416, stride: 32, classCount: 3)
            #expect([sample.height, sample.width] == image.original_hw)
            #expect([sample.letterbox.image.height, sample.letterbox.image.width] == image.letterboxed_hw)
            #expect(sample.labels == labels(image), "\(image.image)")
        }
    }

    /// The whole eval on the subset with the real model, against official test.py. Our forward
    /// pass is not bit-identical to PyTorch's, so low-confidence detections differ slightly;
    /// the tolerance is what that moves on 8 images.
    @Test(.enabled(if: Paths.hasShared, Paths.sharedMissing), arguments: [416, 640])
    func endToEndSubsetMatchesOfficial(size: Int) throws {
        let reference = try Self.load()
        let official = size == 416 ? reference.size416.metrics : reference.size640.metrics
        let model = try ModelLoader.load(path: Paths.tinyWeights.path)
        let all = try DatasetSplit.load(data: Paths.bccd.path, split: "test")
        var subset = all
        subset.images = all.images.filter { reference.images.contains(($0 as NSString).lastPathComponent) }
        #expect(subset.images.count == 8)
        let result = try Evaluator(pipeline: try Detector(model: model, options: .evaluation(imageSize: size))).evaluate(subset)
        let m = result.metrics
        #expect(m.images == official.images && m.labels == official.labels)
        #expect(result.skipped.isEmpty)
        #expect(abs(m.mAP50 - official.mAP50) < 0.002, "mAP50 \(m.mAP50) vs \(official.mAP50)")
        #expect(abs(m.mAP50to95 - official.mAP50_95) < 0.002, "mAP50-95 \(m.mAP50to95) vs \(official.mAP50_95)")
        #expect(abs(m.precision - official.precision) < 0.01, "P \(m.precision) vs \(official.precision)")
        #expect(abs(m.recall - official.recall) < 0.01, "R \(m.recall) vs \(official.recall)")
    }
}
