import CVectorMath
import Testing
@testable import YOLOTensor

/// The int8 conv kernel on u8 maps (CVectorMath/Int8GEMM*.c, at the int8 level in effect:
/// tools/test.sh runs these again at each x86 level) against its plain Swift reference
/// (`Int8ConvKernel.reference`): the accumulators are integers and the FP32 epilogue is
/// FastMath's in both, so FP32 outputs must agree to 1e-6 relative (measured: equal) and u8
/// outputs (the next map's codes) exactly. Odd sizes on purpose: channels not a multiple of 4
/// (K padding), planes whose virtual columns are not a multiple of 16 or 48 and rows shorter than
/// a vector (a vector spans several rows), filters not a multiple of 8 or 4, strides 1 and 2
/// (phase planes), 1x1 and 3x3, batch 2.
struct Int8ConvTests {
    struct Case {
        let channels: Int, filters: Int, kernel: Int, stride: Int, height: Int, width: Int, batch: Int
        var geometry: ConvGeometry {
            ConvGeometry(inChannels: channels, outChannels: filters, kernel: kernel, stride: stride, padding: kernel / 2)
        }
    }

    static let cases = [
        Case(channels: 3, filters: 5, kernel: 3, stride: 1, height: 13, width: 11, batch: 1),
        Case(channels: 6, filters: 13, kernel: 1, stride: 1, height: 9, width: 7, batch: 2),
        Case(channels: 8, filters: 16, kernel: 3, stride: 2, height: 20, width: 17, batch: 1),
        Case(channels: 17, filters: 11, kernel: 3, stride: 1, height: 6, width: 50, batch: 1),
        Case(channels: 32, filters: 19, kernel: 3, stride: 1, height: 84, width: 82, batch: 1),
        Case(channels: 5, filters: 8, kernel: 3, stride: 1, height: 9, width: 14, batch: 2),
        Case(channels: 12, filters: 6, kernel: 3, stride: 2, height: 7, width: 5, batch: 2),
        Case(channels: 32, filters: 19, kernel: 3, stride: 2, height: 170, width: 166, batch: 1),
        // Rows of 3 words (1x1 plane plus border): a vector spans five rows.
        Case(channels: 4, filters: 4, kernel: 1, stride: 1, height: 5, width: 1, batch: 1),
        // One channel group on a big map: the network input's shape (quantization split by rows).
        Case(channels: 3, filters: 8, kernel: 3, stride: 1, height: 300, width: 256, batch: 1),
        Case(channels: 3, filters: 8, kernel: 3, stride: 2, height: 300, width: 256, batch: 1),
    ]

    static let outputGrid = ActivationQuantization(min: -0.4, max: 3.1)

    static func input(_ c: Case, seed: UInt64) -> Tensor {
        // Mostly in [-0.3, 2.7] like a leaky/SiLU output, with a few values outside the
        // calibrated range to exercise the clamping.
        let values = randomValues(c.batch * c.channels * c.height * c.width, seed: seed).enumerated().map { i, v in
            i % 97 == 0 ? v * 9 : 1.2 + 1.5 * v
        }
        return Tensor(shape: [c.batch, c.channels, c.height, c.width], data: values)
    }

    static func maxRelativeDifference(_ a: Tensor, _ b: Tensor) -> Float {
        precondition(a.shape == b.shape)
        return zip(a.data, b.data).reduce(0) { max($0, abs($1.0 - $1.1) / max(1, abs($1.1))) }
    }

    static func packedWeights(_ g: ConvGeometry, seed: UInt64) -> (codes: [UInt8], offsets: [Int], scale: [Float]) {
        let r = randomValues(g.weightCount + 2 * g.outChannels, seed: seed)
        let codes = r.prefix(g.weightCount).map { UInt8(min(15, Int(($0 + 1) * 8))) }
        let offsets = (0..<g.outChannels).map { Int((r[g.weightCount + $0] + 1) * 7.99) }
        let scale = (0..<g.outChannels).map { 0.01 + 0.02 * abs(r[g.weightCount + g.outChannels + $0]) }
        return (codes, offsets, scale)
    }

