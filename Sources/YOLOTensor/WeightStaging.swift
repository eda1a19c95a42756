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
        // Blocks whose decoded planes are about 128 KiB.
        stageTransform(decoder, geometry: g, transformedCount: tile.positions * f * c, planeFloats: 32 << 10,
                       workers: workers) { planes, filters, u in
            Winograd.transformWeights(kernelMajor: planes, count: filters.count * c, into: u + filters.lowerBound * c,
                                      stride: f * c, tile: tile)
        }
    }

    /// The `StrideTwoWinograd` form of a decoded 3x3 stride-2 weight in `stagedTransform`, the
    /// same way (the same C transform as dense weights: the same floats).
    mutating func stageStrideTwo(_ decoder: WeightDecoder, geometry g: ConvGeometry, workers: Int) {
        let f = g.outChannels, c = g.inChannels
        // Blocks whose decoded planes (32 KiB) stay in L1 for the transform.
        stageTransform(decoder, geometry: g, transformedCount: StrideTwoWinograd.transformedCount(filters: f, channels: c),
                       planeFloats: 8 << 10, workers: workers) { planes, filters, u in
            cvm_winograd_s2_weights(planes, f, c, filters.lowerBound, filters.upperBound, u)
        }
    }

    /// Decodes a 3x3 weight kernel-major into `stagedWeights`, blocks of filters of about
    /// `planeFloats` floats split over the workers, each block handed while it is in cache to
    /// `transform` (its planes, its filters, `stagedTransform`, grown to `transformedCount` floats).
    private mutating func stageTransform(_ decoder: WeightDecoder, geometry g: ConvGeometry, transformedCount: Int,
                                         planeFloats: Int, workers: Int,
                                         _ transform: (UnsafeMutablePointer<Float>, Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
        let f = g.outChannels, c = g.inChannels
        Self.grow(&stagedWeights, to: g.weightCount)
        Self.grow(&stagedTransform, to: transformedCount)
        stagedWeights.withUnsafeMutableBufferPointer { w in
            stagedTransform.withUnsafeMutableBufferPointer { u in
                let wBase = w.baseAddress!, uBase = u.baseAddress!
                let blockFilters = max(1, min(f, planeFloats / (9 * c)))
                let blocks = (f + blockFilters - 1) / blockFilters
                Parallel.forEachTask(blocks, workers: workers) { _, block in
                    let filters = (block * blockFilters)..<min(f, (block + 1) * blockFilters)
                    let planes = wBase + filters.lowerBound * c * 9
                    decoder.decode(filters: filters, order: .kernelMajor, into: planes)
                    transform(planes, filters, uBase)
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
