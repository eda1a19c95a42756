/// How values are mapped to integer codes (DESIGN.md section 3; the exact maths is in
/// `GroupQuantizer`; with sub-filter groups in `NestedGroupQuantizer`, the codebook in
/// `CodebookQuantizer`).
public enum QuantScheme: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case affine
    case symmetric
    case pwlq
    /// 2^bits levels per group found by k-means, stored as integers times a per-group scale.
    case codebook

    /// Parses a CLI / metadata name (case-insensitive; "asymmetric" is accepted for affine,
    /// "kmeans" for codebook).
    public init(parsing name: String) throws {
        switch name.lowercased() {
        case "affine", "asymmetric": self = .affine
        case "symmetric": self = .symmetric
        case "pwlq", "piecewise": self = .pwlq
        case "codebook", "kmeans", "k-means": self = .codebook
        default: throw QuantError.unknownScheme(name)
        }
    }

    /// Float32 parameters stored per group by the axis-aligned granularities' formats: affine
    /// scale + zero, symmetric scale, PWLQ m + p (the codebook's and the sub-filter groups'
    /// parameters are counted by `QuantFormat.size(of:)`).
    public var parametersPerGroup: Int {
        switch self {
        case .affine: return 2
        case .symmetric: return 1
        case .pwlq: return 2
        case .codebook: return 0
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
    /// Sub-filter groups: each filter's weights, in its own order (c, i, j), cut into runs of
    /// 16, 32 or 64 (the last run of a filter may be shorter), with nested integer scales
    /// (`NestedGroupQuantizer`).
    case group16
    case group32
    case group64

    /// The five granularities that cut W along its axes (DESIGN.md section 3's table): every
    /// scheme takes them, and `mixed` chooses among them.
    public static let axisAligned: [Granularity] = [.layer, .filter, .channel, .fshape, .cshape]
    /// The sub-filter groups (affine and symmetric, 2-4 bits).
    public static let subFilter: [Granularity] = [.group16, .group32, .group64]

    /// Parses a CLI / metadata name ("F-shape", "f_shape", "fshape" all work; "group32", "g32").
    /// `mixed` is not a granularity of one tensor: parse it with `GranularityChoice`.
    public init(parsing name: String) throws {
        var key = name.lowercased().filter { $0 != "-" && $0 != "_" }
        if key.hasPrefix("g"), !key.hasPrefix("group"), Int(key.dropFirst()) != nil { key = "group" + key.dropFirst() }
        guard let value = Granularity(rawValue: key) else { throw QuantError.unknownGranularity(name) }
        self = value
    }

    /// Weights per sub-filter group; nil for the axis-aligned granularities.
    public var subFilterGroupSize: Int? {
        switch self {
        case .group16: return 16
        case .group32: return 32
        case .group64: return 64
        case .layer, .filter, .channel, .fshape, .cshape: return nil
        }
    }

    public var description: String { rawValue }
}

/// A granularity as the CLI asks for it: one fixed granularity for every layer, or `mixed`
/// (chosen per conv by `quantize --budget`: `MixedPrecisionSelector`).
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
///
/// Not every combination exists: the sub-filter groups take affine or symmetric codes of 2-4
/// bits (their nested integer scales are sized so that every weight is an integer of at most
/// bits + 4 bits times the filter's scale: `IntegerGrid`), and the codebook takes the
/// axis-aligned granularities. `supports(scheme:bits:granularity:)` says which.
public struct QuantFormat: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
    public static let bitRange = 2...8
    /// Code widths of the sub-filter groups.
    public static let subFilterBitRange = 2...4

    public let scheme: QuantScheme
    public let bits: Int
    public let granularity: Granularity

    public init(scheme: QuantScheme, bits: Int, granularity: Granularity) throws {
        try QuantFormat.validate(bits: bits)
        if let reason = Self.unsupportedReason(scheme: scheme, bits: bits, granularity: granularity) {
            throw QuantError.unsupportedFormat(reason)
        }
        self.scheme = scheme
        self.bits = bits
        self.granularity = granularity
    }

    public static func validate(bits: Int) throws {
        guard bitRange.contains(bits) else { throw QuantError.invalidBits(bits) }
    }

    /// Whether the combination is a format (bits must also be in `bitRange`).
    public static func supports(scheme: QuantScheme, bits: Int, granularity: Granularity) -> Bool {
        bitRange.contains(bits) && unsupportedReason(scheme: scheme, bits: bits, granularity: granularity) == nil
    }

    static func unsupportedReason(scheme: QuantScheme, bits: Int, granularity: Granularity) -> String? {
        if granularity.subFilterGroupSize != nil {
            guard scheme == .affine || scheme == .symmetric else {
                return "\(granularity) groups take affine or symmetric codes, not \(scheme)"
                    + (scheme == .codebook ? " (a codebook is per layer, filter, channel, fshape or cshape group)" : "")
            }
            guard subFilterBitRange.contains(bits) else {
                return "\(granularity) groups take \(subFilterBitRange.lowerBound)-\(subFilterBitRange.upperBound) bit codes, not \(bits)"
            }
        }
        return nil
    }

    /// Sub-filter groups with nested integer scales (`X.group_scale`, `X.super_scale`).
    public var isNested: Bool { granularity.subFilterGroupSize != nil }
    /// Formats whose weights are stored as integers times a float scale (`IntegerGrid`):
    /// the sub-filter groups and the codebook. The others keep `scale`/`zero`/`breakpoint`.
    public var usesIntegerGrid: Bool { isNested || scheme == .codebook }

    /// Bytes of codes and parameters for a weight of this shape.
    public func size(of shape: [Int]) throws -> QuantizedSize {
        QuantizedSize(format: self, layout: try GroupLayout(granularity: granularity, shape: shape))
    }

    public var description: String { "\(scheme) \(bits)-bit \(granularity)" }
}

/// Size accounting for reports: codes are bit-packed; the axis-aligned formats' parameters are
/// Float32, the integer grids' as stored (`IntegerGrid.storedBytes`).
public struct QuantizedSize: Equatable, Hashable, Sendable {
    public let count: Int
    public let bits: Int
    public let codeBytes: Int
    public let parameterBytes: Int

    public init(count: Int, bits: Int, groups: Int, parametersPerGroup: Int) {
        self.init(count: count, bits: bits, parameterBytes: 4 * groups * parametersPerGroup)
    }

    public init(count: Int, bits: Int, parameterBytes: Int) {
        self.count = count
        self.bits = bits
        self.codeBytes = BitPacking.packedByteCount(count: count, bits: bits)
        self.parameterBytes = parameterBytes
    }

    /// The stored size of a weight of `layout` in `format`.
    public init(format: QuantFormat, layout: GroupLayout) {
        if format.usesIntegerGrid {
            self.init(count: layout.count, bits: format.bits,
                      parameterBytes: IntegerGrid.storedBytes(format: format, layout: layout))
        } else {
            self.init(count: layout.count, bits: format.bits, groups: layout.groupCount,
                      parametersPerGroup: format.scheme.parametersPerGroup)
        }
    }

    public var totalBytes: Int { codeBytes + parameterBytes }
    /// Stored bits per weight, parameters included.
    public var bitsPerWeight: Double { count == 0 ? 0 : Double(8 * totalBytes) / Double(count) }
    public var fp32Bytes: Int { 4 * count }
    public var fp16Bytes: Int { 2 * count }
}
