import ArgumentParser
import Foundation
import YOLOModel
import YOLOQuant

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a checkpoint to the engine's safetensors format (folded FP32 or FP16).")

    @Argument(help: "A .pt checkpoint or .safetensors file.")
    var weights: String

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "Output .safetensors path.")
    var out: String

    @Flag(help: "Store conv weights as FP16 (biases stay FP32).")
    var half = false

    func run() throws {
        try runReportingErrors {
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            try ModelFile.writeSafeTensors(model, to: out, half: half, source: URL(fileURLWithPath: weights).lastPathComponent)
            let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
            print("wrote \(out): \(size) bytes, \(model.convs.count) convs, \(half ? "FP16" : "FP32")")
        }
    }
}
