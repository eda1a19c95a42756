import Foundation

/// Pointwise activations that YOLOv7 uses, applied in conv epilogues.
public enum Activation: Equatable, Hashable, Sendable, CustomStringConvertible {
    case identity
    case silu
    case leakyReLU(slope: Float)
    case relu
    case sigmoid

    public var description: String {
        switch self {
        case .identity: return "identity"
        case .silu: return "SiLU"
        case .leakyReLU(let s): return "LeakyReLU(\(s))"
        case .relu: return "ReLU"
        case .sigmoid: return "Sigmoid"
        }
    }

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .identity: return x
        case .silu: return x / (1 + expf(-x))
        case .leakyReLU(let s): return x >= 0 ? x : x * s
        case .relu: return max(x, 0)
        case .sigmoid: return 1 / (1 + expf(-x))
        }
    }
}
