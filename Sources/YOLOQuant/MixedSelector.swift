/// A size limit for one layer's quantized weight (codes + parameters).
public enum SizeBudget: Equatable, Sendable {
    case unlimited
    case bytes(Int)
    /// Stored bits per weight, parameters included (4.25 = 4-bit codes plus 1/4 bit of parameters).
    case bitsPerWeight(Double)

    /// The limit in bytes for a weight of `count` values; nil when unlimited.
    public func limit(count: Int) -> Int? {
        switch self {
        case .unlimited: return nil
        case let .bytes(bytes): return bytes
        case let .bitsPerWeight(bits): return Int((bits * Double(count) / 8).rounded(.down))
        }
    }
}

/// One candidate format of a `mixed` selection, with its figures for the CLI table.
public struct MixedCandidate: Equatable, Sendable {
    public let format: QuantFormat
    public let groups: Int
    public let size: QuantizedSize
    public let error: ReconstructionError
    public let fitsBudget: Bool
}

/// The result of a `mixed` selection for one layer.
public struct MixedSelection: Sendable {
    /// Every candidate tried, in the order bits (as given) x granularities (as given).
    public let candidates: [MixedCandidate]
    public let chosenIndex: Int
    public let quantized: QuantizedTensor
    public var chosen: MixedCandidate { candidates[chosenIndex] }
}

/// `mixed` granularity: per layer, the format (granularity, and bits from a candidate set) with
/// the least weight MSE among those whose size fits the budget. Ties go to the smaller size,
/// then to the earlier candidate. If no candidate fits, the smallest one is chosen and every
/// candidate reports `fitsBudget == false`.
public enum MixedSelector {
    public static func select(weights: [Float], shape: [Int], scheme: QuantScheme, bits: [Int],
                              granularities: [Granularity] = Granularity.axisAligned,
                              budget: SizeBudget) throws -> MixedSelection {
        guard !bits.isEmpty, !granularities.isEmpty else { throw QuantError.noCandidates }
        var candidates = [MixedCandidate]()
        var tensors = [QuantizedTensor]()
        for k in bits {
            for granularity in granularities {
                let format = try QuantFormat(scheme: scheme, bits: k, granularity: granularity)
                let tensor = try QuantizedTensor(quantizing: weights, shape: shape, format: format)
                let size = tensor.size
                let limit = budget.limit(count: tensor.count)
                candidates.append(MixedCandidate(
                    format: format, groups: tensor.layout.groupCount, size: size,
                    error: ReconstructionError(original: weights, reconstructed: tensor.dequantize()),
                    fitsBudget: limit.map { size.totalBytes <= $0 } ?? true))
                tensors.append(tensor)
            }
        }
        let pool = candidates.indices.filter { candidates[$0].fitsBudget }
        let chosen: Int
        if pool.isEmpty {
            chosen = candidates.indices.min { candidates[$0].size.totalBytes < candidates[$1].size.totalBytes }!
        } else {
            chosen = pool.min { a, b in
                let (x, y) = (candidates[a], candidates[b])
                if x.error.mse != y.error.mse { return x.error.mse < y.error.mse }
                if x.size.totalBytes != y.size.totalBytes { return x.size.totalBytes < y.size.totalBytes }
                return a < b
            }!
        }
        return MixedSelection(candidates: candidates, chosenIndex: chosen, quantized: tensors[chosen])
    }
}
