import CBLAS
import Foundation
import YOLOModel
import YOLOTensor

/// What a conv sees in two models at once, at the same output positions: x, its input in the
/// FP32 model, and x~, its input in the model whose earlier convs are already quantized (as
/// im2col columns, like `ConvInputStatistics`): E[x~ x~^T], E[x x~^T], E[x x^T], E[x], E[x~],
/// the moments `ReconstructionObjective` needs to score the conv's new weights against the FP32
/// model's output rather than against its own FP32 weights on already-perturbed inputs.
final class PairedInputStatistics {
    let geometry: ConvGeometry
    /// N, the length of one column.
    let size: Int
    private var quantizedGram: [Float]
    private var crossGram: [Float]
    private var fp32Gram: [Float]
    private var fp32Sum: [Double]
    private var quantizedSum: [Double]
    private(set) var columns = 0
    private var fp32Columns: [Float] = []
    private var quantizedColumns: [Float] = []
    /// Columns kept per image for objectives that need the columns themselves
    /// (`ActivationObjective`), evenly spaced among the sampled ones; 0 keeps none.
    let poolPerImage: Int
    /// The kept columns, column-major (column j at [j * size ..< (j + 1) * size]).
    private(set) var fp32Pool: [Float] = []
    private(set) var quantizedPool: [Float] = []

    init(geometry: ConvGeometry, poolPerImage: Int = 0) {
        self.poolPerImage = poolPerImage
        precondition(geometry.groups == 1, "PairedInputStatistics: grouped convs are not supported")
        self.geometry = geometry
        size = geometry.filterSize
        quantizedGram = [Float](repeating: 0, count: size * size)
        crossGram = quantizedGram
        fp32Gram = quantizedGram
        fp32Sum = [Double](repeating: 0, count: size)
        quantizedSum = fp32Sum
    }

    /// Adds one image: the conv's input `[1, C, H, W]` in both models (same shape).
    func add(fp32: Tensor, quantized: Tensor, maxColumns: Int) {
        let shape = fp32.featureShape
        precondition(shape == quantized.featureShape && shape.channels == geometry.inChannels,
                     "PairedInputStatistics: inputs \(shape) and \(quantized.featureShape)")
        let (oh, ow) = geometry.outputSize(height: shape.height, width: shape.width)
        let positions = oh * ow
        let count = min(positions, maxColumns)
        guard count > 0 else { return }
        if fp32Columns.count < size * count {
            fp32Columns = [Float](repeating: 0, count: size * count)
            quantizedColumns = fp32Columns
        }
        for n in 0..<shape.batch {
            let offset = n * shape.channels * shape.planeSize
            sample(fp32, offset: offset, shape: shape, outWidth: ow, positions: positions, count: count, into: &fp32Columns)
            sample(quantized, offset: offset, shape: shape, outWidth: ow, positions: positions, count: count,
                   into: &quantizedColumns)
            let (nn, cc) = (Int32(size), Int32(count))
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, nn, cc, 1, quantizedColumns, cc, 1, &quantizedGram, nn)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, nn, cc, 1, fp32Columns, cc, 1, &fp32Gram, nn)
            // cross += X X~^T
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nn, nn, cc, 1, fp32Columns, cc, quantizedColumns, cc,
                        1, &crossGram, nn)
            for i in 0..<size {
                var a = 0.0, b = 0.0
                for j in 0..<count {
                    a += Double(fp32Columns[i * count + j])
                    b += Double(quantizedColumns[i * count + j])
                }
                fp32Sum[i] += a
                quantizedSum[i] += b
            }
            columns += count
            let kept = min(poolPerImage, count)
            for k in 0..<kept {
                let j = k * count / kept
                for i in 0..<size {
                    fp32Pool.append(fp32Columns[i * count + j])
                    quantizedPool.append(quantizedColumns[i * count + j])
                }
            }
        }
    }

    /// Columns in the pool.
    var poolCount: Int { fp32Pool.count / size }

    /// The pool as N x count row-major matrices (fp32, quantized).
    var poolMatrices: (fp32: [Float], quantized: [Float]) {
        let count = poolCount
        var a = [Float](repeating: 0, count: fp32Pool.count), b = a
        for j in 0..<count {
            for i in 0..<size {
                a[i * count + j] = fp32Pool[j * size + i]
                b[i * count + j] = quantizedPool[j * size + i]
            }
        }
        return (a, b)
    }

    private func sample(_ x: Tensor, offset: Int, shape: FeatureShape, outWidth: Int, positions: Int, count: Int,
                        into out: inout [Float]) {
        x.data.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { cols in
                ConvInputStatistics.sampleColumns(source.baseAddress! + offset, shape: shape, geometry: geometry,
                                                  outWidth: outWidth, positions: positions, count: count,
                                                  into: cols.baseAddress!)
            }
        }
    }

    /// The objective for `weights` (F x N) over the columns added so far.
    func objective(weights: [Float], centred: Bool, damping: Double) -> ReconstructionObjective {
        ReconstructionObjective(weights: weights, quantizedSecond: symmetric(quantizedGram),
                                cross: scaled(crossGram), fp32Second: symmetric(fp32Gram),
                                fp32Mean: fp32Mean, quantizedMean: quantizedMean, centred: centred, damping: damping)
    }

    /// E[x~_i^2]: the diagonal of the quantized model's input second moment.
    var quantizedSecondDiagonal: [Double] {
        let scale = columns > 0 ? 1 / Double(columns) : 0
        return (0..<size).map { Double(quantizedGram[$0 * size + $0]) * scale }
    }

    var fp32Mean: [Double] { fp32Sum.map { columns > 0 ? $0 / Double(columns) : 0 } }
    var quantizedMean: [Double] { quantizedSum.map { columns > 0 ? $0 / Double(columns) : 0 } }

    private func scaled(_ gram: [Float]) -> [Double] {
        let scale = columns > 0 ? 1 / Double(columns) : 0
        return gram.map { Double($0) * scale }
    }

    private func symmetric(_ gram: [Float]) -> [Double] {
        ConvInputStatistics.mean(upperGram: gram, size: size, columns: columns)
    }
}
