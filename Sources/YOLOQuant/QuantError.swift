// Quantization: schemes, granularities, packing, size accounting (DESIGN.md sections 3 and 4).

/// Everything that can go wrong quantizing, packing or unpacking a weight. `description` is the
/// one line the CLI prints; wrap a case in `.tensor(name, error)` to say which weight it was.
public enum QuantError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bit widths outside 2...8.
    case invalidBits(Int)
    /// A scheme name that is not affine, symmetric, pwlq or codebook.
    case unknownScheme(String)
    /// A granularity name that is not layer, filter, channel, fshape, cshape (or mixed where allowed).
    case unknownGranularity(String)
    /// A weight shape that is not [F, C, kh, kw] with every dimension positive.
    case invalidShape([Int])
    /// A buffer whose length does not match what the shape or the group count needs.
    case countMismatch(what: String, expected: Int, actual: Int)
    /// Packed codes whose byte count is not ceil(count * bits / 8).
    case packedSizeMismatch(bits: Int, count: Int, expected: Int, actual: Int)
    /// A code that does not fit in the bit width (only from `BitPacking.pack`).
    case codeOutOfRange(code: UInt8, bits: Int, index: Int)
    /// A NaN or infinite weight (or a range too wide for Float), which no scheme can represent.
    case nonFiniteWeight(index: Int)
    /// A stored scale, zero or breakpoint that is NaN or infinite (index into scale + zero + breakpoint).
    case nonFiniteParameter(index: Int)
    /// A filter range outside 0..<F.
    case filterRangeOutOfBounds(lower: Int, upper: Int, filters: Int)
    /// `mixed` selection given no bit widths or no granularities to choose from.
    case noCandidates
    /// A scheme x bits x granularity that is not a format (`QuantFormat.supports`), in words.
    case unsupportedFormat(String)
    /// A stored parameter of an integer-grid format (sub-filter groups, codebook) that breaks
    /// the format's rules: a negative or non-finite scale, a group scale or min that makes an
    /// integer weight leave its range, levels out of order...: the array (its tensor suffix in a
    /// file, e.g. `group_scale`) and what is wrong, naming the index.
    case invalidParameter(array: String, reason: String)
    /// A quantization setting that cannot be honoured (unknown --keep item or mode, a budget
    /// without `mixed`...), described in words.
    case invalidSetting(String)
    /// Stored or given int8 activation ranges that do not fit the model: missing, extra, NaN or
    /// negative (min > max), from `source` (a file).
    case activationRanges(source: String, reason: String)
    /// Any of the above, for the named tensor.
    indirect case tensor(String, QuantError)

    public var description: String {
        switch self {
        case let .invalidBits(bits): return "bits must be 2...8, got \(bits)"
        case let .unknownScheme(name): return "unknown scheme '\(name)' (expected affine, symmetric, pwlq or codebook)"
        case let .unknownGranularity(name):
            return "unknown granularity '\(name)' (expected layer, filter, channel, fshape, cshape, group16, group32, group64 or mixed)"
        case let .invalidShape(shape): return "weight shape \(shape) is not [F, C, kh, kw] with positive sizes"
        case let .countMismatch(what, expected, actual): return "\(what): expected \(expected) values, got \(actual)"
        case let .packedSizeMismatch(bits, count, expected, actual):
            return "packed codes hold \(actual) bytes, \(count) codes of \(bits) bits need \(expected)"
        case let .codeOutOfRange(code, bits, index): return "code \(code) at index \(index) does not fit in \(bits) bits"
        case let .nonFiniteWeight(index): return "weight \(index) is not finite (or the range overflows Float)"
        case let .nonFiniteParameter(index): return "quantization parameter \(index) is not finite"
        case let .filterRangeOutOfBounds(lower, upper, filters):
            return "filter range \(lower)..<\(upper) is outside 0..<\(filters)"
        case .noCandidates: return "mixed selection needs at least one bit width and one granularity"
        case let .unsupportedFormat(reason): return reason
        case let .invalidParameter(array, reason): return "\(array): \(reason)"
        case let .invalidSetting(reason): return reason
        case let .activationRanges(source, reason): return "\(source): \(reason)"
        case let .tensor(name, error): return "\(name): \(error.description)"
        }
    }
}
