import Foundation
import YOLOModel
import YOLOQuant

/// What a report says about one model file: size, kind, parameters, classes, and for a
/// quantized file its quantization document.
public struct ModelDescription: Sendable {
    public var path: String
    public var fileBytes: Int
    /// "official PyTorch checkpoint", "safetensors", "quantized safetensors (packed)", ...
    public var kind: String
    public var parameters: Int
    public var classNames: [String]
    public var quantization: QuantizationMetadata?

    public init(path: String, model: YOLOModel) throws {
        self.path = path
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        fileBytes = (attributes?[.size] as? NSNumber)?.intValue ?? 0
        quantization = try ModelLoader.quantization(path: path)
        switch (try ModelFile.kind(ofFileAt: path), quantization) {
        case (.checkpoint, _): kind = "official PyTorch checkpoint"
        case (.safetensors, nil): kind = "safetensors"
        case (.safetensors, let q?): kind = "quantized safetensors (\(q.mode))"
        }
        parameters = model.parameterCount
        classNames = model.classNames
    }
}

/// One conv of the quantized model beside the same conv of the baseline.
public struct LayerComparison: Sendable {
    public var name: String
    /// `[F, C/groups, kh, kw]`.
    public var shape: [Int]
    /// "pwlq 4-bit filter (64 groups)", or "full precision" for a conv kept unquantized.
    public var format: String
    public var isQuantized: Bool
    /// The quantized weights against the baseline's; nil when the baseline has no conv of that
    /// name and shape.
    public var error: ReconstructionError?

    public var parameters: Int { shape.reduce(1, *) }

    /// Every conv of `quantized` in model order, with its format from `metadata` (the quantized
    /// file's document; nil for an unquantized file) and its weight error against `baseline`.
    /// Weights held only in Winograd form are transformed back, equal to the originals up to
    /// float rounding (far below any quantization error).
    public static func compare(baseline: YOLOModel, quantized: YOLOModel, metadata: QuantizationMetadata?) -> [LayerComparison] {
        let formats = Dictionary(metadata?.layers.map { ($0.name, $0) } ?? [], uniquingKeysWith: { a, _ in a })
        let reference = Dictionary(baseline.convs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        return quantized.convs.map { conv in
            let g = conv.geometry
            let shape = [g.outChannels, g.inChannels / g.groups, g.kernelH, g.kernelW]
            let layer = formats[conv.name]
            let format = layer.map { "\($0.scheme) \($0.bits)-bit \($0.granularity) (\($0.groups) groups)" } ?? "full precision"
            var error: ReconstructionError?
            if let base = reference[conv.name], base.geometry == g {
                error = ReconstructionError(original: base.weights.values(), reconstructed: conv.weights.values())
            }
            return LayerComparison(name: conv.name, shape: shape, format: format, isQuantized: layer != nil, error: error)
        }
    }
}
