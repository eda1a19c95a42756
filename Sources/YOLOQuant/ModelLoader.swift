import Foundation
import YOLOModel

/// The one entry point the CLI uses to load any weights file: official checkpoints, the
/// engine's FP32/FP16 safetensors, and its quantized (fake or packed) safetensors.
public enum ModelLoader {
    /// Loads any weights file. A packed quantized file keeps its codes packed in memory (see
    /// `QuantizedModelFile.load`); every other kind loads as FP32.
    public static func load(path: String, configPath: String? = nil) throws -> YOLOModel {
        guard try ModelFile.kind(ofFileAt: path) == .safetensors else {
            return try ModelFile.load(path: path, configPath: configPath)
        }
        return try load(safeTensors: try SafeTensorsFile.read(path: path), path: path, configPath: configPath)
    }

    /// A safetensors file of the engine: quantized (its own loader) or FP32/FP16.
    static func load(safeTensors file: SafeTensorsFile, path: String, configPath: String?) throws -> YOLOModel {
        guard let text = file.metadata[ModelFile.Key.quantization] else {
            return try ModelFile.loadSafeTensors(file, configPath: configPath)
        }
        let metadata = try QuantizationMetadata.parse(text, path: path)
        let model = try QuantizedModelFile.load(file, metadata: metadata, configPath: configPath)
        if let ranges = file.metadata[ActivationRangesDocument.metadataKey] {
            let doc = try ActivationRangesDocument.parse(ranges, path: path)
            model.storedInt8Ranges = (try doc.activationRanges(for: model, path: path), doc.summary)
        }
        return model
    }

    /// Loads any weights file from its bytes already in memory (`name` only names them in
    /// errors), as `load(path:configPath:)` does from disk.
    public static func load(data: Data, name: String, configPath: String? = nil) throws -> YOLOModel {
        guard try ModelFile.kind(of: [UInt8](data.prefix(9)), path: name) == .safetensors else {
            return try ModelFile.loadCheckpoint(try Checkpoint.load(data: data, path: name), configPath: configPath)
        }
        return try load(safeTensors: try SafeTensorsFile.parse(data, path: name), path: name, configPath: configPath)
    }

    /// The quantization document of a quantized safetensors file; nil for any other file.
    public static func quantization(path: String) throws -> QuantizationMetadata? {
        guard try ModelFile.kind(ofFileAt: path) == .safetensors else { return nil }
        let file = try SafeTensorsFile.read(path: path)
        return try file.metadata[ModelFile.Key.quantization].map { try QuantizationMetadata.parse($0, path: path) }
    }

    /// One line about a quantized file's settings, nil for unquantized files.
    public static func quantizationSummary(path: String) -> String? {
        guard (try? ModelFile.kind(ofFileAt: path)) == .safetensors,
              let file = try? SafeTensorsFile.read(path: path),
              let text = file.metadata[ModelFile.Key.quantization] else { return nil }
        return (try? QuantizationMetadata.parse(text, path: path))?.summary ?? text
    }
}
