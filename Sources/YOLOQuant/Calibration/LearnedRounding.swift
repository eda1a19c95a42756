import CBLAS
import CVectorMath
import Foundation
import YOLOTensor

/// How learned rounding runs: AdaRound's published schedule (Nagel et al. 2020, as BRECQ's code
/// runs it), with fewer, full-batch steps (`ReconstructionObjective` gives the exact gradient
/// over every calibration column at the cost of one F x N x N product).
public struct LearnedRoundingSettings: Equatable, Sendable {
    /// Adam steps per conv.
    public var iterations: Int
    /// Adam's learning rate on the rounding variables.
    public var learningRate: Float
    /// λ, the weight of the rounding regulariser sum (1 - |2h - 1|^β).
    public var regularization: Float
    /// Fraction of the steps before the regulariser starts (reconstruction only).
    public var warmup: Double
    /// β anneals linearly from `betaStart` to `betaEnd` over the steps after warm-up.
    public var betaStart: Float
    public var betaEnd: Float

    public init(iterations: Int = 500, learningRate: Float = 0.1, regularization: Float = 0.01,
                warmup: Double = 0.2, betaStart: Float = 20, betaEnd: Float = 2) {
        self.iterations = iterations
        self.learningRate = learningRate
        self.regularization = regularization
        self.warmup = warmup
        self.betaStart = betaStart
        self.betaEnd = betaEnd
    }

    /// β and the regulariser's weight at step t = 1...iterations: no regulariser before
    /// `warmup * iterations`, then β from `betaStart` down to `betaEnd` (BRECQ's LinearTempDecay).
    func schedule(step t: Int) -> (lambda: Float, beta: Float) {
        let start = warmup * Double(iterations)
        guard Double(t) >= start else { return (0, betaStart) }
        let progress = iterations > Int(start) ? (Double(t) - start) / (Double(iterations) - start) : 1
        let beta = Double(betaEnd) + Double(betaStart - betaEnd) * max(0, 1 - progress)
        return (regularization, Float(beta))
    }
}

/// Learned rounding (AdaRound, Nagel et al. 2020): each weight chooses between the two grid
/// levels around it (`RoundingBrackets`) through a soft variable v, w~ = down + h(v) (up - down)
/// with h the rectified sigmoid clamp(1.2 σ(v) - 0.1, 0, 1), so that the conv's *output* error
/// (`ReconstructionObjective`) is small, not each weight's own; the regulariser
/// λ sum (1 - |2h - 1|^β) with β annealed from 20 to 2 pushes every h to 0 or 1 by the end, and
/// h >= 1/2 (v >= 0) rounds up. v starts where h equals the weight's position between its two
/// levels, i.e. at the FP32 weight. Adam (β1 0.9, β2 0.999, ε 1e-8) as PyTorch's.
enum LearnedRounding {
    static let beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8

    struct Outcome {
        /// The grid's tensor with the learned codes.
        let tensor: QuantizedTensor
        /// Reconstruction loss at every step (before the step), and after the final hard rounding.
        let losses: [Double]
        let finalLoss: Double
        /// The rounding variables at the end.
        let variables: [Float]
    }

    /// What the rounding is fitted to.
    enum Objective {
        /// The conv's output before its activation: a quadratic form, exact over every column.
        case linear(ReconstructionObjective)
        /// Its output after the activation, on pooled columns.
        case activation(ActivationObjective)

        func loss(_ w: [Float]) -> Double {
            switch self {
            case let .linear(o): return o.loss(w)
            case let .activation(o): return o.loss(w)
            }
        }
    }

    static func optimize(weights: [Float], grid: QuantizedTensor, objective: ReconstructionObjective,
                         settings: LearnedRoundingSettings, variables start: [Float]? = nil,
                         useReference: Bool = false) throws -> Outcome {
        try optimize(weights: weights, grid: grid, objective: .linear(objective), settings: settings, variables: start,
                     useReference: useReference)
    }

