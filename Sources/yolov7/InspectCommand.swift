import ArgumentParser
import Foundation
import YOLOModel
import YOLOQuant

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show what a weights file holds.")

    @Argument(help: "A .pt checkpoint or .safetensors file.")
    var weights: String

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Flag(help: "List every conv with its shape.")
    var layers = false

    func run() throws {
        try runReportingErrors {
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            let fileBytes = (try? FileManager.default.attributesOfItem(atPath: weights)[.size] as? Int) ?? 0
            print("file:        \(weights) (\(fileBytes) bytes, \(try ModelFile.kind(ofFileAt: weights)))")
            print("classes:     \(model.config.nc) \(model.classNames)")
            print("layers:      \(model.nodes.count) (\(model.convs.count) convs after folding)")
            print("head:        \(model.detect.module), strides \(model.detect.strides.map { Int($0) }), anchors \(model.config.anchors)")
            print("parameters:  \(model.parameterCount) (folded)")
            print("weights:     \(model.weightBytes) bytes resident")
            if let q = ModelLoader.quantizationSummary(path: weights) { print("quantized:   \(q)") }
            if layers {
                for node in model.nodes {
                    for conv in node.layer.convs {
                        print(String(format: "%4d %-10@ %-32@ %@ %@", node.index, node.layer.module as NSString,
                                     conv.name as NSString, "\(conv.geometry)" as NSString, "\(conv.activation)" as NSString))
                    }
                }
            }
        }
    }
}
