#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif
import CVectorMath

/// Geometry of a 2-D convolution (PyTorch's Conv2d arguments, dilation 1).
public struct ConvGeometry: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var inChannels: Int
    public var outChannels: Int
    public var kernelH: Int
    public var kernelW: Int
    public var stride: Int
    public var padding: Int
    public var groups: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1,
                padding: Int = 0, groups: Int = 1) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelH = kernel
        self.kernelW = kernel
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    /// Weights per filter: (C / groups) x kh x kw.
    public var filterSize: Int { inChannels / groups * kernelH * kernelW }
    public var weightCount: Int { outChannels * filterSize }
    public var weightShape: [Int] { [outChannels, inChannels / groups, kernelH, kernelW] }

    /// A 1x1 stride-1 unpadded ungrouped conv is a plain matrix product on the NCHW planes.
    public var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0 && groups == 1
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ((height + 2 * padding - kernelH) / stride + 1, (width + 2 * padding - kernelW) / stride + 1)
    }

    public func outputShape(_ input: FeatureShape) -> FeatureShape {
        let (h, w) = outputSize(height: input.height, width: input.width)
        return FeatureShape(batch: input.batch, channels: outChannels, height: h, width: w)
    }

    /// Multiply-adds times two, for GFLOP/s figures.
    public func flops(_ input: FeatureShape) -> Double {
        let out = outputShape(input)
        return 2 * Double(out.count) * Double(filterSize)
    }

    public var description: String {
        "\(inChannels)->\(outChannels) k\(kernelH)x\(kernelW) s\(stride) p\(padding)"
            + (groups > 1 ? " g\(groups)" : "")
    }
}

/// Convolution kernels: a plain direct reference, and im2col + sgemm for speed.
public enum ConvKernel {
    /// Direct convolution, written for clarity: the reference the fast path is tested against.
    public static func reference(input: Tensor, weight: [Float], bias: [Float]?,
                                 geometry g: ConvGeometry, activation: Activation) -> Tensor {
        let inShape = input.featureShape
        let outShape = g.outputShape(inShape)
        var out = Tensor(zeros: outShape)
        let cPerGroup = g.inChannels / g.groups
        let fPerGroup = g.outChannels / g.groups
        for n in 0..<inShape.batch {
            for f in 0..<g.outChannels {
                let group = f / fPerGroup
                for oy in 0..<outShape.height {
                    for ox in 0..<outShape.width {
                        var acc: Float = bias?[f] ?? 0
                        for c in 0..<cPerGroup {
                            let ic = group * cPerGroup + c
                            for i in 0..<g.kernelH {
                                let iy = oy * g.stride - g.padding + i
                                if iy < 0 || iy >= inShape.height { continue }
                                for j in 0..<g.kernelW {
                                    let ix = ox * g.stride - g.padding + j
                                    if ix < 0 || ix >= inShape.width { continue }
                                    let x = input.data[((n * inShape.channels + ic) * inShape.height + iy)
                                                       * inShape.width + ix]
                                    let w = weight[((f * cPerGroup + c) * g.kernelH + i) * g.kernelW + j]
                                    acc += x * w
                                }
                            }
                        }
                        out.data[((n * outShape.channels + f) * outShape.height + oy) * outShape.width + ox] =
                            activation.apply(acc)
                    }
                }
            }
        }
        return out
    }

    /// Largest im2col tile, in floats: bounds scratch memory for big early layers (32 MiB).
    public static let maxScratchFloats = 8 << 20

    /// Fast convolution on tensors: writes channels `[channelOffset, channelOffset + F)` of
    /// `output`, so a conv can write straight into its slice of a later concat. The arrays are
    /// moved into a workspace and back, never copied.
    public static func forward(input: Tensor, weight: [Float], bias: [Float],
                               geometry g: ConvGeometry, activation: Activation,
                               into output: inout Tensor, channelOffset: Int = 0,
                               scratch: inout [Float], prepared: PreparedWeights? = nil,
                               tileLimit: Int = maxScratchFloats, workers: Int = Parallel.workers,
                               options: KernelOptions = .default) {
        var ws = Workspace(options: options)
        ws.input = input.data
        swap(&ws.arena, &output.data)
        swap(&ws.scratch, &scratch)
        let outView = FeatureView(offset: 0, shape: output.featureShape)
        forward(&ws, input: FeatureView(storage: .input, offset: 0, shape: input.featureShape),
                output: outView.channels(channelOffset, g.outChannels), weight: weight, bias: bias,
                geometry: g, activation: activation, prepared: prepared, tileLimit: tileLimit, workers: workers)
        swap(&ws.arena, &output.data)
        swap(&ws.scratch, &scratch)
    }

