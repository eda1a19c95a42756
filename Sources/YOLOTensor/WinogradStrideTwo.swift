import CVectorMath

/// 3x3 stride-2 convs (padding 1, ungrouped: YOLOv7's downsampling convs) by Winograd over the
/// input's polyphase components. Output (oy, ox) reads input rows 2oy-1, 2oy, 2oy+1: row 2oy
/// is the even-row component at oy with kernel row 1, rows 2oy-1 and 2oy+1 the odd-row
/// component at oy-1 and oy with kernel rows 0 and 2. Columns split the same way, so the conv is
/// the sum of four stride-1 2x2 convs (kernel taps a parity does not have are zero) over the
/// four phases (row parity a, column parity b) of the input. Each runs as F(4x4, 2x2) at the
/// points 0, 1, -1, 2, inf: a 5x5 transform per 4x4 output tile, with
///
///     B^T = | 2 -1 -2  1  0 |     G = |  1/2    0  |     A^T = | 1  1  1  1  0 |
///           | 0 -2 -1  1  0 |         | -1/2  -1/2 |           | 0  1 -1  2  0 |
///           | 0  2 -3  1  0 |         | -1/6   1/6 |           | 0  1  1  4  0 |
///           | 0 -1  0  1  0 |         |  1/6   1/3 |           | 0  1 -1  8  1 |
///           | 0  2 -1 -2  1 |         |   0     1  |
///
/// A^T is F(4x4, 3x3)'s without its -2 column, so F(4x4)'s output transform finishes the
/// products (`cvm_winograd_s2_output`, reading that row and column as zeros) with bias and
/// activation. The inf row of U = G g G^T is a kernel's second tap, zero for even phases: of
/// the 25 positions, 16 need all four phases, 8 need two and one needs one, so the products
/// sum 81 C terms per 16 outputs where the direct conv sums 144 C (1.78x fewer), while each
/// product is still one contiguous GEMM (phases ordered (0,0), (0,1), (1,1), (1,0), so the
/// ones a position needs are adjacent). The transformed weights are 9x the weights, so this
/// runs only on planes large enough to gain (`minOutputPlane`; the deep 20x20 convs, whose
/// weights are largest, stay on im2col).
public enum StrideTwoWinograd {
    /// Output planes from this many pixels (40x40) take this path.
    static let minOutputPlane = 1600

    static let g: [[Double]] = [[0.5, 0], [-0.5, -0.5], [-1.0 / 6, 1.0 / 6], [1.0 / 6, 1.0 / 3], [0, 1]]
    static let bT: [[Double]] = [[2, -1, -2, 1, 0], [0, -2, -1, 1, 0], [0, 2, -3, 1, 0], [0, -1, 0, 1, 0],
                                 [0, 2, -1, -2, 1]]
    /// (row parity, column parity) of phase p, in the order of the C transform.
    static let phases: [(a: Int, b: Int)] = [(0, 0), (0, 1), (1, 1), (1, 0)]
    /// Kernel row (column) read by tap u of a component of parity a: [1, none] or [0, 2].
    static func kernelIndex(parity: Int, tap: Int) -> Int? { parity == 0 ? (tap == 0 ? 1 : nil) : (tap == 0 ? 0 : 2) }

    /// Phases position (i, j) of the 5x5 transform needs.
    static func phaseRange(_ i: Int, _ j: Int) -> Range<Int> {
        switch (i == 4, j == 4) {
        case (false, false): return 0..<4
        case (true, false): return 2..<4
        case (false, true): return 1..<3
        case (true, true): return 2..<3
        }
    }

    /// Start of position xi's `[F][phases * C]` block in the transformed weights (26 entries).
    static func weightOffsets(filters: Int, channels: Int) -> [Int] {
        var offsets = [0]
        for xi in 0..<25 { offsets.append(offsets.last! + filters * phaseRange(xi / 5, xi % 5).count * channels) }
        return offsets
    }

