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

    /// Grows a staging buffer (never shrinks: one layer's worth, reused from layer to layer).
    private static func grow(_ buffer: inout [Float], to count: Int) {
        if buffer.count < count {
            buffer = []
            buffer = [Float](repeating: 0, count: count)
        }
    }
}