    /// Convenience: allocates the output.
    public static func forward(input: Tensor, weight: [Float], bias: [Float],
                               geometry g: ConvGeometry, activation: Activation,
                               workers: Int = Parallel.workers, options: KernelOptions = .default) -> Tensor {
        var out = Tensor(zeros: g.outputShape(input.featureShape))
        var scratch: [Float] = []
        forward(input: input, weight: weight, bias: bias, geometry: g, activation: activation,
                into: &out, scratch: &scratch, workers: workers, options: options)
        return out
    }

    /// Fast convolution between two views of a workspace: Winograd for the 3x3 stride-1 convs
    /// it applies to (`KernelOptions.winograd`), else im2col (none for 1x1 stride-1) and per-tile
    /// products on `workers` threads, through `PointwiseKernel` at a vector kernel level (`KernelISA`)
    /// when `KernelOptions.pointwise` is on (1x1 stride-1 convs straight on the input, the others on
    /// their im2col columns; bias + activation fused) or
    /// single-threaded sgemm with the epilogue run on each tile while it is still in cache (see
    /// `ConvTiling` for how work is split). `prepared` holds the weights in the form
    /// the fast path wants (made once by the caller); without it they are transformed per call.
    public static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView,
                               weight: [Float], bias: [Float], geometry g: ConvGeometry, activation: Activation,
                               prepared: PreparedWeights? = nil, tileLimit: Int = maxScratchFloats,
                               workers requested: Int? = nil) {
        let workers = requested ?? ws.threadCount
        if ws.options.winograd && Winograd.applies(g) {
            let p = prepared?.winograd != nil ? prepared!
                : PreparedWeights(weight: weight, geometry: g, tile: ws.options.preferredWinogradTile)
            Winograd.forward(&ws, input: input, output: output, transformed: p.winograd!, tile: p.winogradTile,
                             bias: bias, geometry: g, activation: activation, workers: workers)
            return
        }
        // The blocked kernel reads the weights as they are; 3x3 stride-1 convs with Winograd
        // switched off keep sgemm (that switch exists to measure against sgemm).
        let blocked = ws.options.pointwise && PointwiseKernel.applies(g) && !Winograd.applies(g)
        if blocked && g.isPointwise {
            PointwiseKernel.forward(&ws, input: input, output: output, weight: weight, bias: bias, geometry: g,
                                    activation: activation, workers: workers)
            return
        }
        let inShape = input.shape
        let outShape = output.shape
        let (oh, ow) = g.outputSize(height: inShape.height, width: inShape.width)
        precondition(inShape.channels == g.inChannels, "conv: input has \(inShape.channels) channels, weights want \(g.inChannels)")
        precondition(outShape.height == oh && outShape.width == ow && outShape.batch == inShape.batch
                     && outShape.channels == g.outChannels && output.storage == .arena, "conv: output view does not fit")
        precondition(weight.count >= g.weightCount && bias.count == g.outChannels, "conv: weight/bias size")
        let tiling = ConvTiling(geometry: g, input: inShape, workers: workers, tileLimit: tileLimit, blocked: blocked)
        ws.reserveScratch(tiling.scratchFloats)
        let cPerGroup = g.inChannels / g.groups
        let fPerGroup = g.outChannels / g.groups
        let k = g.filterSize
        let inPlane = inShape.planeSize, plane = oh * ow
        let fromInput = input.storage == .input
        ws.arena.withUnsafeMutableBufferPointer { arenaBuf in
            ws.input.withUnsafeBufferPointer { inputBuf in
                ws.scratch.withUnsafeMutableBufferPointer { scratchBuf in
                    weight.withUnsafeBufferPointer { wBuf in
                        bias.withUnsafeBufferPointer { bBuf in
                            let xBase = fromInput ? inputBuf.baseAddress! : UnsafePointer(arenaBuf.baseAddress!)
                            for n in 0..<inShape.batch {
                                for grp in 0..<g.groups {
                                    run(tiling,
                                        x: xBase + input.offset + n * input.batchStride + grp * cPerGroup * inPlane,
                                        y: arenaBuf.baseAddress! + output.offset + n * output.batchStride + grp * fPerGroup * plane,
                                        w: wBuf.baseAddress! + grp * fPerGroup * k, bias: bBuf.baseAddress! + grp * fPerGroup,
                                        blocked: blocked, scratch: scratchBuf.baseAddress!,
                                        activation: activation, workers: workers)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The same conv with weights that are decoded as it runs (packed low-bit formats): staged
    /// in the workspace one layer at a time, already in Winograd form where that path applies
    /// (`tile`; nil: the workspace options' preferred tile).
    public static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView,
                               decoder: WeightDecoder, bias: [Float], geometry g: ConvGeometry,
                               activation: Activation, tile: Winograd.Tile? = nil, workers requested: Int? = nil) {
        let workers = requested ?? ws.threadCount
        let tile = tile ?? ws.options.preferredWinogradTile
        if ws.options.winograd && Winograd.applies(g) {
            if Winograd.decodesPerBlock(g, input: input.shape, tile: tile, workers: workers) {
                Winograd.forward(&ws, input: input, output: output, decoder: decoder, bias: bias, geometry: g,
                                 activation: activation, workers: workers)
                return
            }
            ws.stageWinograd(decoder, geometry: g, tile: tile, workers: workers)
            var u: [Float] = []
            swap(&u, &ws.stagedTransform)
            Winograd.forward(&ws, input: input, output: output, transformed: u, tile: tile, bias: bias, geometry: g,
                             activation: activation, workers: workers)
            swap(&u, &ws.stagedTransform)
        } else if StrideTwoWinograd.applies(g, input: input.shape, options: ws.options) {
            // As dense weights run (transformed once there, here per pass): the same floats.
            ws.stageStrideTwo(decoder, geometry: g, workers: workers)
            var u: [Float] = []
            swap(&u, &ws.stagedTransform)
            StrideTwoWinograd.forward(&ws, input: input, output: output, transformed: u, bias: bias, geometry: g,
                                      activation: activation, workers: workers)
            swap(&u, &ws.stagedTransform)
        } else {
            ws.stage(decoder, geometry: g, workers: workers)
            var w: [Float] = []
            swap(&w, &ws.stagedWeights)
            forward(&ws, input: input, output: output, weight: w, bias: bias, geometry: g,
                    activation: activation, workers: workers)
            swap(&w, &ws.stagedWeights)
        }
    }

    /// One group of one batch item: `y[F, plane] = act(W[F, K] * cols(x)[K, plane] + b)`.
    /// With `blocked` (ungrouped convs only) the product and epilogue are `PointwiseKernel`'s,
    /// else sgemm's and `biasActivate`.
    static func run(_ t: ConvTiling, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                    w: UnsafePointer<Float>, bias: UnsafePointer<Float>, blocked: Bool,
                    scratch: UnsafeMutablePointer<Float>, activation: Activation, workers: Int) {
        let m = t.filters, k = t.depth, plane = t.plane, ow = t.outWidth
        let (act, slope) = PointwiseKernel.code(activation)
        switch t.mode {
        case .columns:
            Parallel.forEachTask(t.tasks, workers: workers) { worker, task in
                let c0: Int, cols: Int
                let b: UnsafePointer<Float>, ldb: Int
                if t.pointwise {
                    c0 = task * t.columnsPerTask
                    cols = min(t.columnsPerTask, plane - c0)
                    b = x + c0
                    ldb = plane
                } else {
                    let rows = t.columnsPerTask / ow
                    let oy0 = task * rows
                    let rowCount = min(rows, t.outHeight - oy0)
                    c0 = oy0 * ow
                    cols = rowCount * ow
                    let col = scratch + worker * t.scratchPerWorker
                    im2colFast(x, channels: 0..<t.channels, height: t.inHeight, width: t.inWidth, geometry: t.geometry,
                           outWidth: ow, rowStart: oy0, rowCount: rowCount, into: col)
                    b = UnsafePointer(col)
                    ldb = cols
                }
                if blocked {
                    cvm_pointwise(b, ldb, w, k, k, bias, y + c0, plane, 0, m, 0, cols, act, slope)
                    return
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(cols), Int32(k), 1,
                            w, Int32(k), b, Int32(ldb), 0, y + c0, Int32(plane))
                for f in 0..<m { activation.biasActivate(y + f * plane + c0, count: cols, bias: bias[f]) }
            }
        case .filters:
            let b: UnsafePointer<Float>
            if t.pointwise {
                b = x
            } else {
                // The whole column matrix once, split over input channels.
                Parallel.forEachChunk(t.channels, minPerChunk: 4, workers: workers) { range in
                    im2colFast(x, channels: range, height: t.inHeight, width: t.inWidth, geometry: t.geometry,
                           outWidth: ow, rowStart: 0, rowCount: t.outHeight, into: scratch)
                }
                b = UnsafePointer(scratch)
            }
            if blocked {
                PointwiseKernel.run(x: b, ldx: plane, weight: w, channels: k, bias: bias, y: y, ldy: plane,
                                    filters: m, plane: plane, activation: activation, workers: workers)
                return
            }
            Parallel.forEachTask(t.tasks, workers: workers) { _, task in
                let f0 = task * t.filtersPerTask
                let fm = min(t.filtersPerTask, m - f0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(fm), Int32(plane), Int32(k), 1,
                            w + f0 * k, Int32(k), b, Int32(plane), 0, y + f0 * plane, Int32(plane))
                for f in f0..<(f0 + fm) { activation.biasActivate(y + f * plane, count: plane, bias: bias[f]) }
            }
        }
    }

    /// The whole column matrix `[C*kh*kw, outH*outW]` of one image (ungrouped): what the fast
    /// path builds tile by tile, for tests and benchmarks.
    public static func unfold(_ input: Tensor, geometry g: ConvGeometry) -> [Float] {
        let s = input.featureShape
        let (oh, ow) = g.outputSize(height: s.height, width: s.width)
        var col = [Float](repeating: 0, count: g.inChannels * g.kernelH * g.kernelW * oh * ow)
        input.data.withUnsafeBufferPointer { x in
            col.withUnsafeMutableBufferPointer { c in
                im2col(x.baseAddress!, channels: 0..<g.inChannels, height: s.height, width: s.width, geometry: g,
                       outWidth: ow, rowStart: 0, rowCount: oh, into: c.baseAddress!)
            }
        }
        return col
    }

    /// `im2col` in C (CVectorMath), compiled per kernel level: the stride-2 gather and
    /// the padding zeros vectorise there (baseline Swift zeroed single floats through memset).
    @inline(__always)
    static func im2colFast(_ x: UnsafePointer<Float>, channels: Range<Int>, height: Int, width: Int,
                           geometry g: ConvGeometry, outWidth ow: Int, rowStart: Int, rowCount: Int,
                           into col: UnsafeMutablePointer<Float>) {
        let first = channels.lowerBound
        cvm_im2col(x + first * height * width, channels.count, height, width, g.kernelH, g.kernelW, g.stride,
                   g.padding, ow, rowStart, rowCount, col + first * g.kernelH * g.kernelW * rowCount * ow)
    }

    /// The column matrix rows of `rows` output rows from `rowStart` through `im2colFast`, for tests.
    public static func unfoldFast(_ input: Tensor, geometry g: ConvGeometry, rowStart: Int, rows: Int) -> [Float] {
        unfoldRows(input, geometry: g, rows: rows) { x, col, s, ow in
            // Two channel ranges, as the filter-block mode splits them over workers.
            let half = g.inChannels / 2
            for range in [0..<half, half..<g.inChannels] where !range.isEmpty {
                im2colFast(x, channels: range, height: s.height, width: s.width, geometry: g,
                           outWidth: ow, rowStart: rowStart, rowCount: rows, into: col)
            }
        }
    }

    /// The same through the Swift `im2col` (the reference).
    public static func unfold(_ input: Tensor, geometry g: ConvGeometry, rowStart: Int, rows: Int) -> [Float] {
        unfoldRows(input, geometry: g, rows: rows) { x, col, s, ow in
            im2col(x, channels: 0..<g.inChannels, height: s.height, width: s.width, geometry: g,
                   outWidth: ow, rowStart: rowStart, rowCount: rows, into: col)
        }
    }

    /// A NaN-filled column matrix for `rows` output rows, handed to `fill` with the input.
    private static func unfoldRows(_ input: Tensor, geometry g: ConvGeometry, rows: Int,
                                   fill: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, FeatureShape, Int) -> Void) -> [Float] {
        let s = input.featureShape
        let ow = g.outputSize(height: s.height, width: s.width).width
        var col = [Float](repeating: .nan, count: g.inChannels * g.kernelH * g.kernelW * rows * ow)
        input.data.withUnsafeBufferPointer { x in
            col.withUnsafeMutableBufferPointer { c in fill(x.baseAddress!, c.baseAddress!, s, ow) }
        }
        return col
    }

    /// Unrolls output rows `[rowStart, rowStart + rowCount)` of input channels `channels` into
    /// rows `c*kh*kw + i*kw + j` of a `[C*kh*kw, rowCount*outW]` matrix at `col`.
    @inline(__always)
    static func im2col(_ x: UnsafePointer<Float>, channels: Range<Int>, height: Int, width: Int,
                       geometry g: ConvGeometry, outWidth ow: Int, rowStart: Int, rowCount: Int,
                       into col: UnsafeMutablePointer<Float>) {
        let cols = rowCount * ow
        let s = g.stride
        for c in channels {
            let xc = x + c * height * width
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let dst = col + ((c * g.kernelH + i) * g.kernelW + j) * cols
                    // Output columns whose input column ox*s - p + j is inside the image.
                    let shift = j - g.padding
                    let lo = min(ow, max(0, (-shift + s - 1) / s))
                    let hi = max(lo, min(ow, (width - shift + s - 1) / s))
                    for r in 0..<rowCount {
                        let iy = (rowStart + r) * s - g.padding + i
                        let d = dst + r * ow
                        if iy < 0 || iy >= height {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = xc + iy * width + shift
                        if lo > 0 { d.update(repeating: 0, count: lo) }
                        if s == 1 {
                            if hi > lo { (d + lo).update(from: src + lo, count: hi - lo) }
                        } else if s == 2 {
                            // A constant stride lets the compiler vectorise the gather (load pairs, keep evens).
                            for ox in lo..<hi { d[ox] = src[2 * ox] }
                        } else {
                            for ox in lo..<hi { d[ox] = src[ox * s] }
                        }
                        if hi < ow { (d + hi).update(repeating: 0, count: ow - hi) }
                    }
                }
            }
        }
    }
}

/// A conv's weights rearranged for its fast path, made once per weight set: the Winograd
/// transform `[positions][F][C]` for the convs it applies to (16/9 the size of the weights for
/// F(2x2), 4x for F(4x4)). (The blocked kernel of the other convs reads the dense weights as
/// they are.)
public struct PreparedWeights: Sendable {
    public let winograd: [Float]?
    /// The tile `winograd` was made for.
    public let winogradTile: Winograd.Tile
    /// The conv they were made for.
    public let geometry: ConvGeometry

    public init(weight: [Float], geometry g: ConvGeometry, tile: Winograd.Tile = KernelOptions.default.preferredWinogradTile) {
        winogradTile = tile
        geometry = g
        winograd = Winograd.applies(g)
            ? Winograd.transformWeights(weight, filters: g.outChannels, channels: g.inChannels, tile: tile) : nil
    }

    /// The dense weights back from the Winograd transform (`Winograd.untransformWeights`: equal
    /// to the originals up to float rounding); nil when there is no transform.
    public func untransformed() -> [Float]? {
        winograd.map { Winograd.untransformWeights($0, filters: geometry.outChannels, channels: geometry.inChannels,
                                                   tile: winogradTile) }
    }

    public var bytes: Int { (winograd?.count ?? 0) * MemoryLayout<Float>.size }
}

/// How one conv's work is split. `columns`: tasks are tiles of output columns (whole output
/// rows when im2col is needed), each im2col'd into its worker's scratch, multiplied by all
/// filters and finished while hot. `filters`: for small planes, where column tiles would be too
/// thin to keep the GEMM efficient, the column matrix is built once and tasks are blocks of filters.
struct ConvTiling {
    enum Mode { case columns, filters }
    /// A GEMM narrower than this wastes its weight packing (each tile re-packs all the weights).
    static let minColumns = 256
    /// im2col tile target in floats (1 MiB: a core's L2 on the machines this was tuned on).
    static let tileFloats = 256 << 10
    /// The same for the blocked kernel (512 KiB), which reads the tile panel by panel once per
    /// block of 8 filters, so the whole tile should stay in L2 beside the weights.
    static let blockedTileFloats = 128 << 10
    static let maxColumns = 4096
    /// Planes up to this many pixels (40x40) are multiplied whole.
    static let smallPlane = 1600

    let geometry: ConvGeometry
    let mode: Mode
    let pointwise: Bool
    let channels: Int, filters: Int, depth: Int
    let inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int, plane: Int
    let tasks: Int
    let columnsPerTask: Int
    let filtersPerTask: Int
    let scratchPerWorker: Int
    let scratchFloats: Int

    init(geometry g: ConvGeometry, input: FeatureShape, workers: Int, tileLimit: Int, blocked: Bool = false) {
        geometry = g
        pointwise = g.isPointwise
        channels = g.inChannels / g.groups
        filters = g.outChannels / g.groups
        depth = g.filterSize
        inHeight = input.height
        inWidth = input.width
        (outHeight, outWidth) = g.outputSize(height: input.height, width: input.width)
        plane = outHeight * outWidth
        let w = max(1, workers)
        // One call per worker's share when the whole column matrix is small: sgemm packs each
        // weight once per call, and column tiles of a small plane would re-pack all the weights
        // for little work each (the deep 20x20 and 40x40 layers).
        let wholeMatrix = plane <= Self.smallPlane && depth * plane <= tileLimit
        if !wholeMatrix && (w == 1 || plane >= 2 * w * Self.minColumns) {
            mode = .columns
            // Wide enough to amortise packing, small enough to stay in cache, and at least two
            // tasks per worker so a slower core does not hold up the layer.
            var target = min(Self.maxColumns, max(Self.minColumns, (blocked ? Self.blockedTileFloats : Self.tileFloats) / depth))
            if w > 1 { target = min(target, max(Self.minColumns, plane / (2 * w))) }
            if pointwise {
                columnsPerTask = min(plane, target)
            } else {
                let rowLimit = max(1, min(tileLimit / max(1, depth * outWidth), outHeight))
                let rows = max(1, min(rowLimit, target / outWidth))
                columnsPerTask = rows * outWidth
            }
            filtersPerTask = filters
            tasks = pointwise ? (plane + columnsPerTask - 1) / columnsPerTask
                : (outHeight + columnsPerTask / outWidth - 1) / (columnsPerTask / outWidth)
            scratchPerWorker = pointwise ? 0 : depth * columnsPerTask
            scratchFloats = scratchPerWorker * min(w, tasks)
        } else {
            mode = .filters
            columnsPerTask = plane
            // Blocks of 16 filters (the AVX-512 sgemm kernel's tile height), two per worker (each
            // block re-packs the column matrix, but one slow core should not hold up the layer).
            let block = w == 1 ? filters : max(16, (filters + 2 * w - 1) / (2 * w) + 15) / 16 * 16
            filtersPerTask = min(filters, block)
            tasks = (filters + filtersPerTask - 1) / filtersPerTask
            scratchPerWorker = 0
            scratchFloats = pointwise ? 0 : depth * plane
        }
    }
}

/// Plain matrix products through BLAS (row-major), for tests and benchmarks of GEMM shapes.
public enum Matrix {
    /// `c[m x n] = a[m x k] * b[k x n]`.
    public static func multiply(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, into c: inout [Float]) {
        precondition(a.count >= m * k && b.count >= k * n && c.count >= m * n, "multiply: sizes")
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                    a, Int32(k), b, Int32(n), 0, &c, Int32(n))
    }
}

/// BLAS threading, set once by the CLI (tests leave the library default). OpenBLAS on Linux;
/// Accelerate on Apple platforms, which has no such settings (its sgemm runs on the calling
/// thread for the engine's small per-task products).
public enum BLASThreads {
    #if canImport(Accelerate)
    public static func set(_ n: Int) {}
    public static var current: Int { 1 }
    public static var coreName: String { "Accelerate" }
    public static var config: String { "Accelerate" }
    #else
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var current: Int { Int(openblas_get_num_threads()) }
    /// The kernel set OpenBLAS chose for this CPU (not capped by YOLOV7_ISA; OPENBLAS_CORETYPE caps it).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var config: String { String(cString: openblas_get_config()) }
    #endif
}
