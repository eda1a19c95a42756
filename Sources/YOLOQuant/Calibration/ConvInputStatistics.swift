#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import Foundation
import YOLOModel
import YOLOTensor

/// What a conv sees on calibration images, for error-compensating quantization: its inputs as
/// the columns the conv multiplies its weights with (one column per output position, the
/// `N = C * kh * kw` values of the receptive field, im2col order c, i, j, which is the order
/// of a filter's weights), summed as `sum x x^T` (N x N, the layer's Hessian up to a factor)
/// and `sum x`. Output positions are sampled evenly when a map has more than `maxColumns`.
public final class ConvInputStatistics {
    public let geometry: ConvGeometry
    /// N, the length of one column (weights per filter).
    public let size: Int
    /// Upper triangle (row-major) of sum x x^T, accumulated image by image in Float.
    private var gram: [Float]
    private var sum: [Double]
    public private(set) var columns = 0
    private var buffer: [Float] = []

    public init(geometry: ConvGeometry) {
        precondition(geometry.groups == 1, "ConvInputStatistics: grouped convs are not supported")
        self.geometry = geometry
        size = geometry.filterSize
        gram = [Float](repeating: 0, count: size * size)
        sum = [Double](repeating: 0, count: size)
    }

    /// Adds one input `[batch, C, H, W]` of this conv.
    public func add(_ input: Tensor, maxColumns: Int = 4096) {
        let shape = input.featureShape
        precondition(shape.channels == geometry.inChannels, "ConvInputStatistics: input has \(shape.channels) channels")
        let (oh, ow) = geometry.outputSize(height: shape.height, width: shape.width)
        let positions = oh * ow
        let count = min(positions, maxColumns)
        guard count > 0 else { return }
        if buffer.count < size * count { buffer = [Float](repeating: 0, count: size * count) }
        for n in 0..<shape.batch {
            input.data.withUnsafeBufferPointer { x in
                buffer.withUnsafeMutableBufferPointer { cols in
                    Self.sampleColumns(x.baseAddress! + n * shape.channels * shape.planeSize, shape: shape,
                                       geometry: geometry, outWidth: ow, positions: positions, count: count,
                                       into: cols.baseAddress!)
                }
            }
            // gram += X X^T, X = [N, count].
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(size), Int32(count), 1, buffer, Int32(count),
                        1, &gram, Int32(size))
            for i in 0..<size {
                var s = 0.0
                for j in 0..<count { s += Double(buffer[i * count + j]) }
                sum[i] += s
            }
            columns += count
        }
    }

    /// E[x x^T], full symmetric N x N, row-major.
    public var secondMoment: [Double] { Self.mean(upperGram: gram, size: size, columns: columns) }

    /// The full symmetric matrix from the upper triangle of a sum over `columns` columns,
    /// divided by the count (zero when there were none).
    static func mean(upperGram gram: [Float], size: Int, columns: Int) -> [Double] {
        let scale = columns > 0 ? 1 / Double(columns) : 0
        var h = [Double](repeating: 0, count: size * size)
        for i in 0..<size {
            for j in i..<size {
                let v = Double(gram[i * size + j]) * scale
                h[i * size + j] = v
                h[j * size + i] = v
            }
        }
        return h
    }

    /// The diagonal of E[x x^T], N values (each input's mean square).
    public var secondMomentDiagonal: [Double] {
        let scale = columns > 0 ? 1 / Double(columns) : 0
        return (0..<size).map { Double(gram[$0 * size + $0]) * scale }
    }

    /// E[x], N values.
    public var mean: [Double] { sum.map { columns > 0 ? $0 / Double(columns) : 0 } }

    /// Columns of `count` output positions spread evenly over the map (position p = j*P/count),
    /// written as X[r, j] with r = (c*kh + i)*kw + k (zero where the window leaves the input).
    static func sampleColumns(_ x: UnsafePointer<Float>, shape: FeatureShape, geometry g: ConvGeometry, outWidth: Int,
                              positions: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        let h = shape.height, w = shape.width
        for j in 0..<count {
            let p = j * positions / count
            let oy = p / outWidth, ox = p % outWidth
            var r = 0
            for c in 0..<g.inChannels {
                let plane = x + c * h * w
                for i in 0..<g.kernelH {
                    let iy = oy * g.stride - g.padding + i
                    for k in 0..<g.kernelW {
                        let ix = ox * g.stride - g.padding + k
                        out[r * count + j] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? plane[iy * w + ix] : 0
                        r += 1
                    }
                }
            }
        }
    }
}

/// Runs a model over calibration inputs and collects every named conv's input statistics.
public enum CalibrationCollector {
    /// `convs`: names of the convs to watch (grouped convs are skipped). `input(i)` gives image
    /// i as a network input `[1, 3, H, W]`; `progress` is called after each image.
    public static func collect(model: YOLOModel, convs names: Set<String>, count: Int,
                               maxColumns: Int = 4096, input: (Int) throws -> Tensor,
                               progress: ((Int, Int) -> Void)? = nil) rethrows -> [String: ConvInputStatistics] {
        var statistics: [String: ConvInputStatistics] = [:]
        let watched = model.convs.filter { names.contains($0.name) && $0.geometry.groups == 1 }
        for conv in watched {
            let stats = ConvInputStatistics(geometry: conv.geometry)
            statistics[conv.name] = stats
            conv.inputObserver = { stats.add($0, maxColumns: maxColumns) }
        }
        defer { for conv in watched { conv.inputObserver = nil } }
        var context = ForwardContext()
        for i in 0..<count {
            _ = model.forward(try input(i), context: &context)
            progress?(i + 1, count)
        }
        return statistics
    }
}