    /// Learns the codes of `weights` on `grid`'s levels (its parameters stay as they are).
    /// `variables`: the starting v (tests); by default the FP32 weights' positions.
    static func optimize(weights: [Float], grid: QuantizedTensor, objective: Objective,
                         settings: LearnedRoundingSettings, variables start: [Float]? = nil,
                         useReference: Bool = false) throws -> Outcome {
        let count = weights.count
        precondition(count == grid.count, "LearnedRounding: sizes")
        let brackets = RoundingBrackets(weights: weights, grid: grid)
        var v = start ?? initialVariables(weights: weights, brackets: brackets)
        var m = [Float](repeating: 0, count: count), s = m, g = m
        var w = (0..<count).map { brackets.down[$0] + rectifiedSigmoid(v[$0]) * brackets.range[$0] }
        var losses: [Double] = []
        losses.reserveCapacity(settings.iterations)
        let zeros = [Float](repeating: 0, count: count)
        for t in stride(from: 1, through: settings.iterations, by: 1) {
            // The step takes g and t with the reconstruction's gradient 2 (g - t).
            let target: [Float]
            var batchLoss = 0.0
            switch objective {
            case let .linear(o):
                // g = W~ A
                let (f, n) = (Int32(o.filters), Int32(o.size))
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, f, n, n, 1, w, n, o.second, n, 0, &g, n)
                target = o.target
            case let .activation(o):
                batchLoss = o.lossAndGradient(w, start: (t - 1) * o.batch % o.count, half: &g)
                target = zeros
            }
            let (lambda, beta) = settings.schedule(step: t)
            var p = cvm_rounding_step_params(
                lambda: lambda, beta: beta, rate: settings.learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                correction1: 1 - powf(beta1, Float(t)), correction2: 1 - powf(beta2, Float(t)))
            var sums: (Double, Double) = (0, 0)
            if useReference {
                sums = referenceStep(v: &v, m: &m, s: &s, down: brackets.down, range: brackets.range, g: g,
                                     t: target, w: &w, parameters: p)
            } else {
                var out = [0.0, 0.0]
                cvm_rounding_step(count, &v, &m, &s, brackets.down, brackets.range, g, target, &w, &p, &out)
                sums = (out[0], out[1])
            }
            if case let .linear(o) = objective { losses.append(sums.0 + o.constant) } else { losses.append(batchLoss) }
        }
        var codes = [UInt8](repeating: 0, count: count)
        var hard = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let up = v[i] >= 0 && brackets.range[i] > 0
            codes[i] = up ? brackets.upCode[i] : brackets.downCode[i]
            hard[i] = up ? brackets.up[i] : brackets.down[i]
        }
        let tensor = try grid.replacingCodes(codes)
        return Outcome(tensor: tensor, losses: losses, finalLoss: objective.loss(hard), variables: v)
    }

    /// v with h(v) = (w - down) / (up - down): the soft weight starts at the FP32 weight.
    static func initialVariables(weights: [Float], brackets: RoundingBrackets) -> [Float] {
        weights.indices.map { i in
            let range = brackets.range[i]
            guard range > 0 else { return 0 }
            let h = min(max((weights[i] - brackets.down[i]) / range, 0), 1)
            let sigma = Double(h + 0.1) / 1.2
            return Float(Foundation.log(sigma / (1 - sigma)))
        }
    }

    @inline(__always)
    static func rectifiedSigmoid(_ v: Float) -> Float {
        var slope: Float = 0
        return rectifiedSigmoid(v, slope: &slope)
    }

    /// h(v) and dh/dv (0 where the clamp is active), with `cvm_rounding_step`'s arithmetic.
    @inline(__always)
    static func rectifiedSigmoid(_ v: Float, slope: inout Float) -> Float {
        let sig = 1 / (1 + FastMath.exp(min(max(-v, -87), 88)))
        let raw = sig * 1.2 - 0.1
        slope = raw >= 0 && raw <= 1 ? 1.2 * (sig * (1 - sig)) : 0
        return min(max(raw, 0), 1)
    }

    /// ln x for a normal x > 0, as `rounding_log` in LearnedRounding.c: x = m 2^e with m in
    /// [sqrt(1/2), sqrt(2)), ln x = e ln2 + 2 atanh((m - 1) / (m + 1)) by its series to z^9.
    @inline(__always)
    static func log(_ x: Float) -> Float {
        let bits = x.bitPattern
        var e = Int32(bitPattern: bits >> 23) - 127
        var m = Float(bitPattern: (bits & 0x7f_ffff) | 0x3f80_0000)
        if m > 1.414_213_56 {
            m = m * 0.5
            e += 1
        }
        let z = (m - 1) / (m + 1)
        let z2 = z * z
        let series = z * (2 + z2 * (2.0 / 3 + z2 * (2.0 / 5 + z2 * (2.0 / 7 + z2 * (2.0 / 9)))))
        return Float(e) * 0.693_147_181 + series
    }

    /// The plain form of `cvm_rounding_step` (CVectorMathRounding.h): one Adam step on every
    /// variable, the same float operations in the same order; the sums in index order.
    static func referenceStep(v: inout [Float], m: inout [Float], s: inout [Float], down: [Float], range: [Float],
                              g: [Float], t: [Float], w: inout [Float],
                              parameters p: cvm_rounding_step_params) -> (Double, Double) {
        var rec = 0.0, reg = 0.0
        for i in v.indices {
            let (wi, gi, ti, r) = (w[i], g[i], t[i], range[i])
            rec += Double(wi * (gi - 2 * ti))
            var slope: Float = 0
            let h = rectifiedSigmoid(v[i], slope: &slope)
            var grad = (2 * (gi - ti)) * r
            let u = 2 * h - 1
            let a = abs(u)
            let power = a >= Float.leastNormalMagnitude ? FastMath.exp(min(max(p.beta * log(a), -87), 88)) : 0
            if r > 0 {
                reg += Double(1 - power)
                let pull: Float = power > 0 ? (-2 * p.beta) * (power / u) : 0
                grad = grad + p.lambda * pull
            }
            let gv = grad * slope
            let mi = p.beta1 * m[i] + (1 - p.beta1) * gv
            let si = p.beta2 * s[i] + (1 - p.beta2) * (gv * gv)
            let vi = v[i] - (p.rate / p.correction1) * (mi / (si.squareRoot() / p.correction2.squareRoot() + p.epsilon))
            m[i] = mi
            s[i] = si
            v[i] = vi
            w[i] = down[i] + rectifiedSigmoid(vi) * r
        }
        return (rec, reg)
    }
}
