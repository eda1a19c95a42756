import CVectorMath
import Foundation
import Testing
import YOLOModel
import YOLOTensor
@testable import YOLOQuant

/// Learned rounding against the PyTorch reference (tools/adaround_reference.py, fixtures in
/// Tests/Fixtures/quant/adaround: a [6,4,3,3] conv on a 10x9 map, its input in the FP32 model
/// and a perturbed one standing for the partly quantized model's).
struct LearnedRoundingTests {
    static let folder = quantFixtures.appendingPathComponent("adaround")
    static let shape = [6, 4, 3, 3]
    static let geometry = ConvGeometry(inChannels: 4, outChannels: 6, kernel: 3, stride: 1, padding: 1)
    /// The reference's cases, in order: (format, centred).
    static let cases: [(String, Int, String, Bool)] = [("affine", 2, "filter", false), ("pwlq", 3, "cshape", true),
                                                        ("symmetric", 4, "channel", false)]
    static let settings = LearnedRoundingSettings(iterations: 80, learningRate: 0.05, regularization: 0.01)

    struct Manifest: Decodable {
        struct Result: Decodable {
            let learned_loss: Double
            let nearest_loss: Double
        }
        let results: [Result]
    }

    static func npy(_ name: String) throws -> Tensor { try NPY.read(folder.appendingPathComponent(name)) }

