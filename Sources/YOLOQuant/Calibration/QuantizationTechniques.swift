/// What `yolov7 quantize` does beyond round-to-nearest on the min/max grid (each measured on its
/// own in docs/QUANTIZATION.md). Error feedback and bias correction need calibration images.
public struct QuantizationTechniques: Equatable, Sendable, CustomStringConvertible {
    /// Clip each group's range where that lowers its squared weight error (`RangeSearch`).
    public var rangeSearch: Bool
    /// GPTQ-style column-by-column rounding with error feedback (`ErrorFeedbackQuantizer`).
    public var errorFeedback: Bool
    /// Shift each conv's bias by the mean output change its quantized weights cause.
    public var biasCorrection: Bool
    /// AdaRound-style learned rounding against the conv's output (`LearnedRounding`).
    public var learnedRounding: Bool
    /// How learned rounding runs.
    public var rounding = LearnedRoundingSettings()
    /// What learned rounding reproduces: each conv's output, or its output after the activation.
    public var reconstruction = ReconstructionBlock.conv
    /// Learned rounding and error feedback fit each conv to the inputs the already-quantized
    /// convs before it produce, against the FP32 model's output (`SequentialCalibration`); off:
    /// to its FP32 inputs, each conv on its own.
    public var sequential = true

    public init(rangeSearch: Bool = false, errorFeedback: Bool = false, biasCorrection: Bool = false,
                learnedRounding: Bool = false) {
        self.rangeSearch = rangeSearch
        self.errorFeedback = errorFeedback
        self.biasCorrection = biasCorrection
        self.learnedRounding = learnedRounding
    }

    /// Parses `clip,gptq,adaround,bias` (comma separated; `none` or empty for plain
    /// round-to-nearest). gptq and adaround both choose the codes: at most one of them.
    public init(parsing text: String) throws {
        self.init()
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
            where !item.isEmpty && item != "none" {
            switch item {
            case "clip": rangeSearch = true
            case "gptq": errorFeedback = true
            case "bias": biasCorrection = true
            case "adaround": learnedRounding = true
            default:
                throw QuantError.invalidSetting("unknown technique '\(item)' (expected clip, gptq, adaround, bias or none)")
            }
        }
        if errorFeedback && learnedRounding {
            throw QuantError.invalidSetting("gptq and adaround both choose the codes: give one of them")
        }
    }

    public var needsCalibration: Bool { errorFeedback || biasCorrection || learnedRounding }

    /// Whether calibration runs the model layer by layer in two streams (`SequentialCalibration`).
    var runsSequentially: Bool { (learnedRounding || errorFeedback) && sequential }

    public var description: String {
        let names = [(rangeSearch, "clip"), (errorFeedback, "gptq"), (learnedRounding, "adaround"),
                     (biasCorrection, "bias")].filter(\.0).map(\.1)
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }
}

/// The unit learned rounding fits at once against the FP32 model.
public enum ReconstructionBlock: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The conv's output before its activation (`ReconstructionObjective`: exact over every
    /// calibration column, one N x N product a step).
    case conv
    /// The conv's output after its activation (`ActivationObjective`, on a pool of columns).
    case activation

    public init(parsing name: String) throws {
        guard let value = ReconstructionBlock(rawValue: name.lowercased()) else {
            throw QuantError.invalidSetting("unknown reconstruction '\(name)' (expected conv or activation)")
        }
        self = value
    }

    public var description: String { rawValue }
}

/// Bias correction (Nagel et al. 2019): quantizing W moves the conv's output by (Q - W) x,
/// whose mean over the calibration inputs, (Q - W) E[x], is a per-filter shift the bias can
/// take back: b' = b + (W - Q) E[x].
enum BiasCorrection {
    static func corrected(bias: [Float], weights: [Float], quantized: [Float], inputMean: [Double]) -> [Float] {
        let n = inputMean.count
        precondition(weights.count == bias.count * n && quantized.count == weights.count, "BiasCorrection: sizes")
        return bias.indices.map { f in
            var shift = 0.0
            for i in 0..<n { shift += Double(weights[f * n + i] - quantized[f * n + i]) * inputMean[i] }
            return Float(Double(bias[f]) + shift)
        }
    }

    /// With the conv's input changed too (x~ in the quantized model, x in the FP32 one): the
    /// mean output change is W E[x] - Q E[x~], so b' = b + W E[x] - Q E[x~].
    static func corrected(bias: [Float], weights: [Float], quantized: [Float], fp32Mean: [Double],
                          quantizedMean: [Double]) -> [Float] {
        let n = fp32Mean.count
        precondition(weights.count == bias.count * n && quantized.count == weights.count
                     && quantizedMean.count == n, "BiasCorrection: sizes")
        return bias.indices.map { f in
            var shift = 0.0
            for i in 0..<n {
                shift += Double(weights[f * n + i]) * fp32Mean[i] - Double(quantized[f * n + i]) * quantizedMean[i]
            }
            return Float(Double(bias[f]) + shift)
        }
    }
}
