import YOLOModel
import YOLOTensor

extension Int8Execution {
    /// The int8 kernel's weights of a conv that runs from a packed integer-grid weight whose
    /// integers share one scale per filter: sub-filter groups (integer `l*q - m` on the filter's
    /// super-scale `d[f]`), and codebooks per filter or per layer (integer `levels[q]` on the
    /// group's scale). These are the file's own integers (at most 8 signed bits by the format's
    /// rules, `IntegerGrid`), so `scale[f] * integer` is exactly the weight the FP32 path runs:
    /// int8 execution adds no weight error. Nil for anything else (codebooks per channel, F- or
    /// C-shape mix scales within a filter; the caller requantizes those).
    static func integerGridWeights(_ conv: ConvUnit) -> Int8ConvWeights? {
        guard conv.geometry.groups == 1, case .provided(let provider) = conv.weights,
              let packed = provider as? PackedConvWeights else { return nil }
        return integerGridWeights(packed.weight, geometry: conv.geometry)
    }

    static func integerGridWeights(_ weight: PackedWeight, geometry: ConvGeometry) -> Int8ConvWeights? {
        let format = weight.format, layout = weight.layout, grid = weight.grid
        guard format.usesIntegerGrid, geometry.groups == 1, geometry.weightCount == weight.count else { return nil }
        let scale: [Float]
        switch format.granularity {
        case .group16, .group32, .group64: scale = grid.scale
        case .filter: scale = grid.scale
        case .layer: scale = [Float](repeating: grid.scale[0], count: layout.filterCount)
        case .channel, .fshape, .cshape: return nil
        }
        guard let codes = try? BitPacking.unpack(weight.bytes, bits: format.bits, count: weight.count) else { return nil }
        var integers = [Int8](repeating: 0, count: weight.count)
        let n = layout.filterSize
        for f in 0..<layout.filterCount {
            for offset in 0..<n {
                let g = layout.group(filter: f, channel: offset / layout.kernel, position: offset % layout.kernel)
                let value = grid.integer(code: codes[f * n + offset], group: g, format: format)
                // A validated file's integers fit (IntegerGrid.check); anything else is not ours to run.
                guard let integer = Int8(exactly: value), integer != .min else { return nil }
                integers[f * n + offset] = integer
            }
        }
        return Int8ConvWeights(integers: integers, scale: scale, geometry: geometry)
    }
}
