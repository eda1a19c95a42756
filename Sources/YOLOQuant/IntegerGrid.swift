/// The stored parameters of the two formats whose every weight is an integer times a float
/// scale (docs/FORMAT.md, version 2): sub-filter groups with nested integer scales, and the
/// codebook. The axis-aligned formats keep theirs in `scale`/`zero`/`breakpoint` instead.
///
/// **Sub-filter groups** (`groupN`, affine or symmetric, k = 2...4 bits), after ggml's k-quants:
/// filter f's weights, in the filter's own order, are cut into groups of N; group g of filter f
/// has an integer scale `l[g]` and (affine) an integer min `m[g]`, and filter f a float
/// super-scale `d[f]`. A code q in 0..<2^k means
///
///     r' = d[f] * Float(l[g] * q - m[g])          (symmetric: m[g] = l[g] * 2^(k-1))
///
/// so `l[g] * q - m[g]` is the weight as an integer on the filter's grid `d[f]`. The integer
/// ranges are chosen so that this integer always fits in k + 4 bits (at most 8: an s8), which
/// makes int8 execution exact: symmetric `l` has 4 bits (|l * (q - 2^(k-1))| <= 15 * 2^(k-1));
/// affine `l` has 5 bits and `m` k + 3 bits, with `l * (2^k - 1) - m <= 2^(k+3) - 1` checked.
/// Compared with k-quants' separate 6-bit mins on their own super-scale this costs 0.0-0.1 dB
/// of weight SQNR at 2-3 bits and about 0.4 dB at 4 (measured on YOLOv7-tiny-BCCD, docs/FORMAT.md).
///
/// **Codebook** (any axis-aligned granularity, k = 2...8 bits): group g has 2^k integer
/// levels `levels[g * 2^k + q]` in -127...127, in ascending order, and a float scale `s[g]`;
/// code q means `r' = s[g] * Float(levels[g * 2^k + q])`.
///
/// Every float scale is stored as FP16 (`X.super_scale`, `X.level_scale`) and held here as the
/// Float of that FP16 value, so a file round-trips exactly. Every product above is exact in
/// Float32 (an FP16 significand times an integer of at most 8 bits), so `r'` is the same number
/// whichever code path forms it, and the int8 kernel's `scale * integer` is `r'` exactly.
public struct IntegerGrid: Equatable, Sendable {
    /// Sub-filter groups: d per filter. Codebook: s per group.
    public var scale: [Float]
    /// Sub-filter groups: l per group.
    public var groupScale: [UInt8]
    /// Affine sub-filter groups: m per group.
    public var groupMin: [UInt8]
    /// Codebook: 2^bits integer levels per group, ascending.
    public var levels: [Int8]

    public init(scale: [Float] = [], groupScale: [UInt8] = [], groupMin: [UInt8] = [], levels: [Int8] = []) {
        self.scale = scale
        self.groupScale = groupScale
        self.groupMin = groupMin
        self.levels = levels
    }

    public var isEmpty: Bool { scale.isEmpty && groupScale.isEmpty && groupMin.isEmpty && levels.isEmpty }

    // MARK: the format's constants

    /// Bits of a stored group scale `l`: 4 (symmetric), 5 (affine).
    public static func scaleBits(_ format: QuantFormat) -> Int { format.scheme == .symmetric ? 4 : 5 }
    /// Bits of a stored group min `m` (affine): k + 3.
    public static func minBits(_ format: QuantFormat) -> Int { format.bits + 3 }
    /// The largest magnitude of an integer weight: 2^(k+3) - 1 for sub-filter groups (k + 4
    /// signed bits), 127 for the codebook.
    public static func integerLimit(_ format: QuantFormat) -> Int {
        format.isNested ? (1 << (format.bits + 3)) - 1 : 127
    }

    /// Bytes the file stores for these parameters: group scales (and mins) bit-packed, FP16
    /// scales, I8 levels.
    public static func storedBytes(format: QuantFormat, layout: GroupLayout) -> Int {
        if format.isNested {
            var bytes = BitPacking.packedByteCount(count: layout.groupCount, bits: scaleBits(format))
            if format.scheme == .affine { bytes += BitPacking.packedByteCount(count: layout.groupCount, bits: minBits(format)) }
            return bytes + 2 * layout.filterCount
        }
        return layout.groupCount * ((1 << format.bits) + 2)
    }

    /// Bytes held in memory (Float scales, one byte per group scale, min and level).
    var residentBytes: Int { 4 * scale.count + groupScale.count + groupMin.count + levels.count }

    // MARK: validation

