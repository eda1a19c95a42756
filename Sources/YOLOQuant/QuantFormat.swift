/// How values are mapped to integer codes (DESIGN.md section 3; the exact maths is in
/// `GroupQuantizer`).
public enum QuantScheme: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case affine
    case symmetric
    case pwlq

    /// Parses a CLI / metadata name (case-insensitive; "asymmetric" is accepted for affine).
    public init(parsing name: String) throws {
        switch name.lowercased() {
        case "affine", "asymmetric": self = .affine
        case "symmetric": self = .symmetric
        case "pwlq", "piecewise": self = .pwlq
        default: throw QuantError.unknownScheme(name)
        }
    }

    /// Float32 parameters stored per group: affine scale + zero, symmetric scale, PWLQ m + p.
    public var parametersPerGroup: Int {
        switch self {
        case .affine: return 2
        case .symmetric: return 1
        case .pwlq: return 2
        }
    }

    public var description: String { rawValue }
}

/// How a conv weight `[F, C, kh, kw]` is cut into groups that share quantization parameters.
/// See `GroupLayout` for the group order.
public enum Granularity: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case layer
    case filter
    case channel
    case fshape
    case cshape

    /// Parses a CLI / metadata name ("F-shape", "f_shape", "fshape" all work). `mixed` is not a
    /// granularity of one tensor: parse it with `GranularityChoice`.
    public init(parsing name: String) throws {
        let key = name.lowercased().filter { $0 != "-" && $0 != "_" }
        guard let value = Granularity(rawValue: key) else { throw QuantError.unknownGranularity(name) }
        self = value
    }

    public var description: String { rawValue }
}

/// A granularity as the CLI asks for it: one fixed granularity for every layer, or `mixed`
/// (chosen per layer by `MixedSelector`).
public enum GranularityChoice: Equatable, Hashable, Sendable, CustomStringConvertible {
    case fixed(Granularity)
    case mixed

    public init(parsing name: String) throws {
        if name.lowercased() == "mixed" { self = .mixed } else { self = .fixed(try Granularity(parsing: name)) }
    }

    public var description: String {
        switch self {
        case let .fixed(granularity): return granularity.rawValue
        case .mixed: return "mixed"
        }
    }
}

/// A complete quantization format: scheme x bits x granularity. Bits are validated to 2...8.
public struct QuantFormat: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public static let bitRange = 2...8

    public let scheme: QuantScheme
    public let bits: Int
    public let granularity: Granularity

    public init(scheme: QuantScheme, bits: Int, granularity: Granularity) throws {
        try QuantFormat.validate(bits: bits)
        self.scheme = scheme
        self.bits = bits
        self.granularity = granularity
    }

    public static func validate(bits: Int) throws {
        guard bitRange.contains(bits) else { throw QuantError.invalidBits(bits) }
    }

    /// Bytes of codes and parameters for a weight of this shape.
    public func size(of shape: [Int]) throws -> QuantizedSize {
        let layout = try GroupLayout(granularity: granularity, shape: shape)
        return QuantizedSize(count: layout.count, bits: bits, groups: layout.groupCount,
                             parametersPerGroup: scheme.parametersPerGroup)
    }

    public var description: String { "\(scheme) \(bits)-bit \(granularity)" }
}

/// Size accounting for reports: codes are bit-packed, parameters are Float32.
public struct QuantizedSize: Equatable, Hashable, Sendable {
    public let count: Int
    public let bits: Int
    public let codeBytes: Int
    public let parameterBytes: Int

    public init(count: Int, bits: Int, groups: Int, parametersPerGroup: Int) {
        self.count = count
        self.bits = bits
        self.codeBytes = BitPacking.packedByteCount(count: count, bits: bits)
        self.parameterBytes = 4 * groups * parametersPerGroup
    }

    public var totalBytes: Int { codeBytes + parameterBytes }
    /// Stored bits per weight, parameters included.
    public var bitsPerWeight: Double { count == 0 ? 0 : Double(8 * totalBytes) / Double(count) }
    public var fp32Bytes: Int { 4 * count }
    public var fp16Bytes: Int { 2 * count }
}
