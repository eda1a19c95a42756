import YOLOModel

/// A conv's weights kept packed in memory (codes + per-group parameters), dequantized each time
/// the conv runs. Only the packed size stays resident: the FP32 weights exist for the duration
/// of one conv call.
public final class PackedConvWeights: ConvWeightProvider, Sendable {
    public let weight: PackedWeight

    public init(_ weight: PackedWeight) {
        self.weight = weight
    }

    public func denseWeights() -> [Float] {
        do {
            return try weight.dequantize()
        } catch {
            // The whole filter range of a weight whose byte count was checked when it was made.
            preconditionFailure("PackedConvWeights: a validated weight failed to dequantize: \(error)")
        }
    }

    /// Codes plus Float32 parameters.
    public var residentBytes: Int {
        weight.bytes.count + 4 * (weight.scale.count + weight.zero.count + weight.breakpoint.count)
    }

    public var summary: String { "\(weight.format) (packed)" }
}
