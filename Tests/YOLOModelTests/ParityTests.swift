import Foundation
import Testing
@testable import YOLOModel
import YOLOTensor

/// Raw predictions against the official PyTorch model (fixtures from tools/make_model_fixtures.py).
///
/// Tolerance: max |ours - official| / max |official| <= 1e-4 (issue 2). Both sides run FP32 on
/// the same FP16 weights; the differences are summation order in the convs (~1e-6 relative per
/// layer) compounded over depth, and the official fold being done in FP32 while ours is in FP64.
struct ParityTests {
    static let tolerance: Float = 1e-4

    static func manifest() throws -> [String: Any] {
        try #require(try Fixtures.json("model/manifest.json") as? [String: Any])
    }

    /// uint8 [H, W, 3] RGB -> [1, 3, H, W] / 255, as the official scripts feed the model.
    static func input(_ file: String) throws -> Tensor {
        let t = try NPY.read(Fixtures.model.appendingPathComponent(file))
        let h = t.shape[0], w = t.shape[1]
        var out = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 { out[(c * h + y) * w + x] = t.data[(y * w + x) * 3 + c] / 255 } } }
        return Tensor(shape: [1, 3, h, w], data: out)
    }

    static func relativeError(_ model: YOLOModel, input: String, pred: String) throws -> Float {
        let expected = try NPY.read(Fixtures.model.appendingPathComponent(pred))
        let got = model.forward(try Self.input(input))
        try #require(got.shape == [1] + expected.shape, "shape \(got.shape) vs official \(expected.shape)")
        let diff = zip(got.data, expected.data).map { abs($0 - $1) }.max() ?? .infinity
        return diff / expected.maxAbs
    }

    @Test func tinyBCCDMatchesOfficial() throws {
        let model = try ModelFile.load(path: Fixtures.tinyBCCD)
        let items = try #require(try Self.manifest()["tiny_bccd"] as? [String: Any])["items"] as? [[String: Any]]
        let list = try #require(items)
        #expect(list.count == 6)
        for item in list {
            let err = try Self.relativeError(model, input: item["input"] as! String, pred: item["pred"] as! String)
            #expect(err <= Self.tolerance, "\(item["image"] ?? "") at \(item["img_size"] ?? ""): \(err)")
        }
    }

    /// Random-init official-format checkpoints (RepConv unfused; P6 with ReOrg, DownC, IAuxDetect).
    @Test(arguments: ["yolov7-random", "yolov7-e6-random"])
    func randomInitMatchesOfficial(name: String) throws {
        let model = try ModelFile.load(path: Fixtures.model.appendingPathComponent("\(name).pt").path)
        let err = try Self.relativeError(model, input: "\(name)_input.npy", pred: "\(name)_pred.npy")
        #expect(err <= Self.tolerance, "\(name): \(err)")
    }

    /// A bare state dict needs the config from outside.
    @Test func stateDictWithConfig() throws {
        let path = Fixtures.model.appendingPathComponent("yolov7-random-statedict.pt").path
        #expect(throws: YOLOModelError.self) { try ModelFile.load(path: path) }
        // The fixture's config is the official yolov7.yaml at reduced width: take it from the
        // full checkpoint and hand it over as a YAML file, as a user would with --cfg.
        let full = try Checkpoint.load(path: Fixtures.model.appendingPathComponent("yolov7-random.pt").path)
        let config = try ModelConfig(value: try #require(full.config), origin: "yolov7-random.pt")
        let cfg = FileManager.default.temporaryDirectory.appendingPathComponent("yolov7-random-\(getpid()).yaml").path
        try config.yamlText.write(toFile: cfg, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: cfg) }
        let model = try ModelFile.load(path: path, configPath: cfg)
        let err = try Self.relativeError(model, input: "yolov7-random_input.npy", pred: "yolov7-random_pred.npy")
        #expect(err <= Self.tolerance)
    }

    /// .pt, converted FP32 safetensors and FP16 safetensors give the same raw output.
    /// FP32 (folded) must be bit-identical; FP16 keeps the checkpoint's FP16 state dict, so it
    /// is exact too for an FP16 checkpoint (the issue allows 1e-3); folded FP16 rounds twice.
    @Test(arguments: ["yolov7-random", "yolov7-e6-random"])
    func safetensorsRoundTrip(name: String) throws {
        let source = Fixtures.model.appendingPathComponent("\(name).pt").path
        let checkpoint = try Checkpoint.load(path: source)
        let model = try ModelFile.loadCheckpoint(checkpoint)
        let input = try Self.input("\(name)_input.npy")
        let reference = model.forward(input)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yolov7-st-\(getpid())-\(name)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let p32 = dir.appendingPathComponent("m32.safetensors").path
        let p16 = dir.appendingPathComponent("m16.safetensors").path
        try ModelFile.writeSafeTensors(model, to: p32, half: false, source: name)
        try ModelFile.writeStateDictSafeTensors(checkpoint, model: model, to: p16, source: name)
        for (path, limit) in [(p32, Float(0)), (p16, Float(1e-3))] {
            let again = try ModelFile.load(path: path)
            #expect(again.classNames == model.classNames)
            #expect(again.detect.strides == model.detect.strides)
            let out = again.forward(input)
            let rel = (zip(out.data, reference.data).map { abs($0 - $1) }.max() ?? .infinity) / reference.maxAbs
            #expect(rel <= limit, "\(path): \(rel)")
        }
        // FP32 folded file is about twice the FP16 one.
        let size32 = try FileManager.default.attributesOfItem(atPath: p32)[.size] as! Int
        let size16 = try FileManager.default.attributesOfItem(atPath: p16)[.size] as! Int
        #expect(Double(size32) / Double(size16) > 1.7)
    }
}
