/// Quantizes a conv weight into sub-filter groups with nested integer scales (`IntegerGrid`),
/// one filter at a time, in two steps:
///
/// 1. Each group's float grid by search, minimising its squared error weighted by the
///    importance of each weight's input (all 1 without calibration statistics; with them,
///    the diagonal of the conv's input second moment, `ModelQuantizer.importance`):
///    - affine: range [lo, hi] = [min(min x, 0), max x] (the min is kept <= 0, as the stored
///      `m` is unsigned), shrunk by each ratio of `ratios`: `s = (hi - lo) * r / (2^k - 1)`,
///      `mn = lo * r`; codes `clamp(round((x - mn) / s), 0, 2^k - 1)`; then (s, mn) refitted by
///      weighted least squares for those codes (mn clamped to <= 0), and the candidate's error
///      measured with the refitted pair;
///    - symmetric: `s = max|x| * r / v` for each ratio r and v in {2^(k-1), 2^(k-1) - 1} (the
///      largest magnitude on the negative or the positive end of the codes -2^(k-1)...2^(k-1)-1);
///      codes `clamp(round(x / s), ...)`; s refitted by least squares.
///    The candidate with the least error wins (ties: the earlier one).
/// 2. The filter's super-scale and the integer group scales: symmetric
///    `d = halfUp(max s / 15)`; affine `d = halfUp(max over groups of max(-mn, |mn + s*(2^k-1)|)
///    / (2^(k+3) - 1))` (the largest grid end becomes the largest integer). Each group then tries
///    l in {floor, ceil}(s / d) (affine also m in {floor, ceil}(-mn / d), m clamped to
///    0...2^(k+3)-1 and l to what keeps `l*(2^k-1) - m` in range) with the nearest codes on the
///    resulting grid, and keeps the pair with the least weighted error (ties: the earlier one).
///
/// All grid arithmetic is Float32, one operation at a time in the order written, rounding half
/// to even; sums are Float64, in group element order. tools/grid_reference.py does the same in
/// NumPy and gets the same codes and parameters (`IntegerGridReferenceTests`).
enum NestedGroupQuantizer {
    /// Range shrink factors, widest first.
    static let ratios: [Float] = [1, 0.96, 0.92, 0.88, 0.84, 0.8, 0.76, 0.72, 0.68, 0.64, 0.6]

    /// Codes (flat W order) and grid of `weights` `[F, C, kh, kw]` in `format` (sub-filter
    /// groups). `importance`: one non-negative value per column (c*K + k) of a filter, or nil.
    static func quantize(_ weights: [Float], layout: GroupLayout, format: QuantFormat,
                         importance: [Float]?) throws -> (codes: [UInt8], grid: IntegerGrid) {
        precondition(format.isNested && layout.granularity == format.granularity, "NestedGroupQuantizer: format")
        let n = layout.filterSize, groupsPerFilter = layout.groupsPerFilter, size = layout.groupSize
        let unit = [Float](repeating: 1, count: n)
        let w = importance ?? unit
        precondition(w.count == n, "NestedGroupQuantizer: importance has \(w.count) values, filters \(n)")
        var codes = [UInt8](repeating: 0, count: layout.count)
        var grid = IntegerGrid()
        grid.scale.reserveCapacity(layout.filterCount)
        grid.groupScale.reserveCapacity(layout.groupCount)
        if format.scheme == .affine { grid.groupMin.reserveCapacity(layout.groupCount) }
        for f in 0..<layout.filterCount {
            // Step 1: every group's float grid.
            var floatGrids = [(scale: Float, min: Float)]()
            for j in 0..<groupsPerFilter {
                let range = (j * size)..<Swift.min((j + 1) * size, n)
                let x = Array(weights[(f * n + range.lowerBound)..<(f * n + range.upperBound)])
                let importance = Array(w[range])
                floatGrids.append(format.scheme == .affine
                                  ? affineSearch(x, importance: importance, bits: format.bits)
                                  : (symmetricSearch(x, importance: importance, bits: format.bits), 0))
            }
            // Step 2: the super-scale and the integers.
            let d = try superScale(floatGrids, format: format)
            grid.scale.append(d)
            for (j, float) in floatGrids.enumerated() {
                let range = (j * size)..<Swift.min((j + 1) * size, n)
                let x = weights[(f * n + range.lowerBound)..<(f * n + range.upperBound)]
                let importance = w[range]
                let best = integerGrid(float, superScale: d, values: x, importance: importance, format: format)
                grid.groupScale.append(UInt8(best.scale))
                if format.scheme == .affine { grid.groupMin.append(UInt8(best.offset)) }
                for (i, r) in x.enumerated() { codes[f * n + range.lowerBound + i] = best.encode(r).code }
            }
        }
        return (codes, grid)
    }

