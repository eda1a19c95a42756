/// What `yolov7 quantize` does beyond round-to-nearest on the min/max grid (each measured on its
/// own in docs/QUANTIZATION.md). Error feedback and bias correction need calibration images.
public struct QuantizationTechniques: Equatable, Sendable, CustomStringConvertible {
    /// Clip each group's range where that lowers its squared weight error (`RangeSearch`).
    public var rangeSearch: Bool
    /// GPTQ-style column-by-column rounding with error feedback (`ErrorFeedbackQuantizer`).
    public var errorFeedback: Bool
    /// Shift each conv's bias by the mean output change its quantized weights cause.
    public var biasCorrection: Bool

    public init(rangeSearch: Bool = false, errorFeedback: Bool = false, biasCorrection: Bool = false) {
        self.rangeSearch = rangeSearch
        self.errorFeedback = errorFeedback
        self.biasCorrection = biasCorrection
    }

    /// Parses `clip,gptq,bias` (comma separated; `none` or empty for plain round-to-nearest).
    public init(parsing text: String) throws {
        self.init()
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
            where !item.isEmpty && item != "none" {
            switch item {
            case "clip": rangeSearch = true
            case "gptq": errorFeedback = true
            case "bias": biasCorrection = true
            default:
                throw QuantError.invalidSetting("unknown technique '\(item)' (expected clip, gptq, bias or none)")
            }
        }
    }

    public var needsCalibration: Bool { errorFeedback || biasCorrection }

    public var description: String {
        let names = [(rangeSearch, "clip"), (errorFeedback, "gptq"), (biasCorrection, "bias")].filter(\.0).map(\.1)
        return names.isEmpty ? "none" : names.joined(separator: ",")
    }
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
}
