import Foundation
import YOLOModel

/// One conv of a quantized model: kept at full precision, or quantized with its error figures.
public struct LayerQuantization: Sendable {
    public let name: String
    /// `[F, C/groups, kh, kw]`.
    public let shape: [Int]
    /// Why it stayed full precision; nil when quantized.
    public let keptBecause: KeptConvs?
    /// The codes and parameters; nil when kept.
    public let tensor: QuantizedTensor?
    /// Weight error of the dequantized values against the FP32 weights; nil when kept.
    public let error: ReconstructionError?
    /// With `mixed`: every format tried, in `MixedSelector` order (the chosen one is `format`).
    public let candidates: [MixedCandidate]
    /// The conv's bias after bias correction; nil when the bias is the model's own.
    public var correctedBias: [Float]? = nil

    public var params: Int { shape.reduce(1, *) }
    public var isKept: Bool { keptBecause != nil }
    public var format: QuantFormat? { tensor?.format }
    public var groups: Int? { tensor?.layout.groupCount }
    /// "affine 4-bit filter", or "kept FP32 (first)".
    public var formatDescription: String {
        if let keptBecause { return "kept FP32 (\(keptBecause))" }
        return format.map(\.description) ?? "-"
    }
}

/// A model with every conv's quantization decided: the FP32 model it came from, and per conv
/// either the codes or the reason it was kept. Write it with `QuantizedModelFile`.
public final class QuantizedModel {
    /// The FP32 model the codes were made from (not modified by quantizing).
    public let model: YOLOModel
    public let settings: QuantizationSettings
    /// One per conv, in `model.convs` (checkpoint) order.
    public let layers: [LayerQuantization]
    /// Int8 activation ranges measured on the quantized model, stored with it when set.
    public var activationRanges: ActivationRangesDocument?

    init(model: YOLOModel, settings: QuantizationSettings, layers: [LayerQuantization]) {
        self.model = model
        self.settings = settings
        self.layers = layers
    }

    public var quantizedLayers: [LayerQuantization] { layers.filter { !$0.isKept } }
    public var keptLayers: [LayerQuantization] { layers.filter(\.isKept) }

    /// The `quantization` metadata document for a file in `mode`.
    public func metadata(mode: QuantizationMode) -> QuantizationMetadata {
        QuantizationMetadata(
            settings: settings, mode: mode, kept: keptLayers.map(\.name),
            layers: quantizedLayers.compactMap { layer in
                layer.tensor.map { QuantizationMetadata.Layer(name: layer.name, format: $0.format, shape: layer.shape,
                                                              groups: $0.layout.groupCount) }
            })
    }
}

