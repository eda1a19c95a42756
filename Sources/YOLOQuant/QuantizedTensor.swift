import Foundation
import YOLOTensor

/// A quantized conv weight in memory: one unpacked code (UInt8) per weight in flat W order,
/// plus per-group parameters in `GroupLayout` group order. `packed()` gives the storage form.
///
/// Stored parameters: for the axis-aligned formats `scale` always (affine s, symmetric s,
/// PWLQ m = max|r|), `zero` for affine only, `breakpoint` for PWLQ only; for the sub-filter
/// groups and the codebook, `grid` (`IntegerGrid`) and none of those. Arrays a format does not
/// use are empty.
public struct QuantizedTensor: Equatable, Sendable {
    public let format: QuantFormat
    public let shape: [Int]
    public let codes: [UInt8]
    public let scale: [Float]
    public let zero: [Float]
    public let breakpoint: [Float]
    public let grid: IntegerGrid
    public let layout: GroupLayout

    public var scheme: QuantScheme { format.scheme }
    public var bits: Int { format.bits }
    public var granularity: Granularity { format.granularity }
    public var count: Int { codes.count }
    public var size: QuantizedSize { QuantizedSize(format: format, layout: layout) }

    /// Assembles a tensor from stored parts, checking every length and code.
    public init(format: QuantFormat, shape: [Int], codes: [UInt8], scale: [Float] = [],
                zero: [Float] = [], breakpoint: [Float] = [], grid: IntegerGrid = IntegerGrid()) throws {
        let layout = try GroupLayout(granularity: format.granularity, shape: shape)
        guard codes.count == layout.count else {
            throw QuantError.countMismatch(what: "codes for shape \(shape)", expected: layout.count, actual: codes.count)
        }
        if format.bits < 8, let index = codes.firstIndex(where: { Int($0) >= 1 << format.bits }) {
            throw QuantError.codeOutOfRange(code: codes[index], bits: format.bits, index: index)
        }
        try Self.checkParameters(format: format, layout: layout, scale: scale, zero: zero, breakpoint: breakpoint,
                                 grid: grid)
        self.format = format
        self.shape = shape
        self.codes = codes
        self.scale = scale
        self.zero = zero
        self.breakpoint = breakpoint
        self.grid = grid
        self.layout = layout
    }

    /// Quantizes a flat row-major weight of shape `[F, C, kh, kw]`. With `rangeSearch`, each
    /// group's range is clipped where that lowers its squared error (`RangeSearch`); without,
    /// the range is the group's min/max (DESIGN.md section 3, what the NumPy reference does).
    /// The sub-filter groups and the codebook search their grids anyway (`rangeSearch` does not
    /// apply to them); `importance` (one value per filter column c*K + k, e.g. the diagonal of
    /// the conv's input second moment) weights their search, which minimises plain squared
    /// error without it.
    public init(quantizing weights: [Float], shape: [Int], format: QuantFormat, rangeSearch: Bool = false,
                importance: [Float]? = nil) throws {
        let layout = try GroupLayout(granularity: format.granularity, shape: shape)
        guard weights.count == layout.count else {
            throw QuantError.countMismatch(what: "weights for shape \(shape)", expected: layout.count,
                                           actual: weights.count)
        }
        try Self.checkFinite(weights)
        if let importance {
            guard importance.count == layout.filterSize else {
                throw QuantError.countMismatch(what: "importance (one per filter column)", expected: layout.filterSize,
                                               actual: importance.count)
            }
            if let index = importance.firstIndex(where: { !($0 >= 0) || !$0.isFinite }) {
                throw QuantError.invalidParameter(array: "importance", reason: "value \(index) (\(importance[index])) is not finite and >= 0")
            }
        }
        if format.usesIntegerGrid {
            let result = format.isNested
                ? try NestedGroupQuantizer.quantize(weights, layout: layout, format: format, importance: importance)
                : CodebookQuantizer.quantize(weights, layout: layout, format: format, importance: importance)
            self.format = format
            self.shape = shape
            self.codes = result.codes
            self.scale = []
            self.zero = []
            self.breakpoint = []
            self.grid = result.grid
            self.layout = layout
            return
        }
        var codes = [UInt8](repeating: 0, count: layout.count)
        var parameters = [GroupParameters]()
        parameters.reserveCapacity(layout.groupCount)
        var values = [Float]()
        values.reserveCapacity(layout.groupSize)
        var groupCodes = [UInt8]()
        groupCodes.reserveCapacity(layout.groupSize)
        for g in 0..<layout.groupCount {
            layout.gather(group: g, from: weights, into: &values)
            parameters.append(GroupQuantizer.quantize(values, scheme: format.scheme, bits: format.bits,
                                                      rangeSearch: rangeSearch, codes: &groupCodes))
            layout.scatter(group: g, codes: groupCodes, into: &codes)
        }
        self.format = format
        self.shape = shape
        self.codes = codes
        self.scale = parameters.map(\.scale)
        self.zero = format.scheme == .affine ? parameters.map(\.zero) : []
        self.breakpoint = format.scheme == .pwlq ? parameters.map(\.breakpoint) : []
        self.grid = IntegerGrid()
        self.layout = layout
    }

    public init(quantizing weight: Tensor, format: QuantFormat) throws {
        try self.init(quantizing: weight.data, shape: weight.shape, format: format)
    }

    /// Per-group parameters, in group order (axis-aligned formats; empty for integer grids).
    public var parameters: [GroupParameters] {
        Self.groupParameters(scheme: scheme, scale: scale, zero: zero, breakpoint: breakpoint)
    }

