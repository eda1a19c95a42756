import Foundation
import YOLOTensor

/// Reading and writing whole models: official `.pt` checkpoints (model object or bare state
/// dict + config) and the engine's own safetensors files with folded FP32/FP16 weights.
public enum ModelFile {
    /// Metadata keys of the engine's safetensors files (DESIGN.md section 4).
    public enum Key {
        public static let format = "format"
        public static let config = "config"
        public static let names = "names"
        public static let stride = "stride"
        public static let source = "source"
        public static let quantization = "quantization"
    }
    public static let formatName = "yolov7-swift"

    public enum Kind: Equatable { case checkpoint, safetensors }

    /// Tells the kind by content (zip magic or a plausible safetensors header), not by extension.
    public static func kind(ofFileAt path: String) throws -> Kind {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                throw YOLOModelError.invalidFile(path: path, reason: isDir.boolValue ? "is a directory, not a weights file" : "cannot open file")
            }
            throw YOLOModelError.invalidFile(path: path, reason: "no such file")
        }
        defer { try? handle.close() }
        return try kind(of: [UInt8](handle.readData(ofLength: 9)), path: path)
    }

    /// The same from a file's first bytes (at least 9 when there are that many); `path` only
    /// names them in errors.
    public static func kind(of head: [UInt8], path: String) throws -> Kind {
        if head.count >= 4 && head[0] == 0x50 && head[1] == 0x4B { return .checkpoint }
        if head.count == 9 && head[8] == UInt8(ascii: "{") { return .safetensors }
        if head.isEmpty { throw YOLOModelError.invalidFile(path: path, reason: "empty file") }
        throw YOLOModelError.invalidFile(path: path, reason: "not a PyTorch checkpoint (zip) or safetensors file")
    }

    /// Loads any supported unquantized model file. `configPath` supplies the architecture for
    /// a bare state dict, and overrides the stored one otherwise.
    public static func load(path: String, configPath: String? = nil) throws -> YOLOModel {
        switch try kind(ofFileAt: path) {
        case .checkpoint:
            return try loadCheckpoint(try Checkpoint.load(path: path), configPath: configPath)
        case .safetensors:
            let file = try SafeTensorsFile.read(path: path)
            if file.metadata[Key.quantization] != nil {
                throw YOLOModelError.invalidFile(path: path, reason: "holds quantized weights; load it through YOLOQuant")
            }
            return try loadSafeTensors(file, configPath: configPath)
        }
    }

    public static func loadCheckpoint(_ checkpoint: Checkpoint, configPath: String? = nil) throws -> YOLOModel {
        let config: ModelConfig
        if let configPath {
            config = try ModelConfig.load(path: configPath)
        } else if let stored = checkpoint.config {
            config = try ModelConfig(value: stored, origin: checkpoint.path)
        } else {
            throw YOLOModelError.invalidFile(path: checkpoint.path, reason: "a bare state dict holds no model config: pass --cfg")
        }
        let names = checkpoint.names.count == config.nc ? checkpoint.names : nil
        return try ModelBuilder.build(config: config, weights: CheckpointTensorSource(checkpoint), classNames: names)
    }

    public static func loadSafeTensors(_ file: SafeTensorsFile, configPath: String? = nil, source: TensorSource? = nil) throws -> YOLOModel {
        let config = try configuration(of: file, configPath: configPath)
        var tensors: [String: Tensor] = [:]
        if source == nil {
            for name in file.names { tensors[name] = try file.floatTensor(name) }
        }
        let weights = source ?? DictionaryTensorSource(origin: file.path, tensors: tensors)
        return try ModelBuilder.build(config: config, weights: weights, classNames: classNames(of: file, nc: config.nc))
    }

    public static func configuration(of file: SafeTensorsFile, configPath: String?) throws -> ModelConfig {
        if let configPath { return try ModelConfig.load(path: configPath) }
        guard let text = file.metadata[Key.config] else {
            throw YOLOModelError.invalidFile(path: file.path, reason: "no model config in its metadata: pass --cfg")
        }
        return try ModelConfig.parse(yaml: text, origin: file.path)
    }

    static func classNames(of file: SafeTensorsFile, nc: Int) -> [String]? {
        guard let text = file.metadata[Key.names], let data = text.data(using: .utf8),
              let names = try? JSONSerialization.jsonObject(with: data) as? [String], names.count == nc else { return nil }
        return names
    }

    /// Metadata common to every file the engine writes.
    public static func baseMetadata(of model: YOLOModel, source: String) -> [String: String] {
        let names = (try? JSONSerialization.data(withJSONObject: model.classNames)).flatMap { String(data: $0, encoding: .utf8) } ?? "[]"
        return [
            Key.format: formatName,
            Key.config: model.config.yamlText,
            Key.names: names,
            Key.stride: "[" + model.detect.strides.map { String(Int($0)) }.joined(separator: ", ") + "]",
            Key.source: source,
        ]
    }

    /// The anchor grid entry (pixels), so files keep a flipped anchor order if the checkpoint had one.
    public static func anchorEntry(of model: YOLOModel) -> SafeTensorsEntry {
        let d = model.detect
        let values = d.anchorGrid.flatMap { $0.flatMap { [$0.w, $0.h] } }
        return SafeTensorsEntry(name: "model.\(model.nodes.count - 1).anchor_grid", dtype: .F32,
                                shape: [d.anchorGrid.count, 1, d.anchorsPerLevel, 1, 1, 2], bytes: values.littleEndianBytes)
    }

    /// Writes a checkpoint's state dict unfolded (official names, BatchNorm and RepConv branches
    /// kept) in F16: a lossless re-encoding of an official FP16 checkpoint. Folding and then
    /// rounding to FP16 would add a second rounding (measured: 2.9e-3 relative output error on
    /// yolov7-tiny-bccd, against 0 for this layout); the loader folds at load as for `.pt`.
    public static func writeStateDictSafeTensors(_ checkpoint: Checkpoint, model: YOLOModel, to path: String, source: String) throws {
        var writer = SafeTensorsWriter(metadata: baseMetadata(of: model, source: source))
        for name in checkpoint.tensorNames {
            guard let t = checkpoint.tensors[name] else { continue }
            try writer.add(name: name, tensor: t, dtype: .F16)
        }
        try writer.write(to: path)
    }

    /// Writes the folded model as safetensors with F32 or F16 conv weights (biases stay F32).
    public static func writeSafeTensors(_ model: YOLOModel, to path: String, half: Bool, source: String) throws {
        var writer = SafeTensorsWriter(metadata: baseMetadata(of: model, source: source))
        for conv in model.convs {
            try writer.add(name: "\(conv.name).weight", tensor: conv.weightTensor, dtype: half ? .F16 : .F32)
            try writer.add(name: "\(conv.name).bias", tensor: Tensor(shape: [conv.bias.count], data: conv.bias))
        }
        let anchors = anchorEntry(of: model)
        writer.add(name: anchors.name, dtype: anchors.dtype, shape: anchors.shape, bytes: anchors.bytes)
        try writer.write(to: path)
    }
}

extension Array where Element == Float {
    public var littleEndianBytes: [UInt8] { withUnsafeBytes { [UInt8]($0) } }
}