    public static func outputSize(_ input: FeatureShape) -> (height: Int, width: Int) {
        ((input.height - 1) / 2 + 1, (input.width - 1) / 2 + 1)
    }

    /// Whether a conv on this input runs this way (`KernelOptions.strideTwoWinograd` switches it
    /// off for measuring; `winograd` off turns it off too).
    public static func applies(_ g: ConvGeometry, input: FeatureShape, options: KernelOptions = .default) -> Bool {
        let (oh, ow) = outputSize(input)
        return options.strideTwoWinograd && options.winograd && supports(g) && oh * ow >= minOutputPlane && (ow + 3) / 4 <= Int(cvm_winograd4_max_tile_columns())
    }

    /// Whether the kernels can run this conv at all (a vector level; 3x3, stride 2, padding 1, ungrouped).
    public static func supports(_ g: ConvGeometry) -> Bool {
        PointwiseKernel.available && g.kernelH == 3 && g.kernelW == 3 && g.stride == 2 && g.padding == 1
            && g.groups == 1 && g.inChannels >= 8 && g.outChannels >= 8
    }

    /// U = G g_p G^T for every filter, phase and channel, in float (additions, exact doublings and
    /// one scaling per value: `cvm_winograd_s2_weights`): position xi's block at
    /// `weightOffsets[xi]`, row f, column (p - first phase) * C + c. For dense weights once per
    /// conv; packed ones run the same C function on every pass (`Workspace.stageStrideTwo`).
    public static func transformWeights(_ w: [Float], filters: Int, channels: Int) -> [Float] {
        precondition(w.count >= filters * channels * 9, "stride-2 Winograd: weights are not F x C x 3 x 3")
        // The C transform reads kernel-major planes (what packed weights decode to).
        let n = filters * channels
        var planes = [Float](repeating: 0, count: 9 * n)
        for pair in 0..<n {
            for k in 0..<9 { planes[k * n + pair] = w[pair * 9 + k] }
        }
        var u = [Float](repeating: 0, count: transformedCount(filters: filters, channels: channels))
        u.withUnsafeMutableBufferPointer { cvm_winograd_s2_weights(planes, filters, channels, 0, filters, $0.baseAddress!) }
        return u
    }

    /// Floats of the transformed weights: 81 per (filter, channel) pair.
    static func transformedCount(filters: Int, channels: Int) -> Int { 81 * filters * channels }

    /// The same pair by pair and phase by phase (`transformPhase`): the plain form
    /// `cvm_winograd_s2_weights` is tested against (identical floats).
    public static func transformWeightsReference(_ w: [Float], filters: Int, channels: Int) -> [Float] {
        let offsets = weightOffsets(filters: filters, channels: channels)
        var u = [Float](repeating: .nan, count: offsets[25])
        for f in 0..<filters {
            for c in 0..<channels {
                let kernel = Array(w[((f * channels + c) * 9)..<((f * channels + c) * 9 + 9)])
                for (p, (a, b)) in phases.enumerated() {
                    let t = transformPhase(kernel, a: a, b: b)
                    for xi in 0..<25 {
                        let range = phaseRange(xi / 5, xi % 5)
                        guard range.contains(p) else { continue }
                        let k = range.count * channels
                        u[offsets[xi] + f * k + (p - range.lowerBound) * channels + c] = t[xi]
                    }
                }
            }
        }
        return u
    }

    /// U = G g_p G^T (5x5, row-major) of one 3x3 kernel's phase (a, b) 2x2 kernel g_p, in float as
    /// the C transform computes it: G = D Gi (`d`, `applyGi`), Gi applied to the columns of g_p,
    /// then to the rows of the result, each value scaled once by D_i D_j rounded to float.
    static func transformPhase(_ kernel: [Float], a: Int, b: Int) -> [Float] {
        var gp: [[Float]] = [[0, 0], [0, 0]]
        for u in 0..<2 {
            for v in 0..<2 {
                if let r = kernelIndex(parity: a, tap: u), let s = kernelIndex(parity: b, tap: v) {
                    gp[u][v] = kernel[r * 3 + s]
                }
            }
        }
        let t = (0..<2).map { v in applyGi(gp[0][v], gp[1][v]) }
        var out = [Float](repeating: 0, count: 25)
        for i in 0..<5 {
            let row = applyGi(t[0][i], t[1][i])
            for j in 0..<5 { out[i * 5 + j] = row[j] * Float(d[i] * d[j]) }
        }
        return out
    }

