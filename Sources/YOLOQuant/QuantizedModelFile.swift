import Foundation
import YOLOModel
import YOLOTensor

/// The engine's quantized safetensors files (DESIGN.md section 4).
///
/// Packed: each quantized conv `X` stores `X.qweight` (U8, the codes bit-packed as `BitPacking`
/// describes, 1-D), `X.scale` (F32 [groups]), `X.zero` (F32 [groups], affine only),
/// `X.breakpoint` (F32 [groups], PWLQ only) and `X.bias` (F32); the integer-grid formats
/// (`IntegerGrid`, metadata version 2) store instead of scale/zero/breakpoint: sub-filter groups
/// `X.group_scale` (U8, bit-packed), `X.group_min` (U8, bit-packed, affine only) and
/// `X.super_scale` (F16 [F]); the codebook `X.levels` (I8 [groups, 2^bits]) and `X.level_scale`
/// (F16 [groups]). docs/FORMAT.md is the whole contract. Kept convs store `X.weight` and
/// `X.bias` in F32; plus the anchor grid. Fake: every conv stores F32 `X.weight` (for quantized
/// convs, exactly the dequantized values) and `X.bias`. Both carry `ModelFile.baseMetadata` and
/// the `quantization` document (`QuantizationMetadata`), whose `mode` tells them apart.
public enum QuantizedModelFile {
    /// Bytes of each kind of tensor in a file, by tensor name suffix.
    public struct Contents: Equatable, Sendable {
        /// `.qweight`: packed codes.
        public var codeBytes = 0
        /// `.scale`, `.zero`, `.breakpoint`, and the integer grids' `.group_scale`, `.group_min`,
        /// `.super_scale`, `.levels`, `.level_scale`: quantization parameters.
        public var parameterBytes = 0
        /// `.weight`: full-precision weights (kept convs; every conv in a fake file).
        public var denseWeightBytes = 0
        /// `.bias`.
        public var biasBytes = 0
        /// Anything else (the anchor grid).
        public var otherBytes = 0

        public var tensorBytes: Int { codeBytes + parameterBytes + denseWeightBytes + biasBytes + otherBytes }

        init(entries: [SafeTensorsEntry]) {
            for entry in entries {
                let n = entry.bytes.count
                switch entry.name.split(separator: ".").last {
                case "qweight": codeBytes += n
                case "scale", "zero", "breakpoint", "group_scale", "group_min", "super_scale", "levels", "level_scale":
                    parameterBytes += n
                case "weight": denseWeightBytes += n
                case "bias": biasBytes += n
                default: otherBytes += n
                }
            }
        }
    }

    // MARK: writing

    /// The file's tensors and metadata, ready to write.
    public static func writer(for quantized: QuantizedModel, mode: QuantizationMode, source: String) throws -> SafeTensorsWriter {
        let model = quantized.model
        var metadata = ModelFile.baseMetadata(of: model, source: source)
        metadata[ModelFile.Key.quantization] = quantized.metadata(mode: mode).jsonText()
        if let ranges = quantized.activationRanges { metadata[ActivationRangesDocument.metadataKey] = ranges.jsonText() }
        var writer = SafeTensorsWriter(metadata: metadata)
        let byName = Dictionary(uniqueKeysWithValues: quantized.layers.map { ($0.name, $0) })
        for conv in model.convs {
            let name = conv.name
            if let tensor = byName[name]?.tensor {
                switch mode {
                case .packed:
                    let packed = tensor.packed()
                    writer.add(name: "\(name).qweight", dtype: .U8, shape: [packed.bytes.count], bytes: packed.bytes)
                    if packed.format.usesIntegerGrid {
                        try addGrid(packed, name: name, to: &writer)
                        break
                    }
                    try writer.add(name: "\(name).scale", tensor: Tensor(shape: [packed.scale.count], data: packed.scale))
                    if packed.format.scheme == .affine {
                        try writer.add(name: "\(name).zero", tensor: Tensor(shape: [packed.zero.count], data: packed.zero))
                    }
                    if packed.format.scheme == .pwlq {
                        try writer.add(name: "\(name).breakpoint",
                                       tensor: Tensor(shape: [packed.breakpoint.count], data: packed.breakpoint))
                    }
                case .fake:
                    try writer.add(name: "\(name).weight", tensor: tensor.dequantizedTensor())
                }
            } else {
                try writer.add(name: "\(name).weight", tensor: conv.weightTensor)
            }
            let bias = byName[name]?.correctedBias ?? conv.bias
            try writer.add(name: "\(name).bias", tensor: Tensor(shape: [bias.count], data: bias))
        }
        let anchors = ModelFile.anchorEntry(of: model)
        writer.add(name: anchors.name, dtype: anchors.dtype, shape: anchors.shape, bytes: anchors.bytes)
        return writer
    }

