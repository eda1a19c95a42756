import YOLOTensor

/// An official checkpoint as a `TensorSource`: its state dict, plus module attributes that the
/// config alone does not give (BatchNorm eps, the activation a Conv really holds).
public struct CheckpointTensorSource: TensorSource {
    public let checkpoint: Checkpoint
    public var origin: String { checkpoint.path }

    public init(_ checkpoint: Checkpoint) { self.checkpoint = checkpoint }

    public func contains(_ name: String) -> Bool { checkpoint.tensors[name] != nil }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try DictionaryTensorSource(origin: origin, tensors: checkpoint.tensors).tensor(name, shape: shape)
    }

    public func attribute(_ name: String, of module: String) -> Double? {
        guard let m = checkpoint.module(module) else { return nil }
        if name == "activation_kind" {
            switch m.className.split(separator: ".").last {
            case "SiLU": return 1
            case "Identity": return 2
            case "ReLU": return 3
            case "Sigmoid": return 4
            default: return nil
            }
        }
        if name == "negative_slope" && !m.className.hasSuffix("LeakyReLU") { return nil }
        return m.attributes[name]?.doubleValue
    }
}
