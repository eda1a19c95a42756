import CBLAS
import Foundation

/// A conv's output error over calibration inputs, as a quadratic form in its new weights W~
/// (`[F, N]`, N = C*kh*kw): E ||W x - W~ x~||^2 summed over filters, x the conv's input in the
/// FP32 model and x~ its input in the model quantized so far (x~ = x when only this conv is
/// quantized), both as im2col columns at the same output positions. With
/// A = E[x~ x~^T], C = E[x x~^T], P = E[x x^T] (N x N):
///
///     loss(W~) = tr(W~ A W~^T) - 2 tr(W~ T^T) + c,   T = W C,   c = tr(W P W^T),
///
/// whose gradient is 2 (W~ A - T): one matrix product per step whatever the number of columns.
///
/// `centred`: moments about the mean (A = Cov(x~) ...), the error left once bias correction
/// takes back its mean. `damping` adds δ ||W~ - W||^2 with δ that fraction of A's mean
/// diagonal (GPTQ's 1%): where the calibration inputs leave directions unexplored (a 3x3 conv
/// at stride 32 sees fewer positions than it has inputs), nearest rounding decides.
struct ReconstructionObjective {
    let filters: Int
    /// N.
    let size: Int
    /// A (+ δ I), N x N row-major, symmetric.
    let second: [Float]
    /// T (+ δ W), F x N.
    let target: [Float]
    /// c (+ δ ||W||^2).
    let constant: Double

    /// From the moments of the inputs: `quantizedSecond` = E[x~ x~^T], `cross` = E[x x~^T],
    /// `fp32Second` = E[x x^T] (N x N row-major, Double), and the means of x and x~.
    init(weights: [Float], quantizedSecond: [Double], cross: [Double], fp32Second: [Double],
         fp32Mean: [Double], quantizedMean: [Double], centred: Bool, damping: Double) {
        let n = fp32Mean.count
        precondition(n > 0 && weights.count % n == 0 && quantizedSecond.count == n * n && cross.count == n * n
                     && fp32Second.count == n * n && quantizedMean.count == n, "ReconstructionObjective: sizes")
        let f = weights.count / n
        var a = quantizedSecond, c = cross, p = fp32Second
        if centred {
            for i in 0..<n {
                for j in 0..<n {
                    a[i * n + j] -= quantizedMean[i] * quantizedMean[j]
                    c[i * n + j] -= fp32Mean[i] * quantizedMean[j]
                    p[i * n + j] -= fp32Mean[i] * fp32Mean[j]
                }
            }
        }
        var meanDiagonal = 0.0
        for i in 0..<n { meanDiagonal += a[i * n + i] }
        let delta = damping * meanDiagonal / Double(n)
        for i in 0..<n { a[i * n + i] += delta }
        // T = W C + δ W and c = sum_f w_f P w_f^T + δ ||W||^2, in Double (once per conv).
        let w = weights.map(Double.init)
        var t = [Double](repeating: 0, count: f * n), wp = t
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(f), Int32(n), Int32(n), 1, w, Int32(n),
                    c, Int32(n), 0, &t, Int32(n))
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(f), Int32(n), Int32(n), 1, w, Int32(n),
                    p, Int32(n), 0, &wp, Int32(n))
        var constant = 0.0
        for i in 0..<(f * n) {
            t[i] += delta * w[i]
            constant += w[i] * wp[i] + delta * w[i] * w[i]
        }
        filters = f
        size = n
        second = a.map(Float.init)
        target = t.map(Float.init)
        self.constant = constant
    }

    /// When only this conv changes (x~ = x): A = C = P = E[x x^T].
    init(weights: [Float], secondMoment: [Double], mean: [Double], centred: Bool, damping: Double) {
        self.init(weights: weights, quantizedSecond: secondMoment, cross: secondMoment, fp32Second: secondMoment,
                  fp32Mean: mean, quantizedMean: mean, centred: centred, damping: damping)
    }

    /// The unrounded weights that minimise the loss, W' = T A^-1 (A damped, so it has an
    /// inverse); nil if A is not numerically positive definite. With x~ = x and no damping
    /// this is W itself; with the quantized model's inputs it is the FP32 weights corrected
    /// for what the convs before have changed, the target error feedback then rounds.
    func leastSquaresWeights() -> [Float]? {
        var a = second.map(Double.init)
        // Row-major T (F x N) is T^T column-major: the right-hand sides of A X = T^T.
        var b = target.map(Double.init)
        var n = Int32(size), rhs = Int32(filters), lda = Int32(size), ldb = Int32(size), info: Int32 = 0
        var uplo = Int8(UInt8(ascii: "L"))
        dposv_(&uplo, &n, &rhs, &a, &lda, &b, &ldb, &info)
        guard info == 0 else { return nil }
        return b.map(Float.init)
    }

    /// loss(W~) for weights `w` (F x N), in Double.
    func loss(_ w: [Float]) -> Double {
        precondition(w.count == filters * size)
        let wd = w.map(Double.init), a = second.map(Double.init)
        var g = [Double](repeating: 0, count: w.count)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(filters), Int32(size), Int32(size), 1, wd,
                    Int32(size), a, Int32(size), 0, &g, Int32(size))
        var total = constant
        for i in 0..<w.count { total += wd[i] * (g[i] - 2 * Double(target[i])) }
        return total
    }
}
