import YOLOModel
import YOLOTensor

/// A conv's weights kept packed in memory (codes + per-group parameters), decoded block by
/// block into the running conv's workspace each time it runs. Only the packed size stays
/// resident: FP32 weights exist for one conv at a time.
public final class PackedConvWeights: ConvWeightProvider, Sendable {
    public let weight: PackedWeight

    public init(_ weight: PackedWeight) {
        self.weight = weight
    }

    public func decode(filters: Range<Int>, order: WeightOrder, into out: UnsafeMutablePointer<Float>) {
        precondition(filters.lowerBound >= 0 && filters.upperBound <= weight.layout.filterCount,
                     "PackedConvWeights: filters \(filters) of \(weight.layout.filterCount)")
        weight.decode(filters: filters, order: order, into: out)
    }

    public var weightCount: Int { weight.count }
    public var filterCount: Int { weight.layout.filterCount }

    /// Codes plus parameters (Float32, and the integer grids' bytes).
    public var residentBytes: Int {
        weight.bytes.count + 4 * (weight.scale.count + weight.zero.count + weight.breakpoint.count)
            + weight.grid.residentBytes
    }

    public var summary: String { "\(weight.format) (packed)" }
}
