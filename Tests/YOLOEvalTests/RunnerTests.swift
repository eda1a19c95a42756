import Foundation
import Testing
import YOLOModel
import YOLOQuant
import YOLOVision
import class YOLOv7.Detector
@testable import YOLOEval

/// The runner on small real inputs: skipping, and comparing a model with itself.
@Suite(.enabled(if: Paths.hasShared, Paths.sharedMissing))
struct RunnerTests {
    static let image = Paths.bccd.appendingPathComponent("images/test/BloodImage_00007.jpg")

    /// A dataset folder: one good image with its labels, one undecodable image, one image
    /// whose labels the official loader refuses (duplicates).
    func makeDataset() throws -> URL {
        let root = try Paths.temporaryFolder()
        let fm = FileManager.default
        try fm.createDirectory(at: root.appendingPathComponent("images/test"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("labels/test"), withIntermediateDirectories: true)
        try fm.copyItem(at: Self.image, to: root.appendingPathComponent("images/test/a.jpg"))
        try fm.copyItem(at: Paths.bccd.appendingPathComponent("labels/test/BloodImage_00007.txt"),
                        to: root.appendingPathComponent("labels/test/a.txt"))
        try Data("not an image".utf8).write(to: root.appendingPathComponent("images/test/b.jpg"))
        try fm.copyItem(at: Self.image, to: root.appendingPathComponent("images/test/c.jpg"))
        try "0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1\n".write(to: root.appendingPathComponent("labels/test/c.txt"),
                                                           atomically: true, encoding: .utf8)
        return root
    }

    @Test func badImagesAndRefusedLabelsAreSkippedWithAWarning() throws {
        let root = try makeDataset()
        defer { try? FileManager.default.removeItem(at: root) }
        let model = try ModelLoader.load(path: Paths.tinyWeights.path)
        let split = try DatasetSplit.load(data: root.path, split: "test")
        var warnings: [String] = []
        let evaluator = Evaluator(pipeline: try Detector(model: model, options: .evaluation(imageSize: 320)))
        let result = try evaluator.evaluate(split, warning: { warnings.append($0) })
        #expect(result.images.count == 1 && result.metrics.images == 1)
        #expect(result.skipped.count == 2 && warnings.count == 2)
        #expect(warnings.contains { $0.contains("b.jpg") } && warnings.contains { $0.contains("duplicate labels") })
        #expect(result.metrics.labels == result.images[0].labels.count)
        #expect(result.metrics.mAP50 > 0.5)

        // A malformed line stops the run with its error.
        try "0 0.5 0.5\n".write(to: root.appendingPathComponent("labels/test/a.txt"), atomically: true, encoding: .utf8)
        #expect(throws: EvalError.self) { try evaluator.evaluate(split) }
    }

    @Test func aModelAgreesWithItself() throws {
        let model = try ModelLoader.load(path: Paths.tinyWeights.path)
        let detector = try Detector(model: model, options: Detector.Options(imageSize: 320))
        let summary = ModelComparison(baseline: detector, quantized: detector)
            .compare(images: [Self.image.path, "/nonexistent.jpg"])
        #expect(summary.images.count == 1)
        #expect(summary.baselineCount > 0 && summary.matchRate == 1 && summary.missed == 0 && summary.extra == 0)
        #expect(summary.meanIoU == 1 && summary.maxAbsConfidenceChange == 0)

        let root = try makeDataset()
        defer { try? FileManager.default.removeItem(at: root) }
        let split = try DatasetSplit.load(data: root.path, split: "test")
        let evaluating = try Detector(model: model, options: .evaluation(imageSize: 320))
        let (agreement, a, b) = try ModelComparison(baseline: evaluating, quantized: evaluating).compare(split: split)
        #expect(agreement.matchRate == 1)
        #expect(a.metrics == b.metrics)
    }
}
