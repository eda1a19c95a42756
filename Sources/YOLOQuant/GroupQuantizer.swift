/// Quantization parameters of one group, as stored (`X.scale`, `X.zero`, `X.breakpoint`).
public struct GroupParameters: Equatable, Sendable {
    /// affine: s; symmetric: s; PWLQ: m = max|r|.
    public var scale: Float
    /// affine: z (a whole number kept as Float; it can lie outside the code range when all
    /// values have one sign). 0 for the other schemes.
    public var zero: Float
    /// PWLQ: p, 0 < p <= m (0 for a degenerate group). 0 for the other schemes.
    public var breakpoint: Float

    public init(scale: Float, zero: Float = 0, breakpoint: Float = 0) {
        self.scale = scale
        self.zero = zero
        self.breakpoint = breakpoint
    }
}

// All arithmetic below is Float32, one IEEE operation at a time, in the order written, and
// every rounding is half to even (`roundedHalfEven`), which is NumPy's np.round: so the NumPy
// reference (tools/quant_reference.py), doing the same float32 operations, produces the same
// codes bit for bit. Error sums are Float64, accumulated in a group's element order.

extension Float {
    /// Round half to even, as `rounded(.toNearestOrEven)` and NumPy's np.round, bit for bit
    /// (-0 kept, NaN passed through). Written as adding and removing 2^23 (where Float's
    /// spacing is 1, so the addition itself rounds half to even) because on baseline x86-64
    /// (no SSE4.1) `rounded` is a call to rintf, which stops the loops from vectorizing and made
    /// the PWLQ search several times slower. A test compares it with `rounded` on edge cases.
    @inline(__always)
    var roundedHalfEven: Float {
        let magic: Float = 8_388_608
        let a = abs(self)
        return a < magic ? Float(signOf: self, magnitudeOf: (a + magic) - magic) : self
    }
}

/// Affine (asymmetric), k bits: `s = (max-min)/(2^k-1)`, `z = round(-min/s)`,
/// `q = clamp(round(r/s) + z, 0, 2^k-1)`, `r' = s*(q - z)`. The code is q.
///
/// Degenerate group (s == 0, i.e. max == min, or a range below Float's resolution): with
/// v = min, s = |v|, z = -sign(v), every code 0, so r' = v exactly (0 for an all-zero group).
struct AffineCodec {
    let scale: Float
    let zero: Float
    let maxCode: Float

    init(parameters: GroupParameters, bits: Int) {
        scale = parameters.scale
        zero = parameters.zero
        maxCode = Float((1 << bits) - 1)
    }

    static func parameters(min lo: Float, max hi: Float, bits: Int) -> GroupParameters {
        let s = (hi - lo) / Float((1 << bits) - 1)
        if s == 0 {
            return GroupParameters(scale: abs(lo), zero: lo > 0 ? -1 : (lo < 0 ? 1 : 0))
        }
        return GroupParameters(scale: s, zero: (-lo / s).roundedHalfEven)
    }

    @inline(__always)
    func encode(_ r: Float) -> (code: UInt8, value: Float) {
        guard scale != 0 else { return (0, 0) }
        let q = Swift.min(Swift.max((r / scale).roundedHalfEven + zero, 0), maxCode)
        return (UInt8(q), scale * (q - zero))
    }

    @inline(__always)
    func decode(_ code: UInt8) -> Float { scale * (Float(code) - zero) }
}

/// Symmetric, k bits: `m = max|r|`, `s = m/(2^(k-1)-1)`,
/// `q = clamp(round(r/s), -(2^(k-1)-1), 2^(k-1)-1)`, `r' = s*q`.
///
/// Stored code = q + (2^(k-1)-1), in 0...2^k-2; code 2^k-1 is never produced. So code
/// 2^(k-1)-1 is zero (k = 2: codes 0, 1, 2 are -s, 0, +s; k = 4: 0...14 are -7s...+7s).
/// Degenerate group (s == 0: all zeros): s = 0, every code 2^(k-1)-1, r' = 0.
struct SymmetricCodec {
    let scale: Float
    let qmax: Float
    let offset: Int

    init(parameters: GroupParameters, bits: Int) {
        scale = parameters.scale
        offset = (1 << (bits - 1)) - 1
        qmax = Float(offset)
    }

    static func parameters(maxAbs m: Float, bits: Int) -> GroupParameters {
        GroupParameters(scale: m / Float((1 << (bits - 1)) - 1))
    }

    @inline(__always)
    func encode(_ r: Float) -> (code: UInt8, value: Float) {
        guard scale != 0 else { return (UInt8(offset), 0) }
        let q = Swift.min(Swift.max((r / scale).roundedHalfEven, -qmax), qmax)
        return (UInt8(Int(q) + offset), scale * q)
    }

