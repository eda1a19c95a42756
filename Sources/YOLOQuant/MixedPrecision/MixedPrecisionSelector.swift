import CBLAS
import Foundation
import YOLOModel
import YOLOTensor

/// What `--budget` may give one conv: a quantized format, or its FP32 weights.
public enum LayerChoice: Hashable, Sendable, CustomStringConvertible {
    case fp32
    case quantized(QuantFormat)

    public var format: QuantFormat? {
        if case let .quantized(format) = self { return format }
        return nil
    }

    public var description: String { format?.description ?? "FP32" }
}

/// The formats `--budget` chooses among: every bit width times every candidate granularity in
/// the `--scheme` (FP32 is always a choice too), and a few formats of another scheme. Lists, so a
/// new format is one more entry; combinations that are not formats (`QuantFormat.supports`: the
/// sub-filter groups take affine or symmetric codes of 2-4 bits) are left out.
public enum BudgetCandidates {
    public static let bitWidths = [2, 3, 4, 8]
    /// Granularities tried in `--scheme`.
    public static let granularities: [Granularity] = [
        .filter,
        .channel,
        .cshape,
        .group16,
        .group32,
        .group64,
    ]
    /// Formats tried whatever `--scheme` is (with `mixed`), at each bit width.
    public static let otherSchemes: [(scheme: QuantScheme, granularity: Granularity)] = [
        (.codebook, .filter),
    ]
    /// At 8 bits the grid is fine enough that the granularity changes nothing measurable
    /// (docs/QUANTIZATION.md's grid): only the one with the fewest parameters.
    static let eightBit: Granularity = .filter

    /// For `scheme`, bit widths up to `maxBits`, and the granularities `granularity` allows
    /// (`mixed`: all of the lists; a fixed one: only it, in `scheme`).
    public static func formats(scheme: QuantScheme, maxBits: Int, granularity: GranularityChoice) throws -> [QuantFormat] {
        let pairs: [(scheme: QuantScheme, granularity: Granularity)]
        switch granularity {
        case .mixed:
            pairs = granularities.map { (scheme, $0) } + otherSchemes.filter { $0.scheme != scheme }
        case let .fixed(g):
            pairs = [(scheme, g)]
        }
        return try bitWidths.filter { $0 <= maxBits }.flatMap { bits in
            let allowed = pairs.filter { QuantFormat.supports(scheme: $0.scheme, bits: bits, granularity: $0.granularity) }
            let eight = allowed.filter { $0.scheme == scheme && $0.granularity == eightBit }
            return try (bits == 8 && !eight.isEmpty ? eight : allowed).map {
                try QuantFormat(scheme: $0.scheme, bits: bits, granularity: $0.granularity)
            }
        }
    }
}

/// What `--budget` chose: per conv its format, packed bytes and measured output error, and the
/// totals. `table` is what `yolov7 quantize` prints.
public struct MixedPrecisionPlan: Sendable {
    public struct Row: Sendable {
        public let name: String
        public let shape: [Int]
        public let choice: LayerChoice
        /// Codes and parameters, or 4 bytes a weight for FP32.
        public let bytes: Int
        /// The output error measured with this conv alone in `choice` (0 for FP32).
        public let error: Double
        /// Set when `--keep` fixed the choice.
        public let kept: KeptConvs?
        /// Candidates whose output error was measured (after those dominated on the conv's own
        /// output error and size were dropped).
        public let measured: Int
    }

    public let rows: [Row]
    /// The whole file may take this many bytes.
    public let budgetBytes: Int
    /// The packed file's bytes with these choices.
    public let fileBytes: Int
    /// Calibration images the output error was measured on.
    public let images: Int
    /// The output error with every choice applied at once and the final rounding (set after
    /// quantizing); the plan predicts the sum of the rows' errors.
    public internal(set) var jointError: Double?

    public var predictedError: Double { rows.reduce(0) { $0 + $1.error } }

    public func choice(of name: String) -> LayerChoice? { rows.first { $0.name == name }?.choice }

