import Foundation
import Testing
import YOLOModel
import YOLOTensor
@testable import YOLOQuant

/// `--precision int8` from the integer-grid formats: the kernel's weights are the file's own
/// integers, so int8 execution adds no weight error.
struct IntegerGridInt8Tests {
    static let geometry = ConvGeometry(inChannels: 12, outChannels: 9, kernel: 3, stride: 1, padding: 1)

    static var formats: [QuantFormat] {
        get throws {
            try [(QuantScheme.affine, 2, Granularity.group16), (.affine, 3, .group32), (.affine, 4, .group64),
                 (.symmetric, 2, .group32), (.symmetric, 4, .group16), (.codebook, 2, .filter), (.codebook, 4, .layer),
                 (.codebook, 8, .filter)]
                .map { try QuantFormat(scheme: $0.0, bits: $0.1, granularity: $0.2) }
        }
    }

    /// For every weight, `scale[f] * integer` is the decoded weight exactly (the same Float),
    /// and the integers are what the definitions give (the plain reference's codes times group
    /// integers / levels).
    @Test("the int8 weights are the file's integers: scale x integer == the decoded weight")
    func integersAreExact() throws {
        let g = Self.geometry
        let n = g.filterSize
        let weights = gaussian(g.weightCount, sigma: 0.05, seed: 17)
        for format in try Self.formats {
            let q = try QuantizedTensor(quantizing: weights, shape: g.weightShape, format: format)
            let int8 = try #require(Int8Execution.integerGridWeights(q.packed(), geometry: g), "\(format)")
            let decoded = q.dequantize()
            for f in 0..<g.outChannels {
                for c in 0..<g.inChannels {
                    for ij in 0..<9 {
                        let index = f * n + c * 9 + ij
                        let integer = int8.integer(filter: f, k: ij * int8.paddedChannels + c)
                        #expect(Int(integer) == q.grid.integer(code: q.codes[index], group: q.layout.group(ofFlatIndex: index),
                                                                format: format))
                        #expect(int8.scale[f] * Float(integer) == decoded[index], "\(format) weight \(index)")
                    }
                }
            }
        }
        // Codebooks whose groups cut across filters have no per-filter scale: requantized instead.
        let channel = try QuantizedTensor(quantizing: weights, shape: g.weightShape,
                                          format: QuantFormat(scheme: .codebook, bits: 3, granularity: .channel))
        #expect(Int8Execution.integerGridWeights(channel.packed(), geometry: g) == nil)
    }

    /// The int8 kernel running the packed file's integers gives what the plain int8 reference
    /// conv gives with the integers built independently from the tensor (1e-6 relative: the
    /// same Int32 sums and epilogue; measured equal).
    @Test("int8 conv from packed integer-grid weights equals the int8 reference with those integers",
          .enabled(if: Int8Execution.available, "needs AVX-512 VNNI"))
    func kernelMatchesReference() throws {
        let g = Self.geometry
        let input = Tensor(shape: [1, 12, 23, 19], data: gaussian(12 * 23 * 19, sigma: 1, seed: 8).map { abs($0) })
        let activation = ActivationQuantization(min: 0, max: 3)
        let bias = gaussian(g.outChannels, sigma: 0.1, seed: 9)
        for format in try Self.formats {
            let q = try QuantizedTensor(quantizing: gaussian(g.weightCount, sigma: 0.05, seed: 18), shape: g.weightShape,
                                        format: format)
            let fromFile = try #require(Int8Execution.integerGridWeights(q.packed(), geometry: g))
            // The integers from the definitions, one weight at a time.
            var integers = [Int8](), scale = [Float]()
            for index in 0..<g.weightCount {
                integers.append(Int8(q.grid.integer(code: q.codes[index], group: q.layout.group(ofFlatIndex: index), format: format)))
            }
            for f in 0..<g.outChannels { scale.append(format.granularity == .layer ? q.grid.scale[0] : q.grid.scale[f]) }
            let expected = Int8ConvWeights(integers: integers, scale: scale, geometry: g)
            let a = Int8ConvKernel.apply(input, conv: Int8Conv(weights: fromFile, input: activation), bias: bias, activation: .leakyReLU(slope: 0.1))
            let b = Int8ConvKernel.reference(input, conv: Int8Conv(weights: expected, input: activation), bias: bias, activation: .leakyReLU(slope: 0.1))
            let worst = zip(a.data, b.data).map { abs($0 - $1) / max(abs($1), 1e-3) }.max()!
            #expect(worst <= 1e-6, "\(format): \(worst)")
        }
    }

    /// A whole packed model of sub-filter groups runs every quantized conv from its integers.
    @Test("int8 on a packed group32 model: every quantized conv from its codes",
          .enabled(if: Int8Execution.available, "needs AVX-512 VNNI"))
    func wholeModel() throws {
        let model = try ModelLoader.load(path: QuantModelFixtures.randomModel)
        let settings = try QuantizationSettings(scheme: "affine", bits: 3, granularity: "group32", keep: "first")
        ModelQuantizer.apply(try ModelQuantizer.quantize(model, settings: settings), mode: .packed)
        let input = QuantModelFixtures.input(size: 64)
        let ranges = ActivationCalibration.collect(model: model, count: 1) { _ in input }
        let fp32 = model.forward(input)
        let summary = try Int8Execution.enable(model: model, ranges: ranges)
        defer { Int8Execution.disable(model: model) }
        #expect(summary.packed4 == model.convs.count - 1 && summary.requantized == 1, "\(summary)")
        let int8 = model.forward(input)
        // Only the activations are quantized more (the weights are the same numbers): the output
        // moves as little as 8-bit activations move it (measured 0.004 relative RMS).
        #expect(ModelQuantizationTests.relativeRMS(int8, fp32) < 0.02)
    }
}
