import Foundation
import Testing
@testable import YOLOModel
import YOLOTensor

/// Fixtures made by tools/make_hostile_fixtures.py (standard library only; re-run it to remake).
private enum CheckpointFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func valid(_ name: String) -> String { root.appendingPathComponent("checkpoint/\(name)").path }
    static func hostile(_ name: String) -> String { root.appendingPathComponent("hostile/\(name)").path }
    /// The official YOLOv7-tiny checkpoint trained on BCCD, shipped in the package's weights/.
    static let tinyBCCD = root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("weights/yolov7-tiny-bccd.pt").path
}

private func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

struct CheckpointTests {
    // MARK: The real checkpoint

    /// Values from tools/dump_checkpoint.py (torch 2.5 + the official YOLOv7 code).
    @Test func officialTinyCheckpoint() throws {
        var checkpoint: Checkpoint?
        let elapsed = try seconds { checkpoint = try Checkpoint.load(path: CheckpointFixtures.tinyBCCD) }
        let ckpt = try #require(checkpoint)
        print("yolov7-tiny-bccd.pt loaded in \(String(format: "%.3f", elapsed)) s")

        // strip_optimizer left 'ema' None, so the tensors come from 'model'.
        #expect(ckpt.source == .model)
        #expect(ckpt.tensors.count == 289)
        #expect(ckpt.tensorNames.count == 289)
        #expect(Array(ckpt.tensorNames.prefix(6)) == ["model.0.conv.weight", "model.0.bn.weight", "model.0.bn.bias",
                                                     "model.0.bn.running_mean", "model.0.bn.running_var",
                                                     "model.1.conv.weight"])
        #expect(Array(ckpt.tensorNames.suffix(8)) == ["model.77.m.2.weight", "model.77.m.2.bias",
                                                     "model.77.ia.0.implicit", "model.77.ia.1.implicit",
                                                     "model.77.ia.2.implicit", "model.77.im.0.implicit",
                                                     "model.77.im.1.implicit", "model.77.im.2.implicit"])
        #expect(!ckpt.tensorNames.contains { $0.hasSuffix("num_batches_tracked") })
        #expect(Set(ckpt.storageTypes.values) == ["F16"])

        #expect(ckpt.tensors["model.0.conv.weight"]?.shape == [32, 3, 3, 3])
        #expect(ckpt.tensors["model.77.m.0.weight"]?.shape == [24, 128, 1, 1])
        #expect(ckpt.tensors["model.77.ia.0.implicit"]?.shape == [1, 128, 1, 1])
        #expect(ckpt.tensors["model.77.anchor_grid"]?.shape == [3, 1, 3, 1, 1, 2])

        // Exact FP16 values (first, second, last element), widened to FP32.
        let w0 = try #require(ckpt.tensors["model.0.conv.weight"]?.data)
        #expect(w0[0] == 0.0863037109375 && w0[1] == -0.09881591796875 && w0[w0.count - 1] == 0.134033203125)
        #expect(abs(w0.reduce(0, +) - -0.585756) < 1e-4)
        let rv = try #require(ckpt.tensors["model.0.bn.running_var"]?.data)
        #expect(rv[0] == 0.0012273788452148438 && rv[1] == 0.002899169921875 && rv[31] == 0.05462646484375)
        let bias = try #require(ckpt.tensors["model.77.m.0.bias"]?.data)
        #expect(bias[0] == 0.01898193359375 && bias[23] == -2.453125)
        #expect(ckpt.tensors["model.77.ia.0.implicit"]?.data[1] == 0.004634857177734375)
        #expect(ckpt.tensors["model.77.anchors"]?.data.prefix(2) == [1.25, 1.625])
        #expect(ckpt.tensors["model.77.anchor_grid"]?.data.reduce(0, +) == 1760)
        var total = 0.0
        for tensor in ckpt.tensors.values { total += tensor.data.reduce(0.0) { $0 + Double(abs($1)) } }
        #expect(abs(total - 109163.8028) < 0.01)

        #expect(ckpt.names == ["RBC", "WBC", "Platelets"])
        #expect(ckpt.stride == [8, 16, 32])
        let config = try #require(ckpt.config)
        #expect(config["nc"] == .int(3))
        if case .dict(let entries) = config {
            #expect(entries.map(\.key) == ["nc", "depth_multiple", "width_multiple", "anchors", "backbone", "head", "ch"])
        }
        #expect(config["anchors"]?.description == "[[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]]")
        #expect(config["backbone"]?.listValue?.count == 29)
        #expect(config["head"]?.listValue?.count == 49)
        #expect(config["backbone"]?.listValue?.first == .list([.int(-1), .int(1), .string("Conv"),
            .list([.int(32), .int(3), .int(2), .string("None"), .int(1), .string("nn.LeakyReLU(0.1)")])]))

        // Module attributes: what a builder needs to check a fused or re-parameterised model.
        #expect(ckpt.module("")?.className == "models.yolo.Model")
        #expect(ckpt.module("model")?.className == "torch.nn.modules.container.Sequential")
        #expect(ckpt.module("model")?.children.count == 78)
        #expect(ckpt.module("model.0")?.className == "models.common.Conv")
        #expect(ckpt.module("model.0")?.children == ["conv", "bn", "act"])
        let conv = try #require(ckpt.module("model.0.conv"))
        #expect(conv.className == "torch.nn.modules.conv.Conv2d")
        #expect(conv.attributes["stride"] == .list([.int(2), .int(2)]))
        #expect(conv.attributes["padding"] == .list([.int(1), .int(1)]))
        #expect(conv.attributes["groups"] == .int(1))
        #expect(conv.tensorNames == ["weight"])
        #expect(ckpt.module("model.0.bn")?.attributes["eps"] == .double(0.001))
        #expect(ckpt.module("model.0.bn")?.tensorNames == ["weight", "bias", "running_mean", "running_var"])
        #expect(ckpt.module("model.0.act")?.attributes["negative_slope"] == .double(0.1))
        #expect(ckpt.module("model.8")?.className == "models.common.MP")
        #expect(ckpt.module("model.8.m")?.attributes["kernel_size"] == .int(2))
        #expect(ckpt.module("model.31.m")?.attributes["kernel_size"] == .int(5))
        #expect(ckpt.module("model.31.m")?.attributes["padding"] == .int(2))
        #expect(ckpt.module("model.39")?.attributes["scale_factor"] == .double(2))
        #expect(ckpt.module("model.39")?.attributes["mode"] == .string("nearest"))
        let detect = try #require(ckpt.module("model.77"))
        #expect(detect.className == "models.yolo.IDetect")
        #expect(detect.attributes["f"] == .list([.int(74), .int(75), .int(76)]))
        #expect(detect.attributes["nc"] == .int(3))
        #expect(ckpt.modulePaths.first == "")
        #expect(ckpt.modules.count == ckpt.modulePaths.count)
    }

    // MARK: Synthetic checkpoints

    @Test func tinyModelPrefersEMA() throws {
        let ckpt = try Checkpoint.load(path: CheckpointFixtures.valid("tiny_model.pt"))
        #expect(ckpt.source == .ema)
        // As torch's own state_dict() names them (checked with torch when the fixture was made):
        // bias=None skipped, the non-persistent buffer and num_batches_tracked dropped.
        #expect(ckpt.tensorNames == ["model.0.conv.weight", "model.0.bn.weight", "model.0.bn.bias",
                                     "model.0.bn.running_mean", "model.0.bn.running_var", "model.1.anchors",
                                     "model.1.m.0.weight", "model.1.m.0.bias", "model.1.ia.0.implicit",
                                     "model.1.im.0.implicit"])
        // The ema copy's conv weights are offset by 0.5 (model's by 0).
        #expect(ckpt.tensors["model.0.conv.weight"]?.data.prefix(3) == [0.5, 0.75, 1.0])
        #expect(ckpt.tensors["model.0.conv.weight"]?.shape == [4, 3, 3, 3])
        // BatchNorm weight and bias are two views of one storage at offsets 0 and 4.
        #expect(ckpt.tensors["model.0.bn.weight"]?.data == [1.0, 1.5, 2.0, 2.5])
        #expect(ckpt.tensors["model.0.bn.bias"]?.data == [0.5, -0.5, 0.25, -0.25])
        #expect(ckpt.tensors["model.1.anchors"]?.shape == [1, 3, 2])
        #expect(ckpt.tensors["model.1.im.0.implicit"]?.data[20] == 1.3125)
        #expect(ckpt.storageTypes["model.0.conv.weight"] == "F16")
        #expect(ckpt.storageTypes["model.0.bn.weight"] == "F32")
        #expect(ckpt.names == ["cell", "other"])
        #expect(ckpt.stride == [8])
        #expect(ckpt.config?["nc"] == .int(2))
        #expect(ckpt.config?["backbone"]?.description == "[[-1, 1, Conv, [4, 3, 2, None, 1, nn.LeakyReLU(0.1)]]]")
        #expect(ckpt.config?["backbone"]?.listValue?.first?.listValue?[3].listValue?[3] == .null)
        #expect(ckpt.module("model.0.conv")?.tensorNames == ["weight"])
        #expect(ckpt.module("model.1")?.className == "models.yolo.IDetect")
        #expect(ckpt.module("model.1")?.children == ["m", "ia", "im"])
        #expect(ckpt.module("model.1")?.attributes["stride"] == .list([.double(8)]))
        #expect(ckpt.module("model.1.ia.0")?.className == "models.common.ImplicitA")
        #expect(ckpt.module("model.1")?.tensorNames == ["anchors"])
    }

    @Test func strippedModelUsesModel() throws {
        let ckpt = try Checkpoint.load(path: CheckpointFixtures.valid("tiny_model_stripped.pt"))
        #expect(ckpt.source == .model)
        #expect(ckpt.tensors["model.0.conv.weight"]?.data.prefix(3) == [0, 0.25, 0.5])
        #expect(ckpt.tensors.count == 10)
    }

    /// Strided views copy out in row-major order; every dtype converts; zip64, protocol 4 and a
    /// state dict at the top level read the same.
    @Test(arguments: ["state_dict.pt", "state_dict_zip64.pt", "state_dict_protocol4.pt", "state_dict_toplevel.pt"])
    func bareStateDict(file: String) throws {
        let ckpt = try Checkpoint.load(path: CheckpointFixtures.valid(file))
        #expect(ckpt.source == .stateDict)
        #expect(ckpt.config == nil && ckpt.names.isEmpty && ckpt.stride.isEmpty && ckpt.modules.isEmpty)
        #expect(ckpt.tensorNames == ["transposed", "expanded", "row", "scalar", "empty", "half", "bf16", "f64", "i64"])
        #expect(ckpt.tensors["transposed"] == Tensor(shape: [2, 3], data: [1, 3, 5, 2, 4, 6]))
        #expect(ckpt.tensors["expanded"] == Tensor(shape: [2, 3], data: [4, 5, 6, 4, 5, 6]))
        #expect(ckpt.tensors["row"] == Tensor(shape: [1, 2], data: [6, 7]))
        #expect(ckpt.tensors["scalar"] == Tensor(shape: [], data: [3]))
        #expect(ckpt.tensors["empty"] == Tensor(shape: [0, 4], data: []))
        // Largest half, smallest normal, smallest subnormal, negative zero.
        let half = try #require(ckpt.tensors["half"]?.data)
        #expect(half == [0.5, -2, 65504, 6.103515625e-05, 5.960464477539063e-08, 0])
        #expect(half[5].sign == .minus)
        #expect(ckpt.tensors["bf16"]?.data == [1, -3.5, 256])
        #expect(ckpt.tensors["f64"]?.data == [Float(0.1), 1e10])
        #expect(ckpt.tensors["i64"]?.data == [-7, 42])
        #expect(ckpt.storageTypes == ["transposed": "F32", "expanded": "F32", "row": "F32", "scalar": "F32",
                                      "empty": "F32", "half": "F16", "bf16": "BF16", "f64": "F64", "i64": "I64"])
    }

    // MARK: Hostile files

    enum Refusal: Sendable { case forbidden, invalid }

    static let hostileCases: [(String, Refusal, String)] = [
        ("os_system.pt", .forbidden, "os.system"),
        ("builtins_eval.pt", .forbidden, "builtins.eval"),
        ("subprocess_hidden.pt", .forbidden, "subprocess.Popen"),
        ("ext_code.pt", .forbidden, "extension registry"),
        ("truncated.pt", .invalid, "truncated"),
        ("not_a_zip.pt", .invalid, "not a zip"),
        ("short_storage.pt", .invalid, "tensor 'layer.weight'"),
        ("missing_storage.pt", .invalid, "storage '7' is missing"),
        ("stride_overrun.pt", .invalid, "tensor 'w'"),
        ("big_endian.pt", .invalid, "big-endian"),
        ("deflated.pt", .invalid, "deflate"),
        ("bad_crc.pt", .invalid, "CRC-32"),
        ("deep_lists.pt", .invalid, "nested more than"),
        ("deep_tuples.pt", .invalid, "nested more than"),
        ("deep_memo_chain.pt", .invalid, "nested more than"),
        ("cycle.pt", .invalid, "nested more than"),
        ("shared_blowup.pt", .invalid, "far too many values"),
        ("rebuild_bomb.pt", .invalid, "far more work"),
    ]

    /// Each is refused with the right error, naming the file and the problem, and quickly.
    @Test(arguments: hostileCases)
    func hostileCheckpointRefused(file: String, kind: Refusal, mentions: String) throws {
        let path = CheckpointFixtures.hostile(file)
        var caught: YOLOModelError?
        let elapsed = seconds {
            do {
                _ = try Checkpoint.load(path: path)
            } catch let error as YOLOModelError {
                caught = error
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        let error = try #require(caught, "\(file) was accepted")
        switch (kind, error) {
        case (.forbidden, .forbidden(let p, let reason)), (.invalid, .invalidFile(let p, let reason)):
            #expect(p == path)
            #expect(reason.contains(mentions), "\(file): \(reason)")
        default:
            Issue.record("\(file): wrong error \(error)")
        }
        #expect(error.description.hasPrefix(path))
        #expect(elapsed < 2, "\(file) took \(elapsed) s")
    }

    @Test func hundredThousandMarksRefusedQuickly() throws {
        let bytes: [UInt8] = [0x80, 0x02] + [UInt8](repeating: 0x28, count: 100_000) + [0x4E]
            + [UInt8](repeating: 0x74, count: 100_000) + [0x2E]
        let reader = PickleReader(path: "memory", entryName: "data.pkl")
        var caught: YOLOModelError?
        let elapsed = seconds { do { _ = try reader.read(bytes) } catch { caught = error as? YOLOModelError } }
        guard case .invalidFile(_, let reason)? = caught else {
            Issue.record("not refused: \(String(describing: caught))")
            return
        }
        #expect(reason.contains("MARK"))
        #expect(elapsed < 1)
    }

    // MARK: The pickle machine

    /// The same Python dict pickled at protocols 0 (text opcodes), 2 (torch.save's) and 5
    /// (frames, memoize, short strings, sets, bytes) decodes to the same values.
    @Test(arguments: [0, 2, 5])
    func plainPickleProtocols(protocolVersion: Int) throws {
        let path = CheckpointFixtures.valid("plain_p\(protocolVersion).pkl")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let graph = try PickleReader(path: path, entryName: "pickle").read(bytes)
        let expected = "{'int': 1, 'neg': -70000, 'i32': 2147483647, 'big': big, 'minus_big': big, "
            + "'i64min': -9223372036854775808, 'float': 2.5, 'str': 'h\u{e9}llo \u{2603}', 'bytes': b[0, 255, 16], "
            + "'list': [1, [2, 3]], 'tuple': (1, 2, 3), 'set': set[7], 'frozen': set[8], 'none': None, "
            + "'true': True, 'false': False, 'shared_a': [1, 2], 'shared_b': [1, 2], 'empty': {}, "
            + "'quote': 'it's \"q\"\n\\'}"
        #expect(render(graph.root, graph) == expected)
        // The memo shares one list between the two keys, as Python does.
        let dict = try #require(graph.dict(graph.root))
        #expect(dict["shared_a"] == dict["shared_b"])
    }

    /// Every truncation and many single-byte corruptions of a real model pickle end in an
    /// error or a value, never a trap.
    @Test func corruptedPicklesNeverTrap() throws {
        let archive = try ZipArchive(path: CheckpointFixtures.valid("tiny_model_stripped.pt"))
        let entry = try #require(archive.entry(named: "archive/data.pkl"))
        let bytes = [UInt8](try archive.contents(of: entry))
        let reader = PickleReader(path: "fuzz", entryName: "data.pkl")
        _ = try reader.read(bytes)
        var refused = 0
        for cut in stride(from: 0, to: bytes.count, by: 5) {
            do { _ = try reader.read(Array(bytes.prefix(cut))) } catch { refused += 1 }
        }
        #expect(refused == (bytes.count + 4) / 5)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<1_500 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var mutated = bytes
            let at = Int(state >> 33) % bytes.count
            mutated[at] = UInt8(truncatingIfNeeded: state >> 17)
            _ = try? reader.read(mutated)
        }
    }

    /// Every truncation of a checkpoint zip (and of its central directory) is refused cleanly.
    @Test func truncatedArchivesRefused() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: CheckpointFixtures.valid("state_dict_zip64.pt")))
        _ = try Checkpoint.load(archive: try ZipArchive(path: "whole", bytes: data))
        for cut in stride(from: 0, to: data.count, by: 3) {
            #expect(throws: YOLOModelError.self) {
                _ = try Checkpoint.load(archive: try ZipArchive(path: "cut", bytes: data.prefix(cut)))
            }
        }
        var state: UInt64 = 12_345
        for _ in 0..<2_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var mutated = data
            mutated[Int(state >> 33) % data.count] = UInt8(truncatingIfNeeded: state >> 13)
            _ = try? Checkpoint.load(archive: try ZipArchive(path: "mutated", bytes: mutated))
        }
    }

    @Test func allowListHasNoWildcards() {
        let names = PickleAllowList.torchCheckpoint.roles.keys
        #expect(names.allSatisfy { !$0.hasSuffix(".") && !$0.contains("*") })
        for name in ["os.system", "builtins.eval", "builtins.exec", "builtins.getattr", "subprocess.Popen",
                     "posix.system", "torch.load", "numpy.load", "models.common.autoShape", "builtins.__import__"] {
            #expect(PickleAllowList.torchCheckpoint.role(of: name) == nil, "\(name)")
        }
    }
}

/// Python-like text for a decoded value, for comparing whole structures in one line.
private func render(_ value: PickleValue, _ graph: PickleGraph) -> String {
    func items(_ values: [PickleValue]) -> String { values.map { render($0, graph) }.joined(separator: ", ") }
    switch value {
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .bigInt: return "big"
    case .float(let d): return String(d)
    case .string(let s): return "'\(s)'"
    case .bytes(let b): return "b" + b.description
    case .global(let name): return "global(\(name))"
    case .tuple(let i): return "(" + items(graph.tuples[i]) + ")"
    case .list(let i): return "[" + items(graph.lists[i]) + "]"
    case .set(let i): return "set" + "[" + items(graph.sets[i]) + "]"
    case .dict(let i):
        return "{" + graph.dicts[i].items.map { render($0.0, graph) + ": " + render($0.1, graph) }.joined(separator: ", ") + "}"
    case .object(let i): return "object(\(graph.objects[i].className))"
    case .storage(let i): return "storage(\(graph.storages[i].key))"
    case .tensor(let i): return "tensor(\(graph.tensors[i].shape))"
    }
}
