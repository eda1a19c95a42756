import Foundation
import YOLOModel
import YOLOTensor

extension ModelQuantizer {
    /// Images of the calibration set `--budget` measures output errors on (spread evenly over
    /// it): each candidate costs a partial forward pass per image.
    public static let sensitivityImages = 8

    /// Columns per conv that reconstruction after the activation keeps (about 4 MB of inputs
    /// for the widest convs of YOLOv7-tiny, N = 2304).
    static let activationPool = 4096

    /// Quantizes every conv `settings` does not keep, calibrating on `images` what `techniques`
    /// and a size budget need: with a budget, the output error of every candidate on a few of
    /// the images (`MixedPrecisionSelector`, candidates rounded with those images' input
    /// statistics); then either the model layer by layer (`SequentialCalibration`: error
    /// feedback and learned rounding on the inputs the quantized convs before give, the
    /// default) or every conv's FP32 input statistics in one pass (`sequential` off, or bias
    /// correction alone). `progress` gets the phase ("calibration", "sensitivity", "sequential",
    /// "quantize") with (done, total). `source` is the name the file will record as its origin
    /// (`QuantizedModelFile.write`): its length counts in the budget, and so do the activation
    /// ranges the caller will store when it gives their `ActivationRangesDocument.placeholder`
    /// (at their longest: the ranges are measured on the quantized model, after the choice).
    public static func quantize(_ model: YOLOModel, settings: QuantizationSettings, techniques: QuantizationTechniques,
                                calibration images: CalibrationImages?, source: String = "",
                                storedRanges: ActivationRangesDocument? = nil, maxColumns: Int = 4096,
                                progress: ((String, Int, Int) -> Void)? = nil) throws -> QuantizedModel {
        func reporter(_ phase: String) -> ((Int, Int) -> Void)? { progress.map { report in { report(phase, $0, $1) } } }
        guard let images, techniques.needsCalibration || settings.budget != nil else {
            if techniques.needsCalibration || settings.budget != nil {
                throw QuantError.invalidSetting(settings.budget != nil
                    ? "--budget measures output errors on calibration images: give --calib"
                    : "techniques \(techniques) need calibration images")
            }
            return try quantize(model, settings: settings, techniques: techniques, progress: reporter("quantize"))
        }
        let kept = keptConvs(of: model, keep: settings.keep)
        let names = Set(model.convs.map(\.name).filter { kept[$0] == nil })
        var plan: MixedPrecisionPlan?
        var sensitivity: OutputSensitivity?
        if let budget = settings.budget {
            let k = min(images.count, sensitivityImages)
            let subset = try (0..<k).map { try images.input($0 * images.count / k) }
            sensitivity = OutputSensitivity(model: model, inputs: subset)
            // The candidates' rounding uses the input statistics of the same few images.
            let candidates = CalibrationCollector.collect(model: model, convs: names, count: subset.count,
                                                              maxColumns: maxColumns, input: { subset[$0] },
                                                              progress: reporter("calibration"))
            let options = try MixedPrecisionSelector.measure(model: model, settings: settings, techniques: techniques,
                                                             statistics: candidates, sensitivity: sensitivity!,
                                                             progress: reporter("sensitivity"))
            plan = try fit(options, model: model, settings: settings, source: source, storedRanges: storedRanges,
                           budgetBytes: budget.bytes(weights: model.convs.reduce(0) { $0 + $1.geometry.weightCount }),
                           images: subset.count)
        }
        var statistics: [String: ConvInputStatistics] = [:]
        if techniques.needsCalibration && !techniques.runsSequentially {
            statistics = try CalibrationCollector.collect(model: model, convs: names, count: images.count,
                                                          maxColumns: maxColumns, input: images.input,
                                                          progress: reporter("calibration"))
        }
        let quantized: QuantizedModel
        if techniques.runsSequentially {
            quantized = try quantizeSequentially(model, settings: settings, techniques: techniques, images: images,
                                                 plan: plan, maxColumns: maxColumns, progress: reporter("sequential"))
        } else {
            quantized = try quantize(model, settings: settings, techniques: techniques,
                                     statistics: statistics, plan: plan,
                                     progress: reporter("quantize"))
        }
        if let sensitivity, var plan {
            plan.jointError = jointError(of: quantized, sensitivity: sensitivity)
            quantized.plan = plan
        }
        return quantized
    }

