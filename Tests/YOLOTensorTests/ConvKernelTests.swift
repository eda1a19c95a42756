import Foundation
import Testing
@testable import YOLOTensor

/// Deterministic values in [-1, 1).
func randomValues(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

struct ConvKernelTests {
    /// Shapes of real YOLOv7 layers, scaled down: 3x3 s1/s2, 1x1, grouped, odd sizes, stride 2 on odd input.
    static let cases: [(ConvGeometry, Int, Int)] = [
        (ConvGeometry(inChannels: 3, outChannels: 8, kernel: 3, stride: 2, padding: 1), 17, 23),
        (ConvGeometry(inChannels: 16, outChannels: 12, kernel: 1), 9, 7),
        (ConvGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 1, padding: 1), 13, 11),
        (ConvGeometry(inChannels: 8, outChannels: 6, kernel: 3, stride: 2, padding: 1), 9, 9),
        (ConvGeometry(inChannels: 8, outChannels: 8, kernel: 3, stride: 1, padding: 1, groups: 2), 6, 5),
        (ConvGeometry(inChannels: 4, outChannels: 4, kernel: 5, stride: 1, padding: 2), 3, 4),
        (ConvGeometry(inChannels: 4, outChannels: 6, kernel: 1, stride: 2, padding: 0), 8, 8),
    ]

    @Test(arguments: 0..<7)
    func fastMatchesReference(caseIndex: Int) {
        let (g, h, w) = Self.cases[caseIndex]
        for batch in [1, 2] {
            let x = Tensor(shape: [batch, g.inChannels, h, w], data: randomValues(batch * g.inChannels * h * w, seed: 1))
            let weight = randomValues(g.weightCount, seed: 2)
            let bias = randomValues(g.outChannels, seed: 3)
            for act in [Activation.identity, .silu, .leakyReLU(slope: 0.1)] {
                let ref = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: act)
                let fast = ConvKernel.forward(input: x, weight: weight, bias: bias, geometry: g, activation: act)
                #expect(fast.shape == ref.shape)
                // Sums of <= 200 products of values in [-1,1]: float32 reassociation error ~1e-5.
                let err = zip(fast.data, ref.data).map { abs($0 - $1) }.max() ?? 0
                #expect(err < 1e-4, "case \(caseIndex) batch \(batch) \(act): max error \(err)")
            }
        }
    }

    /// The row-tiled im2col (forced here by a small tile limit) must equal the direct result.
    @Test func tilingMatchesReference() {
        let g = ConvGeometry(inChannels: 5, outChannels: 4, kernel: 3, stride: 2, padding: 1)
        let x = Tensor(shape: [1, 5, 21, 19], data: randomValues(5 * 21 * 19, seed: 4))
        let weight = randomValues(g.weightCount, seed: 5)
        let bias = randomValues(4, seed: 6)
        var out = Tensor(zeros: g.outputShape(x.featureShape))
        var scratch: [Float] = []
        // 45 x 10 floats per output row: a limit of 1000 gives 2-row tiles and a short last tile.
        ConvKernel.forward(input: x, weight: weight, bias: bias, geometry: g, activation: .silu,
                           into: &out, scratch: &scratch, tileLimit: 1000)
        let ref = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: .silu)
        let err = zip(out.data, ref.data).map { abs($0 - $1) }.max() ?? 0
        #expect(err < 1e-4)
    }

    /// A conv writing into a channel slice leaves the other channels alone.
    @Test func writesIntoChannelSlice() {
        let g = ConvGeometry(inChannels: 2, outChannels: 3, kernel: 1)
        let x = Tensor(shape: [1, 2, 2, 2], data: randomValues(8, seed: 7))
        var out = Tensor(shape: [1, 5, 2, 2], repeating: 42)
        var scratch: [Float] = []
        ConvKernel.forward(input: x, weight: randomValues(6, seed: 8), bias: [0, 0, 0], geometry: g,
                           activation: .identity, into: &out, channelOffset: 2, scratch: &scratch)
        #expect(out.data[0..<8].allSatisfy { $0 == 42 })
        #expect(!out.data[8..<20].contains(42))
    }
}

struct FeatureOpsTests {
    @Test func maxPoolPadsWithMinusInfinity() {
        // All-negative input: zero padding would wrongly win at the borders.
        let x = Tensor(shape: [1, 1, 3, 3], data: [-9, -8, -7, -6, -5, -4, -3, -2, -1])
        let y = FeatureOps.maxPool(x, kernel: 3, stride: 1, padding: 1)
        #expect(y.data == [-5, -4, -4, -2, -1, -1, -2, -1, -1])
        let mp = FeatureOps.maxPool(Tensor(shape: [1, 1, 4, 4], data: (0..<16).map(Float.init)), kernel: 2, stride: 2, padding: 0)
        #expect(mp.data == [5, 7, 13, 15])
    }

    @Test func upsampleNearest() {
        let y = FeatureOps.upsampleNearest(Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4]), scale: 2)
        #expect(y.data == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
    }

    @Test func reorgOrderMatchesOfficial() {
        // x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]
        let x = Tensor(shape: [1, 1, 2, 4], data: [0, 1, 2, 3, 4, 5, 6, 7])
        let y = FeatureOps.reorg(x)
        #expect(y.shape == [1, 4, 1, 2])
        #expect(y.data == [0, 2, 4, 6, 1, 3, 5, 7])
    }

    @Test func concatInterleavesPerBatch() {
        let a = Tensor(shape: [2, 1, 1, 2], data: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 2, 1, 2], data: [5, 6, 7, 8, 9, 10, 11, 12])
        let y = FeatureOps.concatChannels([a, b])
        #expect(y.shape == [2, 3, 1, 2])
        #expect(y.data == [1, 2, 5, 6, 7, 8, 3, 4, 9, 10, 11, 12])
    }
}
