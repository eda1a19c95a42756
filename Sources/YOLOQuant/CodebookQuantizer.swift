/// The codebook scheme: per group (a filter, by default), 2^k levels found by k-means (Lloyd's
/// algorithm in 1-D, weighted), then made integers times a scale (`IntegerGrid`):
///
/// 1. The group's values sorted (stable), each with its weight: the importance of its input
///    column (all 1 without calibration statistics). In 1-D every cluster is a run of the
///    sorted values, so an iteration is a binary search per boundary and prefix sums.
/// 2. Start: the weighted quantiles, level j = the first sorted value whose cumulative weight
///    reaches (j + 1/2) / 2^k of the total (deterministic; equal values may give equal levels).
/// 3. Lloyd, at most `maxIterations`: boundaries `(c_j + c_j+1) * 0.5`; a value above boundary
///    j - 1 and not above boundary j belongs to level j; each level moves to its members'
///    weighted mean (an empty level stays); stop when no level moves. Levels stay ascending.
/// 4. Integers: `s = halfUp(max |c_j| / 127)`, `k_j = clamp(round(c_j / s), -127, 127)`; codes
///    are the nearest integer level (`CodebookCodec`).
///
/// Keeping the levels integers costs nothing measurable (each level moves by at most
/// max|c| / 254, far below the spacing of 2-4 bit levels; docs/QUANTIZATION.md measures it) and
/// makes int8 execution exact. Float32 as written, sums and means in Float64 from prefix sums;
/// tools/grid_reference.py does the same in NumPy (`IntegerGridReferenceTests`).
enum CodebookQuantizer {
    static let maxIterations = 100

    static func quantize(_ weights: [Float], layout: GroupLayout, format: QuantFormat,
                         importance: [Float]?) -> (codes: [UInt8], grid: IntegerGrid) {
        precondition(format.scheme == .codebook && layout.granularity == format.granularity, "CodebookQuantizer: format")
        if let importance { precondition(importance.count == layout.filterSize, "CodebookQuantizer: importance") }
        let levelCount = 1 << format.bits
        var codes = [UInt8](repeating: 0, count: layout.count)
        var grid = IntegerGrid()
        grid.levels.reserveCapacity(layout.groupCount * levelCount)
        var values = [Float](), groupCodes = [UInt8]()
        for g in 0..<layout.groupCount {
            layout.gather(group: g, from: weights, into: &values)
            let w = importance.map { weight in layout.columns(ofGroup: g).map { weight[$0] } }
                ?? [Float](repeating: 1, count: values.count)
            let centroids = kMeans(values, weights: w, count: levelCount)
            let (scale, levels) = integerLevels(centroids)
            grid.scale.append(scale)
            grid.levels += levels
            let codec = CodebookCodec(scale: scale, levels: levels[...])
            groupCodes = values.map { codec.encode($0).code }
            layout.scatter(group: g, codes: groupCodes, into: &codes)
        }
        return (codes, grid)
    }

    /// `count` ascending levels minimising the weighted squared error of `x` (steps 1-3).
    static func kMeans(_ x: [Float], weights w: [Float], count: Int) -> [Float] {
        let order = x.indices.sorted { x[$0] < x[$1] || (x[$0] == x[$1] && $0 < $1) }
        let sorted = order.map { x[$0] }
        // Prefix sums: cumulativeWeight[i] = sum of the first i weights (so [0] = 0).
        var cumulativeWeight = [Double](repeating: 0, count: x.count + 1)
        var cumulativeMoment = cumulativeWeight
        for (i, index) in order.enumerated() {
            let weight = Double(w[index])
            cumulativeWeight[i + 1] = cumulativeWeight[i] + weight
            cumulativeMoment[i + 1] = cumulativeMoment[i] + weight * Double(x[index])
        }
        let total = cumulativeWeight[x.count]
        var centroids = (0..<count).map { j -> Float in
            let target = (Double(j) + 0.5) / Double(count) * total
            // First i (1-based in the prefix array) with cumulativeWeight[i] >= target.
            let i = firstIndex(in: cumulativeWeight, from: 1) { $0 >= target }
            return sorted[Swift.min(i, x.count) - 1]
        }
        guard total > 0 else { return centroids }
        for _ in 0..<maxIterations {
            var next = centroids
            var start = 0
            for j in 0..<count {
                var end = x.count
                if j < count - 1 {
                    let boundary = (centroids[j] + centroids[j + 1]) * 0.5
                    end = firstIndex(in: sorted, from: start) { $0 > boundary }
                }
                let weight = cumulativeWeight[end] - cumulativeWeight[start]
                if weight > 0 { next[j] = Float((cumulativeMoment[end] - cumulativeMoment[start]) / weight) }
                start = end
            }
            if next == centroids { break }
            centroids = next
        }
        return centroids
    }

    /// The levels as integers k_j times one FP16 scale (step 4).
    static func integerLevels(_ centroids: [Float]) -> (scale: Float, levels: [Int8]) {
        let top = centroids.reduce(Float(0)) { Swift.max($0, abs($1)) }
        let s = (top / 127).halfRoundedUp
        guard s > 0 else { return (0, [Int8](repeating: 0, count: centroids.count)) }
        return (s, centroids.map { Int8(Swift.min(Swift.max(($0 / s).roundedHalfEven, -127), 127)) })
    }

    /// The first index i >= `from` with `predicate(values[i])`, for a predicate that is false
    /// then true along `values` (binary search); `values.count` if none.
    static func firstIndex<T>(in values: [T], from: Int, where predicate: (T) -> Bool) -> Int {
        var low = from, high = values.count
        while low < high {
            let mid = (low + high) / 2
            if predicate(values[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
