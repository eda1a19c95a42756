import CVectorMath
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

    /// The reference: libm `expf`, one value at a time.
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

    /// The fast form the kernels use: SiLU and Sigmoid through `FastMath.exp` (see there for
    /// the error), the others exactly as `apply`.
    @inline(__always)
    public func applyFast(_ x: Float) -> Float {
        switch self {
        case .identity: return x
        case .silu: return FastMath.silu(x)
        case .leakyReLU(let s): return x >= 0 ? x : x * s
        case .relu: return max(x, 0)
        case .sigmoid: return FastMath.sigmoid(x)
        }
    }

    /// `p[i] = act(p[i] + bias)` over a run: the conv epilogue. One loop per case, so each is a
    /// branch-free body the compiler vectorises; SiLU and Sigmoid in CVectorMath, with vector
    /// versions per kernel level (3x faster than baseline SSE on the exponential), with the same
    /// arithmetic as FastMath (`biasActivateReference`, tested equal).
    @inline(__always)
    func biasActivate(_ p: UnsafeMutablePointer<Float>, count: Int, bias b: Float) {
        switch self {
        case .identity:
            for i in 0..<count { p[i] += b }
        case .silu:
            cvm_bias_silu(p, count, b)
        case .leakyReLU(let s):
            for i in 0..<count { let v = p[i] + b; p[i] = v >= 0 ? v : v * s }
        case .relu:
            for i in 0..<count { p[i] = max(p[i] + b, 0) }
        case .sigmoid:
            cvm_bias_sigmoid(p, count, b)
        }
    }
}

extension Activation {
    /// `biasActivate` in Swift only: what the CVectorMath loops must reproduce.
    func biasActivateReference(_ p: UnsafeMutablePointer<Float>, count: Int, bias b: Float) {
        for i in 0..<count { p[i] = applyFast(p[i] + b) }
    }
}

/// Branch-free float math that vectorises (plain SSE2 is enough: no libm call, no rounding
/// instruction), used where the engine evaluates millions of exponentials per image.
public enum FastMath {
    /// e^x for x in [-87, 88] (callers clamp; e^-87 is still a normal float, e^88 below max).
    ///
    /// x = k ln2 + r with k = round(x / ln2) and |r| <= ln2/2 (ln2 split in a high part exact in
    /// float and a low part, so r carries no cancellation error), e^r by its degree-6 Taylor
    /// polynomial, 2^k put straight into the exponent bits. Truncation error r^7/7! <= 1.2e-7
    /// relative; with float rounding the result is within 3e-7 of e^x relative (measured over
    /// [-87, 88] against `exp` in Double: max 2.4e-7, FastMathTests). SiLU and sigmoid built on
    /// it are within 4e-7 relative of the `expf` forms: far inside the 1e-4 parity bound.
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even).
        let k = (x * 1.442_695_04 + 12_582_912) - 12_582_912
        let r = (x - k * 0.693_145_751_953_125) - k * 1.428_606_765_330_187e-6
        let p = 1 + r * (1 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720))))))
        let scale = Float(bitPattern: UInt32(bitPattern: Int32(k) &+ 127) &<< 23)
        return p * scale
    }

    /// 1 / (1 + e^-x), with the exponent clamped so it neither overflows nor leaves the normals.
    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float {
        1 / (1 + exp(min(max(-x, -87), 88)))
    }

    /// x * sigmoid(x) written as x / (1 + e^-x): one division, no extra rounding.
    @inline(__always)
    public static func silu(_ x: Float) -> Float {
        x / (1 + exp(min(max(-x, -87), 88)))
    }
}
