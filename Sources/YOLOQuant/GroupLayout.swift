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
///
/// In every case a group's elements are in ascending flat index, so a pass over W in flat
/// order visits each group's elements in their group order (the order error sums use).
/// A group is `runCount` runs of `runLength` consecutive elements, `runStride` apart.
public struct GroupLayout: Equatable, Hashable, Sendable {
    public let granularity: Granularity
    /// `[F, C, kh, kw]`.
    public let shape: [Int]
    public let groupCount: Int
    public let groupSize: Int

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
        }
        groupSize = runCount * runLength
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
        let (first, step) = groupsAlongKernel(filter: f, channel: c)
        return first + k * step
    }

    /// Along the kernel positions k of `W[f, c, :, :]` the group is `first + k * step`.
    @inline(__always)
    func groupsAlongKernel(filter f: Int, channel c: Int) -> (first: Int, step: Int) {
        switch granularity {
        case .layer: return (0, 0)
        case .filter: return (f, 0)
        case .channel: return (c, 0)
        case .fshape: return (c * kernel, 1)
        case .cshape: return (f * kernel, 1)
        }
    }

    /// Flat indices of group `g`, in group order.
    public func indices(ofGroup g: Int) -> [Int] {
        var result = [Int]()
        result.reserveCapacity(groupSize)
        let start = base(ofGroup: g)
        for run in 0..<runCount {
            let runStart = start + run * runStride
            for offset in 0..<runLength { result.append(runStart + offset) }
        }
        return result
    }

    /// Copies group `g` of `values` (flat W) into `buffer`, in group order.
    func gather(group g: Int, from values: [Float], into buffer: inout [Float]) {
        buffer.removeAll(keepingCapacity: true)
        let start = base(ofGroup: g)
        for run in 0..<runCount {
            let runStart = start + run * runStride
            buffer.append(contentsOf: values[runStart..<(runStart + runLength)])
        }
    }

    /// Writes a group's codes (in group order) back to their flat positions.
    func scatter(group g: Int, codes groupCodes: [UInt8], into codes: inout [UInt8]) {
        let start = base(ofGroup: g)
        var n = 0
        for run in 0..<runCount {
            let runStart = start + run * runStride
            for offset in 0..<runLength {
                codes[runStart + offset] = groupCodes[n]
                n += 1
            }
        }
    }
}
