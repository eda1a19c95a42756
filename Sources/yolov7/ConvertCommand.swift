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

    @Flag(help: "FP16: from a checkpoint, its state dict unfolded (lossless for FP16 checkpoints); else folded FP16 conv weights.")
    var half = false

    func run() throws {
        try runReportingErrors {
            let source = URL(fileURLWithPath: weights).lastPathComponent
            if half, try ModelFile.kind(ofFileAt: weights) == .checkpoint {
                // FP16 from a checkpoint keeps its unfolded tensors: lossless for official FP16 files.
                let checkpoint = try Checkpoint.load(path: weights)
                let model = try ModelFile.loadCheckpoint(checkpoint, configPath: cfg)
                try ModelFile.writeStateDictSafeTensors(checkpoint, model: model, to: out, source: source)
                let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
                print("wrote \(out): \(size) bytes, \(checkpoint.tensorNames.count) tensors, FP16 (unfolded state dict)")
                return
            }
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            try ModelFile.writeSafeTensors(model, to: out, half: half, source: source)
            let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
            print("wrote \(out): \(size) bytes, \(model.convs.count) convs, \(half ? "FP16" : "FP32")")
        }
    }
}
