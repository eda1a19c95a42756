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
    /// With `--budget`: what was chosen per conv, and why.
    public internal(set) var plan: MixedPrecisionPlan?

    init(model: YOLOModel, settings: QuantizationSettings, layers: [LayerQuantization], plan: MixedPrecisionPlan? = nil) {
        self.model = model
        self.settings = settings
        self.layers = layers
        self.plan = plan
    }

    public var quantizedLayers: [LayerQuantization] { layers.filter { !$0.isKept } }
    public var keptLayers: [LayerQuantization] { layers.filter(\.isKept) }

    /// The `quantization` metadata document for a file in `mode`.
    public func metadata(mode: QuantizationMode) -> QuantizationMetadata {
        let weights = layers.reduce(0) { $0 + $1.params }
        return QuantizationMetadata(
            settings: settings, mode: mode, kept: keptLayers.map(\.name),
            layers: quantizedLayers.compactMap { layer in
                layer.tensor.map { QuantizationMetadata.Layer(name: layer.name, format: $0.format, shape: layer.shape,
                                                              groups: $0.layout.groupCount) }
            },
            budgetBitsPerWeight: settings.budget?.bitsPerWeight(weights: weights))
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
                                statistics: [String: ConvInputStatistics] = [:], plan: MixedPrecisionPlan? = nil,
                                progress: ((Int, Int) -> Void)? = nil) throws -> QuantizedModel {
        let convs = model.convs
        let kept = keptConvs(of: model, keep: settings.keep, plan: plan)
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
                                 statistics: statistics[conv.name], plan: plan)
                }
                results.store(result, at: i, progress: progress)
            }
        }
        return QuantizedModel(model: model, settings: settings, layers: try results.values(), plan: plan)
    }

    /// The convs `keep` leaves at full precision, by name, with the reason (and those `plan`
    /// keeps FP32, as `.budget`).
    public static func keptConvs(of model: YOLOModel, keep: Set<KeptConvs>,
                                 plan: MixedPrecisionPlan? = nil) -> [String: KeptConvs] {
        var kept: [String: KeptConvs] = [:]
        for row in plan?.rows ?? [] where row.choice == .fp32 { kept[row.name] = .budget }
        if keep.contains(.detect) { for conv in model.detect.levels { kept[conv.name] = .detect } }
        if keep.contains(.first), let first = model.convs.first { kept[first.name] = .first }
        return kept
    }

    static func quantize(_ conv: ConvUnit, keptBecause: KeptConvs?, settings: QuantizationSettings,
                         techniques: QuantizationTechniques, statistics: ConvInputStatistics?,
                         plan: MixedPrecisionPlan? = nil) throws -> LayerQuantization {
        if let keptBecause {
            return LayerQuantization(name: conv.name, shape: conv.geometry.weightShape, keptBecause: keptBecause,
                                     tensor: nil, error: nil)
        }
        return try quantize(conv, format: try chosenFormat(conv, settings: settings, plan: plan), techniques: techniques,
                            calibration: statistics.map(ConvCalibration.inputs) ?? .none)
    }

    /// The format a conv is quantized to: the plan's, or the one `settings` give every conv.
    static func chosenFormat(_ conv: ConvUnit, settings: QuantizationSettings, plan: MixedPrecisionPlan?) throws -> QuantFormat {
        if let plan {
            guard case let .quantized(format)? = plan.choice(of: conv.name) else {
                throw QuantError.invalidSetting("\(conv.name): the size plan has no format for it")
            }
            return format
        }
        guard case let .fixed(granularity) = settings.granularity else {
            throw QuantError.invalidSetting("--granularity mixed needs a size plan (--budget)")
        }
        return try QuantFormat(scheme: settings.scheme, bits: settings.bits, granularity: granularity)
    }

    /// What calibration measured of one conv's input.
    enum ConvCalibration {
        case none
        /// Its input in the FP32 model: the conv is fitted on its own.
        case inputs(ConvInputStatistics)
        /// Its input in the FP32 model and in the model quantized so far (`SequentialCalibration`).
        case paired(PairedInputStatistics)
    }

    /// Fraction of the input second moment's mean diagonal added for learned rounding (see
    /// `ReconstructionObjective`), as GPTQ damps its Hessian.
    static let roundingDamping = 0.01

    /// One conv in `format`: the grid (min/max, or range search), then the codes (nearest,
    /// error feedback or learned rounding), then the bias.
    static func quantize(_ conv: ConvUnit, format: QuantFormat, techniques: QuantizationTechniques,
                         calibration: ConvCalibration,
                         errorFeedback prepared: ErrorFeedbackQuantizer.Prepared? = nil) throws -> LayerQuantization {
        let shape = conv.geometry.weightShape
        let weights = conv.weights.values()
        do {
            // The integer grids' search weights columns by the inputs the conv will see.
            let importance: [Float]?
            switch calibration {
            case .none: importance = nil
            case let .inputs(statistics): importance = Self.importance(of: statistics)
            case let .paired(statistics): importance = Self.importance(diagonal: statistics.quantizedSecondDiagonal)
            }
            var tensor = try QuantizedTensor(quantizing: weights, shape: shape, format: format,
                                             rangeSearch: techniques.rangeSearch, importance: importance)
            var objective: LearnedRounding.Objective?
            switch calibration {
            case .none:
                break
            case let .inputs(statistics):
                if techniques.errorFeedback {
                    if let prepared {
                        tensor = try ErrorFeedbackQuantizer.quantize(weights: weights, start: tensor, prepared: prepared)
                    } else {
                        tensor = try ErrorFeedbackQuantizer.quantize(weights: weights, start: tensor,
                                                                     hessian: statistics.secondMoment)
                    }
                }
                if techniques.learnedRounding {
                    objective = .linear(ReconstructionObjective(weights: weights, secondMoment: statistics.secondMoment,
                                                                mean: statistics.mean, centred: techniques.biasCorrection,
                                                                damping: roundingDamping))
                }
            case let .paired(statistics):
                let paired = statistics.objective(weights: weights, centred: techniques.biasCorrection,
                                                  damping: roundingDamping)
                if techniques.errorFeedback, let corrected = paired.leastSquaresWeights() {
                    // Error feedback rounds the weights that best undo the earlier convs' errors.
                    tensor = try ErrorFeedbackQuantizer.quantize(weights: corrected, start: tensor,
                                                                 hessian: paired.second.map(Double.init))
                }
                if techniques.learnedRounding {
                    objective = .linear(paired)
                    if techniques.reconstruction == .activation, statistics.poolCount > 0 {
                        let pool = statistics.poolMatrices
                        objective = .activation(ActivationObjective(
                            weights: weights, bias: conv.bias, activation: conv.activation, fp32Columns: pool.fp32,
                            quantizedColumns: pool.quantized, count: statistics.poolCount,
                            fp32Mean: techniques.biasCorrection ? statistics.fp32Mean : nil,
                            quantizedMean: techniques.biasCorrection ? statistics.quantizedMean : nil,
                            damping: roundingDamping))
                    }
                }
            }
            if let objective {
                tensor = try LearnedRounding.optimize(weights: weights, grid: tensor, objective: objective,
                                                      settings: techniques.rounding).tensor
            }
            let reconstructed = tensor.dequantize()
            var layer = LayerQuantization(name: conv.name, shape: shape, keptBecause: nil, tensor: tensor,
                                          error: ReconstructionError(original: weights, reconstructed: reconstructed))
            if techniques.biasCorrection {
                switch calibration {
                case .none:
                    break
                case let .inputs(statistics):
                    layer.correctedBias = BiasCorrection.corrected(bias: conv.bias, weights: weights,
                                                                   quantized: reconstructed, inputMean: statistics.mean)
                case let .paired(statistics):
                    layer.correctedBias = BiasCorrection.corrected(bias: conv.bias, weights: weights,
                                                                   quantized: reconstructed, fp32Mean: statistics.fp32Mean,
                                                                   quantizedMean: statistics.quantizedMean)
                }
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
        importance(diagonal: statistics.secondMomentDiagonal)
    }

    /// The same from the diagonal of an input second moment.
    static func importance(diagonal: [Double]) -> [Float] {
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
