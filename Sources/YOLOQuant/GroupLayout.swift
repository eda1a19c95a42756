/// Which elements of a conv weight `W[F, C, kh, kw]` (row-major, flat index
/// `((f*C + c)*kh + i)*kw + j`) form each quantization group, and in which order groups and
/// their elements are numbered. Per-group parameters (`scale`, `zero`, `breakpoint`) are stored
/// in group order; the NumPy reference (tools/quant_reference.py) uses the same order.
///
/// With `K = kh*kw` and `k = i*kw + j`:
///
/// | granularity | groups | group index g      | elements of group g, in order |
/// |-------------|--------|--------------------|-------------------------------|
/// | layer       | 1      | 0                  | all of W, flat order |
/// | filter      | F      | f                  | W[f, :, :, :] flat order (c, i, j) |
/// | channel     | C      | c                  | W[:, c, :, :] by (f, i, j) |
/// | fshape      | C*K    | c*K + k            | W[:, c, i, j] by f |
/// | cshape      | F*K    | f*K + k            | W[f, :, i, j] by c |
/// | groupN      | F*P    | f*P + j            | W[f] flat offsets j*N ..< min((j+1)*N, C*K) |
///
/// (groupN: N = 16, 32 or 64 and P = ceil(C*K / N) groups per filter; when N does not divide
/// C*K, each filter's last group is shorter.)
///
/// In every case a group's elements are in ascending flat index, so a pass over W in flat
/// order visits each group's elements in their group order (the order error sums use).
/// A group is `runCount` runs of `runLength` consecutive elements, `runStride` apart (a
/// sub-filter group is one run, cut short at the end of its filter).
public struct GroupLayout: Equatable, Hashable, Sendable {
    public let granularity: Granularity
    /// `[F, C, kh, kw]`.
    public let shape: [Int]
    public let groupCount: Int
    /// Elements of a group (groupN: the nominal N; a filter's last group may be shorter,
    /// see `size(ofGroup:)`).
    public let groupSize: Int
    /// groupN: groups per filter, ceil(C*K / N); 0 for the axis-aligned granularities.
    public let groupsPerFilter: Int

    let filters: Int
    let channels: Int
    /// kh * kw.
    let kernel: Int
    let runCount: Int
    let runLength: Int
    let runStride: Int

    public init(granularity: Granularity, shape: [Int]) throws {
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }) else { throw QuantError.invalidShape(shape) }
        self.granularity = granularity
        self.shape = shape
        filters = shape[0]
        channels = shape[1]
        kernel = shape[2] * shape[3]
        let filterSize = channels * kernel
        groupsPerFilter = granularity.subFilterGroupSize.map { (filterSize + $0 - 1) / $0 } ?? 0
        switch granularity {
        case .layer:
            groupCount = 1; runCount = 1; runLength = filters * filterSize; runStride = 0
        case .filter:
            groupCount = filters; runCount = 1; runLength = filterSize; runStride = 0
        case .channel:
            groupCount = channels; runCount = filters; runLength = kernel; runStride = filterSize
        case .fshape:
            groupCount = channels * kernel; runCount = filters; runLength = 1; runStride = filterSize
        case .cshape:
            groupCount = filters * kernel; runCount = channels; runLength = 1; runStride = kernel
        case .group16, .group32, .group64:
            groupCount = filters * groupsPerFilter; runCount = 1; runLength = granularity.subFilterGroupSize!; runStride = 0
        }
        groupSize = runCount * runLength
    }

    /// Elements of group `g`: `groupSize`, except a sub-filter group cut short by its filter's end.
    public func size(ofGroup g: Int) -> Int {
        guard groupsPerFilter > 0 else { return groupSize }
        return Swift.min(groupSize, filterSize - (g % groupsPerFilter) * groupSize)
    }

    /// Number of weights.
    public var count: Int { filters * channels * kernel }
    public var filterCount: Int { filters }
    /// Weights per filter, C*kh*kw: a filter range is this many consecutive flat indices each.
    public var filterSize: Int { channels * kernel }

    /// Flat index of the first element of group `g`.
    func base(ofGroup g: Int) -> Int {
        switch granularity {
        case .layer: return 0
        case .filter: return g * filterSize
        case .channel: return g * kernel
        case .fshape: return g
        case .cshape: return (g / kernel) * filterSize + g % kernel
        case .group16, .group32, .group64: return (g / groupsPerFilter) * filterSize + (g % groupsPerFilter) * groupSize
        }
    }

    /// The group that holds flat index `index`.
    public func group(ofFlatIndex index: Int) -> Int {
        let f = index / filterSize
        let c = (index / kernel) % channels
        let k = index % kernel
        return group(filter: f, channel: c, position: k)
    }

    /// The group of `W[f, c, k / kw, k % kw]`.
    @inline(__always)
    func group(filter f: Int, channel c: Int, position k: Int) -> Int {
        if groupsPerFilter > 0 { return f * groupsPerFilter + (c * kernel + k) / groupSize }
        let (first, step) = groupsAlongKernel(filter: f, channel: c)
        return first + k * step
    }

    /// Along the kernel positions k of `W[f, c, :, :]` the group is `first + k * step`: true
    /// of the axis-aligned granularities only (a sub-filter group boundary can fall inside a
    /// kernel; callers check `groupsPerFilter == 0`).
    @inline(__always)
    func groupsAlongKernel(filter f: Int, channel c: Int) -> (first: Int, step: Int) {
        switch granularity {
        case .layer: return (0, 0)
        case .filter: return (f, 0)
        case .channel: return (c, 0)
        case .fshape: return (c * kernel, 1)
        case .cshape: return (f * kernel, 1)
        case .group16, .group32, .group64: preconditionFailure("groupsAlongKernel: sub-filter groups are not linear in k")
        }
    }

    /// Column (index within its filter, c*K + k) of each element of group `g`, in group order:
    /// where a conv's input statistics for that weight are.
    func columns(ofGroup g: Int) -> [Int] {
        indices(ofGroup: g).map { $0 % filterSize }
    }

    /// Flat indices of group `g`, in group order.
    public func indices(ofGroup g: Int) -> [Int] {
        var result = [Int]()
        result.reserveCapacity(groupSize)
        let start = base(ofGroup: g), length = runLength(ofGroup: g)
        for run in 0..<runCount {
            let runStart = start + run * runStride
            for offset in 0..<length { result.append(runStart + offset) }
        }
        return result
    }

    /// Copies group `g` of `values` (flat W) into `buffer`, in group order.
    func gather(group g: Int, from values: [Float], into buffer: inout [Float]) {
        buffer.removeAll(keepingCapacity: true)
        let start = base(ofGroup: g), length = runLength(ofGroup: g)
        for run in 0..<runCount {
            let runStart = start + run * runStride
            buffer.append(contentsOf: values[runStart..<(runStart + length)])
        }
    }

    /// Writes a group's codes (in group order) back to their flat positions.
    func scatter(group g: Int, codes groupCodes: [UInt8], into codes: inout [UInt8]) {
        let start = base(ofGroup: g), length = runLength(ofGroup: g)
        var n = 0
        for run in 0..<runCount {
            let runStart = start + run * runStride
            for offset in 0..<length {
                codes[runStart + offset] = groupCodes[n]
                n += 1
            }
        }
    }

    private func runLength(ofGroup g: Int) -> Int { groupsPerFilter > 0 ? size(ofGroup: g) : runLength }
}
