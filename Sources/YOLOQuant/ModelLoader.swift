import Foundation
import YOLOModel

/// The one entry point the CLI uses to load any weights file: official checkpoints, the
/// engine's FP32/FP16 safetensors, and its quantized (fake or packed) safetensors.
public enum ModelLoader {
    public static func load(path: String, configPath: String? = nil) throws -> YOLOModel {
        try ModelFile.load(path: path, configPath: configPath)
    }

    /// One line about a quantized file's settings, nil for unquantized files.
    public static func quantizationSummary(path: String) -> String? {
        guard (try? ModelFile.kind(ofFileAt: path)) == .safetensors,
              let file = try? SafeTensorsFile.read(path: path) else { return nil }
        return file.metadata[ModelFile.Key.quantization]
    }
}
