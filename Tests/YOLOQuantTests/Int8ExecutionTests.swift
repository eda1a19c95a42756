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
        let summary = try Int8Execution.enable(model: model, ranges: ranges)
        defer { Int8Execution.disable(model: model) }
        let int8 = nonMaxSuppression(model.forward(x, context: &context), options: .detect)
        let (matched, confidence) = Self.agreement(fp32, int8)
        return (matched, confidence, fp32.count, summary)
    }

    @Test
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
    @Test
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

/// The planned int8 pass (`Int8Plan`: the u8 product, phase planes, pools and upsampling on
/// codes, concat parts written in place, FP32 islands) against the same graph run step by step
/// through plain references (`YOLOModel.int8ReferencePass`): integer arithmetic and the same
/// FP32 epilogue, so every u8 map's codes must be equal and the prediction equal up to the
/// last bit of the FP32 head (measured: equal). On the three model families the tests have:
/// tiny (MP, SP, concats), yolov7 (SPPCSPC, RepConv, stride-2 convs, IDetect) and yolov7-e6
/// (ReOrg and Shortcut-free DownC, IAuxDetect; ReOrg runs as an FP32 island).
struct Int8PassTests {
    static func check(_ model: YOLOModel, input: Tensor, calibrateOn: [Tensor]) throws {
        let ranges = ActivationCalibration.collect(model: model, count: calibrateOn.count) { calibrateOn[$0] }
        try Int8Execution.enable(model: model, ranges: ranges)
        defer { Int8Execution.disable(model: model) }
        let (prediction, codes) = model.int8PassCodes(input)
        let reference = model.int8ReferencePass(input)
        #expect(prediction.shape == reference.shape)
        let d = zip(prediction.data, reference.data).reduce(Float(0)) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) }
        #expect(d <= 1e-5, "prediction differs from the reference by \(d)")
        // Every map's codes, through the reference's values on the same grids.
        let graphNames = Set(model.int8MapNames)
        #expect(Set(codes.keys).subtracting(["input"]) == graphNames)
        let referenceCodes = model.int8ReferenceCodes(input)
        for (name, got) in codes.sorted(by: { $0.key < $1.key }) {
            let want = try #require(referenceCodes[name], "\(name) missing in the reference")
            let differ = zip(got, want).filter { $0 != $1 }.count
            #expect(differ == 0 && got.count == want.count, "\(name): \(differ) of \(got.count) codes differ")
        }
    }

    @Test
    func tinyPassMatchesReference() throws {
        let model = try ModelLoader.load(path: Int8ExecutionTests.root.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path)
        let x = try Int8ExecutionTests.input("BloodImage_00249.jpg", model: model)
        let calib = try ["BloodImage_00031.jpg", "BloodImage_00178.jpg"].map { try Int8ExecutionTests.input($0, model: model) }
        try Self.check(model, input: x, calibrateOn: calib)
    }

    @Test(arguments: ["yolov7-random", "yolov7-e6-random"])
    func randomModelPassMatchesReference(name: String) throws {
        let model = try ModelLoader.load(path: QuantModelFixtures.modelFixtures.appendingPathComponent("\(name).pt").path)
        let size = 2 * model.maxStride * 3
        try Self.check(model, input: QuantModelFixtures.input(size: size, seed: 3),
                       calibrateOn: [QuantModelFixtures.input(size: size, seed: 4), QuantModelFixtures.input(size: size, seed: 5)])
    }

    @Test
    func rangesAreChecked() throws {
        let model = try ModelLoader.load(path: QuantModelFixtures.randomModel)
        let names = model.int8MapNames
        var ranges = Dictionary(uniqueKeysWithValues: names.map { ($0, ActivationRange(min: -1, max: 3)) })
        func error(_ r: [String: ActivationRange]) -> String {
            do {
                try Int8Execution.enable(model: model, ranges: r, source: "q.safetensors")
                return "accepted"
            } catch { return "\(error)" }
        }
        #expect(error(ranges) == "accepted")
        Int8Execution.disable(model: model)
        var missing = ranges
        missing[names[3]] = nil
        #expect(error(missing) == "q.safetensors: no activation range for \(names[3])")
        ranges["model.999"] = ActivationRange(min: 0, max: 1)
        #expect(error(ranges).hasPrefix("q.safetensors: \(names.count + 1) activation ranges for a model with \(names.count) u8 maps"))
        ranges["model.999"] = nil
        ranges[names[0]] = ActivationRange(min: .nan, max: 1)
        #expect(error(ranges) == "q.safetensors: activation range of \(names[0]) is not finite")
        ranges[names[0]] = ActivationRange(min: 2, max: 1)
        #expect(error(ranges).hasPrefix("q.safetensors: activation range of \(names[0]) is negative"))
        #expect(model.int8Ranges == nil, "a refused range set leaves the model in FP32")
    }
}
