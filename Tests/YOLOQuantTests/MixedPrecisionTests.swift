import Foundation
import Testing
import YOLOModel
import YOLOTensor
@testable import YOLOQuant

/// `--budget`: the size it reads, the exact choice under it, the measured output error, and a
/// whole run on the random-init model (Tests/Fixtures/model/yolov7-random.pt).
struct MixedPrecisionTests {
    typealias F = QuantModelFixtures

    @Test func budgetParsing() throws {
        #expect(try SizeBudget(parsing: "2") == .bitsPerWeight(2))
        #expect(try SizeBudget(parsing: "2.25bpw") == .bitsPerWeight(2.25))
        #expect(try SizeBudget(parsing: "1.6MB") == .bytes(1_600_000))
        #expect(try SizeBudget(parsing: "1600kB") == .bytes(1_600_000))
        #expect(try SizeBudget(parsing: "1600000B") == .bytes(1_600_000))
        #expect(try SizeBudget(parsing: "1.5MiB") == .bytes(1_572_864))
        #expect(SizeBudget.bitsPerWeight(2).bytes(weights: 6_004_576) == 1_501_144)
        #expect(SizeBudget.bytes(1_501_144).bitsPerWeight(weights: 6_004_576) == 2)
        for bad in ["", "abc", "-1", "0", "0B", "33", "1.6 GB", "nan"] {
            #expect(throws: QuantError.self, "\(bad)") { try SizeBudget(parsing: bad) }
        }
    }