    /// Error feedback or learned rounding conv by conv through the model (`SequentialCalibration`).
    static func quantizeSequentially(_ model: YOLOModel, settings: QuantizationSettings,
                                     techniques: QuantizationTechniques, images: CalibrationImages,
                                     plan: MixedPrecisionPlan?, maxColumns: Int,
                                     progress: ((Int, Int) -> Void)?) throws -> QuantizedModel {
        let kept = keptConvs(of: model, keep: settings.keep, plan: plan)
        let names = Set(model.convs.map(\.name).filter { kept[$0] == nil })
        var fitted: [String: LayerQuantization] = [:]
        try SequentialCalibration.run(
            model: model, convs: names, images: images, maxColumns: maxColumns,
            poolColumns: techniques.learnedRounding && techniques.reconstruction == .activation ? activationPool : 0,
            quantize: { conv, statistics in
                let format = try chosenFormat(conv, settings: settings, plan: plan)
                let layer = try quantize(conv, format: format, techniques: techniques, calibration: .paired(statistics))
                fitted[conv.name] = layer
                return (layer.tensor!.dequantize(), layer.correctedBias ?? conv.bias)
            },
            progress: progress)
        // Kept convs, and grouped ones (which calibration leaves out), as without calibration.
        let layers = try model.convs.map { conv in
            try fitted[conv.name] ?? quantize(conv, keptBecause: kept[conv.name], settings: settings,
                                              techniques: techniques, statistics: nil, plan: plan)
        }
        return QuantizedModel(model: model, settings: settings, layers: layers, plan: plan)
    }

    /// The choices that fit `budgetBytes` of packed file. The file's bytes besides the convs'
    /// codes, parameters and FP32 weights (biases, anchors, header) are first measured on the
    /// file the smallest choices make; the header of other formats differs by some bytes, so
    /// the limit is then moved by what the chosen file came out over or under the budget and
    /// the choice made again, a few times, keeping the best choice that fits.
    static func fit(_ options: [MixedPrecisionSelector.Options], model: YOLOModel, settings: QuantizationSettings,
                    source: String, storedRanges: ActivationRangesDocument? = nil, budgetBytes: Int,
                    images: Int) throws -> MixedPrecisionPlan {
        func file(_ picks: [Int]) throws -> (bytes: Int, payload: Int) {
            let plan = MixedPrecisionPlan(rows: rows(options, picks), budgetBytes: budgetBytes, fileBytes: 0, images: images)
            // Round-to-nearest codes: the size does not depend on which codes.
            let quantized = try quantize(model, settings: settings, plan: plan)
            quantized.activationRanges = storedRanges
            // The measured ranges' text may be longer than the placeholder's, and the header's
            // padding to 8 bytes with it.
            let growth = storedRanges.map { $0.maximumGrowth + 7 } ?? 0
            let bytes = try QuantizedModelFile.fileSize(of: quantized, mode: .packed, source: source) + growth
            return (bytes, plan.rows.reduce(0) { $0 + $1.bytes })
        }
        let smallest = options.map { layer in layer.options.indices.min { layer.options[$0].bytes < layer.options[$1].bytes }! }
        let floor = try file(smallest)
        let overhead = floor.bytes - floor.payload
        guard floor.bytes <= budgetBytes else {
            throw QuantError.invalidSetting("budget \(budgetBytes) B is below the smallest file these candidates make "
                                            + "(\(floor.bytes) B: every conv at its smallest format)")
        }
        // Move the limit by what the file came out over or under, keeping the best that fits.
        var limit = budgetBytes - overhead
        var best = (picks: smallest, bytes: floor.bytes)
        func error(_ picks: [Int]) -> Double { zip(options, picks).reduce(0) { $0 + $1.0.options[$1.1].error } }
        for _ in 0..<6 {
            guard let picks = MixedPrecisionSelector.allocate(options, limit: limit) else { break }
            let made = try file(picks)
            if made.bytes <= budgetBytes && error(picks) <= error(best.picks) { best = (picks, made.bytes) }
            let gap = budgetBytes - made.bytes
            if gap >= 0 && gap < 64 { break }
            limit += gap
        }
        return MixedPrecisionPlan(rows: rows(options, best.picks), budgetBytes: budgetBytes, fileBytes: best.bytes,
                                  images: images)
    }

    static func rows(_ options: [MixedPrecisionSelector.Options], _ picks: [Int]) -> [MixedPrecisionPlan.Row] {
        zip(options, picks).map { layer, pick in
            let option = layer.options[pick]
            return MixedPrecisionPlan.Row(name: layer.name, shape: layer.shape, choice: option.choice, bytes: option.bytes,
                                          error: option.error, kept: layer.kept, measured: layer.measured)
        }
    }

    /// The output error of the quantized model as it will run (every choice at once, with its
    /// final codes and biases), on the images the plan was measured on.
    static func jointError(of quantized: QuantizedModel, sensitivity: OutputSensitivity) -> Double {
        let convs = quantized.model.convs
        let byName = Dictionary(uniqueKeysWithValues: quantized.layers.map { ($0.name, $0) })
        let saved = convs.map { ($0.weights, $0.bias) }
        defer { for (conv, (weights, bias)) in zip(convs, saved) { conv.weights = weights; conv.bias = bias } }
        var changed: [ConvUnit] = []
        for conv in convs {
            guard let layer = byName[conv.name], let tensor = layer.tensor else { continue }
            conv.weights = .dense(tensor.dequantize())
            if let bias = layer.correctedBias { conv.bias = bias }
            changed.append(conv)
        }
        return sensitivity.error(changed: changed)
    }
}
