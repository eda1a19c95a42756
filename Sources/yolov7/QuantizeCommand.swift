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
            + "--granularity mixed picks per layer the granularity with the least weight MSE; with --budget B it "
            + "also picks the bits (2...--bits) so that each layer stores at most B bits per weight, parameters "
            + "included. --calib gives calibration images (a dataset, whose train split is used, or a folder "
            + "of images): with them the default techniques are gptq,bias (error-feedback rounding and bias "
            + "correction; range search, clip, is off by default: on BCCD it lowered mAP; docs/QUANTIZATION.md measures each).")

    @Option(help: "Weights: .pt checkpoint or FP32/FP16 .safetensors.")
    var weights: String

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "affine, symmetric, pwlq or codebook (k-means levels per group, stored as integers).")
    var scheme: String

    @Option(help: "Bits per weight, 2...8 (group16/32/64: 2...4; with --budget: the widest allowed).")
    var bits: Int

    @Option(help: "layer, filter, channel, fshape, cshape, group16, group32, group64 (sub-filter groups with nested integer scales; affine or symmetric) or mixed.")
    var granularity: String

    @Option(help: "packed (codes + parameters, dequantized at run time) or fake (FP32 dequantized weights).")
    var mode = "packed"

    @Option(help: "Convs kept at full precision: first, detect (comma separated).")
    var keep: String?

    @Option(help: "With --granularity mixed: at most this many stored bits per weight per layer.")
    var budget: Double?

    @Option(help: "Output .safetensors path.")
    var out: String

    @Option(help: "Calibration images: a dataset (root folder with images/train, or a data YAML; its train split is used) or a folder of images. Never the test split.")
    var calib: String?

    @Option(name: .customLong("calib-images"), help: "Calibration images used (spread evenly over the list).")
    var calibImages = 32

    @Option(help: "Calibration input size in pixels (letterboxed as detect does): the size the model will run at.")
    var img = 640

    @Option(help: "clip (range search), gptq (error-feedback rounding), bias (bias correction), comma separated, or none. Default: gptq,bias with --calib, none without.")
    var techniques: String?

    func run() throws {
        try runReportingErrors {
            // Every setting is checked before anything is read or written.
            let settings = try QuantizationSettings(scheme: scheme, bits: bits, granularity: granularity, keep: keep,
                                                    budgetBitsPerWeight: budget)
            let storage = try QuantizationMode(parsing: mode)
            if ModelLoader.quantizationSummary(path: weights) != nil {
                throw ValidationError("\(weights): already quantized; quantize the FP32 model instead")
            }
            let chosen = try QuantizationTechniques(parsing: techniques ?? (calib == nil ? "none" : "gptq,bias"))
            if chosen.needsCalibration && calib == nil {
                throw ValidationError("techniques \(chosen) need calibration images: give --calib")
            }
            guard calibImages >= 1 else { throw ValidationError("--calib-images must be at least 1") }
            guard img >= 32, img <= 8192 else { throw ValidationError("--img must be between 32 and 8192") }
            let calibrationFiles = try calib.map { try Self.calibrationImages($0, count: calibImages) } ?? []
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            var statistics: [String: ConvInputStatistics] = [:]
            let started = Date()
            if chosen.needsCalibration {
                statistics = try collectStatistics(model: model, settings: settings, files: calibrationFiles)
            }
            let quantized = try ModelQuantizer.quantize(model, settings: settings, techniques: chosen,
                                                        statistics: statistics,
                                                        progress: ProgressLine.reporter("quantize"))
            let source = URL(fileURLWithPath: weights).lastPathComponent
            var contents = try QuantizedModelFile.write(quantized, to: out, mode: storage, source: source)
            let report: QuantizationSizeReport
            do {
                // Reload what was written: checks the file, and gives the resident size.
                var loaded = try ModelLoader.load(path: out, configPath: cfg)
                if !calibrationFiles.isEmpty {
                    // Int8 activation ranges, measured on the model exactly as the file loads,
                    // stored with it so that --precision int8 needs no calibration images.
                    let size = img
                    let ranges = try ActivationCalibration.collect(model: loaded, count: calibrationFiles.count, input: { i in
                        let image = try RGBImage(contentsOf: URL(fileURLWithPath: calibrationFiles[i]))
                        return Letterbox(detect: image, size: size, stride: loaded.maxStride).tensor()
                    }, progress: ProgressLine.reporter("activation ranges"))
                    quantized.activationRanges = ActivationRangesDocument(ranges: ranges, img: img, images: calibrationFiles.count,
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
                  + (chosen.needsCalibration ? ", calibrated on \(calibrationFiles.count) images at \(img)" : "")
                  + (calibrationFiles.isEmpty ? "" : "; int8 activation ranges stored (\(calibrationFiles.count) images at \(img))"))
            for line in quantized.layerTable { print(line) }
            print("")
            for line in report.lines { print(line) }
            print(String(format: "wrote %@ (calibration and quantization %.1f s)", out, seconds))
        }
    }

    /// Input statistics of every conv that will be quantized, from the calibration images.
    func collectStatistics(model: YOLOModel, settings: QuantizationSettings,
                           files: [String]) throws -> [String: ConvInputStatistics] {
        let kept = ModelQuantizer.keptConvs(of: model, keep: settings.keep)
        let names = Set(model.convs.map(\.name).filter { kept[$0] == nil })
        let size = img
        return try CalibrationCollector.collect(model: model, convs: names, count: files.count, input: { i in
            let image = try RGBImage(contentsOf: URL(fileURLWithPath: files[i]))
            return Letterbox(detect: image, size: size, stride: model.maxStride).tensor()
        }, progress: ProgressLine.reporter("calibration"))
    }

    /// `count` image files spread evenly over the train split of a dataset, or over a folder's
    /// images (sorted by path, so the choice is the same on every run).
    static func calibrationImages(_ path: String, count: Int) throws -> [String] {
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
        return (0..<n).map { all[$0 * all.count / n] }
    }
}
