import Foundation
import Testing
import YOLOModel
import YOLOTensor
@testable import YOLOQuant

/// Paths and helpers of the model-level quantization tests.
enum QuantModelFixtures {
    /// The package root, from this file's path (Tests/YOLOQuantTests/<file>).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Random-init official-format checkpoint (yolov7.yaml at reduced width, RepConv unfused).
    static let randomModel = packageRoot.appendingPathComponent("Tests/Fixtures/model/yolov7-random.pt").path
    static let modelFixtures = packageRoot.appendingPathComponent("Tests/Fixtures/model")
    /// The BCCD model shipped in the package's weights/.
    static let tinyBCCD = packageRoot.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path
    static let python = packageRoot.appendingPathComponent(".venv/bin/python").path
    static var hasPython: Bool { FileManager.default.isExecutableFile(atPath: python) }

    /// A fresh temporary folder for one test, removed by `remove()`.
    struct Scratch {
        let folder: URL
        init(_ tag: String) throws {
            folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("yoloquant-\(tag)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        func remove() { try? FileManager.default.removeItem(at: folder) }
    }

    /// A deterministic image-like input [1, 3, size, size] in [0, 1].
    static func input(size: Int, seed: UInt64 = 7) -> Tensor {
        // SplitMix64, written out so these tests depend on no other test file.
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        return Tensor(shape: [1, 3, size, size], data: (0..<(3 * size * size)).map { _ in Float(next() >> 40) / Float(1 << 24) })
    }

    /// A letterboxed uint8 [H, W, 3] fixture as the model input [1, 3, H, W] / 255.
    static func fixtureInput(_ name: String) throws -> Tensor {
        let t = try NPY.read(modelFixtures.appendingPathComponent(name))
        let h = t.shape[0], w = t.shape[1]
        var out = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h { for x in 0..<w { for c in 0..<3 { out[(c * h + y) * w + x] = t.data[(y * w + x) * 3 + c] / 255 } } }
        return Tensor(shape: [1, 3, h, w], data: out)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    /// Rewrites a safetensors file with `edit` applied to its entries and metadata.
    static func rewrite(_ source: String, to destination: String,
                        edit: (inout [SafeTensorsEntry], inout [String: String]) throws -> Void) throws {
        let file = try SafeTensorsFile.read(path: source)
        var entries = file.entries
        var metadata = file.metadata
        try edit(&entries, &metadata)
        var writer = SafeTensorsWriter(metadata: metadata)
        for entry in entries { writer.add(name: entry.name, dtype: entry.dtype, shape: entry.shape, bytes: entry.bytes) }
        try writer.write(to: destination)
    }

    /// Quantizes the random model with `recipe` into a packed file (which must load), breaks a
    /// copy with `edit`, and expects loading it to fail with one line that starts with the file's
    /// path and contains `culprit` (the tensor or layer) and `words`.
    static func expectCorruptionRefused(recipe: String, label: String, culprit: String, words: String,
                                        edit: (inout [SafeTensorsEntry], inout [String: String]) throws -> Void) throws {
        let model = try ModelLoader.load(path: randomModel)
        let quantized = try ModelQuantizer.quantize(model, settings: try ModelQuantizationTests.settings(recipe))
        let scratch = try Scratch("corrupt")
        defer { scratch.remove() }
        let good = scratch.path("good.safetensors"), bad = scratch.path("bad.safetensors")
        try QuantizedModelFile.write(quantized, to: good, mode: .packed, source: "test")
        _ = try ModelLoader.load(path: good)
        try rewrite(good, to: bad, edit: edit)
        do {
            _ = try ModelLoader.load(path: bad)
            Issue.record("\(label): loaded without error")
        } catch {
            let text = "\(error)"
            #expect(text.hasPrefix(bad), "\(label): \(text)")
            #expect(text.contains(culprit), "\(label): \(text)")
            #expect(text.contains(words), "\(label): \(text)")
            #expect(!text.contains("\n"), "\(label): \(text)")
        }
    }

    /// Edits the quantization document of a file.
    static func editMetadata(_ metadata: inout [String: String], _ edit: (inout QuantizationMetadata) -> Void) throws {
        var document = try QuantizationMetadata.parse(metadata[ModelFile.Key.quantization] ?? "", path: "test")
        edit(&document)
        metadata[ModelFile.Key.quantization] = document.jsonText()
    }
}
