import CBLAS
import Foundation
import YOLOTensor

/// A conv's error *after its activation*, the reconstruction unit one step up from the conv
/// alone (BRECQ's smallest block): mean over sampled output positions of
/// sum_f (act(w~_f x~ + b~_f) - act(w_f x + b_f))^2, plus the damping δ ||W~ - W||^2 of
/// `ReconstructionObjective`. Through LeakyReLU(0.1) an error where the FP32 output is
/// negative costs a hundredth of one where it is positive, which the linear objective cannot
/// see. It needs the columns themselves, not only their moments, so it works on a pool of
/// sampled columns (`PairedInputStatistics.pool`), a batch of them per step.
///
/// b~ = b + W E[x] - W~ E[x~] follows W~ (bias correction, as applied after rounding), so
/// the optimum is the one bias correction will really run with; without bias correction b~ = b.
struct ActivationObjective {
    let filters: Int
    let size: Int
    let activation: Activation
    /// Quantized-model input columns, N x count (column j of the pool at [i * count + j]).
    let columns: [Float]
    let count: Int
    /// FP32 output after activation at the same positions, F x count.
    let target: [Float]
    let weights: [Float]
    let bias: [Float]
    /// E[x] and E[x~] (bias correction), nil without it.
    let means: (fp32: [Float], quantized: [Float])?
    let delta: Float
    /// Columns per step.
    let batch: Int

    init(weights: [Float], bias: [Float], activation: Activation, fp32Columns: [Float], quantizedColumns: [Float],
         count: Int, fp32Mean: [Double]?, quantizedMean: [Double]?, damping: Double, batch: Int = 1024) {
        let n = fp32Columns.count / max(count, 1)
        let f = weights.count / n
        precondition(count > 0 && n * count == fp32Columns.count && quantizedColumns.count == fp32Columns.count
                     && f * n == weights.count && bias.count == f, "ActivationObjective: sizes")
        filters = f
        size = n
        self.activation = activation
        columns = quantizedColumns
        self.count = count
        self.weights = weights
        self.bias = bias
        if let fp32Mean, let quantizedMean {
            means = (fp32Mean.map(Float.init), quantizedMean.map(Float.init))
        } else {
            means = nil
        }
        // Target: act(W X + b).
        var z = [Float](repeating: 0, count: f * count)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(f), Int32(count), Int32(n), 1, weights, Int32(n),
                    fp32Columns, Int32(count), 0, &z, Int32(count))
        for r in 0..<f { for j in 0..<count { z[r * count + j] = activation.apply(z[r * count + j] + bias[r]) } }
        target = z
        // Damping as ReconstructionObjective's: a fraction of the mean diagonal of E[x~ x~^T].
        var diagonal = 0.0
        for v in quantizedColumns { diagonal += Double(v) * Double(v) }
        delta = Float(damping * diagonal / Double(n * count))
        self.batch = min(batch, count)
    }

    /// b~ for soft weights `w`.
    func effectiveBias(_ w: [Float]) -> [Float] {
        guard let means else { return bias }
        return (0..<filters).map { r in
            var shift: Float = 0
            for i in 0..<size { shift += weights[r * size + i] * means.fp32[i] - w[r * size + i] * means.quantized[i] }
            return bias[r] + shift
        }
    }

    /// The loss on columns [start, start + batch) (wrapping), and half its gradient in W~ in
    /// `half` (F x N): the form the rounding step takes (its g, with a zero target).
    func lossAndGradient(_ w: [Float], start: Int, half: inout [Float]) -> Double {
        let b = batch
        // Gather the batch (contiguous unless it wraps).
        var x = [Float](repeating: 0, count: size * b)
        for i in 0..<size {
            for j in 0..<b { x[i * b + j] = columns[i * count + (start + j) % count] }
        }
        var z = [Float](repeating: 0, count: filters * b)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(filters), Int32(b), Int32(size), 1, w, Int32(size),
                    x, Int32(b), 0, &z, Int32(b))
        let biasNow = effectiveBias(w)
        var loss = 0.0
        var biasGradient = [Float](repeating: 0, count: filters)
        let scale = 1 / Float(b)
        for r in 0..<filters {
            for j in 0..<b {
                let pre = z[r * b + j] + biasNow[r]
                let e = activation.apply(pre) - target[r * count + (start + j) % count]
                loss += Double(e) * Double(e)
                // d loss / d pre, halved: e * act'(pre) / b.
                let g = e * Self.slope(activation, pre) * scale
                z[r * b + j] = g
                biasGradient[r] += g
            }
        }
        // half = G X^T + δ (W~ - W), and through b~ = ... - W~ E[x~]: - (sum_j G) E[x~]^T.
        for k in half.indices { half[k] = delta * (w[k] - weights[k]) }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(filters), Int32(size), Int32(b), 1, z, Int32(b),
                    x, Int32(b), 1, &half, Int32(size))
        if let means {
            for r in 0..<filters { for i in 0..<size { half[r * size + i] -= biasGradient[r] * means.quantized[i] } }
        }
        var damping = 0.0
        for k in w.indices { damping += Double(w[k] - weights[k]) * Double(w[k] - weights[k]) }
        return loss / Double(b) + Double(delta) * damping
    }

    /// The loss over every pooled column.
    func loss(_ w: [Float]) -> Double {
        var z = [Float](repeating: 0, count: filters * count)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(filters), Int32(count), Int32(size), 1, w,
                    Int32(size), columns, Int32(count), 0, &z, Int32(count))
        let biasNow = effectiveBias(w)
        var total = 0.0
        for r in 0..<filters {
            for j in 0..<count {
                let e = Double(activation.apply(z[r * count + j] + biasNow[r]) - target[r * count + j])
                total += e * e
            }
        }
        var damping = 0.0
        for k in w.indices { damping += Double(w[k] - weights[k]) * Double(w[k] - weights[k]) }
        return total / Double(count) + Double(delta) * damping
    }

    /// d act / d pre.
    @inline(__always)
    static func slope(_ activation: Activation, _ x: Float) -> Float {
        switch activation {
        case .identity: return 1
        case .relu: return x > 0 ? 1 : 0
        case let .leakyReLU(s): return x >= 0 ? 1 : s
        case .sigmoid:
            let s = 1 / (1 + expf(-x))
            return s * (1 - s)
        case .silu:
            let s = 1 / (1 + expf(-x))
            return s * (1 + x * (1 - s))
        }
    }
}
