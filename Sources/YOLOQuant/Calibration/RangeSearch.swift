/// Clipping-range search: the range a group is quantized over, chosen to minimise the group's
/// squared error instead of spanning min..max. At 3-4 bits one outlier stretching the range
/// costs every other weight resolution; clipping it trades a large error on a few weights for
/// a smaller one on all. Candidates shrink the range by `ratios`; ratio 1 (min/max) is always
/// among them, so the search never does worse than plain round-to-nearest on its own measure.
enum RangeSearch {
    /// Range shrink factors tried, widest first (ties keep the wider range).
    static let ratios: [Float] = [1, 0.97, 0.94, 0.91, 0.88, 0.85, 0.82, 0.79, 0.76, 0.73, 0.70]
    /// PWLQ already places its breakpoint by search, so it gets a coarser grid of maxima.
    static let pwlqRatios: [Float] = [1, 0.95, 0.9, 0.85, 0.8]

    static func quantize(_ values: [Float], scheme: QuantScheme, bits: Int, codes: inout [UInt8]) -> GroupParameters {
        let parameters = bestParameters(values, scheme: scheme, bits: bits)
        codes.removeAll(keepingCapacity: true)
        switch scheme {
        case .affine:
            let codec = AffineCodec(parameters: parameters, bits: bits)
            for r in values { codes.append(codec.encode(r).code) }
        case .symmetric:
            let codec = SymmetricCodec(parameters: parameters, bits: bits)
            for r in values { codes.append(codec.encode(r).code) }
        case .pwlq:
            let codec = PWLQCodec(parameters: parameters, bits: bits)
            for r in values { codes.append(codec.encode(r).code) }
        case .codebook:
            preconditionFailure("RangeSearch: the codebook searches its own levels")
        }
        return parameters
    }

    static func bestParameters(_ values: [Float], scheme: QuantScheme, bits: Int) -> GroupParameters {
        var best = GroupParameters(scale: 0)
        var bestError = Double.infinity
        switch scheme {
        case .affine:
            var lo = Float.infinity, hi = -Float.infinity
            for r in values { lo = Swift.min(lo, r); hi = Swift.max(hi, r) }
            for ratio in ratios {
                let candidate = AffineCodec.parameters(min: lo * ratio, max: hi * ratio, bits: bits)
                let codec = AffineCodec(parameters: candidate, bits: bits)
                let error = squaredError(values) { codec.encode($0).value }
                if error < bestError { bestError = error; best = candidate }
            }
        case .symmetric:
            let m = GroupQuantizer.maxAbs(values)
            for ratio in ratios {
                let candidate = SymmetricCodec.parameters(maxAbs: m * ratio, bits: bits)
                let codec = SymmetricCodec(parameters: candidate, bits: bits)
                let error = squaredError(values) { codec.encode($0).value }
                if error < bestError { bestError = error; best = candidate }
            }
        case .pwlq:
            let m = GroupQuantizer.maxAbs(values)
            for ratio in pwlqRatios {
                let top = m * ratio
                let p = PWLQCodec.searchBreakpoint(values, maxAbs: top, bits: bits)
                let codec = PWLQCodec(maxAbs: top, breakpoint: p, bits: bits)
                let error = squaredError(values) { codec.encode($0).value }
                if error < bestError { bestError = error; best = GroupParameters(scale: top, breakpoint: p) }
            }
        case .codebook:
            preconditionFailure("RangeSearch: the codebook searches its own levels")
        }
        return best
    }

    @inline(__always)
    static func squaredError(_ values: [Float], _ reconstruct: (Float) -> Float) -> Double {
        var sum = 0.0
        for r in values {
            let d = Double(r - reconstruct(r))
            sum += d * d
        }
        return sum
    }
}