    /// G = D Gi: Gi's rows (1,0), (1,1), (1,-1), (1,2), (0,1), D below.
    static let d: [Double] = [0.5, -0.5, -1.0 / 6, 1.0 / 6, 1]

    /// Gi applied to (x0, x1), in the C transform's order of operations.
    static func applyGi(_ x0: Float, _ x1: Float) -> [Float] { [x0, x0 + x1, x0 - x1, x0 + 2 * x1, x1] }

    /// B^T d B of one 5x5 tile (row-major) by the matrix, in Double: the plain form of
    /// `cvm_winograd_s2_input`, for tests.
    public static func inputTileReference(_ d: [Float]) -> [Double] { Winograd.sandwich(d, bT) }

    /// How the work is split: whole planes for small ones (all tiles transformed at once, the
    /// products split by position and filter block), else blocks of tile rows, each
    /// transformed, multiplied and finished by one worker while in cache (~1 MiB of V).
    struct Tiling {
        let tileRows: Int, tileColumns: Int
        let rowsPerTask: Int
        let whole: Bool
        var tasks: Int { (tileRows + rowsPerTask - 1) / rowsPerTask }
        var tilesPerTask: Int { rowsPerTask * tileColumns }

        init(outHeight: Int, outWidth: Int, channels: Int, whole: Bool? = nil) {
            tileRows = (outHeight + 3) / 4
            tileColumns = (outWidth + 3) / 4
            let target = max(32, (1 << 18) / (25 * 4 * channels))
            self.whole = whole ?? (tileRows * tileColumns <= 400)
            rowsPerTask = self.whole ? tileRows : min(tileRows, max(1, target / tileColumns))
        }

        func scratchFloats(channels: Int, filters: Int, workers: Int) -> Int {
            let perTask = (25 * (4 * channels + filters)) * tilesPerTask
            return whole ? perTask : perTask * max(1, min(workers, tasks))
        }
    }