    /// The candidates: per bit width the scheme's granularities that are formats (the sub-filter
    /// groups only at 2-4 bits and not for PWLQ) and the codebook per filter, at 8 bits only
    /// per filter; a fixed granularity alone; none when it is no format at those widths.
    @Test func candidatesIncludeTheIntegerGrids() throws {
        func names(_ scheme: QuantScheme, _ maxBits: Int, _ granularity: GranularityChoice) throws -> [String] {
            try BudgetCandidates.formats(scheme: scheme, maxBits: maxBits, granularity: granularity).map(\.description)
        }
        let affine = try names(.affine, 8, .mixed)
        for bits in [2, 3, 4] {
            for g in ["filter", "channel", "cshape", "group16", "group32", "group64"] {
                #expect(affine.contains("affine \(bits)-bit \(g)"), "\(bits) \(g)")
            }
            #expect(affine.contains("codebook \(bits)-bit filter"), "\(bits)")
        }
        #expect(affine.filter { $0.contains("8-bit") } == ["affine 8-bit filter"])
        #expect(affine.count == 3 * 7 + 1)
        let pwlq = try names(.pwlq, 4, .mixed)
        #expect(pwlq.count == 3 * 4 && !pwlq.contains { $0.contains("group") } && pwlq.contains("codebook 2-bit filter"))
        #expect(try names(.codebook, 3, .mixed) == ["codebook 2-bit filter", "codebook 2-bit channel", "codebook 2-bit cshape",
                                                   "codebook 3-bit filter", "codebook 3-bit channel", "codebook 3-bit cshape"])
        #expect(try names(.symmetric, 8, .fixed(.group32)) == ["symmetric 2-bit group32", "symmetric 3-bit group32",
                                                               "symmetric 4-bit group32"])
        #expect(try names(.pwlq, 8, .fixed(.group32)).isEmpty)
        #expect(throws: QuantError.self) {
            try QuantizationSettings(scheme: .pwlq, bits: 8, granularity: .fixed(.group32), budget: .bitsPerWeight(3))
        }
        _ = try QuantizationSettings(scheme: .affine, bits: 8, granularity: .fixed(.group64), budget: .bitsPerWeight(3))
    }

    /// The dynamic programme against every combination on small random problems (limits under
    /// 2000 bytes, so its byte unit is 1 and it must be exact).
    @Test func allocationIsExact() {
        var rng = SeededGenerator(seed: 9)
        for trial in 0..<200 {
            let layers = (0..<Int.random(in: 1...5, using: &rng)).map { l in
                MixedPrecisionSelector.Options(
                    name: "c\(l)", shape: [1, 1, 1, 1], kept: nil,
                    options: (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                        .init(choice: .fp32, bytes: Int.random(in: 1...400, using: &rng),
                              error: Double.random(in: 0...1, using: &rng))
                    }, measured: 0)
            }
            let limit = Int.random(in: 0...1200, using: &rng)
            // Brute force over every combination.
            var best: (error: Double, picks: [Int])?
            func visit(_ l: Int, _ picks: [Int], _ bytes: Int, _ error: Double) {
                guard bytes <= limit else { return }
                if l == layers.count {
                    if error < (best?.error ?? .infinity) { best = (error, picks) }
                    return
                }
                for (o, option) in layers[l].options.enumerated() {
                    visit(l + 1, picks + [o], bytes + option.bytes, error + option.error)
                }
            }
            visit(0, [], 0, 0)
            let picks = MixedPrecisionSelector.allocate(layers, limit: limit)
            guard let best else {
                #expect(picks == nil, "trial \(trial): nothing fits")
                continue
            }
            let got = try! #require(picks, "trial \(trial)")
            let bytes = zip(layers, got).reduce(0) { $0 + $1.0.options[$1.1].bytes }
            let error = zip(layers, got).reduce(0.0) { $0 + $1.0.options[$1.1].error }
            #expect(bytes <= limit && abs(error - best.error) < 1e-12, "trial \(trial)")
        }
    }

    /// The partial re-run (only nodes downstream of the changed conv) gives the same error as
    /// a full re-run, the unchanged model has none, and a coarser quantization more.
    @Test func outputErrorRerunsOnlyWhatChanged() throws {
        let model = try ModelLoader.load(path: F.randomModel)
        let inputs = [F.input(size: 96, seed: 1), F.input(size: 96, seed: 2)]
        let sensitivity = OutputSensitivity(model: model, inputs: inputs)
        #expect(sensitivity.error(changed: []) == 0)
        let conv = model.convs[model.convs.count / 2]
        let original = conv.weights
        defer { conv.weights = original }
        var errors: [Double] = []
        for bits in [6, 2] {
            let q = try QuantizedTensor(quantizing: original.values(), shape: conv.geometry.weightShape,
                                        format: try QuantFormat(scheme: .affine, bits: bits, granularity: .filter))
            conv.weights = .dense(q.dequantize())
            let partial = sensitivity.error(changed: [conv])
            #expect(partial == sensitivity.error(changed: model.convs), "\(bits)-bit")
            errors.append(partial)
        }
        #expect(errors[0] > 0 && errors[1] > 10 * errors[0], "\(errors)")
    }

    /// The int8 activation ranges a calibrated file stores count in the budget: measured on the
    /// quantized model after the choice, as `quantize` does, they still leave the file within it.
    @Test func budgetCountsStoredRanges() throws {
        let model = try ModelLoader.load(path: F.randomModel)
        let images = CalibrationImages(count: 2) { F.input(size: 96, seed: UInt64(20 + $0)) }
        let techniques = try QuantizationTechniques(parsing: "gptq,bias")
        func size(_ bits: Int) throws -> Int {
            let settings = try QuantizationSettings(scheme: .affine, bits: bits, granularity: .fixed(.filter))
            return try QuantizedModelFile.fileSize(of: try ModelQuantizer.quantize(model, settings: settings), mode: .packed,
                                                   source: "test")
        }
        let (small, large) = (try size(2), try size(8))
        let limit = small + (large - small) / 3
        let settings = try QuantizationSettings(scheme: .affine, bits: 8, granularity: .mixed, budget: .bytes(limit))
        let placeholder = ActivationRangesDocument.placeholder(for: model, img: 96, images: images.count)
        #expect(placeholder.ranges.count == model.int8MapNames.count && placeholder.maximumGrowth > 0)
        let quantized = try ModelQuantizer.quantize(model, settings: settings, techniques: techniques, calibration: images,
                                                    source: "test", storedRanges: placeholder)
        let scratch = try F.Scratch("budget-ranges")
        defer { scratch.remove() }
        let path = scratch.path("q.safetensors")
        try QuantizedModelFile.write(quantized, to: path, mode: .packed, source: "test")
        let loaded = try ModelLoader.load(path: path)
        let ranges = try ActivationCalibration.collect(model: loaded, count: images.count, input: images.input)
        quantized.activationRanges = ActivationRangesDocument(ranges: ranges, img: 96, images: images.count, statistic: .minmax)
        try QuantizedModelFile.write(quantized, to: path, mode: .packed, source: "test")
        let written = F.fileSize(path)
        let plan = try #require(quantized.plan)
        #expect(written <= limit && written <= plan.fileBytes, "\(written) of \(limit), planned \(plan.fileBytes)")
        #expect(try ModelLoader.load(path: path).storedInt8Ranges != nil)
    }

    /// A whole `--budget` run: the file fits, every conv has a choice, `--keep` is honoured,
    /// the file reloads with the chosen formats; a tighter budget buys fewer bits; one below
    /// the smallest file is refused.
    @Test func budgetRun() throws {
        let model = try ModelLoader.load(path: F.randomModel)
        let images = CalibrationImages(count: 3) { F.input(size: 96, seed: UInt64(10 + $0)) }
        let weights = model.convs.reduce(0) { $0 + $1.geometry.weightCount }
        let techniques = try QuantizationTechniques(parsing: "gptq,bias")
        // Budgets between the all-2-bit and the all-8-bit file (this small model's header and
        // biases weigh a lot per weight, so bits per weight would say little).
        func size(_ bits: Int) throws -> Int {
            let settings = try QuantizationSettings(scheme: .affine, bits: bits, granularity: .fixed(.filter), keep: [.detect])
            return try QuantizedModelFile.fileSize(of: try ModelQuantizer.quantize(model, settings: settings), mode: .packed,
                                                   source: "test")
        }
        let (small, large) = (try size(2), try size(8))
        var bitsUsed: [Double] = []
        for limit in [small + (large - small) / 2, small + (large - small) / 10] {
            let budget = SizeBudget.bytes(limit)
            let settings = try QuantizationSettings(scheme: .affine, bits: 8, granularity: .mixed, keep: [.detect],
                                                    budget: budget)
            let quantized = try ModelQuantizer.quantize(model, settings: settings, techniques: techniques,
                                                        calibration: images, source: "test")
            let plan = try #require(quantized.plan)
            let size = try QuantizedModelFile.fileSize(of: quantized, mode: .packed, source: "test")
            #expect(size <= limit && plan.fileBytes == size, "\(size) of \(limit)")
            // The choice leaves little of the budget unused.
            #expect(size > limit - (large - small) / 50, "\(size) of \(limit)")
            #expect(plan.rows.map(\.name) == model.convs.map(\.name))
            for (row, layer) in zip(plan.rows, quantized.layers) {
                #expect(row.choice == (layer.format.map(LayerChoice.quantized) ?? .fp32), "\(row.name)")
            }
            for conv in model.detect.levels {
                #expect(plan.rows.first { $0.name == conv.name }?.kept == .detect)
            }
            #expect(abs(plan.predictedError - plan.rows.reduce(0) { $0 + $1.error }) < 1e-15)
            #expect(try #require(plan.jointError) > 0)
            #expect(plan.table.count == plan.rows.count + 3)
            bitsUsed.append(Double(8 * size) / Double(weights))
            let scratch = try F.Scratch("budget")
            defer { scratch.remove() }
            let path = scratch.path("q.safetensors")
            try QuantizedModelFile.write(quantized, to: path, mode: .packed, source: "test")
            let loaded = try ModelLoader.load(path: path)
            for (conv, layer) in zip(loaded.convs, quantized.layers) {
                if case .provided(let provider) = conv.weights, let packed = provider as? PackedConvWeights {
                    #expect(packed.weight.format == layer.format)
                } else {
                    #expect(layer.isKept, "\(conv.name)")
                }
            }
            let summary = try #require(ModelLoader.quantizationSummary(path: path))
            #expect(summary.hasPrefix(String(format: "packed affine mixed (budget %.3f bits/weight, up to 8-bit)",
                                             budget.bitsPerWeight(weights: weights))))
        }
        #expect(bitsUsed[1] < bitsUsed[0], "\(bitsUsed)")
        let tiny = try QuantizationSettings(scheme: .affine, bits: 8, granularity: .mixed, budget: .bytes(1000))
        #expect(throws: QuantError.self) {
            try ModelQuantizer.quantize(model, settings: tiny, techniques: techniques, calibration: images)
        }
        // The proxy is measured: no calibration images, no budget.
        #expect(throws: QuantError.self) {
            try ModelQuantizer.quantize(model, settings: tiny, techniques: QuantizationTechniques(), calibration: nil)
        }
    }
}