    @Test(arguments: [Activation.leakyReLU(slope: 0.1), .silu, .identity, .sigmoid])
    func denseKernelMatchesReference(activation: Activation) throws {
        for (n, c) in Self.cases.enumerated() {
            let g = c.geometry
            let weights = Int8ConvWeights(quantizing: randomValues(g.weightCount, seed: UInt64(n) + 10).map { $0 * 0.2 },
                                          geometry: g)
            let conv = Int8Conv(weights: weights, input: ActivationQuantization(min: -0.3, max: 2.7))
            let bias = randomValues(g.outChannels, seed: UInt64(n) + 20)
            let x = Self.input(c, seed: UInt64(n) + 30)
            let floats = Int8ConvKernel.reference(x, conv: conv, bias: bias, activation: activation)
            let codes = Int8ConvKernel.reference(x, conv: conv, bias: bias, activation: activation, outputGrid: Self.outputGrid)
            for workers in [1, 2] {
                let got = Int8ConvKernel.apply(x, conv: conv, bias: bias, activation: activation, workers: workers)
                let d = Self.maxRelativeDifference(got, floats)
                #expect(d <= 1e-6, "case \(n) \(g), \(workers) workers, FP32 out: \(d)")
                let gotCodes = Int8ConvKernel.apply(x, conv: conv, bias: bias, activation: activation,
                                                    outputGrid: Self.outputGrid, workers: workers)
                #expect(gotCodes == codes, "case \(n) \(g), \(workers) workers, u8 out: \(Self.maxRelativeDifference(gotCodes, codes))")
            }
        }
    }

    @Test
    func packedKernelMatchesReference() throws {
        for (n, c) in Self.cases.enumerated() {
            let g = c.geometry
            let p = Self.packedWeights(g, seed: UInt64(n) + 40)
            let weights = Int8ConvWeights(codes: p.codes, offsets: p.offsets, scale: p.scale, geometry: g)
            let conv = Int8Conv(weights: weights, input: ActivationQuantization(min: -0.25, max: 3))
            let bias = randomValues(g.outChannels, seed: UInt64(n) + 50)
            let x = Self.input(c, seed: UInt64(n) + 60)
            let expected = Int8ConvKernel.reference(x, conv: conv, bias: bias, activation: .silu)
            let got = Int8ConvKernel.apply(x, conv: conv, bias: bias, activation: .silu, workers: 2)
            #expect(Self.maxRelativeDifference(got, expected) <= 1e-6, "case \(n) \(g)")
            let codes = Int8ConvKernel.reference(x, conv: conv, bias: bias, activation: .silu, outputGrid: Self.outputGrid)
            let gotCodes = Int8ConvKernel.apply(x, conv: conv, bias: bias, activation: .silu, outputGrid: Self.outputGrid,
                                                workers: 2)
            #expect(gotCodes == codes, "case \(n) \(g), u8 out")
        }
    }

