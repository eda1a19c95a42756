import ArgumentParser
import Foundation
import YOLOModel
import YOLOQuant

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Quantize a model's conv weights; print the per-layer error table and the size report.",
        discussion: "Every conv is quantized (after BatchNorm/RepConv/implicit folding) unless --keep names it. "
            + "--granularity mixed picks per layer the granularity with the least weight MSE; with --budget B it "
            + "also picks the bits (2...--bits) so that each layer stores at most B bits per weight, parameters "
            + "included.")

    @Option(help: "Weights: .pt checkpoint or FP32/FP16 .safetensors.")
    var weights: String

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "affine, symmetric or pwlq.")
    var scheme: String

    @Option(help: "Bits per weight, 2...8 (with --budget: the widest allowed).")
    var bits: Int

    @Option(help: "layer, filter, channel, fshape, cshape or mixed.")
    var granularity: String

    @Option(help: "packed (codes + parameters, dequantized at run time) or fake (FP32 dequantized weights).")
    var mode = "packed"

    @Option(help: "Convs kept at full precision: first, detect (comma separated).")
    var keep: String?

    @Option(help: "With --granularity mixed: at most this many stored bits per weight per layer.")
    var budget: Double?

    @Option(help: "Output .safetensors path.")
    var out: String

    func run() throws {
        try runReportingErrors {
            // Every setting is checked before anything is read or written.
            let settings = try QuantizationSettings(scheme: scheme, bits: bits, granularity: granularity, keep: keep,
                                                    budgetBitsPerWeight: budget)
            let storage = try QuantizationMode(parsing: mode)
            if ModelLoader.quantizationSummary(path: weights) != nil {
                throw ValidationError("\(weights): already quantized; quantize the FP32 model instead")
            }
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            let quantized = try ModelQuantizer.quantize(model, settings: settings)
            let source = URL(fileURLWithPath: weights).lastPathComponent
            let contents = try QuantizedModelFile.write(quantized, to: out, mode: storage, source: source)
            let report: QuantizationSizeReport
            do {
                // Reload what was written: checks the file, and gives the resident size.
                let loaded = try ModelLoader.load(path: out, configPath: cfg)
                let packedSize = storage == .fake
                    ? try QuantizedModelFile.fileSize(of: quantized, mode: .packed, source: source) : nil
                report = try QuantizationSizeReport.measure(file: out, contents: contents, loaded: loaded, original: model,
                                                            quantizedParams: quantized.quantizedLayers.reduce(0) { $0 + $1.params },
                                                            packedEquivalentFileBytes: packedSize)
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw error
            }
            print("quantize \(weights): \(settings), \(storage)")
            for line in quantized.layerTable { print(line) }
            print("")
            for line in report.lines { print(line) }
            print("wrote \(out)")
        }
    }
}
