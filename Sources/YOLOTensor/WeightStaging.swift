import CVectorMath

/// Conv weights that are not kept as FP32 (the packed low-bit formats): the conv asks for
/// blocks of filters as it runs and stages them in its workspace, so only one layer's FP32
/// weights exist at a time.
public protocol WeightDecoder: AnyObject, Sendable {
    /// Writes `W[filters, :, :, :]` to `out`, `filters.count * filterSize` floats, in `order`.
    /// Called from several threads at once with disjoint ranges.
    func decode(filters: Range<Int>, order: WeightOrder, into out: UnsafeMutablePointer<Float>)
}

/// How a block of decoded filters is laid out, with `n = filters.count * C` (C per group).
public enum WeightOrder: Sendable {
    /// `[filters][C][kh*kw]`: the weight's own row-major order.
    case filterMajor
    /// `[kh*kw][filters][C]`: one contiguous `filters x C` plane per kernel position, the form
    /// the Winograd weight transform reads with unit stride.
    case kernelMajor
}

extension Workspace {
    /// The whole weight `[F, C/g, kh, kw]` of `geometry` decoded into `stagedWeights`, filter
    /// blocks split over the workers.
    mutating func stage(_ decoder: WeightDecoder, geometry g: ConvGeometry, workers: Int) {
        let filterSize = g.weightCount / g.outChannels
        Self.grow(&stagedWeights, to: g.weightCount)
        stagedWeights.withUnsafeMutableBufferPointer { w in
            let base = w.baseAddress!
            Parallel.forEachChunk(g.outChannels, minPerChunk: 8, workers: workers) { filters in
                decoder.decode(filters: filters, order: .filterMajor, into: base + filters.lowerBound * filterSize)
            }
        }
    }

    /// Several convs' whole weights decoded end to end into `stagedWeights` (a sibling pass of
    /// packed 1x1 convs), blocks of filters of all of them split over the workers in one parallel
    /// loop; returns where each conv's weights start.
    public mutating func stage(_ convs: [(decoder: WeightDecoder, geometry: ConvGeometry)], workers: Int) -> [Int] {
        var offsets: [Int] = [], total = 0
        for conv in convs {
            offsets.append(total)
            total += conv.geometry.weightCount
        }
        Self.grow(&stagedWeights, to: total)
        // Tasks: (conv, first filter) for blocks of 16 filters of each conv.
        let block = 16
        var tasks: [(conv: Int, first: Int)] = []
        for (i, conv) in convs.enumerated() {
            for first in stride(from: 0, to: conv.geometry.outChannels, by: block) { tasks.append((i, first)) }
        }
        stagedWeights.withUnsafeMutableBufferPointer { w in
            let base = w.baseAddress!
            Parallel.forEachTask(tasks.count, workers: workers) { _, t in
                let (i, first) = tasks[t]
                let g = convs[i].geometry
                let filters = first..<min(g.outChannels, first + block)
                convs[i].decoder.decode(filters: filters, order: .filterMajor,
                                        into: base + offsets[i] + first * g.filterSize)
            }
        }
        return offsets
    }

    /// The Winograd form `[positions][F][C]` of a decoded 3x3 weight in `stagedTransform`, each
    /// filter block decoded into `stagedWeights` and transformed while it is in cache.
    mutating func stageWinograd(_ decoder: WeightDecoder, geometry g: ConvGeometry, tile: Winograd.Tile, workers: Int) {
        let f = g.outChannels, c = g.inChannels
        Self.grow(&stagedWeights, to: g.weightCount)
        Self.grow(&stagedTransform, to: tile.positions * f * c)
        stagedWeights.withUnsafeMutableBufferPointer { w in
            stagedTransform.withUnsafeMutableBufferPointer { u in
                let wBase = w.baseAddress!, uBase = u.baseAddress!
                // Blocks of filters small enough that the decoded planes are still in cache when
                // they are transformed (about 128 KiB each).
                let blockFilters = max(1, min(f, (32 << 10) / (9 * c)))
                let blocks = (f + blockFilters - 1) / blockFilters
                Parallel.forEachTask(blocks, workers: workers) { _, block in
                    let filters = (block * blockFilters)..<min(f, (block + 1) * blockFilters)
                    let planes = wBase + filters.lowerBound * c * 9
                    decoder.decode(filters: filters, order: .kernelMajor, into: planes)
                    Winograd.transformWeights(kernelMajor: planes, count: filters.count * c,
                                              into: uBase + filters.lowerBound * c, stride: f * c, tile: tile)
                }
            }
        }
    }

    /// The `StrideTwoWinograd` form of a decoded 3x3 stride-2 weight in `stagedTransform`: each
    /// block of filters decoded into `stagedWeights` and transformed while it is in cache, blocks
    /// split over the workers (the same C transform as dense weights: the same floats).
    mutating func stageStrideTwo(_ decoder: WeightDecoder, geometry g: ConvGeometry, workers: Int) {
        let f = g.outChannels, c = g.inChannels
        Self.grow(&stagedWeights, to: g.weightCount)
        Self.grow(&stagedTransform, to: StrideTwoWinograd.transformedCount(filters: f, channels: c))
        stagedWeights.withUnsafeMutableBufferPointer { w in
            stagedTransform.withUnsafeMutableBufferPointer { u in
                let wBase = w.baseAddress!, uBase = u.baseAddress!
                // Blocks whose decoded planes (9 C floats a filter) stay in L1 for the transform.
                let blockFilters = max(1, min(f, (8 << 10) / (9 * c)))
                let blocks = (f + blockFilters - 1) / blockFilters
                Parallel.forEachTask(blocks, workers: workers) { _, block in
                    let filters = (block * blockFilters)..<min(f, (block + 1) * blockFilters)
                    let planes = wBase + filters.lowerBound * c * 9
                    decoder.decode(filters: filters, order: .kernelMajor, into: planes)
                    cvm_winograd_s2_weights(planes, f, c, filters.lowerBound, filters.upperBound, uBase)
                }
            }
        }
    }

    /// Grows a staging buffer (never shrinks: one layer's worth, reused from layer to layer).
    private static func grow(_ buffer: inout [Float], to count: Int) {
        if buffer.count < count {
            buffer = []
            buffer = [Float](repeating: 0, count: count)
        }
    }
}
