import YOLOModel
import YOLOTensor

/// Switches a model's convs to the int8 path (`Int8ConvKernel`): each conv's input gets the
/// u8 grid of its calibrated range, its weights become integers. Packed 4-bit weights with one
/// group per filter (affine or symmetric) are used as they are: `code - zero` (affine) or
/// `code - 7` (symmetric) is the integer weight exactly and the group scale its scale, so the
/// kernel unpacks them tile by tile and the weights lose nothing more. So are the integer-grid
/// formats whose integers share a scale per filter (sub-filter groups, codebooks per filter or
/// layer: `integerGridWeights`, as dense s8). Any other weight (FP32,
/// FP16, other packed formats) is requantized per filter to 8-bit symmetric once here.
public enum Int8Execution {
    public struct Summary: Sendable, CustomStringConvertible {
        public var packed4 = 0
        public var requantized = 0
        public var kept: [String] = []

        public var description: String {
            "int8: \(packed4 + requantized) convs (\(packed4) from packed codes, \(requantized) requantized to 8-bit), "
                + "\(kept.count) kept in FP32" + (kept.isEmpty ? "" : " (\(kept.joined(separator: ", ")))")
        }
    }

    /// Whether this machine can run the int8 path at all (AVX-512 VNNI).
    public static var available: Bool { Int8ConvKernel.available }

    /// Sets `int8` on every conv that has a range (and is ungrouped), except those in `keep`.
    @discardableResult
    public static func enable(model: YOLOModel, ranges: [String: ActivationRange], keep: Set<String> = []) -> Summary {
        var summary = Summary()
        for conv in model.convs {
            guard let range = ranges[conv.name], conv.geometry.groups == 1, !keep.contains(conv.name) else {
                conv.int8 = nil
                summary.kept.append(conv.name)
                continue
            }
            let weights: Int8ConvWeights
            if let packed = packed4(conv) ?? integerGridWeights(conv) {
                weights = packed
                summary.packed4 += 1
            } else {
                weights = Int8ConvWeights(quantizing: conv.weights.values(), geometry: conv.geometry)
                summary.requantized += 1
            }
            conv.int8 = Int8Conv(weights: weights, input: ActivationQuantization(min: range.min, max: range.max))
        }
        return summary
    }

    /// Every conv back to FP32.
    public static func disable(model: YOLOModel) {
        for conv in model.convs { conv.int8 = nil }
    }

    /// The packed weights' own integers, when they are 4-bit per-filter affine/symmetric codes
    /// whose offsets are codes themselves (always so for affine groups that span 0).
    static func packed4(_ conv: ConvUnit) -> Int8ConvWeights? {
        guard case .provided(let provider) = conv.weights, let packed = provider as? PackedConvWeights else { return nil }
        let w = packed.weight
        guard w.format.bits == 4, w.format.granularity == .filter, conv.geometry.groups == 1 else { return nil }
        let offsets: [Int]
        switch w.format.scheme {
        case .affine:
            guard w.zero.allSatisfy({ $0 == $0.rounded() && (0...15).contains($0) }) else { return nil }
            offsets = w.zero.map { Int($0) }
        case .symmetric:
            offsets = [Int](repeating: 7, count: w.layout.filterCount)
        case .pwlq, .codebook:
            return nil
        }
        guard let codes = try? BitPacking.unpack(w.bytes, bits: 4, count: w.count) else { return nil }
        return Int8ConvWeights(codes: codes, offsets: offsets, scale: w.scale, geometry: conv.geometry)
    }
}