/// Quantizes the convs of a loaded model (DESIGN.md section 3): the weights the engine runs,
/// i.e. after BatchNorm folding, RepConv re-parameterisation and ImplicitA/M folding.
public enum ModelQuantizer {
    /// Quantizes every conv except those `settings.keep` names. Layers are spread over the
    /// cores; the result does not depend on how (each layer is quantized on its own).
    /// `progress` is called (from any thread, serialised) after each layer with (done, total).
    public static func quantize(_ model: YOLOModel, settings: QuantizationSettings,
                                techniques: QuantizationTechniques = QuantizationTechniques(),
                                statistics: [String: ConvInputStatistics] = [:],
                                progress: ((Int, Int) -> Void)? = nil) throws -> QuantizedModel {
        let convs = model.convs
        let kept = keptConvs(of: model, keep: settings.keep)
        // Largest first, so the last layer to start is a small one.
        let order = convs.indices.sorted { convs[$0].geometry.weightCount > convs[$1].geometry.weightCount }
        let results = ResultSlots(count: convs.count)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, convs.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let k = results.claim() {
                let i = order[k]
                let conv = convs[i]
                let result = Result {
                    try quantize(conv, keptBecause: kept[conv.name], settings: settings, techniques: techniques,
                                 statistics: statistics[conv.name])
                }
                results.store(result, at: i, progress: progress)
            }
        }
        return QuantizedModel(model: model, settings: settings, layers: try results.values())
    }

    /// The convs `keep` leaves at full precision, by name, with the reason.
    public static func keptConvs(of model: YOLOModel, keep: Set<KeptConvs>) -> [String: KeptConvs] {
        var kept: [String: KeptConvs] = [:]
        if keep.contains(.detect) { for conv in model.detect.levels { kept[conv.name] = .detect } }
        if keep.contains(.first), let first = model.convs.first { kept[first.name] = .first }
        return kept
    }

    static func quantize(_ conv: ConvUnit, keptBecause: KeptConvs?, settings: QuantizationSettings,
                         techniques: QuantizationTechniques, statistics: ConvInputStatistics?) throws -> LayerQuantization {
        let shape = conv.geometry.weightShape
        if let keptBecause {
            return LayerQuantization(name: conv.name, shape: shape, keptBecause: keptBecause, tensor: nil, error: nil,
                                     candidates: [])
        }
        let weights = conv.weights.values()
        do {
            var tensor: QuantizedTensor
            var candidates: [MixedCandidate] = []
            switch settings.granularity {
            case let .fixed(granularity):
                let format = try QuantFormat(scheme: settings.scheme, bits: settings.bits, granularity: granularity)
                tensor = try QuantizedTensor(quantizing: weights, shape: shape, format: format,
                                             rangeSearch: techniques.rangeSearch,
                                             importance: statistics.map(importance(of:)))
            case .mixed:
                let selection = try MixedSelector.select(weights: weights, shape: shape, scheme: settings.scheme,
                                                         bits: settings.mixedBits, budget: settings.mixedBudget)
                tensor = selection.quantized
                candidates = selection.candidates
                if techniques.rangeSearch {
                    tensor = try QuantizedTensor(quantizing: weights, shape: shape, format: tensor.format, rangeSearch: true)
                }
            }
            if techniques.errorFeedback, let statistics {
                tensor = try ErrorFeedbackQuantizer.quantize(weights: weights, start: tensor,
                                                             hessian: statistics.secondMoment)
            }
            let reconstructed = tensor.dequantize()
            var layer = LayerQuantization(name: conv.name, shape: shape, keptBecause: nil, tensor: tensor,
                                          error: ReconstructionError(original: weights, reconstructed: reconstructed),
                                          candidates: candidates)
            if techniques.biasCorrection, let statistics {
                layer.correctedBias = BiasCorrection.corrected(bias: conv.bias, weights: weights,
                                                               quantized: reconstructed, inputMean: statistics.mean)
            }
            return layer
        } catch let error as QuantError {
            throw QuantError.tensor("\(conv.name).weight", error)
        }
    }

    /// How much each input column of a conv matters to its output: E[x_i^2] (the diagonal of
    /// the input second moment, which is what a weight error on column i costs the output when
    /// inputs are uncorrelated), plus 1% of its mean so that dead inputs still count a little
    /// (GPTQ's damping). Weights the sub-filter groups' and the codebook's grid search.
    static func importance(of statistics: ConvInputStatistics) -> [Float] {
        let diagonal = statistics.secondMomentDiagonal
        let damping = 0.01 * diagonal.reduce(0, +) / Double(max(diagonal.count, 1))
        return diagonal.map { Float($0 + damping) }
    }

    /// Makes `quantized.model` run from the quantized weights in memory, as the loaded file in
    /// `mode` would: packed providers (codes stay packed) or dense dequantized FP32 weights.
    /// This mutates that model's convs; kept convs are left alone.
    public static func apply(_ quantized: QuantizedModel, mode: QuantizationMode) {
        let byName = Dictionary(uniqueKeysWithValues: quantized.layers.map { ($0.name, $0) })
        for conv in quantized.model.convs {
            guard let tensor = byName[conv.name]?.tensor else { continue }
            switch mode {
            case .packed: conv.weights = .provided(PackedConvWeights(tensor.packed()))
            case .fake: conv.weights = .dense(tensor.dequantize())
            }
            if let bias = byName[conv.name]?.correctedBias { conv.bias = bias }
        }
    }
}

/// Work distribution and result collection for the parallel layer loop.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<LayerQuantization, Error>?]
    private var next = 0
    private var done = 0
    private var failed = false

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    /// The next work item, or nil when all are handed out (or one failed: stop early).
    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < slots.count, !failed else { return nil }
        next += 1
        return next - 1
    }

    func store(_ result: Result<LayerQuantization, Error>, at index: Int, progress: ((Int, Int) -> Void)?) {
        lock.lock()
        defer { lock.unlock() }
        slots[index] = result
        done += 1
        if case .failure = result { failed = true }
        progress?(done, slots.count)
    }

    /// All results in conv order, or the first error in conv order.
    func values() throws -> [LayerQuantization] {
        lock.lock()
        defer { lock.unlock() }
        for case .failure(let error)? in slots { throw error }
        return slots.compactMap { slot in
            if case .success(let value)? = slot { return value }
            return nil
        }
    }
}