    /// The float (scale, min) of one affine group.
    static func affineSearch(_ x: [Float], importance w: [Float], bits: Int) -> (scale: Float, min: Float) {
        let maxCode = Float((1 << bits) - 1)
        var lo: Float = 0, hi = -Float.infinity
        for r in x { lo = Swift.min(lo, r); hi = Swift.max(hi, r) }
        guard hi - lo > 0 else { return (0, lo) }
        var best = (scale: (hi - lo) / maxCode, min: lo)
        var bestError = Double.infinity
        var codes = [Float](repeating: 0, count: x.count)
        for ratio in ratios {
            let s = (hi - lo) * ratio / maxCode
            let mn = lo * ratio
            guard s > 0 else { continue }
            for (i, r) in x.enumerated() { codes[i] = Swift.min(Swift.max(((r - mn) / s).roundedHalfEven, 0), maxCode) }
            var a = 0.0, b = 0.0, c = 0.0, dx = 0.0, e = 0.0
            for (i, q) in codes.enumerated() {
                let weight = Double(w[i]), value = Double(x[i]), code = Double(q)
                a += weight * code * code
                b += weight * code
                c += weight
                dx += weight * value * code
                e += weight * value
            }
            var fitScale = Double(s), fitMin = Double(mn)
            let det = a * c - b * b
            if det > 0 {
                fitScale = (dx * c - b * e) / det
                fitMin = (a * e - b * dx) / det
            }
            if fitMin > 0 {
                fitMin = 0
                if a > 0 { fitScale = dx / a }
            }
            if !(fitScale > 0) { fitScale = Double(s); fitMin = Double(mn) }
            let candidate = (scale: Float(fitScale), min: Float(fitMin))
            var error = 0.0
            for (i, q) in codes.enumerated() {
                let difference = Double(x[i] - (candidate.scale * q + candidate.min))
                error += Double(w[i]) * difference * difference
            }
            if error < bestError { bestError = error; best = candidate }
        }
        return best
    }

    /// The float scale of one symmetric group (codes -2^(k-1)...2^(k-1)-1).
    static func symmetricSearch(_ x: [Float], importance w: [Float], bits: Int) -> Float {
        let half = 1 << (bits - 1)
        let m = GroupQuantizer.maxAbs(x)
        guard m > 0 else { return 0 }
        let low = Float(-half), high = Float(half - 1)
        var best = m / Float(half)
        var bestError = Double.infinity
        var codes = [Float](repeating: 0, count: x.count)
        for ratio in ratios {
            for v in [half, half - 1] where v > 0 {
                let s = m * ratio / Float(v)
                guard s > 0 else { continue }
                for (i, r) in x.enumerated() { codes[i] = Swift.min(Swift.max((r / s).roundedHalfEven, low), high) }
                var a = 0.0, dx = 0.0
                for (i, q) in codes.enumerated() {
                    let weight = Double(w[i]), code = Double(q)
                    a += weight * code * code
                    dx += weight * Double(x[i]) * code
                }
                var fit = a > 0 ? dx / a : Double(s)
                if !(fit > 0) { fit = Double(s) }
                let candidate = Float(fit)
                var error = 0.0
                for (i, q) in codes.enumerated() {
                    let difference = Double(x[i] - candidate * q)
                    error += Double(w[i]) * difference * difference
                }
                if error < bestError { bestError = error; best = candidate }
            }
        }
        return best
    }

    /// The filter's super-scale d (FP16, rounded up so every integer stays in range).
    static func superScale(_ grids: [(scale: Float, min: Float)], format: QuantFormat) throws -> Float {
        var top: Float = 0
        let divisor: Float
        if format.scheme == .affine {
            let maxCode = Float((1 << format.bits) - 1)
            for grid in grids { top = Swift.max(top, Swift.max(-grid.min, abs(grid.scale * maxCode + grid.min))) }
            divisor = Float(IntegerGrid.integerLimit(format))
        } else {
            for grid in grids { top = Swift.max(top, grid.scale) }
            divisor = Float((1 << IntegerGrid.scaleBits(format)) - 1)
        }
        let d = (top / divisor).halfRoundedUp
        guard d.isFinite else {
            throw QuantError.unsupportedFormat("a filter's scale \(top / divisor) is beyond FP16's range (65504)")
        }
        return d
    }

    /// The integer scale (and min) of one group on super-scale d, as its codec.
    static func integerGrid(_ float: (scale: Float, min: Float), superScale d: Float, values x: ArraySlice<Float>,
                            importance w: ArraySlice<Float>, format: QuantFormat) -> NestedCodec {
        let half = 1 << (format.bits - 1)
        guard d > 0 else { return NestedCodec(superScale: d, scale: 0, offset: 0, bits: format.bits) }
        let limit = IntegerGrid.integerLimit(format), maxCode = (1 << format.bits) - 1
        let t = float.scale / d
        var candidates = [(l: Int, m: Int)]()
        if format.scheme == .affine {
            let u = -float.min / d
            for lc in [t.rounded(.down), t.rounded(.up)] {
                for mc in [u.rounded(.down), u.rounded(.up)] {
                    let m = Swift.min(Swift.max(Int(mc), 0), limit)
                    let l = Swift.min(Swift.max(Int(lc), 0), (limit + m) / maxCode)
                    candidates.append((l, m))
                }
            }
        } else {
            let scaleLimit = (1 << IntegerGrid.scaleBits(format)) - 1
            for lc in [t.rounded(.down), t.rounded(.up)] {
                let l = Swift.min(Swift.max(Int(lc), 0), scaleLimit)
                candidates.append((l, l * half))
            }
        }
        var best = NestedCodec(superScale: d, scale: candidates[0].l, offset: candidates[0].m, bits: format.bits)
        var bestError = Double.infinity
        for candidate in candidates {
            let codec = NestedCodec(superScale: d, scale: candidate.l, offset: candidate.m, bits: format.bits)
            var error = 0.0
            for (r, weight) in zip(x, w) {
                let difference = Double(r - codec.encode(r).value)
                error += Double(weight) * difference * difference
            }
            if error < bestError { bestError = error; best = codec }
        }
        return best
    }
}