    /// The same codes as the reference after 80 Adam steps, the variables and the loss curve
    /// close to it. The reference runs in float64 through torch's conv2d and autograd; the
    /// Swift side in float32 through the moments of the inputs (Float sums of 90 products) and
    /// sgemm, with an exp and log good to 3e-7: each step differs by ~1e-6 relative, which 80
    /// Adam steps (whose updates divide by sqrt of the second moment) grow to ~1e-4 on v. The
    /// reference checks that every v ends at least 0.01 from 0, so the codes cannot flip on it.
    @Test func matchesReference() throws {
        let weights = try Self.npy("weight.npy").data
        let statistics = PairedInputStatistics(geometry: Self.geometry)
        statistics.add(fp32: try Self.npy("input.npy"), quantized: try Self.npy("input_quantized.npy"), maxColumns: 4096)
        let starts = try Self.npy("v_start.npy").data, finals = try Self.npy("v_final.npy").data
        let codes = try Self.npy("codes.npy").data
        let losses = try NPY.readFloat64(Self.folder.appendingPathComponent("losses.npy"))
        let manifest = try JSONDecoder().decode(Manifest.self,
                                                from: Data(contentsOf: Self.folder.appendingPathComponent("manifest.json")))
        let n = weights.count
        for (k, c) in Self.cases.enumerated() {
            let format = try QuantFormat(scheme: try QuantScheme(parsing: c.0), bits: c.1,
                                         granularity: try Granularity(parsing: c.2))
            let grid = try QuantizedTensor(quantizing: weights, shape: Self.shape, format: format)
            let objective = statistics.objective(weights: weights, centred: c.3, damping: 0.01)
            let start = Array(starts[(k * n)..<((k + 1) * n)])
            // The start is the FP32 weights' position between their levels, as the reference's.
            let brackets = RoundingBrackets(weights: weights, grid: grid)
            let own = LearnedRounding.initialVariables(weights: weights, brackets: brackets)
            #expect(zip(own, start).allSatisfy { abs($0 - $1) <= 1e-6 * max(1, abs($1)) }, "\(c): start")
            let outcome = try LearnedRounding.optimize(weights: weights, grid: grid, objective: objective,
                                                       settings: Self.settings, variables: start)
            #expect(outcome.tensor.codes == codes[(k * n)..<((k + 1) * n)].map { UInt8($0) }, "\(c): codes")
            #expect(outcome.tensor.scale == grid.scale && outcome.tensor.zero == grid.zero
                    && outcome.tensor.breakpoint == grid.breakpoint, "\(c): the grid stays")
            let want = Array(finals[(k * n)..<((k + 1) * n)])
            let worstV = zip(outcome.variables, want).map { abs($0 - $1) / max(1, abs($1)) }.max()!
            #expect(worstV <= 1e-3, "\(c): v off by \(worstV)")
            let curve = Array(losses[(k * Self.settings.iterations)..<((k + 1) * Self.settings.iterations)])
            #expect(outcome.losses.count == curve.count)
            let worstLoss = zip(outcome.losses, curve).map { abs($0 - $1) / $1 }.max()!
            #expect(worstLoss <= 1e-4, "\(c): loss curve off by \(worstLoss) relative")
            // The hard-rounded result: the reference's loss, and below nearest rounding's.
            let result = manifest.results[k]
            #expect(abs(outcome.finalLoss - result.learned_loss) <= 1e-4 * result.learned_loss, "\(c): final loss")
            #expect(outcome.finalLoss < result.nearest_loss)
        }
    }

    /// The integer grids (sub-filter groups with nested integer scales, codebooks): learned
    /// rounding chooses between the two levels of each weight's own group, keeps the grid (scales,
    /// group integers, levels) exactly, so the file format is unchanged, and ends below nearest
    /// rounding's loss on the reference conv's inputs. (No PyTorch run: the loop is the one
    /// `matchesReference` checks; only the levels differ.)
    @Test func integerGridsKeepTheirGrid() throws {
        let weights = try Self.npy("weight.npy").data
        let statistics = PairedInputStatistics(geometry: Self.geometry)
        statistics.add(fp32: try Self.npy("input.npy"), quantized: try Self.npy("input_quantized.npy"), maxColumns: 4096)
        let objective = statistics.objective(weights: weights, centred: true, damping: 0.01)
        for (scheme, bits, granularity) in [(QuantScheme.affine, 2, Granularity.group16), (.symmetric, 3, .group32),
                                            (.affine, 4, .group16), (.codebook, 2, .filter), (.codebook, 3, .channel)] {
            let format = try QuantFormat(scheme: scheme, bits: bits, granularity: granularity)
            let grid = try QuantizedTensor(quantizing: weights, shape: Self.shape, format: format)
            let outcome = try LearnedRounding.optimize(weights: weights, grid: grid, objective: objective,
                                                       settings: Self.settings)
            #expect(outcome.tensor.format == format && outcome.tensor.grid == grid.grid, "\(format): the grid stays")
            #expect(outcome.tensor.codes != grid.codes, "\(format): some codes changed")
            let learned = outcome.tensor.dequantize()
            #expect(abs(objective.loss(learned) - outcome.finalLoss) <= 1e-6 * outcome.finalLoss, "\(format)")
            #expect(outcome.finalLoss < objective.loss(grid.dequantize()), "\(format): below nearest rounding")
            // Every learned value is one of the two levels around its weight in its own group.
            let brackets = RoundingBrackets(weights: weights, grid: grid)
            for i in weights.indices {
                #expect(learned[i] == brackets.down[i] || learned[i] == brackets.up[i], "\(format) weight \(i)")
            }
        }
    }

    /// The C step (AVX-512 where the CPU has it) and the plain Swift step give the same floats
    /// for every variable, moment and soft weight over a run that crosses the warm-up and the
    /// β schedule; their sums differ only by the order of addition.
    @Test func stepKernelMatchesPlainLoop() throws {
        let count = 1000
        var rng = SeededGenerator(seed: 5)
        let down = (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
        // A tenth of the weights have no choice (range 0).
        let range = (0..<count).map { i in i % 10 == 3 ? 0 : Float.random(in: 0.01...0.3, using: &rng) }
        let t = (0..<count).map { _ in Float.random(in: -0.5...0.5, using: &rng) }
        var v1 = (0..<count).map { _ in Float.random(in: -4...4, using: &rng) }
        var (m1, s1) = ([Float](repeating: 0, count: count), [Float](repeating: 0, count: count))
        var w1 = (0..<count).map { down[$0] + LearnedRounding.rectifiedSigmoid(v1[$0]) * range[$0] }
        var (v2, m2, s2, w2) = (v1, m1, s1, w1)
        let settings = LearnedRoundingSettings(iterations: 60)
        for step in 1...60 {
            // g stands for W~ A: anything that depends on w.
            let g = w1.enumerated().map { $1 * 0.7 + Float($0 % 7) * 0.01 }
            let (lambda, beta) = settings.schedule(step: step)
            var p = cvm_rounding_step_params(lambda: lambda, beta: beta, rate: 0.02, beta1: 0.9, beta2: 0.999,
                                             epsilon: 1e-8, correction1: 1 - powf(0.9, Float(step)),
                                             correction2: 1 - powf(0.999, Float(step)))
            var sums = [0.0, 0.0]
            cvm_rounding_step(count, &v1, &m1, &s1, down, range, g, t, &w1, &p, &sums)
            let plain = LearnedRounding.referenceStep(v: &v2, m: &m2, s: &s2, down: down, range: range, g: g, t: t,
                                                      w: &w2, parameters: p)
            #expect(v1 == v2 && m1 == m2 && s1 == s2 && w1 == w2, "step \(step)")
            #expect(abs(sums[0] - plain.0) <= 1e-9 * max(1, abs(plain.0)) && abs(sums[1] - plain.1) <= 1e-9 * max(1, plain.1))
        }
    }

    /// The log used for |2h - 1|^β: within 3e-7 relative of Foundation's log over (0, 1].
    @Test func logIsAccurate() {
        var x: Float = 1
        while x > 1e-30 {
            let want = Foundation.log(Double(x))
            let got = Double(LearnedRounding.log(x))
            #expect(abs(got - want) <= 3e-7 * max(1, abs(want)), "log \(x)")
            x *= 0.7371
        }
    }

    /// Every weight sits between its two levels (or on one, or beyond the span at its end);
    /// the levels are the grid's: 4 for affine 2-bit, 3 for symmetric and PWLQ 2-bit (their
    /// unused codes left out), 2^k - 1 for symmetric k-bit; the integer grids' per group (the
    /// sub-filter groups' 2^k codes, affine or symmetric, and a codebook's 2^k k-means levels).
    @Test func bracketsEncloseWeights() throws {
        let weights = gaussian(4 * 16 * 9, sigma: 0.1, seed: 3)
        let shape = [4, 16, 3, 3]
        for (scheme, bits, granularity, levels) in [
            (QuantScheme.affine, 2, Granularity.filter, 4), (.symmetric, 2, .filter, 3), (.pwlq, 2, .filter, 3),
            (.symmetric, 4, .filter, 15), (.affine, 3, .filter, 8), (.pwlq, 4, .filter, 15),
            (.affine, 2, .group16, 4), (.symmetric, 3, .group32, 8), (.codebook, 2, .filter, 4), (.codebook, 3, .channel, 8),
        ] {
            let grid = try QuantizedTensor(quantizing: weights, shape: shape,
                                           format: try QuantFormat(scheme: scheme, bits: bits, granularity: granularity))
            let codecs = GroupCodecs(grid)
            #expect(codecs.levels(group: 0, bits: bits).count == levels, "\(scheme) \(bits) \(granularity)")
            let b = RoundingBrackets(weights: weights, grid: grid)
            let values = grid.dequantize()
            for i in weights.indices {
                let up = b.up[i]
                let group = grid.layout.group(ofFlatIndex: i)
                #expect(codecs.decode(b.downCode[i], group: group) == b.down[i] && codecs.decode(b.upCode[i], group: group) == up)
                if b.range[i] > 0 { #expect(b.down[i] < weights[i] && weights[i] < up, "\(scheme) \(i)") }
                // Nearest rounding is one of the two choices.
                #expect(values[i] == b.down[i] || values[i] == up, "\(scheme) \(bits) weight \(i)")
            }
        }
    }
}