    /// Checks lengths and values against the format; errors name the array and index.
    func check(format: QuantFormat, layout: GroupLayout) throws {
        func count(_ name: String, _ actual: Int, _ expected: Int) throws {
            guard actual == expected else { throw QuantError.countMismatch(what: name, expected: expected, actual: actual) }
        }
        let groups = layout.groupCount
        if format.isNested {
            try count("super_scale (one per filter)", scale.count, layout.filterCount)
            try count("group_scale (\(format.granularity))", groupScale.count, groups)
            try count("group_min (\(format.scheme))", groupMin.count, format.scheme == .affine ? groups : 0)
            try count("levels (\(format.granularity))", levels.count, 0)
            let scaleLimit = (1 << Self.scaleBits(format)) - 1
            let limit = Self.integerLimit(format), maxCode = (1 << format.bits) - 1
            for (g, l) in groupScale.enumerated() {
                guard Int(l) <= scaleLimit else {
                    throw QuantError.invalidParameter(array: "group_scale", reason: "value \(g) (\(l)) does not fit in \(Self.scaleBits(format)) bits")
                }
                guard format.scheme == .affine else { continue }
                let m = Int(groupMin[g])
                guard m <= limit else {
                    throw QuantError.invalidParameter(array: "group_min", reason: "value \(g) (\(m)) does not fit in \(Self.minBits(format)) bits")
                }
                guard Int(l) * maxCode - m <= limit else {
                    throw QuantError.invalidParameter(array: "group_scale", reason: "group \(g): scale \(l) x code \(maxCode) - min \(m) = \(Int(l) * maxCode - m) exceeds \(limit), the largest integer weight of \(format.bits)-bit codes")
                }
            }
            try checkScales("super_scale")
        } else {
            let levelCount = 1 << format.bits
            try count("level_scale (\(format.granularity))", scale.count, groups)
            try count("levels (\(levelCount) per group)", levels.count, groups * levelCount)
            try count("group_scale (\(format.scheme))", groupScale.count, 0)
            try count("group_min (\(format.scheme))", groupMin.count, 0)
            for g in 0..<groups {
                let row = levels[(g * levelCount)..<((g + 1) * levelCount)]
                if let bad = row.firstIndex(of: Int8.min) {
                    throw QuantError.invalidParameter(array: "levels", reason: "value \(bad) is -128, outside -127...127")
                }
                if let bad = row.indices.dropFirst().first(where: { row[$0] < row[$0 - 1] }) {
                    throw QuantError.invalidParameter(array: "levels", reason: "group \(g) is not in ascending order (value \(bad) = \(row[bad]) after \(row[bad - 1]))")
                }
            }
            try checkScales("level_scale")
        }
    }

    private func checkScales(_ name: String) throws {
        for (index, value) in scale.enumerated() {
            guard value.isFinite else { throw QuantError.invalidParameter(array: name, reason: "value \(index) is not finite") }
            guard value >= 0 else { throw QuantError.invalidParameter(array: name, reason: "value \(index) (\(value)) is negative") }
        }
    }

    // MARK: integers

    /// Sub-filter group g's codec: l, m (symmetric: l * 2^(k-1)) and its filter's d.
    @inline(__always)
    func nestedCodec(group g: Int, format: QuantFormat, layout: GroupLayout) -> NestedCodec {
        let l = Int(groupScale[g])
        let m = format.scheme == .affine ? Int(groupMin[g]) : l << (format.bits - 1)
        return NestedCodec(superScale: scale[g / layout.groupsPerFilter], scale: l, offset: m, bits: format.bits)
    }

    /// The integer of code `code` in group `g` (`r' = scale * integer`, the scale being
    /// `scale[filter]` for sub-filter groups and `scale[g]` for the codebook).
    @inline(__always)
    func integer(code: UInt8, group g: Int, format: QuantFormat) -> Int {
        if format.isNested {
            let l = Int(groupScale[g])
            let m = format.scheme == .affine ? Int(groupMin[g]) : l << (format.bits - 1)
            return l * Int(code) - m
        }
        return Int(levels[(g << format.bits) + Int(code)])
    }
}

extension Float {
    /// The smallest FP16 value not below `self` (finite, >= 0), as a Float: a scale stored as
    /// FP16 that is never smaller than the one asked for, so integers sized against it still fit.
    /// Infinite when `self` is beyond FP16's range (the caller reports it).
    var halfRoundedUp: Float {
        var half = Float16(self)
        if Float(half) < self { half = half.nextUp }
        return Float(half)
    }
}

/// One group's grid of a sub-filter group format: `r' = d * Float(l * q - m)`.
struct NestedCodec {
    let superScale: Float
    let scale: Int
    let offset: Int
    let maxCode: Float
    /// d * l and d * m, both exact (see `IntegerGrid`).
    let step: Float
    let shift: Float

    init(superScale d: Float, scale l: Int, offset m: Int, bits: Int) {
        superScale = d
        scale = l
        offset = m
        maxCode = Float((1 << bits) - 1)
        step = d * Float(l)
        shift = d * Float(m)
    }

    /// The nearest code: `clamp(round((r + d*m) / (d*l)), 0, 2^k - 1)` (code 0 when l = 0,
    /// where every code means -d*m).
    @inline(__always)
    func encode(_ r: Float) -> (code: UInt8, value: Float) {
        guard step != 0 else { return (0, decode(0)) }
        let q = Swift.min(Swift.max(((r + shift) / step).roundedHalfEven, 0), maxCode)
        return (UInt8(q), decode(UInt8(q)))
    }

    @inline(__always)
    func decode(_ code: UInt8) -> Float { superScale * Float(scale * Int(code) - offset) }
}

/// One group's codebook: levels `s * Float(k_q)`, ascending; a value's code is the number of
/// midpoints between consecutive levels that lie below it (ties go to the lower level).
struct CodebookCodec {
    let values: [Float]
    let midpoints: [Float]

    init(scale s: Float, levels: ArraySlice<Int8>) {
        values = levels.map { s * Float($0) }
        midpoints = zip(values, values.dropFirst()).map { ($0 + $1) * 0.5 }
    }

    @inline(__always)
    func encode(_ r: Float) -> (code: UInt8, value: Float) {
        var low = 0, high = midpoints.count
        while low < high {
            let mid = (low + high) / 2
            if midpoints[mid] < r { low = mid + 1 } else { high = mid }
        }
        return (UInt8(low), values[low])
    }

    @inline(__always)
    func decode(_ code: UInt8) -> Float { values[Int(code)] }
}
