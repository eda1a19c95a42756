import YOLOModel
import YOLOTensor

/// Switches a model to the int8 pass (`YOLOModel.int8Ranges`): u8 activation maps end to end,
/// each on the grid of its calibrated range, and convs with integer weights. Packed 4-bit
/// weights with one group per filter (affine or symmetric) are used as they are: `code - zero`
/// (affine) or `code - 7` (symmetric) is the integer weight exactly and the group scale its
/// scale, so the kernel unpacks them tile by tile and the weights lose nothing more; packed
/// 8-bit symmetric per-filter codes likewise (`code - 127`), and the integer-grid formats whose
/// integers share a scale per filter (sub-filter groups, codebooks per filter or layer:
/// `integerGridWeights`). Any other weight (FP32, FP16, other packed formats) is requantized
/// per filter to 8-bit symmetric once here.
public enum Int8Execution {
    public struct Summary: Sendable, CustomStringConvertible {
        public var packed4 = 0
        public var packed8 = 0
        public var requantized = 0
        public var kept: [String] = []

        public var description: String {
            "int8: \(packed4 + packed8 + requantized) convs (\(packed4) from packed 4-bit or integer-grid codes, "
                + (packed8 > 0 ? "\(packed8) from packed 8-bit codes, " : "")
                + "\(requantized) requantized to 8-bit), \(kept.count) kept in FP32"
                + (kept.isEmpty ? "" : " (\(kept.joined(separator: ", ")))")
        }
    }

    /// Whether this machine can run the int8 path: everywhere (the kernels' plain C level runs on
    /// any CPU; `KernelISA.int8Level` says which level runs).
    public static var available: Bool { Int8ConvKernel.available }

    /// Checks `ranges` against the model's u8 maps (`YOLOModel.int8MapNames`): one finite range
    /// with min <= max for every map and none for maps the model does not have. `source` names
    /// where they came from (a file) in the error.
    public static func validate(_ ranges: [String: ActivationRange], model: YOLOModel, source: String) throws {
        if let reason = problem(with: ranges, model: model) {
            throw QuantError.activationRanges(source: source, reason: reason)
        }
    }

    /// What is wrong with `ranges` for `model`, in words; nil when nothing is.
    public static func problem(with ranges: [String: ActivationRange], model: YOLOModel) -> String? {
        let names = model.int8MapNames
        if let missing = names.first(where: { ranges[$0] == nil }) { return "no activation range for \(missing)" }
        if ranges.count != names.count {
            let known = Set(names)
            let extra = ranges.keys.sorted().first { !known.contains($0) } ?? "?"
            return "\(ranges.count) activation ranges for a model with \(names.count) u8 maps (\(extra) is not one)"
        }
        for name in names {
            let r = ranges[name]!
            guard r.min.isFinite, r.max.isFinite else { return "activation range of \(name) is not finite" }
            guard r.min <= r.max else { return "activation range of \(name) is negative (min \(r.min) > max \(r.max))" }
        }
        return nil
    }

    /// Gives every ungrouped conv not in `keep` its integer weights and switches the model to
    /// the int8 pass with `ranges` (checked first, see `validate`).
    @discardableResult
    public static func enable(model: YOLOModel, ranges: [String: ActivationRange], keep: Set<String> = [],
                              source: String = "calibration") throws -> Summary {
        try validate(ranges, model: model, source: source)
        var summary = Summary()
        for conv in model.convs {
            guard conv.geometry.groups == 1, !keep.contains(conv.name) else {
                conv.int8 = nil
                summary.kept.append(conv.name)
                continue
            }
            if let packed = packed4(conv) ?? integerGridWeights(conv) {
                conv.int8 = packed
                summary.packed4 += 1
            } else if let packed = packed8(conv) {
                conv.int8 = packed
                summary.packed8 += 1
            } else {
                conv.int8 = Int8ConvWeights(quantizing: conv.weights.values(), geometry: conv.geometry)
                summary.requantized += 1
            }
        }
        model.int8Ranges = ranges
        return summary
    }

    /// Back to the FP32 pass.
    public static func disable(model: YOLOModel) {
        model.int8Ranges = nil
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

    /// The packed weights' own integers, when they are 8-bit symmetric per-filter codes
    /// (`code - 127` in -127...127: s8 exactly).
    static func packed8(_ conv: ConvUnit) -> Int8ConvWeights? {
        guard case .provided(let provider) = conv.weights, let packed = provider as? PackedConvWeights else { return nil }
        let w = packed.weight
        guard w.format.bits == 8, w.format.granularity == .filter, w.format.scheme == .symmetric,
              let codes = try? BitPacking.unpack(w.bytes, bits: 8, count: w.count) else { return nil }
        let integers = codes.map { Int8(clamping: Int($0) - 127) }
        return Int8ConvWeights(integers: integers, scale: w.scale, geometry: conv.geometry)
    }
}
