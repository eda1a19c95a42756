import Testing
import YOLOTensor
@testable import YOLOQuant

/// The runtime's table-lookup decoder (`PackedWeight.decode`, C kernel) against the reference
/// `QuantizedTensor.dequantize`: bit-identical floats for every scheme, width and granularity,
/// for filter blocks that start on odd code positions, in both output orders.
struct PackedDecodingTests {
    /// Odd filter sizes put 4-bit filters on half-byte boundaries; 1x1 and 3x3 kernels; filter
    /// sizes 27, 5, 144, 1 and 160 cut sub-filter groups short (27 = 16 + 11, 144 = 2x64 + 16)
    /// and make group boundaries fall inside kernels. 40 channels of 3x3: two 16-channel steps of
    /// the vector kernel-major decode and a tail.
    static let shapes: [[Int]] = [[5, 3, 3, 3], [7, 5, 1, 1], [4, 16, 3, 3], [3, 1, 1, 1], [6, 160, 1, 1],
                                  [3, 40, 3, 3]]

    @Test(arguments: QuantScheme.allCases, QuantFormat.bitRange)
    func decodeMatchesReference(scheme: QuantScheme, bits: Int) throws {
        for shape in Self.shapes {
            let count = shape.reduce(1, *)
            let weights = gaussian(count, sigma: 0.1, seed: UInt64(count * 31 + bits))
            for granularity in Granularity.allCases where QuantFormat.supports(scheme: scheme, bits: bits, granularity: granularity) {
                let format = try QuantFormat(scheme: scheme, bits: bits, granularity: granularity)
                let q = try QuantizedTensor(quantizing: weights, shape: shape, format: format)
                let packed = q.packed()
                let (f, c, k) = (shape[0], shape[1], shape[2] * shape[3])
                for filters in [0..<f, 1..<f, (f - 1)..<f, 1..<min(3, f)] where !filters.isEmpty {
                    let reference = try q.dequantize(filters: filters)
                    var rowMajor = [Float](repeating: .nan, count: reference.count)
                    var kernelMajor = rowMajor
                    rowMajor.withUnsafeMutableBufferPointer {
                        packed.decode(filters: filters, order: .filterMajor, into: $0.baseAddress!)
                    }
                    kernelMajor.withUnsafeMutableBufferPointer {
                        packed.decode(filters: filters, order: .kernelMajor, into: $0.baseAddress!)
                    }
                    #expect(rowMajor == reference, "\(format) \(shape) filters \(filters)")
                    // kernel-major: W[f, c, k] at k * (filters * C) + f * C + c.
                    var transposed = reference
                    for i in 0..<filters.count {
                        for ch in 0..<c {
                            for pos in 0..<k {
                                transposed[pos * filters.count * c + i * c + ch] = reference[(i * c + ch) * k + pos]
                            }
                        }
                    }
                    #expect(kernelMajor == transposed, "\(format) \(shape) filters \(filters) kernel-major")
                }
            }
        }
    }

    /// The provider a packed model runs from hands out the same weights as the reference.
    @Test func providerDenseWeights() throws {
        let weights = gaussian(2 * 32 * 9 * 40, seed: 5)
        let format = try QuantFormat(scheme: .pwlq, bits: 3, granularity: .cshape)
        let q = try QuantizedTensor(quantizing: weights, shape: [80, 32, 3, 3], format: format)
        #expect(PackedConvWeights(q.packed()).denseWeights() == q.dequantize())
    }
}