    @inline(__always)
    func decode(_ code: UInt8) -> Float { scale * Float(Int(code) - offset) }
}

/// Piecewise linear quantization (after Fang et al. 2020), k bits, one breakpoint.
///
/// `m = max|r|`, breakpoint `0 < p <= m`, `H = 2^(k-2)` (k = 2: H = 1). Levels:
/// - centre, on [-p, p]: `i * sc` for integer |i| <= H-1, `sc = p / H` (2H-1 levels, 0 among them);
/// - tails, on [p, m] and [-m, -p]: `±(p + t * st)` for t = 0...H-1, `st = (m - p) / (H-1)`
///   (k = 2: st = 0, the tails are the single levels ±p).
/// Together these tile [-m, m]: the centre's top level p - sc sits one centre step below the
/// tail's first level p. With `p = m*H/(2H-1)` the levels are exactly the symmetric k-bit grid
/// (step m/(2^(k-1)-1)); the breakpoint search always tries it, so PWLQ's error never exceeds
/// symmetric's by more than rounding.
///
/// Encoding r (nearest level): `i = round(r / sc)`; if |i| < H it is a centre code, else a tail
/// code with `t = clamp(round((|r| - p) / st), 0, H-1)` (t = 0 when st == 0).
///
/// Code layout, k bits, most significant first:
/// - bit k-1: region, 0 = centre, 1 = tail;
/// - centre (region 0): the low k-1 bits are u = i + (H-1), in 0...2H-2; u = 2H-1 is unused;
///   so code H-1 is zero;
/// - tail (region 1): bit k-2 is the sign (1 = negative), the low k-2 bits are t.
///
/// k = 2: 0 -> 0, 1 unused, 2 -> +p, 3 -> -p (a ternary quantizer whose level p is searched).
/// k = 3: 0,1,2 -> -p/2, 0, +p/2; 3 unused; 4,5 -> +p, +m; 6,7 -> -p, -m.
/// k = 4: 0...6 -> -3sc...+3sc (sc = p/4); 7 unused; 8...11 -> +(p + t*st); 12...15 -> -(p + t*st).
///
/// Degenerate group (m below Float.leastNormalMagnitude, e.g. all zeros): p = 0, every code
/// H-1, r' = 0.
///
/// Breakpoint search (deterministic, minimises the group's squared error, ties keep the earlier
/// candidate): ratios p/m = H/(2H-1) (the symmetric grid), then j/32 for j = 1...32; then around
/// the best ratio b, b + d/256 for d = -7...-1, 1...7, skipping ratios outside (0, 1]. All
/// ratio arithmetic is Float32 (`p = ratio * m`).
struct PWLQCodec {
    let half: Int
    let breakpoint: Float
    let centreStep: Float
    let tailStep: Float
    let tailFlag: Int
    let maxCentre: Float

    init(maxAbs m: Float, breakpoint p: Float, bits: Int) {
        half = 1 << (bits - 2)
        breakpoint = p
        centreStep = p / Float(half)
        tailStep = half > 1 ? (m - p) / Float(half - 1) : 0
        tailFlag = 1 << (bits - 1)
        maxCentre = Float(half)
    }

    init(parameters: GroupParameters, bits: Int) {
        self.init(maxAbs: parameters.scale, breakpoint: parameters.breakpoint, bits: bits)
    }

    static func isDegenerate(maxAbs m: Float) -> Bool { !(m >= Float.leastNormalMagnitude) }

    @inline(__always)
    func encode(_ r: Float) -> (code: UInt8, value: Float) {
        guard breakpoint != 0 else { return (UInt8(half - 1), 0) }
        let i = (r / centreStep).roundedHalfEven
        if abs(i) < maxCentre {
            return (UInt8(Int(i) + half - 1), i * centreStep)
        }
        var t: Float = 0
        if tailStep > 0 {
            t = Swift.min(Swift.max(((abs(r) - breakpoint) / tailStep).roundedHalfEven, 0),
                          Float(half - 1))
        }
        let magnitude = breakpoint + t * tailStep
        return r < 0 ? (UInt8(tailFlag | half | Int(t)), -magnitude) : (UInt8(tailFlag | Int(t)), magnitude)
    }

    /// Both regions computed, one selected: centre and tail codes mix unpredictably, and a
    /// branch here made tile dequantization several times slower than affine's.
    @inline(__always)
    func decode(_ code: UInt8) -> Float {
        let c = Int(code)
        let centre = Float(c - (half - 1)) * centreStep
        let magnitude = breakpoint + Float(c & (half - 1)) * tailStep
        let tail = c & half != 0 ? -magnitude : magnitude
        return c & tailFlag == 0 ? centre : tail
    }