    /// The same grid with other codes (error-feedback rounding keeps the grid, changes codes).
    public func replacingCodes(_ codes: [UInt8]) throws -> QuantizedTensor {
        try QuantizedTensor(format: format, shape: shape, codes: codes, scale: scale, zero: zero,
                            breakpoint: breakpoint, grid: grid)
    }

    /// All reconstructed values r', flat W order.
    public func dequantize() -> [Float] {
        GroupCodecs(self).dequantize(layout: layout, filters: 0..<layout.filterCount, codes: codes, codeOffset: 0)
    }

    /// Reconstructed values of filters `filters` only (`W[filters, :, :, :]`, row-major): a
    /// runtime can dequantize a weight tile by tile.
    public func dequantize(filters: Range<Int>) throws -> [Float] {
        try Self.checkFilters(filters, layout: layout)
        return GroupCodecs(self).dequantize(layout: layout, filters: filters, codes: codes, codeOffset: 0)
    }

    public func dequantizedTensor() -> Tensor { Tensor(shape: shape, data: dequantize()) }

    /// Error of the reconstruction against the weights it was made from.
    public func error(against original: [Float]) throws -> ReconstructionError {
        guard original.count == count else {
            throw QuantError.countMismatch(what: "original weights", expected: count, actual: original.count)
        }
        return ReconstructionError(original: original, reconstructed: dequantize())
    }

    /// The storage form: codes bit-packed (see `BitPacking`).
    public func packed() -> PackedWeight {
        // Codes were validated against `bits` when this value was made.
        let bytes = BitPacking.packValidated(codes, bits: bits)
        return PackedWeight(unchecked: format, shape: shape, bytes: bytes, scale: scale, zero: zero,
                            breakpoint: breakpoint, grid: grid, layout: layout)
    }

    // MARK: shared checks

    static func groupParameters(scheme: QuantScheme, scale: [Float], zero: [Float],
                                breakpoint: [Float]) -> [GroupParameters] {
        scale.indices.map { g in
            GroupParameters(scale: scale[g], zero: scheme == .affine ? zero[g] : 0,
                            breakpoint: scheme == .pwlq ? breakpoint[g] : 0)
        }
    }

    static func checkParameters(format: QuantFormat, layout: GroupLayout, scale: [Float], zero: [Float],
                                breakpoint: [Float], grid: IntegerGrid) throws {
        guard format.usesIntegerGrid else {
            guard grid.isEmpty else {
                throw QuantError.invalidParameter(array: "grid", reason: "\(format) stores scale/zero/breakpoint, not group scales or levels")
            }
            return try checkParameters(format: format, groups: layout.groupCount, scale: scale, zero: zero,
                                       breakpoint: breakpoint)
        }
        guard scale.isEmpty, zero.isEmpty, breakpoint.isEmpty else {
            throw QuantError.invalidParameter(array: "scale", reason: "\(format) stores its grid as integers, not scale/zero/breakpoint")
        }
        try grid.check(format: format, layout: layout)
    }

    static func checkParameters(format: QuantFormat, groups: Int, scale: [Float], zero: [Float],
                                breakpoint: [Float]) throws {
        guard scale.count == groups else {
            throw QuantError.countMismatch(what: "scale (\(format.granularity))", expected: groups, actual: scale.count)
        }
        let zeroCount = format.scheme == .affine ? groups : 0
        guard zero.count == zeroCount else {
            throw QuantError.countMismatch(what: "zero (\(format.scheme))", expected: zeroCount, actual: zero.count)
        }
        let breakpointCount = format.scheme == .pwlq ? groups : 0
        guard breakpoint.count == breakpointCount else {
            throw QuantError.countMismatch(what: "breakpoint (\(format.scheme))", expected: breakpointCount,
                                           actual: breakpoint.count)
        }
        for (index, value) in (scale + zero + breakpoint).enumerated() where !value.isFinite {
            throw QuantError.nonFiniteParameter(index: index)
        }
    }

    static func checkFilters(_ filters: Range<Int>, layout: GroupLayout) throws {
        guard filters.lowerBound >= 0, filters.upperBound <= layout.filterCount else {
            throw QuantError.filterRangeOutOfBounds(lower: filters.lowerBound, upper: filters.upperBound,
                                                    filters: layout.filterCount)
        }
    }

    static func checkFinite(_ weights: [Float]) throws {
        var lo = Float.infinity, hi = -Float.infinity
        for (index, r) in weights.enumerated() {
            guard r.isFinite else { throw QuantError.nonFiniteWeight(index: index) }
            lo = Swift.min(lo, r)
            hi = Swift.max(hi, r)
        }
        // An affine range wider than Float's (|values| near 3e38) would make s infinite.
        if !(hi - lo).isFinite, let index = weights.firstIndex(of: hi) {
            throw QuantError.nonFiniteWeight(index: index)
        }
    }
}

/// Reconstruction error figures of one tensor.
public struct ReconstructionError: Equatable, Sendable {
    /// Mean squared error, mean of (r - r')^2.
    public let mse: Double
    /// Signal to quantization noise ratio, 10*log10(sum r^2 / sum (r - r')^2); +infinity when
    /// the reconstruction is exact.
    public let sqnrDB: Double
    public let maxAbsError: Float

    public init(original: [Float], reconstructed: [Float]) {
        precondition(original.count == reconstructed.count, "ReconstructionError: counts differ")
        var signal = 0.0, noise = 0.0
        var worst: Float = 0
        for (r, q) in zip(original, reconstructed) {
            let d = Double(r) - Double(q)
            noise += d * d
            signal += Double(r) * Double(r)
            worst = Swift.max(worst, abs(r - q))
        }
        mse = original.isEmpty ? 0 : noise / Double(original.count)
        sqnrDB = noise == 0 ? .infinity : 10 * log10(signal / noise)
        maxAbsError = worst
    }
}
