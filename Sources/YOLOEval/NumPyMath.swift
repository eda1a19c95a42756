/// The few NumPy routines `ap_per_class` relies on, with NumPy's exact semantics (so that the
/// same inputs give the same doubles, not merely close ones).
enum NumPyMath {
    /// `np.linspace(0, 1, n)`: `i * (1 / (n - 1))`, the last value exactly 1.
    static func unitLinspace(_ n: Int) -> [Double] {
        guard n > 1 else { return n == 1 ? [0] : [] }
        let step = 1.0 / Double(n - 1)
        var values = (0..<n).map { Double($0) * step }
        values[n - 1] = 1
        return values
    }

    /// `np.linspace(start, stop, n)`: `i * ((stop - start) / (n - 1)) + start`, the last value
    /// exactly `stop`.
    static func linspace(_ start: Double, _ stop: Double, _ n: Int) -> [Double] {
        guard n > 1 else { return n == 1 ? [start] : [] }
        let step = (stop - start) / Double(n - 1)
        var values = (0..<n).map { Double($0) * step + start }
        values[n - 1] = stop
        return values
    }

    /// `np.interp(x, xp, fp, left, right)` for non-decreasing `xp` (duplicates allowed): below
    /// xp[0] `left`, above the last `right`; otherwise j = the last index with xp[j] <= x, and
    /// fp[j] when xp[j] == x or j is the last, else `slope * (x - xp[j]) + fp[j]`.
    static func interp(_ x: Double, _ xp: [Double], _ fp: [Double], left: Double? = nil, right: Double? = nil) -> Double {
        let n = xp.count
        precondition(n > 0 && fp.count == n)
        let lval = left ?? fp[0], rval = right ?? fp[n - 1]
        if x.isNaN { return x }
        if x > xp[n - 1] { return rval }
        if x < xp[0] { return lval }
        // Upper bound: the first index with xp[i] > x.
        var lo = 0, hi = n
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if x >= xp[mid] { lo = mid + 1 } else { hi = mid }
        }
        let j = lo - 1
        if j == n - 1 || xp[j] == x { return fp[j] }
        let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
        var result = slope * (x - xp[j]) + fp[j]
        if result.isNaN {
            result = slope * (x - xp[j + 1]) + fp[j + 1]
            if result.isNaN && fp[j] == fp[j + 1] { result = fp[j] }
        }
        return result
    }

    /// NumPy's pairwise summation (`np.add.reduce` on a float64 axis): blocks of up to 128 are
    /// summed with 8 interleaved accumulators, longer runs split in two (at a multiple of 8).
    static func sum(_ a: ArraySlice<Double>) -> Double {
        let n = a.count, s = a.startIndex
        if n < 8 {
            var res = 0.0
            for v in a { res += v }
            return res
        }
        if n <= 128 {
            var r = Array(a[s..<(s + 8)])
            var i = 8
            while i < n - n % 8 {
                for k in 0..<8 { r[k] += a[s + i + k] }
                i += 8
            }
            var res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n {
                res += a[s + i]
                i += 1
            }
            return res
        }
        var n2 = n / 2
        n2 -= n2 % 8
        return sum(a[s..<(s + n2)]) + sum(a[(s + n2)...])
    }

    static func sum(_ a: [Double]) -> Double { sum(a[...]) }

    /// `np.mean` of a 1-D float64 array.
    static func mean(_ a: [Double]) -> Double { sum(a) / Double(a.count) }

    /// `np.trapz(y, x)`: `sum(diff(x) * (y[1:] + y[:-1]) / 2)`.
    static func trapz(_ y: [Double], _ x: [Double]) -> Double {
        guard x.count > 1 else { return 0 }
        let terms = (0..<(x.count - 1)).map { (i: Int) -> Double in
            let dx: Double = x[i + 1] - x[i]
            let sumY: Double = y[i + 1] + y[i]
            return dx * sumY / 2.0
        }
        return sum(terms)
    }
}