    /// One line per conv and the totals.
    public var table: [String] {
        let width = max(4, rows.map(\.name.count).max() ?? 0)
        func pad(_ text: String, _ n: Int, left: Bool = false) -> String {
            let gap = String(repeating: " ", count: max(0, n - text.count))
            return left ? text + gap : gap + text
        }
        var lines = [pad("#", 3) + "  " + pad("name", width, left: true) + "  " + pad("shape", 17, left: true)
                     + pad("params", 9) + "  " + pad("choice", 26, left: true) + pad("bytes", 10)
                     + pad("output error", 14) + "  measured"]
        for (i, row) in rows.enumerated() {
            let choice = row.kept.map { "FP32 (--keep \($0))" } ?? row.choice.description
            lines.append(pad("\(i)", 3) + "  " + pad(row.name, width, left: true) + "  "
                         + pad("[" + row.shape.map(String.init).joined(separator: ",") + "]", 17, left: true)
                         + pad("\(row.shape.reduce(1, *))", 9) + "  " + pad(choice, 26, left: true)
                         + pad("\(row.bytes)", 10) + pad(String(format: "%.3e", row.error), 14)
                         + "  " + (row.kept == nil ? "\(row.measured)" : "-"))
        }
        var counts: [String: Int] = [:]
        for row in rows { counts[row.choice.description, default: 0] += 1 }
        lines.append("budget: " + counts.sorted { $0.key < $1.key }.map { "\($0.value) x \($0.key)" }.joined(separator: ", ")
                     + "; file \(fileBytes) B of \(budgetBytes) B allowed")
        var errors = String(format: "output error (measured on %d images): predicted %.4e (sum of the rows)",
                            images, predictedError)
        if let jointError { errors += String(format: ", measured with every choice at once %.4e", jointError) }
        lines.append(errors)
        return lines
    }
}

/// `--budget`: each conv's format chosen to minimise the model's measured output error
/// (`OutputSensitivity`) within a file size (HAWQ-style sensitivity, measured rather than
/// estimated from second derivatives).
///
/// 1. For every conv and candidate, the conv alone is quantized (with the calibrated rounding
///    the recipe uses, error feedback standing in for learned rounding, which would take
///    minutes per candidate) and the output error of the model with only that change measured
///    on a few calibration images. Candidates whose own output error tr(ΔW H ΔW^T) and size are
///    both beaten by another's are not measured: they could never be chosen.
/// 2. Errors are assumed to add up across convs; the choice that minimises their sum within
///    the budget is found exactly (dynamic programming over the bytes, in units of 1/50,000 of
///    the budget, each choice's bytes rounded up to whole units).
public enum MixedPrecisionSelector {
    /// Per conv (in `model.convs` order), every choice with its bytes and measured error.
    struct Options {
        struct Option {
            let choice: LayerChoice
            let bytes: Int
            let error: Double
        }
        let name: String
        let shape: [Int]
        let kept: KeptConvs?
        let options: [Option]
        let measured: Int
    }

