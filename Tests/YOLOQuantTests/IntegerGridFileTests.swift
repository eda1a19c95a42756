import Foundation
import Testing
import YOLOModel
import YOLOTensor
@testable import YOLOQuant

/// Files of the integer-grid formats (docs/FORMAT.md, version 2): each broken part is a one-line
/// error naming the file and the tensor (or layer); version-1 files are untouched.
struct IntegerGridFileTests {
    typealias F = QuantModelFixtures
    typealias Edit = (inout [SafeTensorsEntry], inout [String: String]) throws -> Void

    static func index(_ entries: [SafeTensorsEntry], _ name: String) -> Int { entries.firstIndex { $0.name == name }! }

    static func editLayer(_ metadata: inout [String: String], _ name: String,
                          _ edit: @escaping (inout QuantizationMetadata.Layer) -> Void) throws {
        try F.editMetadata(&metadata) { document in
            let i = document.layers.firstIndex { $0.name == name }!
            edit(&document.layers[i])
        }
    }

    /// (label, recipe of the good file, what the message must name, words it must contain, edit).
    static let corruptions: [(String, String, String, String, Edit)] = [
        ("missing group_scale", "affine/2/group32", "model.1.conv.group_scale", "missing", { e, _ in
            e.removeAll { $0.name == "model.1.conv.group_scale" }
        }),
        ("group_scale as I8", "affine/2/group32", "model.1.conv.group_scale", "expected U8", { e, _ in
            e[index(e, "model.1.conv.group_scale")].dtype = .I8
        }),
        ("short group_scale", "affine/2/group32", "model.1.conv.group_scale", "groups of 5-bit integers need", { e, _ in
            let i = index(e, "model.1.conv.group_scale")
            e[i].bytes.removeLast()
            e[i].shape = [e[i].bytes.count]
        }),
        ("group_scale out of range", "affine/2/group32", "model.1.conv.group_scale", "exceeds 31", { e, _ in
            let i = index(e, "model.1.conv.group_scale")
            e[i].bytes = [UInt8](repeating: 0xFF, count: e[i].bytes.count)
            let m = index(e, "model.1.conv.group_min")
            e[m].bytes = [UInt8](repeating: 0, count: e[m].bytes.count)
        }),
        ("missing group_min", "affine/2/group32", "model.1.conv.group_min", "missing", { e, _ in
            e.removeAll { $0.name == "model.1.conv.group_min" }
        }),
        ("group_min on symmetric", "symmetric/3/group64", "model.1.conv.group_min", "present, but", { e, _ in
            let s = e[index(e, "model.1.conv.group_scale")]
            e.append(SafeTensorsEntry(name: "model.1.conv.group_min", dtype: .U8, shape: s.shape, bytes: s.bytes))
        }),
        ("missing super_scale", "affine/2/group32", "model.2.conv.super_scale", "missing", { e, _ in
            e.removeAll { $0.name == "model.2.conv.super_scale" }
        }),
        ("super_scale as F32", "affine/2/group32", "model.2.conv.super_scale", "expected F16", { e, _ in
            let i = index(e, "model.2.conv.super_scale")
            e[i].dtype = .F32
            e[i].bytes += [UInt8](repeating: 0, count: e[i].bytes.count)
        }),
        ("super_scale count", "affine/2/group32", "model.2.conv.super_scale", "one per filter", { e, _ in
            let i = index(e, "model.2.conv.super_scale")
            e[i].bytes.removeLast(2)
            e[i].shape = [e[i].shape[0] - 1]
        }),
        ("negative super_scale", "affine/2/group32", "model.2.conv.super_scale", "is negative", { e, _ in
            e[index(e, "model.2.conv.super_scale")].bytes[1] |= 0x80
        }),
        ("NaN super_scale", "symmetric/3/group64", "model.2.conv.super_scale", "not finite", { e, _ in
            e[index(e, "model.2.conv.super_scale")].bytes.replaceSubrange(2..<4, with: [0x00, 0x7E])
        }),
        ("scale on a nested layer", "affine/2/group32", "model.3.conv.scale", "present, but", { e, _ in
            e.append(SafeTensorsEntry(name: "model.3.conv.scale", dtype: .F32, shape: [1], bytes: [0, 0, 128, 63]))
        }),
        ("levels on a nested layer", "affine/2/group32", "model.3.conv.levels", "present, but", { e, _ in
            e.append(SafeTensorsEntry(name: "model.3.conv.levels", dtype: .I8, shape: [1, 4], bytes: [0, 1, 2, 3]))
        }),
        ("integer_grid scale bits", "affine/2/group32", "model.4.conv", "integer_grid", { _, m in
            try editLayer(&m, "model.4.conv") { $0.integerGrid?.scaleBits = 6 }
        }),
        ("integer_grid missing", "affine/2/group32", "model.4.conv", "integer_grid missing", { _, m in
            try editLayer(&m, "model.4.conv") { $0.integerGrid = nil }
        }),
        ("group size of another granularity", "affine/2/group32", "model.4.conv", "group64", { _, m in
            try editLayer(&m, "model.4.conv") { $0.granularity = "group64" }
        }),
        ("version 1 with groups", "affine/2/group32", "model.0.conv", "needs metadata version 2", { _, m in
            try F.editMetadata(&m) { $0.version = 1 }
        }),
        ("version 3", "affine/2/group32", "version 3", "not supported", { _, m in
            try F.editMetadata(&m) { $0.version = 3 }
        }),
        ("missing levels", "codebook/3/filter", "model.1.conv.levels", "missing", { e, _ in
            e.removeAll { $0.name == "model.1.conv.levels" }
        }),
        ("levels as U8", "codebook/3/filter", "model.1.conv.levels", "expected I8", { e, _ in
            e[index(e, "model.1.conv.levels")].dtype = .U8
        }),
        ("levels for 2-bit codes", "codebook/3/filter", "model.1.conv.levels", "groups of 3-bit codes have", { e, _ in
            let i = index(e, "model.1.conv.levels")
            let groups = e[i].shape[0]
            e[i].shape = [groups * 2, 4]
        }),
        ("levels out of order", "codebook/3/filter", "model.1.conv.levels", "not in ascending order", { e, _ in
            let i = index(e, "model.1.conv.levels")
            e[i].bytes.swapAt(0, 7)
        }),
        ("level -128", "codebook/3/filter", "model.1.conv.levels", "-128", { e, _ in
            e[index(e, "model.1.conv.levels")].bytes[0] = 0x80
        }),
        ("level_scale count", "codebook/3/filter", "model.2.conv.level_scale", "one per group", { e, _ in
            let i = index(e, "model.2.conv.level_scale")
            e[i].bytes.removeLast(2)
            e[i].shape = [e[i].shape[0] - 1]
        }),
        ("infinite level_scale", "codebook/3/filter", "model.2.conv.level_scale", "not finite", { e, _ in
            e[index(e, "model.2.conv.level_scale")].bytes.replaceSubrange(0..<2, with: [0x00, 0x7C])
        }),
        ("group_scale on a codebook", "codebook/3/filter", "model.2.conv.group_scale", "present, but", { e, _ in
            e.append(SafeTensorsEntry(name: "model.2.conv.group_scale", dtype: .U8, shape: [1], bytes: [0]))
        }),
        ("integer_grid levels", "codebook/3/filter", "model.2.conv", "integer_grid", { _, m in
            try editLayer(&m, "model.2.conv") { $0.integerGrid?.levels = 16 }
        }),
    ]