    /// The integer grid's tensors (docs/FORMAT.md): integers bit-packed or I8, scales FP16 (they
    /// are FP16 values already, so this is exact).
    private static func addGrid(_ packed: PackedWeight, name: String, to writer: inout SafeTensorsWriter) throws {
        let format = packed.format, grid = packed.grid
        if format.isNested {
            let scales = try BitPacking.pack(grid.groupScale, bits: IntegerGrid.scaleBits(format))
            writer.add(name: "\(name).group_scale", dtype: .U8, shape: [scales.count], bytes: scales)
            if format.scheme == .affine {
                let mins = try BitPacking.pack(grid.groupMin, bits: IntegerGrid.minBits(format))
                writer.add(name: "\(name).group_min", dtype: .U8, shape: [mins.count], bytes: mins)
            }
            try writer.add(name: "\(name).super_scale", tensor: Tensor(shape: [grid.scale.count], data: grid.scale),
                           dtype: .F16)
        } else {
            writer.add(name: "\(name).levels", dtype: .I8, shape: [packed.layout.groupCount, 1 << format.bits],
                       bytes: grid.levels.map { UInt8(bitPattern: $0) })
            try writer.add(name: "\(name).level_scale", tensor: Tensor(shape: [grid.scale.count], data: grid.scale),
                           dtype: .F16)
        }
    }

    /// Writes the file atomically (nothing is left at `path` on failure) and says what it holds.
    @discardableResult
    public static func write(_ quantized: QuantizedModel, to path: String, mode: QuantizationMode,
                             source: String) throws -> Contents {
        let writer = try writer(for: quantized, mode: mode, source: source)
        try writer.write(to: path)
        return Contents(entries: writer.entries)
    }

    /// The size in bytes the file would have in `mode`, without writing it.
    public static func fileSize(of quantized: QuantizedModel, mode: QuantizationMode, source: String) throws -> Int {
        try writer(for: quantized, mode: mode, source: source).serialized().count
    }

    /// What a quantized safetensors file holds, by kind.
    public static func contents(of file: SafeTensorsFile) -> Contents { Contents(entries: file.entries) }

    // MARK: reading

    /// Builds the model of a quantized file. Fake files load as plain FP32 files. Packed files
    /// keep their codes packed: each quantized conv runs from a `PackedConvWeights`, and no FP32
    /// copy of those weights outlives this call.
    public static func load(_ file: SafeTensorsFile, metadata: QuantizationMetadata, configPath: String? = nil) throws -> YOLOModel {
        let mode = try metadata.storageMode(path: file.path)
        let layers = try metadata.validatedLayers(path: file.path)
        switch mode {
        case .fake:
            return try ModelFile.loadSafeTensors(file, configPath: configPath)
        case .packed:
            var packed: [String: PackedWeight] = [:]
            for (layer, format) in layers {
                packed[layer.name] = try packedWeight(layer, format: format, in: file)
            }
            // The graph is built with shared zero placeholders for the quantized weights (one
            // array per distinct size, not per conv), then the providers go in.
            let source = PackedBuildSource(file: file, shapes: packed.mapValues(\.shape))
            let model = try ModelFile.loadSafeTensors(file, configPath: configPath, source: source)
            var unused = Set(packed.keys)
            for conv in model.convs {
                guard let weight = packed[conv.name] else { continue }
                conv.weights = .provided(PackedConvWeights(weight))
                unused.remove(conv.name)
            }
            if let name = unused.sorted().first {
                throw YOLOModelError.invalidFile(path: file.path, reason: "quantization metadata lists layer '\(name)', which is not a conv of this model")
            }
            return model
        }
    }