    /// Squared error of quantizing `values` with breakpoint `p`: `encode(r).value`, restated
    /// without branches (both regions computed, one selected) because the search runs it ~47
    /// times per weight; a test checks the two agree. The differences are formed first (a loop
    /// that vectorizes), then summed in order in Float64 (a dependency chain that would stop the
    /// first loop vectorizing if fused with it); `scratch` is reused between calls.
    static func squaredError(_ values: [Float], maxAbs m: Float, breakpoint p: Float, bits: Int,
                             scratch: inout [Float]) -> Double {
        let codec = PWLQCodec(maxAbs: m, breakpoint: p, bits: bits)
        let sc = codec.centreStep, st = codec.tailStep, limit = codec.maxCentre
        let maxT = Float(codec.half - 1)
        let n = values.count
        if scratch.count != n { scratch = [Float](repeating: 0, count: n) }
        if st > 0 {
            for k in 0..<n {
                let r = values[k]
                let i = (r / sc).roundedHalfEven
                let t = Swift.min(Swift.max(((abs(r) - p) / st).roundedHalfEven, 0), maxT)
                let tail = Float(signOf: r, magnitudeOf: p + t * st)
                scratch[k] = r - (abs(i) < limit ? i * sc : tail)
            }
        } else {
            for k in 0..<n {
                let r = values[k]
                let i = (r / sc).roundedHalfEven
                scratch[k] = r - (abs(i) < limit ? i * sc : Float(signOf: r, magnitudeOf: p))
            }
        }
        var sum = 0.0
        for d in scratch {
            sum += Double(d) * Double(d)
        }
        return sum
    }

    /// The breakpoint that minimises the squared error (see the type's comment); 0 if degenerate.
    static func searchBreakpoint(_ values: [Float], maxAbs m: Float, bits: Int) -> Float {
        guard !isDegenerate(maxAbs: m) else { return 0 }
        let half = 1 << (bits - 2)
        var ratios: [Float] = [Float(half) / Float(2 * half - 1)]
        for j in 1...32 { ratios.append(Float(j) / 32) }
        var bestRatio: Float = 0
        var bestError = Double.infinity
        var scratch = [Float]()
        for ratio in ratios {
            let error = squaredError(values, maxAbs: m, breakpoint: ratio * m, bits: bits, scratch: &scratch)
            if error < bestError { bestError = error; bestRatio = ratio }
        }
        let centre = bestRatio
        for d in [-7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7] {
            let ratio = centre + Float(d) / 256
            guard ratio > 0, ratio <= 1 else { continue }
            let error = squaredError(values, maxAbs: m, breakpoint: ratio * m, bits: bits, scratch: &scratch)
            if error < bestError { bestError = error; bestRatio = ratio }
        }
        return bestRatio * m
    }
}

/// Quantizes one group (values in group order): parameters, then codes.
enum GroupQuantizer {
    static func quantize(_ values: [Float], scheme: QuantScheme, bits: Int, rangeSearch: Bool = false,
                         codes: inout [UInt8]) -> GroupParameters {
        if rangeSearch {
            return RangeSearch.quantize(values, scheme: scheme, bits: bits, codes: &codes)
        }
        codes.removeAll(keepingCapacity: true)
        switch scheme {
        case .affine:
            var lo = Float.infinity, hi = -Float.infinity
            for r in values { lo = Swift.min(lo, r); hi = Swift.max(hi, r) }
            let parameters = AffineCodec.parameters(min: lo, max: hi, bits: bits)
            let codec = AffineCodec(parameters: parameters, bits: bits)
            for r in values { codes.append(codec.encode(r).code) }
            return parameters
        case .symmetric:
            let parameters = SymmetricCodec.parameters(maxAbs: maxAbs(values), bits: bits)
            let codec = SymmetricCodec(parameters: parameters, bits: bits)
            for r in values { codes.append(codec.encode(r).code) }
            return parameters
        case .pwlq:
            let m = maxAbs(values)
            let p = PWLQCodec.searchBreakpoint(values, maxAbs: m, bits: bits)
            let codec = PWLQCodec(maxAbs: m, breakpoint: p, bits: bits)
            for r in values { codes.append(codec.encode(r).code) }
            return GroupParameters(scale: m, breakpoint: p)
        case .codebook:
            preconditionFailure("GroupQuantizer: the codebook is quantized by CodebookQuantizer")
        }
    }