    @Test("broken integer-grid files: one-line errors naming the file and the tensor", arguments: 0..<corruptions.count)
    func corruptFiles(index: Int) throws {
        let (label, recipe, culprit, words, edit) = Self.corruptions[index]
        try F.expectCorruptionRefused(recipe: recipe, label: label, culprit: culprit, words: words, edit: edit)
    }

    /// A file of mixed old and new formats is version 2; one of old formats only stays version 1
    /// with the same metadata bytes as before version 2 existed (no `integer_grid` keys).
    @Test("version: 1 unless a layer needs 2")
    func versions() throws {
        let model = try ModelLoader.load(path: F.randomModel)
        let old = try ModelQuantizer.quantize(model, settings: try ModelQuantizationTests.settings("pwlq/3/filter"))
        let text = old.metadata(mode: .packed).jsonText()
        #expect(text.contains(#""version":1"#) && !text.contains("integer_grid"))
        let new = try ModelQuantizer.quantize(model, settings: try ModelQuantizationTests.settings("affine/3/group16"))
        let newText = new.metadata(mode: .packed).jsonText()
        #expect(newText.contains(#""version":2"#))
        #expect(newText.contains(#""integer_grid":{"group_size":16,"integer_bits":7,"min_bits":6,"scale_bits":5}"#))
        let codebook = try ModelQuantizer.quantize(model, settings: try ModelQuantizationTests.settings("codebook/2/channel"))
        #expect(codebook.metadata(mode: .fake).jsonText().contains(#""integer_grid":{"integer_bits":8,"levels":4}"#))
    }

    /// The size report counts the nested integers and FP16 scales as parameters.
    @Test("size report of a group32 file: codes, parameters, header add up to the file")
    func sizeReport() throws {
        let model = try ModelLoader.load(path: F.randomModel)
        let quantized = try ModelQuantizer.quantize(model, settings: try ModelQuantizationTests.settings("symmetric/2/group32"))
        let scratch = try F.Scratch("grid-size")
        defer { scratch.remove() }
        let path = scratch.path("q.safetensors")
        let contents = try QuantizedModelFile.write(quantized, to: path, mode: .packed, source: "test")
        let expected = quantized.quantizedLayers.reduce(0) { $0 + $1.tensor!.size.parameterBytes }
        #expect(contents.parameterBytes == expected)
        #expect(contents.codeBytes == quantized.quantizedLayers.reduce(0) { $0 + $1.tensor!.size.codeBytes })
        let loaded = try ModelLoader.load(path: path)
        let report = try QuantizationSizeReport.measure(file: path, contents: contents, loaded: loaded, original: model,
                                                        quantizedParams: quantized.quantizedLayers.reduce(0) { $0 + $1.params })
        #expect(report.fileBytes == F.fileSize(path))
        #expect(report.lines.contains { $0.contains("stored bits/weight") })
    }
}