    /// One packed conv weight from its tensors, every part checked against the metadata.
    static func packedWeight(_ layer: QuantizationMetadata.Layer, format: QuantFormat,
                             in file: SafeTensorsFile) throws -> PackedWeight {
        let name = layer.name
        func fail(_ tensor: String, _ reason: String) -> YOLOModelError {
            .invalidFile(path: file.path, reason: "tensor '\(name).\(tensor)': \(reason)")
        }
        let count = layer.shape.reduce(1, *)
        let groups = layer.groups
        if file.entry(named: "\(name).weight") != nil {
            throw fail("weight", "present, but the layer is listed as quantized (its weights are '\(name).qweight')")
        }
        guard let codes = file.entry(named: "\(name).qweight") else {
            throw fail("qweight", "missing (the quantization metadata lists this conv as packed)")
        }
        guard codes.dtype == .U8 else { throw fail("qweight", "dtype \(codes.dtype.rawValue), expected U8") }
        let expected = BitPacking.packedByteCount(count: count, bits: format.bits)
        guard codes.bytes.count == expected else {
            throw fail("qweight", "\(codes.bytes.count) bytes of packed codes, but \(count) codes of \(format.bits) bits (shape \(layer.shape)) need \(expected)")
        }

        func parameters(_ suffix: String, needed: Bool) throws -> [Float] {
            guard let entry = file.entry(named: "\(name).\(suffix)") else {
                if needed { throw fail(suffix, "missing (\(format.scheme) quantization needs one per group)") }
                return []
            }
            guard needed else { throw fail(suffix, "present, but \(format.scheme) quantization has no \(suffix)") }
            guard entry.dtype == .F32 else { throw fail(suffix, "dtype \(entry.dtype.rawValue), expected F32") }
            guard entry.elementCount == groups else {
                throw fail(suffix, "\(entry.elementCount) values, but \(format.granularity) on \(layer.shape) has \(groups) groups")
            }
            let values = try file.floatTensor(entry.name).data
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                throw fail(suffix, "value \(index) is not finite")
            }
            return values
        }
        let grid = format.usesIntegerGrid
        let scale = try parameters("scale", needed: !grid)
        let zero = try parameters("zero", needed: !grid && format.scheme == .affine)
        let breakpoint = try parameters("breakpoint", needed: !grid && format.scheme == .pwlq)
        let layout = try GroupLayout(granularity: format.granularity, shape: layer.shape)
        let integers = try integerGrid(layer, format: format, layout: layout, in: file)
        do {
            return try PackedWeight(format: format, shape: layer.shape, bytes: codes.bytes, scale: scale, zero: zero,
                                    breakpoint: breakpoint, grid: integers)
        } catch let QuantError.invalidParameter(array, reason) {
            throw fail(array, reason)
        } catch let error as QuantError {
            throw fail("qweight", error.description)
        }
    }

    /// An integer-grid layer's tensors, each checked for presence, dtype and size (their values
    /// are checked by `PackedWeight`); empty for the other formats, which must not have them.
    static func integerGrid(_ layer: QuantizationMetadata.Layer, format: QuantFormat, layout: GroupLayout,
                            in file: SafeTensorsFile) throws -> IntegerGrid {
        let name = layer.name
        func fail(_ tensor: String, _ reason: String) -> YOLOModelError {
            .invalidFile(path: file.path, reason: "tensor '\(name).\(tensor)': \(reason)")
        }
        let nested = format.isNested, codebook = format.scheme == .codebook
        let wanted: [(suffix: String, needed: Bool)] = [
            ("group_scale", nested), ("group_min", nested && format.scheme == .affine), ("super_scale", nested),
            ("levels", codebook), ("level_scale", codebook),
        ]
        var entries: [String: SafeTensorsEntry] = [:]
        for (suffix, needed) in wanted {
            let entry = file.entry(named: "\(name).\(suffix)")
            switch (entry, needed) {
            case (nil, true): throw fail(suffix, "missing (\(format) stores one)")
            case (.some, false): throw fail(suffix, "present, but \(format) has no \(suffix)")
            case (let entry?, true): entries[suffix] = entry
            case (nil, false): break
            }
        }
        func packedIntegers(_ suffix: String, bits: Int) throws -> [UInt8] {
            let entry = entries[suffix]!
            guard entry.dtype == .U8 else { throw fail(suffix, "dtype \(entry.dtype.rawValue), expected U8") }
            let expected = BitPacking.packedByteCount(count: layout.groupCount, bits: bits)
            guard entry.bytes.count == expected, entry.shape == [expected] else {
                throw fail(suffix, "shape \(entry.shape) (\(entry.bytes.count) bytes), but \(layout.groupCount) groups of \(bits)-bit integers need [\(expected)]")
            }
            return try BitPacking.unpack(entry.bytes, bits: bits, count: layout.groupCount)
        }
        func halfScales(_ suffix: String, count: Int, per what: String) throws -> [Float] {
            let entry = entries[suffix]!
            guard entry.dtype == .F16 else { throw fail(suffix, "dtype \(entry.dtype.rawValue), expected F16") }
            guard entry.shape == [count] else { throw fail(suffix, "shape \(entry.shape), but there is one per \(what): [\(count)]") }
            return try file.floatTensor(entry.name).data
        }
        var grid = IntegerGrid()
        if nested {
            grid.groupScale = try packedIntegers("group_scale", bits: IntegerGrid.scaleBits(format))
            if format.scheme == .affine { grid.groupMin = try packedIntegers("group_min", bits: IntegerGrid.minBits(format)) }
            grid.scale = try halfScales("super_scale", count: layout.filterCount, per: "filter")
        } else if codebook {
            let entry = entries["levels"]!
            let shape = [layout.groupCount, 1 << format.bits]
            guard entry.dtype == .I8 else { throw fail("levels", "dtype \(entry.dtype.rawValue), expected I8") }
            guard entry.shape == shape else {
                throw fail("levels", "shape \(entry.shape), but \(layout.groupCount) groups of \(format.bits)-bit codes have \(shape)")
            }
            grid.levels = entry.bytes.map { Int8(bitPattern: $0) }
            grid.scale = try halfScales("level_scale", count: layout.groupCount, per: "group")
        }
        return grid
    }
}