    /// Unpacking 4-bit codes inside the kernel gives exactly what decoding them first to
    /// integers (code - offset, in weight order) and multiplying the dense rows gives.
    @Test
    func packedEqualsDecodeThenMultiply() throws {
        for (n, c) in Self.cases.enumerated() {
            let g = c.geometry
            let p = Self.packedWeights(g, seed: UInt64(n) + 70)
            let integers = p.codes.enumerated().map { i, code in Int8(Int(code) - p.offsets[i / g.filterSize]) }
            let packed = Int8Conv(weights: Int8ConvWeights(codes: p.codes, offsets: p.offsets, scale: p.scale, geometry: g),
                                  input: ActivationQuantization(min: -0.3, max: 2.5))
            let dense = Int8Conv(weights: Int8ConvWeights(integers: integers, scale: p.scale, geometry: g),
                                 input: ActivationQuantization(min: -0.3, max: 2.5))
            #expect(packed.weights.sums == dense.weights.sums)
            let bias = randomValues(g.outChannels, seed: UInt64(n) + 80)
            let x = Self.input(c, seed: UInt64(n) + 90)
            let a = Int8ConvKernel.apply(x, conv: packed, bias: bias, activation: .leakyReLU(slope: 0.1),
                                         outputGrid: Self.outputGrid, workers: 2)
            let b = Int8ConvKernel.apply(x, conv: dense, bias: bias, activation: .leakyReLU(slope: 0.1),
                                         outputGrid: Self.outputGrid, workers: 2)
            #expect(a == b, "case \(n) \(g)")
        }
    }

    @Test
    func unpackMatchesPlainNibbles() throws {
        let bytes = randomValues(150, seed: 5).map { UInt8(truncatingIfNeeded: Int(($0 + 1) * 1000)) }
        for offset in [0, 7, 15] {
            var out = [Int8](repeating: 99, count: 300)
            cvm_int8_unpack4(bytes, 300, Int32(offset), &out)
            let plain = (0..<300).map { Int8(Int((bytes[$0 / 2] >> (4 * UInt8($0 & 1))) & 15) - offset) }
            #expect(out == plain, "offset \(offset)")
        }
    }

    /// Against the FP32 conv: the int8 result may differ by what rounding the input to its grid
    /// (half a step per value) and the weights to theirs (half a step per weight) can add up
    /// to, here bounded by those worst cases summed over the receptive field.
    @Test
    func closeToFloatWithinQuantizationBound() throws {
        let c = Self.cases[2]
        let g = c.geometry
        let fp = randomValues(g.weightCount, seed: 3).map { $0 * 0.2 }
        let weights = Int8ConvWeights(quantizing: fp, geometry: g)
        let q = ActivationQuantization(min: -10, max: 10)
        let conv = Int8Conv(weights: weights, input: q)
        let bias = [Float](repeating: 0, count: g.outChannels)
        let x = Tensor(shape: [1, c.channels, c.height, c.width], data: randomValues(c.channels * c.height * c.width, seed: 4).map { $0 * 2 })
        let exact = ConvKernel.reference(input: x, weight: fp, bias: bias, geometry: g, activation: .identity)
        let got = Int8ConvKernel.apply(x, conv: conv, bias: bias, activation: .identity)
        for f in 0..<g.outChannels {
            let row = fp[(f * g.filterSize)..<((f + 1) * g.filterSize)]
            let bound = q.scale / 2 * row.reduce(0) { $0 + abs($1) } + weights.scale[f] / 2 * Float(g.filterSize) * 2
                + Float(g.filterSize) * q.scale * weights.scale[f] / 4
            let plane = got.count / g.outChannels
            for p in 0..<plane {
                let i = f * plane + p
                #expect(abs(got.data[i] - exact.data[i]) <= bound * 1.001, "filter \(f)")
            }
        }
        #expect(Self.maxRelativeDifference(got, exact) > 0, "int8 should not be exact on random data")
    }

    @Test func activationGrid() {
        let unit = ActivationQuantization(min: 0, max: 1)
        #expect(unit.zero == 0 && unit.scale == Float(1) / 255)
        // Pixels k/255 (the network input) land on their own codes.
        #expect((0...255).allSatisfy { unit.quantize(Float($0) / 255) == Int32($0) })
        let leaky = ActivationQuantization(min: -0.5, max: 4.6)
        #expect(leaky.zero == 25 && leaky.quantize(0) == 25 && leaky.quantize(100) == 255 && leaky.quantize(-3) == 0)
        let positive = ActivationQuantization(min: 0.5, max: 2)
        #expect(positive.zero == 0, "the range is widened to contain 0")
    }
}
