import Foundation

/// The size `quantize --budget` must fit: the bytes of the packed file as `QuantizationSizeReport`
/// counts them (everything in it: codes, parameters, FP32 biases, kept convs' FP32 weights,
/// anchors and the header), given directly or as bits per conv weight (file bytes x 8 / all
/// conv weights, kept ones included: 2.0 means the whole file averages 2 bits a weight).
public enum SizeBudget: Equatable, Sendable, CustomStringConvertible {
    case bytes(Int)
    case bitsPerWeight(Double)

    /// `2`, `2.5bpw`, `1.6MB`, `1600kB`, `1600000B` (kB and MB are 1000 and 1,000,000 bytes,
    /// as the size report prints them; KiB and MiB are 1024 and 1024^2).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double?)] = [("bpw", nil), ("MiB", 1_048_576), ("KiB", 1024), ("MB", 1_000_000),
                                          ("kB", 1000), ("KB", 1000), ("B", 1)]
        var number = trimmed, scale: Double? = nil, isBytes = false
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            number = String(trimmed.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            scale = factor
            isBytes = factor != nil
            break
        }
        guard let value = Double(number), value.isFinite, value > 0 else {
            throw QuantError.invalidSetting("budget '\(text)' is not a size: give bits per weight (2.5 or 2.5bpw) or bytes (1.6MB, 1600kB, 1600000B)")
        }
        if isBytes, let scale {
            self = .bytes(Int((value * scale).rounded(.down)))
        } else {
            guard value <= 32 else {
                throw QuantError.invalidSetting("budget \(value) bits per weight is more than FP32's 32")
            }
            self = .bitsPerWeight(value)
        }
    }

    /// The file size allowed for a model of `weights` conv weights.
    public func bytes(weights: Int) -> Int {
        switch self {
        case let .bytes(bytes): return bytes
        case let .bitsPerWeight(bits): return Int((bits * Double(weights) / 8).rounded(.down))
        }
    }

    /// The budget as file bits per conv weight.
    public func bitsPerWeight(weights: Int) -> Double {
        switch self {
        case let .bytes(bytes): return weights > 0 ? Double(8 * bytes) / Double(weights) : 0
        case let .bitsPerWeight(bits): return bits
        }
    }

    public var description: String {
        switch self {
        case let .bytes(bytes): return "\(bytes) B"
        case let .bitsPerWeight(bits): return String(format: "%g bits/weight", bits)
        }
    }
}