    /// Measures every candidate of every conv not kept by `--keep`.
    static func measure(model: YOLOModel, settings: QuantizationSettings, techniques: QuantizationTechniques,
                        statistics: [String: ConvInputStatistics], sensitivity: OutputSensitivity,
                        progress: ((Int, Int) -> Void)? = nil) throws -> [Options] {
        let formats = try BudgetCandidates.formats(scheme: settings.scheme, maxBits: settings.bits,
                                                   granularity: settings.granularity)
        let kept = ModelQuantizer.keptConvs(of: model, keep: settings.keep)
        // The proxy's rounding: the recipe's, with error feedback for learned rounding.
        var rounding = techniques
        if rounding.learnedRounding {
            rounding.learnedRounding = false
            rounding.errorFeedback = true
        }
        var result: [Options] = []
        let convs = model.convs
        for (k, conv) in convs.enumerated() {
            let count = conv.geometry.weightCount
            var options = [Options.Option(choice: .fp32, bytes: 4 * count, error: 0)]
            var measured = 0
            if kept[conv.name] == nil {
                let stats = statistics[conv.name]
                let prepared = rounding.errorFeedback ? stats.flatMap { ErrorFeedbackQuantizer.prepare(hessian: $0.secondMoment) } : nil
                let hessian = stats.map { $0.secondMoment.map(Float.init) }
                var trials: [(format: QuantFormat, layer: LayerQuantization, local: Double)] = []
                let weights = conv.weights.values()
                for format in formats {
                    let layer = try ModelQuantizer.quantize(conv, format: format, techniques: rounding,
                                                            calibration: stats.map(ModelQuantizer.ConvCalibration.inputs) ?? .none,
                                                            errorFeedback: prepared)
                    let local = hessian.map { localError(weights: weights, quantized: layer.tensor!.dequantize(), hessian: $0) }
                        ?? (layer.error?.mse ?? 0)
                    trials.append((format, layer, local))
                }
                // Keep the candidates no other beats on both size and own output error.
                let front = trials.filter { t in
                    !trials.contains { o in
                        let (a, b) = (o.layer.tensor!.size.totalBytes, t.layer.tensor!.size.totalBytes)
                        return (a <= b && o.local < t.local) || (a < b && o.local <= t.local)
                    }
                }
                let (weightsBefore, biasBefore) = (conv.weights, conv.bias)
                for trial in front {
                    conv.weights = .dense(trial.layer.tensor!.dequantize())
                    conv.bias = trial.layer.correctedBias ?? biasBefore
                    let error = sensitivity.error(changed: [conv])
                    options.append(Options.Option(choice: .quantized(trial.format),
                                                  bytes: trial.layer.tensor!.size.totalBytes, error: error))
                    measured += 1
                }
                conv.weights = weightsBefore
                conv.bias = biasBefore
            }
            result.append(Options(name: conv.name, shape: conv.geometry.weightShape, kept: kept[conv.name],
                                  options: kept[conv.name] == nil ? options : [options[0]], measured: measured))
            progress?(k + 1, convs.count)
        }
        return result
    }

    /// tr(ΔW H ΔW^T): the conv's own output error on its calibration inputs.
    static func localError(weights: [Float], quantized: [Float], hessian: [Float]) -> Double {
        let n = Int(Double(hessian.count).squareRoot())
        let f = weights.count / n
        let delta = zip(weights, quantized).map { $0 - $1 }
        var product = [Float](repeating: 0, count: weights.count)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(f), Int32(n), Int32(n), 1, delta, Int32(n),
                    hessian, Int32(n), 0, &product, Int32(n))
        var total = 0.0
        for i in delta.indices { total += Double(delta[i]) * Double(product[i]) }
        return total
    }

    /// The choice per conv with the least total error whose bytes sum to at most `limit`;
    /// nil when not even the smallest choices fit. Exact up to the byte unit (each option's
    /// bytes rounded up to it, so the result never exceeds the limit).
    static func allocate(_ layers: [Options], limit: Int) -> [Int]? {
        guard limit >= 0 else { return nil }
        let unit = max(1, limit / 50_000)
        let states = limit / unit
        let cost = layers.map { $0.options.map { ($0.bytes + unit - 1) / unit } }
        // best[s]: least error of the layers so far within s units.
        var best = [Double](repeating: 0, count: states + 1)
        var picks = [[UInt8]]()
        for (l, layer) in layers.enumerated() {
            var next = [Double](repeating: .infinity, count: states + 1)
            var pick = [UInt8](repeating: 0, count: states + 1)
            for s in 0...states where best[s].isFinite {
                for (o, option) in layer.options.enumerated() {
                    let t = s + cost[l][o]
                    guard t <= states else { continue }
                    let e = best[s] + option.error
                    if e < next[t] {
                        next[t] = e
                        pick[t] = UInt8(o)
                    }
                }
            }
            best = next
            picks.append(pick)
        }
        guard let end = best.indices.filter({ best[$0].isFinite }).min(by: { best[$0] < best[$1] }) else { return nil }
        var choice = [Int](repeating: 0, count: layers.count)
        var s = end
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let o = Int(picks[l][s])
            choice[l] = o
            s -= cost[l][o]
        }
        return choice
    }
}
