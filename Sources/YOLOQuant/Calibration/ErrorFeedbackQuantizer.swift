#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import Foundation

/// Error-compensating rounding (GPTQ: Frantar et al. 2022, after OBQ): the weight W `[F, N]`
/// (a conv's filters, N = C*kh*kw) is quantized one column at a time, and each column's
/// rounding error is pushed onto the columns not yet quantized, weighted by the inverse of the
/// layer's input second moment H = E[x x^T], so that the layer's *output* error
/// E||(W - Q) x||^2 = tr((W - Q) H (W - Q)^T), not the weight error, is what gets small.
///
/// The quantization grid stays the one `start` chose (its per-group parameters, e.g. from
/// min/max or `RangeSearch`); only the codes change, so the file format and decoder are the
/// same as for round-to-nearest.
///
/// With U the upper Cholesky factor of H^-1 (H^-1 = U^T U), column i's error e = (w_i - q_i) / U_ii
/// updates w_j -= e * U_ij for j > i. Columns are processed in blocks: inside a block updates are
/// immediate; the rest of W gets the block's accumulated errors in one matrix product.
enum ErrorFeedbackQuantizer {
    /// Fraction of the mean diagonal of H added to the diagonal (numerical stability; GPTQ's 1%).
    static let damping = 0.01
    static let blockSize = 128

    /// What the rounding needs of the layer's input second moment, computed once per layer
    /// (several formats of one layer share it): the inputs that never vary, and the upper
    /// Cholesky factor of the damped H^-1.
    struct Prepared {
        let size: Int
        let deadColumns: [Int]
        let factor: [Double]
    }

    /// nil when H cannot be factored even after raising the damping.
    static func prepare(hessian: [Double]) -> Prepared? {
        let n = Int(Double(hessian.count).squareRoot())
        precondition(n * n == hessian.count, "ErrorFeedbackQuantizer: H is not square")
        var h = hessian
        // Inputs that never vary carry no information: their columns only cost error budget.
        var dead: [Int] = []
        var meanDiagonal = 0.0
        for i in 0..<n {
            if h[i * n + i] <= 0 {
                h[i * n + i] = 1
                dead.append(i)
            }
            meanDiagonal += h[i * n + i]
        }
        meanDiagonal /= Double(n)
        guard let u = inverseCholeskyFactor(h, n: n, damping: damping * meanDiagonal) else { return nil }
        return Prepared(size: n, deadColumns: dead, factor: u)
    }

    /// The codes for `weights` with `start`'s parameters, given the layer's input second
    /// moment `hessian` (N x N, row-major). Falls back to `start` when H cannot be factored
    /// even after raising the damping.
    static func quantize(weights: [Float], start: QuantizedTensor, hessian: [Double]) throws -> QuantizedTensor {
        precondition(hessian.count == start.layout.filterSize * start.layout.filterSize, "ErrorFeedbackQuantizer: sizes")
        guard let prepared = prepare(hessian: hessian) else { return start }
        return try quantize(weights: weights, start: start, prepared: prepared)
    }

    static func quantize(weights: [Float], start: QuantizedTensor, prepared: Prepared) throws -> QuantizedTensor {
        let filters = start.shape[0]
        let n = start.layout.filterSize
        precondition(weights.count == filters * n && prepared.size == n, "ErrorFeedbackQuantizer: sizes")
        var w = weights.map(Double.init)
        for i in prepared.deadColumns { for f in 0..<filters { w[f * n + i] = 0 } }
        let u = prepared.factor

        let encoder = GroupCodecs(start)
        let layout = start.layout
        let kernel = layout.kernel
        // Group of W[f, i] for every f, i (the parameters stay fixed while codes change).
        var codes = [UInt8](repeating: 0, count: filters * n)
        var errors = [Double](repeating: 0, count: filters * blockSize)
        var i0 = 0
        while i0 < n {
            let i1 = min(n, i0 + blockSize)
            let width = i1 - i0
            for i in i0..<i1 {
                let d = u[i * n + i]
                for f in 0..<filters {
                    let value = w[f * n + i]
                    let group = layout.group(filter: f, channel: i / kernel, position: i % kernel)
                    let (code, q) = encoder.encode(Float(value), group: group)
                    codes[f * n + i] = code
                    let e = (value - Double(q)) / d
                    errors[f * blockSize + (i - i0)] = e
                    if e != 0 {
                        for j in (i + 1)..<i1 { w[f * n + j] -= e * u[i * n + j] }
                    }
                }
            }
            if i1 < n {
                // W[:, i1...] -= E[:, block] * U[block, i1...]
                errors.withUnsafeBufferPointer { e in
                    u.withUnsafeBufferPointer { ub in
                        w.withUnsafeMutableBufferPointer { wb in
                            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(filters), Int32(n - i1),
                                        Int32(width), -1, e.baseAddress!, Int32(blockSize),
                                        ub.baseAddress! + i0 * n + i1, Int32(n), 1, wb.baseAddress! + i1, Int32(n))
                        }
                    }
                }
            }
            i0 = i1
        }
        return try start.replacingCodes(codes)
    }

    /// U with (H + damping I)^-1 = U^T U, U upper triangular, row-major (entries below the
    /// diagonal unspecified). The damping is raised tenfold up to four times if H + damping I
    /// is not numerically positive definite; nil if it never is.
    static func inverseCholeskyFactor(_ h: [Double], n: Int, damping: Double) -> [Double]? {
        var lambda = damping
        for _ in 0..<5 {
            var a = h
            for i in 0..<n { a[i * n + i] += lambda }
            // LAPACK is column-major: our row-major buffer is the transpose, the same matrix
            // since it is symmetric. 'L' factors the column-major lower triangle.
            var info: Int32 = 0
            var order = Int32(n)
            var uplo = Int8(UInt8(ascii: "L"))
            dpotrf_(&uplo, &order, &a, &order, &info)
            if info == 0 {
                dpotri_(&uplo, &order, &a, &order, &info)
                if info == 0 {
                    // The inverse is in the column-major lower = row-major upper triangle; mirror it.
                    for i in 0..<n { for j in (i + 1)..<n { a[j * n + i] = a[i * n + j] } }
                    dpotrf_(&uplo, &order, &a, &order, &info)
                    // Column-major lower L (A = L L^T) read row-major is L^T: the upper factor U.
                    if info == 0 { return a }
                }
            }
            lambda = lambda > 0 ? lambda * 10 : 1e-6
        }
        return nil
    }
}