/// The tensors a packed file gives the model builder: stored tensors as floats, and for each
/// quantized conv `X.weight` a zero placeholder of the right shape (replaced after the build).
private struct PackedBuildSource: TensorSource {
    let file: SafeTensorsFile
    /// "X.weight" -> shape, for the quantized convs.
    let shapes: [String: [Int]]
    let placeholders = PlaceholderPool()

    init(file: SafeTensorsFile, shapes: [String: [Int]]) {
        self.file = file
        self.shapes = Dictionary(uniqueKeysWithValues: shapes.map { ("\($0.key).weight", $0.value) })
    }

    var origin: String { file.path }

    func contains(_ name: String) -> Bool { shapes[name] != nil || file.entry(named: name) != nil }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        if let stored = shapes[name] {
            guard shape.isEmpty || stored == shape else {
                throw YOLOModelError.invalidFile(
                    path: file.path, reason: "tensor '\(name.dropLast(".weight".count)).qweight': quantized shape \(stored) in the metadata, but the model's conv has \(shape)")
            }
            return Tensor(shape: stored, data: placeholders.zeros(count: stored.reduce(1, *)))
        }
        guard file.entry(named: name) != nil else { throw YOLOModelError.missingTensor(name: name, source: file.path) }
        return try DictionaryTensorSource(origin: file.path, tensors: [name: try file.floatTensor(name)])
            .tensor(name, shape: shape)
    }
}

/// Zero arrays shared by every placeholder of the same size (arrays are copy-on-write and the
/// builder does not write into plain conv weights, so they stay shared).
private final class PlaceholderPool {
    private var bySize: [Int: [Float]] = [:]

    func zeros(count: Int) -> [Float] {
        if let zeros = bySize[count] { return zeros }
        let zeros = [Float](repeating: 0, count: count)
        bySize[count] = zeros
        return zeros
    }
}