    static func maxAbs(_ values: [Float]) -> Float {
        var m: Float = 0
        for r in values { m = Swift.max(m, abs(r)) }
        return m
    }
}

/// The codecs of every group of one tensor, built once: dequantizes codes, and (for
/// error-feedback rounding) encodes single values on a group's fixed grid.
struct GroupCodecs {
    enum Codecs {
        case affine([AffineCodec])
        case symmetric([SymmetricCodec])
        case pwlq([PWLQCodec])
        case nested([NestedCodec])
        case codebook([CodebookCodec])
    }

    let codecs: Codecs

    init(scheme: QuantScheme, bits: Int, parameters: [GroupParameters]) {
        switch scheme {
        case .affine: codecs = .affine(parameters.map { AffineCodec(parameters: $0, bits: bits) })
        case .symmetric: codecs = .symmetric(parameters.map { SymmetricCodec(parameters: $0, bits: bits) })
        case .pwlq: codecs = .pwlq(parameters.map { PWLQCodec(parameters: $0, bits: bits) })
        case .codebook: preconditionFailure("GroupCodecs: a codebook's parameters are an IntegerGrid")
        }
    }

    /// The codecs of an integer-grid format (sub-filter groups, codebook).
    init(format: QuantFormat, layout: GroupLayout, grid: IntegerGrid) {
        if format.isNested {
            codecs = .nested((0..<layout.groupCount).map { grid.nestedCodec(group: $0, format: format, layout: layout) })
        } else {
            let n = 1 << format.bits
            codecs = .codebook((0..<layout.groupCount).map { g in
                CodebookCodec(scale: grid.scale[g], levels: grid.levels[(g * n)..<((g + 1) * n)])
            })
        }
    }

    init(_ tensor: QuantizedTensor) {
        if tensor.format.usesIntegerGrid {
            self.init(format: tensor.format, layout: tensor.layout, grid: tensor.grid)
        } else {
            self.init(scheme: tensor.scheme, bits: tensor.bits, parameters: tensor.parameters)
        }
    }

    init(_ weight: PackedWeight) {
        if weight.format.usesIntegerGrid {
            self.init(format: weight.format, layout: weight.layout, grid: weight.grid)
        } else {
            self.init(scheme: weight.format.scheme, bits: weight.format.bits, parameters: weight.parameters)
        }
    }

    /// The nearest level of group `group`'s grid to `r`: its code and value.
    @inline(__always)
    func encode(_ r: Float, group: Int) -> (code: UInt8, value: Float) {
        switch codecs {
        case .affine(let list): return list[group].encode(r)
        case .symmetric(let list): return list[group].encode(r)
        case .pwlq(let list): return list[group].encode(r)
        case .nested(let list): return list[group].encode(r)
        case .codebook(let list): return list[group].encode(r)
        }
    }

    /// Dequantizes filters `filters` (flat indices `filters.lowerBound*filterSize ..<`) from
    /// `codes`, whose element 0 is the code of flat index `codeOffset`.
    func dequantize(layout: GroupLayout, filters: Range<Int>, codes: [UInt8], codeOffset: Int) -> [Float] {
        var out = [Float](repeating: 0, count: filters.count * layout.filterSize)
        switch codecs {
        case let .affine(list): fill(&out, layout, filters, codes, codeOffset) { list[$1].decode($0) }
        case let .symmetric(list): fill(&out, layout, filters, codes, codeOffset) { list[$1].decode($0) }
        case let .pwlq(list): fill(&out, layout, filters, codes, codeOffset) { list[$1].decode($0) }
        case let .nested(list): fill(&out, layout, filters, codes, codeOffset) { list[$1].decode($0) }
        case let .codebook(list): fill(&out, layout, filters, codes, codeOffset) { list[$1].decode($0) }
        }
        return out
    }

    @inline(__always)
    private func fill(_ out: inout [Float], _ layout: GroupLayout, _ filters: Range<Int>, _ codes: [UInt8],
                      _ codeOffset: Int, _ decode: (UInt8, Int) -> Float) {
        var n = 0
        let first = filters.lowerBound * layout.filterSize - codeOffset
        if layout.groupsPerFilter > 0 {
            for f in filters {
                for offset in 0..<layout.filterSize {
                    out[n] = decode(codes[first + n], f * layout.groupsPerFilter + offset / layout.groupSize)
                    n += 1
                }
            }
            return
        }
        for f in filters {
            for c in 0..<layout.channels {
                let (group, step) = layout.groupsAlongKernel(filter: f, channel: c)
                for k in 0..<layout.kernel {
                    out[n] = decode(codes[first + n], group + k * step)
                    n += 1
                }
            }
        }
    }
}
