import Foundation
import Testing
import YOLOModel
import YOLOTensor
import YOLOVision
@testable import YOLOQuant

/// The whole model in int8 against FP32 on a real photo: activation ranges from two photos of
/// images/, compared on a third. The tolerances are what per-tensor 8-bit activations and
/// 8-bit per-filter weights should keep (each value within half a step of a grid of 255 steps
/// over its layer's range, errors compounding over ~20 layers), with margin over what was
/// measured (stated beside each bound).
struct Int8ExecutionTests {
    static let root = QuantModelFixtures.packageRoot
    static let size = 416

    static func input(_ name: String, model: YOLOModel) throws -> Tensor {
        let image = try RGBImage(contentsOf: root.appendingPathComponent("images/\(name)"))
        return Letterbox(detect: image, size: size, stride: model.maxStride).tensor()
    }

    static func calibrate(_ model: YOLOModel) throws -> [String: ActivationRange] {
        let names = ["BloodImage_00031.jpg", "BloodImage_00178.jpg"]
        return try ActivationCalibration.collect(model: model, count: names.count) { try input(names[$0], model: model) }
    }

    /// FP32 detections matched one-to-one to int8 ones (same class, best IoU first): the share
    /// matched with IoU >= 0.9 and the mean |confidence change| of those.
    static func agreement(_ a: [Detection], _ b: [Detection]) -> (matched: Double, confidence: Double) {
        func iou(_ p: Detection, _ q: Detection) -> Float {
            let w = max(0, min(p.x2, q.x2) - max(p.x1, q.x1)), h = max(0, min(p.y2, q.y2) - max(p.y1, q.y1))
            let inter = w * h
            return inter / ((p.x2 - p.x1) * (p.y2 - p.y1) + (q.x2 - q.x1) * (q.y2 - q.y1) - inter)
        }
        var used = Set<Int>()
        var matched = 0
        var change = 0.0
        for p in a {
            var best = -1
            var bestIoU: Float = 0.9
            for (j, q) in b.enumerated() where !used.contains(j) && q.classID == p.classID {
                let v = iou(p, q)
                if v >= bestIoU { (best, bestIoU) = (j, v) }
            }
            if best >= 0 {
                used.insert(best)
                matched += 1
                change += Double(abs(p.confidence - b[best].confidence))
            }
        }
        return (Double(matched) / Double(max(1, a.count)), change / Double(max(1, matched)))
    }

    func compare(_ model: YOLOModel) throws -> (matched: Double, confidence: Double, detections: Int, summary: Int8Execution.Summary) {
        let ranges = try Self.calibrate(model)
        let x = try Self.input("BloodImage_00249.jpg", model: model)
        var context = ForwardContext()
        let fp32 = nonMaxSuppression(model.forward(x, context: &context), options: .detect)
        let summary = Int8Execution.enable(model: model, ranges: ranges)
        defer { Int8Execution.disable(model: model) }
        let int8 = nonMaxSuppression(model.forward(x, context: &context), options: .detect)
        let (matched, confidence) = Self.agreement(fp32, int8)
        return (matched, confidence, fp32.count, summary)
    }

    @Test(.enabled(if: Int8ExecutionAvailability.available, "needs AVX-512 VNNI"))
    func int8AgreesWithFP32OnARealImage() throws {
        let model = try ModelLoader.load(path: Self.root.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path)
        let r = try compare(model)
        #expect(r.summary.requantized == model.convs.count && r.summary.packed4 == 0)
        #expect(r.detections >= 10, "the photo has cells to find")
        // Measured: 26 of 27 boxes matched (0.963), mean |confidence change| 0.014 (4-bit: 0.96, 0.009).
        #expect(r.matched >= 0.9, "matched \(r.matched)")
        #expect(r.confidence <= 0.03, "confidence change \(r.confidence)")
        print("int8 vs fp32 (FP32 weights): matched \(r.matched), confidence change \(r.confidence), \(r.detections) boxes")
    }

    /// 4-bit packed per-filter weights run from their codes (unpacked in the kernel): the int8
    /// activations cost about as little as with FP32 weights.
    @Test(.enabled(if: Int8ExecutionAvailability.available, "needs AVX-512 VNNI"))
    func packedFourBitWeightsRunFromTheirCodes() throws {
        let model = try ModelLoader.load(path: Self.root.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path)
        let settings = try QuantizationSettings(scheme: "affine", bits: 4, granularity: "filter")
        ModelQuantizer.apply(try ModelQuantizer.quantize(model, settings: settings), mode: .packed)
        let r = try compare(model)
        #expect(r.summary.packed4 == model.convs.count, "\(r.summary)")
        #expect(r.matched >= 0.9, "matched \(r.matched)")
        #expect(r.confidence <= 0.03, "confidence change \(r.confidence)")
        print("int8 vs fp32 (4-bit weights): matched \(r.matched), confidence change \(r.confidence), \(r.detections) boxes")
    }
}

enum Int8ExecutionAvailability {
    static var available: Bool { Int8Execution.available }
}
