import CVectorMath
import Testing
@testable import YOLOTensor

/// The stride-2 Winograd conv: its input transform against the per-tile matrix form, and whole
/// convs (both tilings, odd and even sizes, ragged last tiles, 1 and 2 images) against the
/// direct reference convolution.
struct WinogradStrideTwoTests {
    /// At every kernel level (KernelLevelTests).
    @Test func inputTransformMatchesMatrixForm() throws {
        // 2 channels of 19 x 37 (ragged tiles: output 10 x 19, 3 x 5 tiles), tile rows 1..<3.
        let c = 2, h = 19, w = 37, ty0 = 1, ty1 = 3, tw = 5
        let x = randomValues(c * h * w, seed: 3)
        let tiles = (ty1 - ty0) * tw
        for (level, k) in kernelLevels {
        var v = [Float](repeating: .nan, count: 25 * 4 * c * tiles)
        x.withUnsafeBufferPointer { xb in
            v.withUnsafeMutableBufferPointer { vb in
                k.winograd_s2_input(xb.baseAddress!, c, h, w, ty0, ty1, 0, tw, vb.baseAddress!, tiles, c * tiles,
                                    4 * c * tiles)
            }
        }
        var worst = 0.0
        for ch in 0..<c {
            for (p, (a, b)) in StrideTwoWinograd.phases.enumerated() {
                for ty in ty0..<ty1 {
                    for tx in 0..<tw {
                        var d = [Float](repeating: 0, count: 25)
                        for k in 0..<5 {
                            for l in 0..<5 {
                                let row = 8 * ty + 2 * k - a, col = 8 * tx + 2 * l - b
                                if row >= 0 && row < h && col >= 0 && col < w { d[k * 5 + l] = x[(ch * h + row) * w + col] }
                            }
                        }
                        let expected = StrideTwoWinograd.inputTileReference(d)
                        let j = (ty - ty0) * tw + tx
                        for xi in 0..<25 {
                            let got = v[xi * 4 * c * tiles + p * c * tiles + ch * tiles + j]
                            worst = max(worst, abs(Double(got) - expected[xi]))
                        }
                    }
                }
            }
        }
        // Integer coefficients up to 3 on values in [-1, 1]: float rounding only.
        #expect(worst < 1e-5, "\(level): worst \(worst)")
        }
    }

    /// The C transform against its plain Swift form (identical floats), at every level and done
    /// in filter ranges as packed convs do, and against G g_p G^T by the matrices in Double.
    @Test func weightTransformMatchesReference() {
        let (f, c) = (5, 70)
        let w = randomValues(f * c * 9, seed: 21)
        let reference = StrideTwoWinograd.transformWeightsReference(w, filters: f, channels: c)
        #expect(StrideTwoWinograd.transformWeights(w, filters: f, channels: c) == reference)
        for (level, k) in kernelLevels {
            var u = [Float](repeating: .nan, count: reference.count)
            u.withUnsafeMutableBufferPointer { ub in
                for f0 in stride(from: 0, to: f, by: 2) {
                    // Filters [f0, f1) as kernel-major planes, as a packed block decodes them.
                    let f1 = min(f, f0 + 2), n = (f1 - f0) * c
                    var planes = [Float](repeating: 0, count: 9 * n)
                    for pair in 0..<n { for q in 0..<9 { planes[q * n + pair] = w[(f0 * c + pair) * 9 + q] } }
                    k.winograd_s2_weights(planes, f, c, f0, f1, ub.baseAddress!)
                }
            }
            #expect(u == reference, "\(level) in filter ranges")
        }
        // Matrix form: U = G g_p G^T in Double, each phase's 2x2 kernel from the 3x3 one.
        let offsets = StrideTwoWinograd.weightOffsets(filters: f, channels: c)
        var worst = 0.0
        for fi in 0..<f {
            for ci in 0..<c {
                for (p, (a, b)) in StrideTwoWinograd.phases.enumerated() {
                    for xi in 0..<25 {
                        let range = StrideTwoWinograd.phaseRange(xi / 5, xi % 5)
                        guard range.contains(p) else { continue }
                        var sum = 0.0
                        for u in 0..<2 {
                            for v in 0..<2 {
                                guard let r = StrideTwoWinograd.kernelIndex(parity: a, tap: u),
                                      let s = StrideTwoWinograd.kernelIndex(parity: b, tap: v) else { continue }
                                sum += StrideTwoWinograd.g[xi / 5][u] * Double(w[(fi * c + ci) * 9 + r * 3 + s])
                                    * StrideTwoWinograd.g[xi % 5][v]
                            }
                        }
                        let got = reference[offsets[xi] + fi * range.count * c + (p - range.lowerBound) * c + ci]
                        worst = max(worst, abs(Double(got) - sum))
                    }
                }
            }
        }
        // Float sums of <= 9 unit-scale terms, one scaling (measured 6e-8).
        #expect(worst < 5e-7, "worst \(worst)")
    }

    static let cases: [(c: Int, f: Int, h: Int, w: Int)] = [
        (8, 8, 17, 23), (16, 24, 40, 40), (12, 20, 33, 70), (8, 16, 64, 130),
    ]

    @Test(.enabled(if: PointwiseKernel.available, "the engine runs it at vector kernel levels only"), arguments: 0..<4)
    func convMatchesReference(caseIndex: Int) throws {
        let (c, f, h, w) = Self.cases[caseIndex]
        let g = ConvGeometry(inChannels: c, outChannels: f, kernel: 3, stride: 2, padding: 1)
        let weight = randomValues(g.weightCount, seed: 11)
        let bias = randomValues(f, seed: 12)
        for (batch, activation) in [(1, Activation.leakyReLU(slope: 0.1)), (2, .silu)] {
            let x = Tensor(shape: [batch, c, h, w], data: randomValues(batch * c * h * w, seed: UInt64(caseIndex)))
            let expected = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: activation)
            for (whole, workers) in [(true, 2), (false, 1), (false, 2)] {
                let got = StrideTwoWinograd.apply(input: x, weight: weight, bias: bias, geometry: g,
                                                  activation: activation, workers: workers, whole: whole)
                #expect(got.shape == expected.shape)
                let worst = zip(got.data, expected.data).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? .nan
                // F(4x4)-class transforms (coefficients up to 8 and 1/6) on 9C-term sums.
                #expect(worst < 1e-4, "case \(caseIndex) batch \(batch) whole \(whole) workers \(workers): \(worst)")
            }
        }
    }

    @Test func appliesToLargePlanesOnly() {
        let g = ConvGeometry(inChannels: 32, outChannels: 64, kernel: 3, stride: 2, padding: 1)
        let big = FeatureShape(batch: 1, channels: 32, height: 320, width: 320)
        let small = FeatureShape(batch: 1, channels: 32, height: 40, width: 40)
        #expect(StrideTwoWinograd.applies(g, input: big) == PointwiseKernel.available)
        #expect(!StrideTwoWinograd.applies(g, input: small))
        #expect(!StrideTwoWinograd.applies(ConvGeometry(inChannels: 32, outChannels: 64, kernel: 3, stride: 1, padding: 1), input: big))
        #expect(!StrideTwoWinograd.applies(ConvGeometry(inChannels: 3, outChannels: 32, kernel: 3, stride: 2, padding: 1), input: big))
    }
}