    /// The conv between workspace views; `u` from `transformWeights`. `whole` forces a tiling
    /// (tests).
    public static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, transformed u: [Float],
                               bias: [Float], geometry gm: ConvGeometry, activation: Activation, workers: Int,
                               whole: Bool? = nil) {
        let s = input.shape
        let (oh, ow) = outputSize(s)
        let c = gm.inChannels, f = gm.outChannels
        precondition(supports(gm) && s.channels == c && output.shape == gm.outputShape(s) && output.storage == .arena,
                     "stride-2 Winograd: views do not fit")
        let offsets = weightOffsets(filters: f, channels: c)
        precondition(u.count >= offsets[25] && bias.count == f, "stride-2 Winograd: weight sizes")
        let t = Tiling(outHeight: oh, outWidth: ow, channels: c, whole: whole)
        let (act, slope) = PointwiseKernel.code(activation)
        ws.reserveScratch(t.scratchFloats(channels: c, filters: f, workers: workers))
        let perWorker = t.scratchFloats(channels: c, filters: f, workers: 1)
        let h = s.height, w = s.width
        ws.arena.withUnsafeMutableBufferPointer { arenaBuf in
            ws.input.withUnsafeBufferPointer { inputBuf in
            let views = ViewPointers(input: inputBuf.baseAddress, arena: arenaBuf.baseAddress)
            ws.scratch.withUnsafeMutableBufferPointer { scratchBuf in
                u.withUnsafeBufferPointer { uBuf in
                    bias.withUnsafeBufferPointer { bBuf in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: f) { zeros in
                        zeros.initialize(repeating: 0)
                        let noBias = UnsafePointer(zeros.baseAddress!), uBase = uBuf.baseAddress!
                        // Position xi's product for filters f0..<f1 over `tiles` tile columns.
                        func product(_ xi: Int, _ f0: Int, _ f1: Int, v: UnsafePointer<Float>,
                                     m: UnsafeMutablePointer<Float>, tiles: Int) {
                            let range = phaseRange(xi / 5, xi % 5), k = range.count * c
                            cvm_pointwise(v + (xi * 4 + range.lowerBound) * c * tiles, tiles, uBase + offsets[xi], k, k,
                                          noBias, m + xi * f * tiles, tiles, f0, f1, 0, tiles,
                                          Int32(CVM_ACT_IDENTITY), 0)
                        }
                        for n in 0..<s.batch {
                            let x = views.source(input, item: n), y = views.destination(output, item: n)
                            if t.whole {
                                let tiles = t.tileRows * t.tileColumns
                                let v = scratchBuf.baseAddress!, m = v + 25 * 4 * c * tiles
                                Parallel.forEachChunk(c, minPerChunk: 4, workers: workers) { r in
                                    cvm_winograd_s2_input(x + r.lowerBound * h * w, r.count, h, w, 0, t.tileRows, 0,
                                                          t.tileColumns, v + r.lowerBound * tiles, tiles, c * tiles,
                                                          4 * c * tiles)
                                }
                                let block = 16, blocks = (f + block - 1) / block
                                Parallel.forEachTask(25 * blocks, workers: workers) { _, task in
                                    let xi = task / blocks, f0 = (task % blocks) * block
                                    product(xi, f0, min(f, f0 + block), v: v, m: m, tiles: tiles)
                                }
                                Parallel.forEachChunk(f, minPerChunk: 4, workers: workers) { r in
                                    cvm_winograd_s2_output(m + r.lowerBound * tiles, tiles, f * tiles, r.count, 0, t.tileRows,
                                                         0, t.tileColumns, bBuf.baseAddress! + r.lowerBound, act, slope,
                                                         y + r.lowerBound * oh * ow, oh, ow)
                                }
                            } else {
                                Parallel.forEachTask(t.tasks, workers: workers) { worker, task in
                                    let ty0 = task * t.rowsPerTask, ty1 = min(t.tileRows, ty0 + t.rowsPerTask)
                                    let tiles = (ty1 - ty0) * t.tileColumns
                                    let v = scratchBuf.baseAddress! + worker * perWorker
                                    let m = v + 25 * 4 * c * tiles
                                    cvm_winograd_s2_input(x, c, h, w, ty0, ty1, 0, t.tileColumns, v, tiles, c * tiles,
                                                          4 * c * tiles)
                                        for xi in 0..<25 { product(xi, 0, f, v: v, m: m, tiles: tiles) }
                                    cvm_winograd_s2_output(m, tiles, f * tiles, f, ty0, ty1, 0, t.tileColumns,
                                                         bBuf.baseAddress!, act, slope, y, oh, ow)
                                }
                            }
                        }
                    }
                    }
                }
            }
            }
        }
    }

    /// The conv on tensors, for tests: any shape the kernels support, either tiling.
    public static func apply(input: Tensor, weight: [Float], bias: [Float], geometry g: ConvGeometry,
                             activation: Activation, workers: Int, whole: Bool? = nil) -> Tensor {
        precondition(supports(g), "stride-2 Winograd: needs a vector level and a 3x3 s2 p1 conv")
        var ws = Workspace()
        ws.input = input.data
        let outShape = g.outputShape(input.featureShape)
        ws.arena = [Float](repeating: .nan, count: outShape.count)
        forward(&ws, input: FeatureView(storage: .input, offset: 0, shape: input.featureShape),
                output: FeatureView(offset: 0, shape: outShape),
                transformed: transformWeights(weight, filters: g.outChannels, channels: g.inChannels), bias: bias,
                geometry: g, activation: activation, workers: workers, whole: whole)
        return Tensor(shape: outShape.dims, data: ws.arena)
    }
}
