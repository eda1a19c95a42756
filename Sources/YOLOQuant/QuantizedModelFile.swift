import Foundation
import YOLOModel
import YOLOTensor

/// The engine's quantized safetensors files (DESIGN.md section 4).
///
/// Packed: each quantized conv `X` stores `X.qweight` (U8, the codes bit-packed as `BitPacking`
/// describes, 1-D), `X.scale` (F32 [groups]), `X.zero` (F32 [groups], affine only),
/// `X.breakpoint` (F32 [groups], PWLQ only) and `X.bias` (F32); kept convs store `X.weight` and
/// `X.bias` in F32; plus the anchor grid. Fake: every conv stores F32 `X.weight` (for quantized
/// convs, exactly the dequantized values) and `X.bias`. Both carry `ModelFile.baseMetadata` and
/// the `quantization` document (`QuantizationMetadata`), whose `mode` tells them apart.
public enum QuantizedModelFile {
    /// Bytes of each kind of tensor in a file, by tensor name suffix.
    public struct Contents: Equatable, Sendable {
        /// `.qweight`: packed codes.
        public var codeBytes = 0
        /// `.scale`, `.zero`, `.breakpoint`: quantization parameters.
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
                case "scale", "zero", "breakpoint": parameterBytes += n
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
        let scale = try parameters("scale", needed: true)
        let zero = try parameters("zero", needed: format.scheme == .affine)
        let breakpoint = try parameters("breakpoint", needed: format.scheme == .pwlq)
        do {
            return try PackedWeight(format: format, shape: layer.shape, bytes: codes.bytes, scale: scale, zero: zero,
                                    breakpoint: breakpoint)
        } catch let error as QuantError {
            throw fail("qweight", error.description)
        }
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
