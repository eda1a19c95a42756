import ArgumentParser
import Foundation
import YOLOEval
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model's conv weights; print the per-layer error table and the size report.",
        discussion: "Every conv is quantized (after BatchNorm/RepConv/implicit folding) unless --keep names it. "
            + "--calib gives calibration images (a dataset, whose train split is used, or a folder of images): "
            + "with them the default techniques are gptq,bias (error-feedback rounding and bias correction; range "
            + "search, clip, is off by default: on BCCD it lowered mAP; docs/QUANTIZATION.md measures each). "
            + "Calibration runs the model conv by conv: each conv's codes are fitted to the inputs the convs "
            + "before it, already quantized, give, so that its output matches the FP32 model's. "
            + "With calibration images the file also stores int8 activation ranges. "
            + "--budget B (needs --calib) chooses each conv's bits (2, 3, 4, 8 up to --bits, or FP32) and "
            + "granularity (filter, channel, cshape, group16, group32, group64 in --scheme, and the codebook per "
            + "filter; or only --granularity's if one is given) so that the packed file, activation ranges "
            + "included, fits B with the least output error: each candidate is tried on its conv alone and the "
            + "change of the detection outputs measured on 8 calibration images; it prints what it chose.")

    @Option(help: "Weights: .pt checkpoint or FP32/FP16 .safetensors.")
    var weights: String

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "affine, symmetric, pwlq or codebook (k-means levels per group, stored as integers).")
    var scheme: String

    @Option(help: "Bits per weight, 2...8 (group16/32/64: 2...4; with --budget: the widest allowed, default 8).")
    var bits: Int?

    @Option(help: "layer, filter, channel, fshape, cshape, group16, group32 or group64 (sub-filter groups with nested integer scales; affine or symmetric); with --budget: mixed (the default: every candidate of BudgetCandidates) or the one to use.")
    var granularity: String?

    @Option(help: "packed (codes + parameters, dequantized at run time) or fake (FP32 dequantized weights).")
    var mode = "packed"

    @Option(help: "Convs kept at full precision: first, detect (comma separated).")
    var keep: String?

    @Option(help: "Size of the packed file to fit (needs --calib): bits per conv weight over the whole file (2.2 or 2.2bpw) or bytes (1.7MB, 1700kB, 1700000B), everything in the file counted.")
    var budget: String?

    @Option(help: "Output .safetensors path.")
    var out: String

    @Option(help: "Calibration images: a dataset (root folder with images/train, or a data YAML; its train split is used) or a folder of images. Never the test split.")
    var calib: String?

    @Option(name: .customLong("calib-images"), help: "Calibration images used (spread evenly over the list).")
    var calibImages = 32

    @Option(name: .customLong("calib-seed"), help: "Choose the calibration images at random with this seed instead of spread evenly (another seed, another subset).")
    var calibSeed: UInt64?

    @Option(help: "Calibration input size in pixels (letterboxed as detect does): the size the model will run at.")
    var img = 640

    @Option(help: "clip (range search), gptq (error-feedback rounding), adaround (learned rounding against each conv's output: slower, better at 2 bits), bias (bias correction), comma separated, or none. gptq and adaround exclude each other. Default: gptq,bias with --calib, none without.")
    var techniques: String?

    @Option(name: .customLong("rounding-iterations"), help: ArgumentHelp("adaround: Adam steps per conv.", visibility: .hidden))
    var roundingIterations: Int?

    @Option(name: .customLong("rounding-rate"), help: ArgumentHelp("adaround: Adam learning rate.", visibility: .hidden))
    var roundingRate: Float?

    @Option(name: .customLong("rounding-lambda"), help: ArgumentHelp("adaround: regulariser weight.", visibility: .hidden))
    var roundingLambda: Float?

    @Option(help: "adaround: what each conv's rounding reproduces: conv (its output) or activation (its output after the activation, on 4096 sampled positions).")
    var reconstruction = "conv"

    @Flag(name: .customLong("fp32-inputs"), help: "gptq, adaround: fit each conv to its FP32 inputs, each on its own, as before sequential calibration (default: conv by conv through the model, to the inputs the quantized convs before it give, against the FP32 model's output).")
    var fp32Inputs = false

    func run() throws {
        try runReportingErrors {
            // Every setting is checked before anything is read or written.
            guard budget != nil || (bits != nil && granularity != nil) else {
                throw ValidationError("give --bits and --granularity, or a --budget to choose them per conv")
            }
            let settings = try QuantizationSettings(scheme: scheme, bits: bits ?? 8, granularity: granularity ?? "mixed",
                                                    keep: keep, budget: budget)
            let storage = try QuantizationMode(parsing: mode)
            if ModelLoader.quantizationSummary(path: weights) != nil {
                throw ValidationError("\(weights): already quantized; quantize the FP32 model instead")
            }
            var chosen = try QuantizationTechniques(parsing: techniques ?? (calib == nil ? "none" : "gptq,bias"))
            if let roundingIterations { chosen.rounding.iterations = roundingIterations }
            if let roundingRate { chosen.rounding.learningRate = roundingRate }
            if let roundingLambda { chosen.rounding.regularization = roundingLambda }
            if fp32Inputs { chosen.sequential = false }
            chosen.reconstruction = try ReconstructionBlock(parsing: reconstruction)
            if chosen.reconstruction == .activation && (!chosen.learnedRounding || fp32Inputs) {
                throw ValidationError("--reconstruction activation is a form of adaround on the quantized convs' inputs: give --techniques adaround")
            }
            if budget != nil && calib == nil {
                throw ValidationError("--budget measures output errors on calibration images: give --calib")
            }
            if chosen.needsCalibration && calib == nil {
                throw ValidationError("techniques \(chosen) need calibration images: give --calib")
            }
            guard calibImages >= 1 else { throw ValidationError("--calib-images must be at least 1") }
            guard img >= 32, img <= 8192 else { throw ValidationError("--img must be between 32 and 8192") }
            let calibrationFiles = try calib.map { try Self.calibrationImages($0, count: calibImages, seed: calibSeed) } ?? []
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            let started = Date()
            let size = img
            let images = calib == nil ? nil : CalibrationImages(count: calibrationFiles.count) { i in
                let image = try RGBImage(contentsOf: URL(fileURLWithPath: calibrationFiles[i]))
                return Letterbox(detect: image, size: size, stride: model.maxStride).tensor()
            }
            let source = URL(fileURLWithPath: weights).lastPathComponent
            let phases = PhaseTimes(start: started)
            // The file stores int8 activation ranges whenever there are calibration images.
            let placeholder = images.map { ActivationRangesDocument.placeholder(for: model, img: img, images: $0.count) }
            let quantized = try ModelQuantizer.quantize(model, settings: settings, techniques: chosen, calibration: images,
                                                        source: source, storedRanges: placeholder,
                                                        progress: { phase, done, total in
                                                            ProgressLine.reporter(phase)?(done, total)
                                                            phases.record(phase)
                                                        })
            var contents = try QuantizedModelFile.write(quantized, to: out, mode: storage, source: source)
            let report: QuantizationSizeReport
            do {
                // Reload what was written: checks the file, and gives the resident size.
                var loaded = try ModelLoader.load(path: out, configPath: cfg)
                if let images {
                    // Int8 activation ranges, measured on the model exactly as the file loads,
                    // stored with it so that --precision int8 needs no calibration images.
                    let ranges = try ActivationCalibration.collect(model: loaded, count: images.count, input: { i in
                        try images.input(i)
                    }, progress: { done, total in
                        ProgressLine.reporter("activation ranges")?(done, total)
                        phases.record("activation ranges")
                    })
                    quantized.activationRanges = ActivationRangesDocument(ranges: ranges, img: img, images: images.count,
                                                                          statistic: .minmax)
                    contents = try QuantizedModelFile.write(quantized, to: out, mode: storage, source: source)
                    loaded = try ModelLoader.load(path: out, configPath: cfg)
                }
                let packedSize = storage == .fake
                    ? try QuantizedModelFile.fileSize(of: quantized, mode: .packed, source: source) : nil
                report = try QuantizationSizeReport.measure(file: out, contents: contents, loaded: loaded, original: model,
                                                            quantizedParams: quantized.quantizedLayers.reduce(0) { $0 + $1.params },
                                                            packedEquivalentFileBytes: packedSize)
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw error
            }
            let seconds = Date().timeIntervalSince(started)
            print("quantize \(weights): \(settings), \(storage), techniques \(chosen)"
                  + (calib != nil ? ", calibrated on \(calibrationFiles.count) images at \(img)"
                     + (calibSeed.map { " (seed \($0))" } ?? "")
                     + "; int8 activation ranges stored" : ""))
            if let plan = quantized.plan {
                for line in plan.table { print(line) }
                print("")
            }
            for line in quantized.layerTable { print(line) }
            print("")
            for line in report.lines { print(line) }
            print(String(format: "wrote %@ (%.1f s", out, seconds)
                  + (phases.summary.isEmpty ? ")" : ": \(phases.summary))"))
        }
    }

    /// `count` image files spread evenly over the train split of a dataset, or over a folder's
    /// images (sorted by path, so the choice is the same on every run); with `seed`, `count`
    /// drawn at random (SplitMix64 from the seed: the same seed, the same images).
    static func calibrationImages(_ path: String, count: Int, seed: UInt64? = nil) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(path): no such file or folder")
        }
        let all: [String]
        let datasetRoot = isDirectory.boolValue
            && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("images/train"))
        if !isDirectory.boolValue || datasetRoot {
            all = try DatasetSplit.load(data: path, split: "train").images.sorted()
        } else {
            // Calibrating on the images a model is evaluated on would flatter every figure.
            if (path as NSString).standardizingPath.split(separator: "/").last == "test" {
                throw ValidationError("\(path): a test split; calibrate on training images (give the dataset root to use its train split)")
            }
            all = try ImageSources.expand([path]).sorted()
        }
        guard !all.isEmpty else { throw ValidationError("\(path): no calibration images") }
        let n = min(count, all.count)
        guard let seed else { return (0..<n).map { all[$0 * all.count / n] } }
        // A partial Fisher-Yates shuffle written out (the standard library's may change).
        var generator = SplitMix64(seed: seed)
        var pool = all
        for i in 0..<n { pool.swapAt(i, i + Int(generator.next() % UInt64(pool.count - i))) }
        return pool.prefix(n).sorted()
    }
}

/// Seconds spent in each phase of quantization, from the progress reports: a phase ends at its
/// last report, and starts where the one before ended.
final class PhaseTimes {
    private var last: Date
    private var order: [String] = []
    private var seconds: [String: Double] = [:]

    init(start: Date) { last = start }

    func record(_ phase: String) {
        let now = Date()
        if seconds[phase] == nil { order.append(phase) }
        seconds[phase, default: 0] += now.timeIntervalSince(last)
        last = now
    }

    var summary: String {
        order.map { String(format: "%@ %.1f s", $0, seconds[$0]!) }.joined(separator: ", ")
    }
}
