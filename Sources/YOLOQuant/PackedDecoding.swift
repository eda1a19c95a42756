import CVectorMath
import YOLOTensor

/// The runtime's dequantization: codes read straight from the packed bytes, each looked up in
/// a table of its group's 2^bits reconstruction levels. The table is made with the same codecs
/// as `QuantizedTensor.dequantize` (the reference), so the values are bit-identical to it; a
/// test compares the two for every scheme, width and granularity. A codebook's table is its
/// levels; sub-filter groups get a table per group (`decodeSubFilterGroups`).
extension PackedWeight {
    /// Reconstructs `W[filters, :, :, :]` into `out` (`filters.count * layout.filterSize` floats)
    /// in `order`. `filters` must lie in `0..<layout.filterCount` (the caller checks).
    func decode(filters: Range<Int>, order: WeightOrder, into out: UnsafeMutablePointer<Float>) {
        if layout.groupsPerFilter > 0 { return decodeSubFilterGroups(filters: filters, order: order, into: out) }
        let bits = format.bits, levelCount = 1 << bits
        let kernel = layout.kernel, channels = layout.channels, filterSize = layout.filterSize
        // Only the groups this block of filters uses get levels.
        let groups: Range<Int>
        switch layout.granularity {
        case .filter: groups = filters
        case .cshape: groups = (filters.lowerBound * kernel)..<(filters.upperBound * kernel)
        case .layer, .channel, .fshape, .group16, .group32, .group64: groups = 0..<layout.groupCount
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: groups.count * levelCount) { table in
            let levels = table.baseAddress!
            for g in groups {
                fillLevels(group: g, into: levels + (g - groups.lowerBound) * levelCount, count: levelCount)
            }
            // Where W[f, c, k]'s level row and output go (see cvm_decode_filter).
            let levelC: Int, levelK: Int
            switch layout.granularity {
            case .layer, .filter: (levelC, levelK) = (0, 0)
            case .channel: (levelC, levelK) = (levelCount, 0)
            case .fshape: (levelC, levelK) = (kernel * levelCount, levelCount)
            case .cshape: (levelC, levelK) = (0, levelCount)
            case .group16, .group32, .group64: preconditionFailure("decoded by decodeSubFilterGroups")
            }
            let kernelMajor = order == .kernelMajor
            let outC = kernelMajor ? 1 : kernel
            let outK = kernelMajor ? filters.count * channels : 1
            bytes.withUnsafeBufferPointer { packed in
                for f in filters {
                    let firstGroup = layout.groupsAlongKernel(filter: f, channel: 0).first
                    let i = f - filters.lowerBound
                    cvm_decode_filter(packed.baseAddress!, packed.count, Int32(bits), f * filterSize, channels, kernel,
                                      levels + (firstGroup - groups.lowerBound) * levelCount, levelC, levelK,
                                      out + (kernelMajor ? i * channels : i * filterSize), outC, outK)
                }
            }
        }
    }

    /// The value of every code 0..<2^bits in group `g` (codes a quantizer never produces get
    /// whatever the formula gives; they cannot occur in a validated file's valid codes).
    private func fillLevels(group g: Int, into levels: UnsafeMutablePointer<Float>, count: Int) {
        let bits = format.bits
        switch format.scheme {
        case .affine:
            let codec = AffineCodec(parameters: GroupParameters(scale: scale[g], zero: zero[g]), bits: bits)
            for q in 0..<count { levels[q] = codec.decode(UInt8(q)) }
        case .symmetric:
            let codec = SymmetricCodec(parameters: GroupParameters(scale: scale[g]), bits: bits)
            for q in 0..<count { levels[q] = codec.decode(UInt8(q)) }
        case .pwlq:
            let codec = PWLQCodec(parameters: GroupParameters(scale: scale[g], breakpoint: breakpoint[g]), bits: bits)
            for q in 0..<count { levels[q] = codec.decode(UInt8(q)) }
        case .codebook:
            let codec = CodebookCodec(scale: grid.scale[g], levels: grid.levels[(g * count)..<((g + 1) * count)])
            for q in 0..<count { levels[q] = codec.decode(UInt8(q)) }
        }
    }

    /// Sub-filter groups: a filter's groups are consecutive runs of its codes, so each run is
    /// one table lookup pass (`cvm_decode_filter` with one channel of `run` positions) over its
    /// own group's levels. Kernel-major output goes through one filter-major row first (a group
    /// boundary can fall inside a kernel).
    private func decodeSubFilterGroups(filters: Range<Int>, order: WeightOrder, into out: UnsafeMutablePointer<Float>) {
        let bits = format.bits, levelCount = 1 << bits
        let n = layout.filterSize, size = layout.groupSize, perFilter = layout.groupsPerFilter
        let channels = layout.channels, kernel = layout.kernel
        let kernelMajor = order == .kernelMajor
        withUnsafeTemporaryAllocation(of: Float.self, capacity: levelCount + (kernelMajor ? n : 0)) { scratch in
            let levels = scratch.baseAddress!, row = levels + levelCount
            bytes.withUnsafeBufferPointer { packed in
                for f in filters {
                    let i = f - filters.lowerBound
                    let target = kernelMajor ? row : out + i * n
                    for j in 0..<perFilter {
                        let codec = grid.nestedCodec(group: f * perFilter + j, format: format, layout: layout)
                        for q in 0..<levelCount { levels[q] = codec.decode(UInt8(q)) }
                        let run = Swift.min(size, n - j * size)
                        cvm_decode_filter(packed.baseAddress!, packed.count, Int32(bits), f * n + j * size, 1, run,
                                          levels, 0, 0, target + j * size, run, 1)
                    }
                    guard kernelMajor else { continue }
                    // W[f, c, k] at k * (filters * C) + i * C + c.
                    let planeStride = filters.count * channels
                    for c in 0..<channels {
                        for k in 0..<kernel { out[k * planeStride + i * channels + c] = row[c * kernel + k] }
                    }
                }
            }
        }
    }
}
