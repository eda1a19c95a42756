import CVectorMath
#if canImport(Accelerate)
import Accelerate
#else
import CBLAS
#endif

/// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016):
/// each 2x2 output tile from a 4x4 input tile with 16 multiplies instead of 36, so the GEMM
/// work of these convs (over half of YOLOv7's FLOPs) drops by 2.25x.
///
/// With d a 4x4 input tile and g a 3x3 filter: Y = A^T [(G g G^T) .* (B^T d B)] A, where
///
///     B^T = | 1  0 -1  0 |     G = |  1    0    0  |     A^T = | 1  1  1  0 |
///           | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
///           | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
///           | 0  1  0 -1 |         |  0    0    1  |
///
/// Summed over input channels, the 16 elementwise products become 16 matrix products
/// `M[xi] = U[xi] (F x C) * V[xi] (C x tiles)`, run through sgemm. All transform
/// coefficients are 0, +-1 and 1/2 (exact in float), so the rounding error stays that of a
/// direct conv summing 4x more terms per product (measured against the direct reference:
/// < 2e-6 relative on unit-scale data, WinogradTests).
///
/// F(4x4, 3x3) (`Tile.f4`, transforms in C: Winograd4.c) makes each 4x4 output tile from a 6x6
/// input tile with 36 products: 2.25 per output against F(2x2)'s 4, and less transform traffic
/// per output. Its transforms have coefficients up to 8 and 1/24, so its rounding error is
/// larger (measured: WinogradTests); it runs where the blocked kernel does (a vector level).
public enum Winograd {
    /// Output tile size: F(2x2, 3x3) or F(4x4, 3x3).
    public enum Tile: Int, Sendable, CaseIterable, CustomStringConvertible {
        case f2 = 2, f4 = 4
        /// Elementwise products per tile, (m + 2)^2: the number of GEMMs.
        public var positions: Int { (rawValue + 2) * (rawValue + 2) }
        public var description: String { "F(\(rawValue)x\(rawValue),3x3)" }

        /// Whether the engine runs it here (F(4x4)'s C transforms and products at a vector level).
        /// (Which tile convs use unless told otherwise: `KernelOptions.preferredWinogradTile`.)
        public var available: Bool { self == .f2 || PointwiseKernel.available }
    }

    /// Whether a conv runs this way: 3x3, stride 1, padding 1, ungrouped, and wide enough that
    /// the 16 small GEMMs are not dominated by the transforms.
    public static func applies(_ g: ConvGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.stride == 1 && g.padding == 1 && g.groups == 1
            && g.inChannels >= 16 && g.outChannels >= 16
    }

    /// U = G g G^T for every (filter, channel), laid out `[positions][F][C]` (position-major, so
    /// each of the GEMMs reads one contiguous F x C matrix). F(2x2) computed in Double, F(4x4) in
    /// float (`cvm_winograd4_weights`, `transformWeights4Reference`).
    public static func transformWeights(_ w: [Float], filters: Int, channels: Int, tile: Tile = .f2) -> [Float] {
        precondition(w.count == filters * channels * 9, "Winograd: weights are not F x C x 3 x 3")
        var u = [Float](repeating: 0, count: tile.positions * filters * channels)
        w.withUnsafeBufferPointer { wb in
            u.withUnsafeMutableBufferPointer { ub in
                switch tile {
                case .f2:
                    transformWeights(wb.baseAddress!, filters: 0..<filters, channels: channels, into: ub.baseAddress!,
                                     totalFilters: filters)
                case .f4:
                    // The C transform reads kernel-major planes (what packed weights decode to).
                    let n = filters * channels
                    var planes = [Float](repeating: 0, count: 9 * n)
                    for pair in 0..<n {
                        for k in 0..<9 { planes[k * n + pair] = wb[pair * 9 + k] }
                    }
                    transformWeights(kernelMajor: planes, count: n, into: ub.baseAddress!, stride: n, tile: .f4)
                }
            }
        }
        return u
    }

    /// F(4x4)'s U = G g G^T for one (filter, channel) pair, in float as `cvm_winograd4_weights`
    /// computes it (its plain form, for tests: identical floats): G = D Gi, Gi applied to the
    /// columns of g and then to the rows of the result (additions and exact doublings, `applyGi4`),
    /// each value then scaled once by D_i D_l rounded to float.
    public static func transformWeights4Reference(_ g: [Float]) -> [Float] {
        let t = (0..<3).map { b in applyGi4(g[b], g[3 + b], g[6 + b]) }
        var u = [Float](repeating: 0, count: 36)
        for i in 0..<6 {
            let row = applyGi4(t[0][i], t[1][i], t[2][i])
            for l in 0..<6 { u[i * 6 + l] = row[l] * Float(d4[i] * d4[l]) }
        }
        return u
    }

    /// F(4x4)'s G = D Gi: Gi's rows (1,0,0), (1,1,1), (1,-1,1), (1,2,4), (1,-2,4), (0,0,1), D below.
    static let d4: [Double] = [1.0 / 4, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24, 1]

    /// Gi applied to (a, b, c), in the C transform's order of operations.
    static func applyGi4(_ a: Float, _ b: Float, _ c: Float) -> [Float] {
        let s = a + c, e = a + 4 * c, d = 2 * b
        return [a, s + b, s - b, e + d, e - d, c]
    }

    /// The transform of filters `filters` only: `w` holds `W[filters, :, :, :]` (its first
    /// float is filter `filters.lowerBound`), `u` is the whole `[16][totalFilters][C]` output.
    public static func transformWeights(_ w: UnsafePointer<Float>, filters: Range<Int>, channels: Int,
                                        into u: UnsafeMutablePointer<Float>, totalFilters: Int) {
        let stride = totalFilters * channels
        // One row (a, b, c) of t = G g becomes four values of U = t G^T.
        @inline(__always) func row(_ i: Int, _ a: Double, _ b: Double, _ c: Double, _ out: UnsafeMutablePointer<Float>) {
            out[(i * 4 + 0) * stride] = Float(a)
            out[(i * 4 + 1) * stride] = Float((a + b + c) / 2)
            out[(i * 4 + 2) * stride] = Float((a - b + c) / 2)
            out[(i * 4 + 3) * stride] = Float(c)
        }
        for f in filters {
            for c in 0..<channels {
                let g = w + ((f - filters.lowerBound) * channels + c) * 9
                let out = u + f * channels + c
                let g00 = Double(g[0]), g01 = Double(g[1]), g02 = Double(g[2])
                let g10 = Double(g[3]), g11 = Double(g[4]), g12 = Double(g[5])
                let g20 = Double(g[6]), g21 = Double(g[7]), g22 = Double(g[8])
                // Rows of t = G g: g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2.
                row(0, g00, g01, g02, out)
                row(1, (g00 + g10 + g20) / 2, (g01 + g11 + g21) / 2, (g02 + g12 + g22) / 2, out)
                row(2, (g00 - g10 + g20) / 2, (g01 - g11 + g21) / 2, (g02 - g12 + g22) / 2, out)
                row(3, g20, g21, g22, out)
            }
        }
    }

    /// G of F(2x2) and of F(4x4).
    static let g2: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    static let g4: [[Double]] = [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                                 [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]]

    /// F(4x4)'s matrices, for the plain per-tile reference below (the C transforms hard-code them).
    static let bT4: [[Double]] = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
    static let aT4: [[Double]] = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]

    /// F(4x4)'s input transform of one 6x6 tile, B^T d B, by the matrices in Double: the plain
    /// form of `cvm_winograd4_input`, for tests.
    public static func inputTile4Reference(_ d: [Float]) -> [Double] { sandwich(d, bT4) }

    /// F(4x4)'s output transform of one tile, A^T M A, by the matrices in Double: the plain form
    /// of `cvm_winograd4_output` (before bias and activation), for tests.
    public static func outputTile4Reference(_ m: [Float]) -> [Double] { sandwich(m, aT4) }

    /// `t d t^T` for an n x n tile `d` (row-major) and a k x n matrix `t`, in Double, each sum in
    /// index order: the per-tile form of every Winograd transform.
    static func sandwich(_ d: [Float], _ t: [[Double]]) -> [Double] {
        let k = t.count, n = t[0].count
        precondition(d.count == n * n, "Winograd: tile is not \(n) x \(n)")
        var rows = [Double](repeating: 0, count: k * n), out = [Double](repeating: 0, count: k * k)
        for i in 0..<k { for j in 0..<n { for l in 0..<n { rows[i * n + j] += t[i][l] * Double(d[l * n + j]) } } }
        for i in 0..<k { for j in 0..<k { for l in 0..<n { out[i * k + j] += rows[i * n + l] * t[j][l] } } }
        return out
    }

    /// The 3x3 filters back from their transform U = G g G^T, as g = P U P^T with P = (G^T G)^-1 G^T
    /// (G has full column rank), in Double: equal to the original weights up to the rounding of
    /// U to float (a few ulps). For inspection after a model dropped its dense weights; the
    /// engine itself never runs from these.
    public static func untransformWeights(_ u: [Float], filters: Int, channels: Int, tile: Tile) -> [Float] {
        let n = tile.rawValue + 2
        let g = tile == .f2 ? g2 : g4
        // G^T G (3x3, symmetric positive definite) and its inverse by cofactors.
        var a = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 { for j in 0..<3 { for k in 0..<n { a[i][j] += g[k][i] * g[k][j] } } }
        let m0: Double = a[1][1] * a[2][2] - a[1][2] * a[2][1]
        let m1: Double = a[1][0] * a[2][2] - a[1][2] * a[2][0]
        let m2: Double = a[1][0] * a[2][1] - a[1][1] * a[2][0]
        let det: Double = a[0][0] * m0 - a[0][1] * m1 + a[0][2] * m2
        var inv = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 {
            for j in 0..<3 {
                let r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3
                let cofactor: Double = a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]
                inv[i][j] = cofactor / det
            }
        }
        var p = [[Double]](repeating: [Double](repeating: 0, count: n), count: 3)
        for i in 0..<3 { for k in 0..<n { for j in 0..<3 { p[i][k] += inv[i][j] * g[k][j] } } }
        let pairs = filters * channels
        precondition(u.count >= n * n * pairs, "Winograd: transform too small")
        var w = [Float](repeating: 0, count: pairs * 9)
        var t = [Double](repeating: 0, count: 3 * n)
        for pair in 0..<pairs {
            // t = P U (3 x n), then g = t P^T (3 x 3).
            for i in 0..<3 {
                for l in 0..<n {
                    var sum = 0.0
                    for k in 0..<n { sum += p[i][k] * Double(u[(k * n + l) * pairs + pair]) }
                    t[i * n + l] = sum
                }
            }
            for i in 0..<3 {
                for j in 0..<3 {
                    var sum = 0.0
                    for l in 0..<n { sum += t[i * n + l] * p[j][l] }
                    w[pair * 9 + i * 3 + j] = Float(sum)
                }
            }
        }
        return w
    }

    /// The same transform from kernel-major weights: `g` holds nine planes of `count` values
    /// (`g[k * count + j]` is kernel position k of (filter, channel) pair j); pair j's sixteen
    /// values go to `u[xi * stride + j]`. Runs in C built per kernel level (loops along j
    /// vectorize there); same Double arithmetic in the same order as the pairwise version
    /// above, its reference, so the floats are identical (WinogradTests).
    public static func transformWeights(kernelMajor g: UnsafePointer<Float>, count: Int,
                                        into u: UnsafeMutablePointer<Float>, stride: Int, tile: Tile = .f2) {
        switch tile {
        case .f2: cvm_winograd_weights(g, count, u, stride)
        case .f4: cvm_winograd4_weights(g, count, u, stride)
        }
    }

    /// Floats of workspace scratch a call needs (see `WinogradTiling`).
    public static func scratchFloats(_ g: ConvGeometry, input: FeatureShape, workers: Int, tile: Tile = .f2) -> Int {
        WinogradTiling(geometry: g, input: input, workers: workers, tile: tile).scratchFloats
    }

    /// The conv from one workspace view into another; `transformed` from `transformWeights`.
    /// `products` nil: the workspace options' (`KernelOptions.winogradProducts`).
    public static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, transformed u: [Float],
                               tile: Tile = .f2, products: Products? = nil, bias: [Float],
                               geometry g: ConvGeometry, activation: Activation, workers requested: Int? = nil) {
        precondition(u.count >= tile.positions * g.inChannels * g.outChannels, "Winograd: weight sizes")
        let products = products ?? ws.options.winogradProducts
        forward(&ws, input: input, output: output, weights: .transformed(u), tile: tile, products: products, bias: bias,
                geometry: g, activation: activation, workers: requested ?? ws.threadCount)
    }

    /// F(4x4) with weights decoded as it runs, for small planes (`decodesPerBlock`): each task
    /// decodes a block of filters, transforms it into its own scratch and runs that block's 36
    /// products at once, so the transformed weights (4x the weights) never go out to memory and
    /// no whole-layer copy exists (`Workspace.stageWinograd` writes one of those for the other
    /// cases). Same arithmetic as staging the layer and calling `forward(transformed:)`, so the
    /// same floats.
    public static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, decoder: WeightDecoder,
                               bias: [Float], geometry g: ConvGeometry, activation: Activation, workers: Int) {
        precondition(decodesPerBlock(g, input: input.shape, tile: .f4, workers: workers),
                     "Winograd: the decoding path is for F(4x4) on small planes, batch 1")
        forward(&ws, input: input, output: output, weights: .decoded(decoder), tile: .f4, products: .blocked, bias: bias,
                geometry: g, activation: activation, workers: workers)
    }

    /// Where a conv's transformed weights come from.
    enum Weights {
        case transformed([Float])
        /// Decoded and transformed block by block (`DecodeBlocking`; F(4x4), `filters` tiling).
        case decoded(WeightDecoder)
    }

    /// The weights as `run` / `run4` read them: a whole transform, or a decoder and per-worker
    /// block scratch (`DecodeBlocking.perWorker` floats each).
    enum WeightPointers {
        case transformed(UnsafePointer<Float>)
        case decoded(WeightDecoder, blocks: UnsafeMutablePointer<Float>)
    }

    private static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, weights: Weights,
                                tile: Tile, products: Products, bias: [Float], geometry g: ConvGeometry,
                                activation: Activation, workers: Int) {
        precondition(applies(g) && input.shape.channels == g.inChannels && output.shape.channels == g.outChannels
                     && output.shape.height == input.shape.height && output.shape.width == input.shape.width
                     && output.shape.batch == input.shape.batch && output.storage == .arena, "Winograd: views do not fit")
        precondition(bias.count == g.outChannels, "Winograd: bias size")
        precondition((products == .sgemm || PointwiseKernel.available) && tile.available,
                     "Winograd: the blocked kernel and F(4x4) need a vector level (KernelISA)")
        var decoded = false
        if case .decoded = weights { decoded = true }
        let t = WinogradTiling(geometry: g, input: input.shape, workers: workers, tile: tile, decodedWeights: decoded)
        var u: [Float] = []
        var blockFloats = 0
        switch weights {
        case .transformed(let all): u = all
        case .decoded: blockFloats = DecodeBlocking(filters: g.outChannels, channels: g.inChannels, workers: workers).perWorker
        }
        ws.reserveScratch(t.scratchFloats + max(1, workers) * blockFloats)
        let fromInput = input.storage == .input
        ws.arena.withUnsafeMutableBufferPointer { arenaBuf in
            ws.input.withUnsafeBufferPointer { inputBuf in
                ws.scratch.withUnsafeMutableBufferPointer { scratchBuf in
                    u.withUnsafeBufferPointer { uBuf in
                        bias.withUnsafeBufferPointer { bBuf in
                            let xBase = fromInput ? inputBuf.baseAddress! : UnsafePointer(arenaBuf.baseAddress!)
                            let source: WeightPointers
                            switch weights {
                            case .transformed: source = .transformed(uBuf.baseAddress!)
                            case .decoded(let d): source = .decoded(d, blocks: scratchBuf.baseAddress! + t.scratchFloats)
                            }
                            for n in 0..<input.shape.batch {
                                let x = xBase + input.offset + n * input.batchStride
                                let y = arenaBuf.baseAddress! + output.offset + n * output.batchStride
                                // F(2x2) transforms in Swift, F(4x4)'s in C.
                                if case .transformed(let uPointer) = source, tile == .f2 {
                                    run(t, x: x, y: y, u: uPointer, products: products, bias: bBuf.baseAddress!,
                                        scratch: scratchBuf.baseAddress!, activation: activation, workers: workers)
                                } else {
                                    run4(t, x: x, y: y, weights: source, bias: bBuf.baseAddress!,
                                         scratch: scratchBuf.baseAddress!, activation: activation, workers: workers)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    static func run(_ t: WinogradTiling, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                    u: UnsafePointer<Float>, products: Products, bias: UnsafePointer<Float>,
                    scratch: UnsafeMutablePointer<Float>, activation: Activation, workers: Int) {
        let c = t.channels, f = t.filters
        // M[xi] rows f0..<f1 = U[xi] V[xi] over `tiles` columns (ld `tiles`), through sgemm or
        // the blocked kernel (no bias, no activation: the output transform adds them after).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: f) { zeros in
        zeros.initialize(repeating: 0)
        let noBias = UnsafePointer(zeros.baseAddress!)
        func product(_ xi: Int, filters f0: Int, _ f1: Int, v: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                     tiles: Int) {
            switch products {
            case .sgemm:
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(f1 - f0), Int32(tiles), Int32(c), 1,
                            u + (xi * f + f0) * c, Int32(c), v + xi * c * tiles, Int32(tiles), 0,
                            m + (xi * f + f0) * tiles, Int32(tiles))
            case .blocked:
                cvm_pointwise(v + xi * c * tiles, tiles, u + xi * f * c, c, c, noBias, m + xi * f * tiles, tiles,
                              f0, f1, 0, tiles, Int32(CVM_ACT_IDENTITY), 0)
            }
        }
        switch t.mode {
        case .tiles:
            // Each task: a block of tile rows, transformed, multiplied and finished by one worker.
            Parallel.forEachTask(t.tasks, workers: workers) { worker, task in
                let ty0 = task * t.tileRowsPerTask
                let ty1 = min(t.tileRows, ty0 + t.tileRowsPerTask)
                let tiles = (ty1 - ty0) * t.tileColumns
                let v = scratch + worker * t.scratchPerWorker
                let m = v + 16 * c * t.tilesPerTask
                transformInput(t, x: x, channels: 0..<c, tileRows: ty0..<ty1, into: v, ld: tiles)
                for xi in 0..<16 { product(xi, filters: 0, f, v: v, m: m, tiles: tiles) }
                transformOutput(t, m: m, ld: tiles, filters: 0..<f, tileRows: ty0..<ty1, y: y, bias: bias,
                                activation: activation)
            }
        case .filters:
            // Small planes: all tiles at once, the GEMMs split by position and filter block.
            let tiles = t.tileRows * t.tileColumns
            let v = scratch
            let m = scratch + 16 * c * tiles
            Parallel.forEachChunk(c, minPerChunk: 8, workers: workers) { range in
                transformInput(t, x: x, channels: range, tileRows: 0..<t.tileRows, into: v, ld: tiles)
            }
            let blocks = (f + t.filtersPerTask - 1) / t.filtersPerTask
            Parallel.forEachTask(16 * blocks, workers: workers) { _, task in
                let xi = task / blocks
                let f0 = (task % blocks) * t.filtersPerTask
                product(xi, filters: f0, min(f, f0 + t.filtersPerTask), v: v, m: m, tiles: tiles)
            }
            Parallel.forEachChunk(f, minPerChunk: 4, workers: workers) { range in
                transformOutput(t, m: m, ld: tiles, filters: range, tileRows: 0..<t.tileRows, y: y, bias: bias,
                                activation: activation)
            }
        }
        }
    }

    /// F(4x4): transforms in C (Winograd4.c), the 36 products through the blocked kernel.
    static func run4(_ t: WinogradTiling, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                     weights: WeightPointers, bias: UnsafePointer<Float>,
                     scratch: UnsafeMutablePointer<Float>, activation: Activation, workers: Int) {
        let c = t.channels, f = t.filters, h = t.height, w = t.width
        let (act, slope) = PointwiseKernel.code(activation)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: f) { zeros in
        zeros.initialize(repeating: 0)
        let noBias = UnsafePointer(zeros.baseAddress!)
        switch t.mode {
        case .tiles:
            // Each task: a block of tile rows by a chunk of tile columns, transformed, multiplied
            // and finished by one worker while its V and M blocks are in cache.
            let chunks = (t.tileColumns + t.columnChunk - 1) / t.columnChunk
            Parallel.forEachTask(t.tasks, workers: workers) { worker, task in
                let rowBlock = task / chunks, chunk = task % chunks
                let ty0 = rowBlock * t.tileRowsPerTask, ty1 = min(t.tileRows, ty0 + t.tileRowsPerTask)
                let tx0 = chunk * t.columnChunk, tw = min(t.columnChunk, t.tileColumns - tx0)
                let tiles = (ty1 - ty0) * tw
                let v = scratch + worker * t.scratchPerWorker
                let m = v + 36 * c * tiles
                cvm_winograd4_input(x, c, h, w, ty0, ty1, tx0, tw, v, tiles, c * tiles)
                guard case .transformed(let u) = weights else { preconditionFailure("decoded weights need the filters tiling") }
                for xi in 0..<36 {
                    cvm_pointwise(v + xi * c * tiles, tiles, u + xi * f * c, c, c, noBias, m + xi * f * tiles, tiles,
                                  0, f, 0, tiles, Int32(CVM_ACT_IDENTITY), 0)
                }
                cvm_winograd4_output(m, tiles, f * tiles, f, ty0, ty1, tx0, tw, bias, act, slope, y, h, w)
            }
        case .filters:
            // Small planes (one column chunk): all tiles at once, the products split by position
            // and filter block.
            let tiles = t.tileRows * t.tileColumns
            let v = scratch
            let m = scratch + 36 * c * tiles
            Parallel.forEachChunk(c, minPerChunk: 8, workers: workers) { range in
                cvm_winograd4_input(x + range.lowerBound * h * w, range.count, h, w, 0, t.tileRows, 0, t.tileColumns,
                                    v + range.lowerBound * tiles, tiles, c * tiles)
            }
            switch weights {
            case .transformed(let u):
                let blocks = (f + t.filtersPerTask - 1) / t.filtersPerTask
                Parallel.forEachTask(36 * blocks, workers: workers) { _, task in
                    let xi = task / blocks
                    let f0 = (task % blocks) * t.filtersPerTask
                    cvm_pointwise(v + xi * c * tiles, tiles, u + xi * f * c, c, c, noBias, m + xi * f * tiles, tiles,
                                  f0, min(f, f0 + t.filtersPerTask), 0, tiles, Int32(CVM_ACT_IDENTITY), 0)
                }
            case .decoded(let decoder, let scratchBlocks):
                // Tasks are filter blocks: decode, transform (in cache), then all 36 products.
                let b = DecodeBlocking(filters: f, channels: c, workers: workers)
                Parallel.forEachTask((f + b.filters - 1) / b.filters, workers: workers) { worker, block in
                    let f0 = block * b.filters, n = min(b.filters, f - f0)
                    let planes = scratchBlocks + worker * b.perWorker, u = planes + b.planeFloats
                    decoder.decode(filters: f0..<(f0 + n), order: .kernelMajor, into: planes)
                    cvm_winograd4_weights(planes, n * c, u, b.positionStride)
                    for xi in 0..<36 {
                        cvm_pointwise(v + xi * c * tiles, tiles, u + xi * b.positionStride, c, c, noBias,
                                      m + (xi * f + f0) * tiles, tiles, 0, n, 0, tiles, Int32(CVM_ACT_IDENTITY), 0)
                    }
                }
            }
            Parallel.forEachChunk(f, minPerChunk: 4, workers: workers) { range in
                cvm_winograd4_output(m + range.lowerBound * tiles, tiles, f * tiles, range.count, 0, t.tileRows, 0,
                                     t.tileColumns, bias + range.lowerBound, act, slope, y + range.lowerBound * h * w,
                                     h, w)
            }
        }
        }
    }

    /// How packed weights are decoded and transformed block by block (`forward(decoder:)`): each
    /// task decodes a block of filters (kernel-major, `planeFloats`), transforms it (36 positions
    /// `positionStride` apart) and runs its 36 products, each of which reads all the transformed
    /// tiles of its position. Bigger blocks read the tiles fewer times (on 40x40 planes they are
    /// megabytes: 128 -> 256 channels at 40x40, one thread, products 3.0 ms with blocks of 8
    /// filters against 2.2 with 32, as with the dense transform), as long as a block's
    /// transform stays in L2 (about 1 MiB) and each worker still gets about four tasks.
    struct DecodeBlocking {
        /// Filters per block, a multiple of the product kernel's 8-filter tile (the last block may be short).
        let filters: Int
        let planeFloats: Int
        /// Floats between the transform's positions: 16 more than a block's pairs, so that
        /// the 36 rows the transform writes at once do not all fall into the same cache sets
        /// (blocks are multiples of 1024 pairs, 4 KiB; 256 -> 512 channels at 20x20, one thread:
        /// transform 1.15 -> 0.57 ms).
        let positionStride: Int
        let perWorker: Int

        init(filters f: Int, channels c: Int, workers: Int) {
            let perTasks = f / (4 * max(1, workers)) / 8 * 8
            let inL2 = (1 << 18) / (36 * c) / 8 * 8
            filters = max(1, min(f, max(8, min(perTasks, inL2))))
            planeFloats = 9 * filters * c
            positionStride = filters * c + 16
            perWorker = planeFloats + 36 * positionStride
        }
    }

    /// Whether a packed conv runs through `forward(decoder:)`: F(4x4) on planes small enough
    /// for the filter-block tiling, where the weights (not the tiles) are most of the data.
    static func decodesPerBlock(_ g: ConvGeometry, input: FeatureShape, tile: Tile, workers: Int) -> Bool {
        tile == .f4 && input.batch == 1
            && WinogradTiling(geometry: g, input: input, workers: workers, tile: tile, decodedWeights: true).mode == .filters
    }

    /// What runs the 16 products `M[xi] = U[xi] V[xi]` (the weights `[16][F][C]` are the same).
    public enum Products: Sendable, Equatable {
        case sgemm
        /// `PointwiseKernel`'s blocked kernel, which reads the transformed tiles in place
        /// instead of packing them for every product as sgemm does.
        case blocked
    }

    /// V = B^T d B for the tiles of `tileRows` and input channels `channels`: position xi of
    /// channel c, tile j (numbered from the first of `tileRows`) at `v[(xi * C + c) * ld + j]`.
    @inline(__always)
    static func transformInput(_ t: WinogradTiling, x: UnsafePointer<Float>, channels: Range<Int>,
                               tileRows: Range<Int>, into v: UnsafeMutablePointer<Float>, ld: Int) {
        let h = t.height, w = t.width, tw = t.tileColumns, c = t.channels
        // Four combined rows, each covering input columns -1 ..< 2*tw + 1 (zero outside).
        let width = 2 * tw + 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * width) { buffer in
            let rows = buffer.baseAddress!, e = rows + 4 * width
            for ch in channels {
                let plane = x + ch * h * w
                for ty in tileRows {
                    // Input rows 2ty-1 ... 2ty+2, zero-padded left by one column and right to width.
                    for k in 0..<4 {
                        let r = rows + k * width
                        let iy = 2 * ty - 1 + k
                        r.update(repeating: 0, count: width)
                        if iy >= 0 && iy < h { (r + 1).update(from: plane + iy * w, count: w) }
                    }
                    let r0 = rows, r1 = rows + width, r2 = rows + 2 * width, r3 = rows + 3 * width
                    let e0 = e, e1 = e + width, e2 = e + 2 * width, e3 = e + 3 * width
                    for u in 0..<width {
                        e0[u] = r0[u] - r2[u]
                        e1[u] = r1[u] + r2[u]
                        e2[u] = r2[u] - r1[u]
                        e3[u] = r1[u] - r3[u]
                    }
                    let j0 = (ty - tileRows.lowerBound) * tw
                    for i in 0..<4 {
                        let ei = e + i * width
                        let out0 = v + ((i * 4 + 0) * c + ch) * ld + j0
                        let out1 = v + ((i * 4 + 1) * c + ch) * ld + j0
                        let out2 = v + ((i * 4 + 2) * c + ch) * ld + j0
                        let out3 = v + ((i * 4 + 3) * c + ch) * ld + j0
                        for tx in 0..<tw {
                            let d0 = ei[2 * tx], d1 = ei[2 * tx + 1], d2 = ei[2 * tx + 2], d3 = ei[2 * tx + 3]
                            out0[tx] = d0 - d2
                            out1[tx] = d1 + d2
                            out2[tx] = d2 - d1
                            out3[tx] = d1 - d3
                        }
                    }
                }
            }
        }
    }

    /// Y = A^T M A + bias, activated, for filters `filters` and the tiles of `tileRows`:
    /// position xi of filter f, tile j at `m[(xi * F + f) * ld + j]`. Odd output sizes crop the
    /// last tile row / column.
    @inline(__always)
    static func transformOutput(_ t: WinogradTiling, m: UnsafePointer<Float>, ld: Int, filters: Range<Int>,
                                tileRows: Range<Int>, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
                                activation: Activation) {
        let h = t.height, w = t.width, tw = t.tileColumns, fCount = t.filters
        let width = 2 * tw
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * width + 8 * tw) { buffer in
            let out0 = buffer.baseAddress!, out1 = out0 + width
            let s = out1 + width  // s[i * 2 + b] rows of tw: A^T applied along each row i of M
            for f in filters {
                let plane = y + f * h * w
                for ty in tileRows {
                    let j0 = (ty - tileRows.lowerBound) * tw
                    for i in 0..<4 {
                        let mi0 = m + ((i * 4 + 0) * fCount + f) * ld + j0
                        let mi1 = m + ((i * 4 + 1) * fCount + f) * ld + j0
                        let mi2 = m + ((i * 4 + 2) * fCount + f) * ld + j0
                        let mi3 = m + ((i * 4 + 3) * fCount + f) * ld + j0
                        let sa = s + (i * 2) * tw, sb = s + (i * 2 + 1) * tw
                        for tx in 0..<tw {
                            sa[tx] = mi0[tx] + mi1[tx] + mi2[tx]
                            sb[tx] = mi1[tx] - mi2[tx] - mi3[tx]
                        }
                    }
                    for b in 0..<2 {
                        let s0 = s + b * tw, s1 = s + (2 + b) * tw, s2 = s + (4 + b) * tw, s3 = s + (6 + b) * tw
                        for tx in 0..<tw {
                            out0[2 * tx + b] = s0[tx] + s1[tx] + s2[tx]
                            out1[2 * tx + b] = s1[tx] - s2[tx] - s3[tx]
                        }
                    }
                    let b = bias[f]
                    let oy = 2 * ty
                    activation.biasActivate(out0, count: w, bias: b)
                    (plane + oy * w).update(from: out0, count: w)
                    if oy + 1 < h {
                        activation.biasActivate(out1, count: w, bias: b)
                        (plane + (oy + 1) * w).update(from: out1, count: w)
                    }
                }
            }
        }
    }
}

/// How a Winograd conv is split: blocks of tile rows (by chunks of tile columns for F(4x4),
/// whose C transforms take at most `cvm_winograd4_max_tile_columns` at once) per task
/// (`tiles`), or for small planes the whole transform at once with GEMM tasks over positions
/// and filter blocks (`filters`).
struct WinogradTiling {
    enum Mode { case tiles, filters }
    /// Fewer tiles per GEMM than this and sgemm's packing overheads show (F(2x2), whose
    /// products may run through sgemm). F(4x4)'s blocked-kernel products do well on smaller
    /// blocks that stay in cache: with 32, tiny's 80x80 convs ran 10-25% faster at 2 threads
    /// (`--profile`, alternating runs; 16 and 8 were slower on 40x40).
    static func minTiles(_ tile: Winograd.Tile) -> Int { tile == .f4 ? 32 : 128 }
    /// Target tiles per task: V and M blocks (positions x (C + F) x tiles floats) of 1 MiB, about
    /// a core's L2 here (tiny's 32-channel 160x160 convs: 3.4-4.3 ms with 4 MiB blocks, 2.8-3.1 ms
    /// with 1 MiB, alternating `--profile` runs at 2 threads; 256 KiB no better).
    static let targetFloats = 1 << 18

    let mode: Mode
    let channels: Int, filters: Int
    let height: Int, width: Int
    let tileRows: Int, tileColumns: Int
    /// Tile columns per task (all of them for F(2x2)).
    let columnChunk: Int
    let tileRowsPerTask: Int
    let tilesPerTask: Int
    let tasks: Int
    let filtersPerTask: Int
    let scratchPerWorker: Int
    let scratchFloats: Int

    /// `decodedWeights`: packed weights decoded and transformed block by block in the `filters`
    /// split (`Winograd.forward(decoder:)`), which small planes take at any worker count: the
    /// `tiles` split needs the whole layer's transform staged first, 4x the weights written and
    /// read back from memory on every pass (yolov7's 512 -> 1024 3x3 at 20x20: 75 MB).
    init(geometry g: ConvGeometry, input: FeatureShape, workers: Int, tile: Winograd.Tile = .f2,
         decodedWeights: Bool = false) {
        let side = tile.rawValue
        channels = g.inChannels
        filters = g.outChannels
        height = input.height
        width = input.width
        tileRows = (height + side - 1) / side
        tileColumns = (width + side - 1) / side
        columnChunk = tile == .f4 ? min(tileColumns, Int(cvm_winograd4_max_tile_columns())) : tileColumns
        let chunks = (tileColumns + columnChunk - 1) / columnChunk
        let tiles = tileRows * tileColumns
        let w = max(1, workers)
        let perTile = tile.positions * (channels + filters)
        let minTiles = Self.minTiles(tile)
        // Decoded weights split the filters where two workers would (a plane below 2 x 2 x minTiles).
        let splitting = decodedWeights ? max(2, w) : w
        if (w == 1 && !decodedWeights) || tiles >= 2 * splitting * minTiles || chunks > 1 {
            mode = .tiles
            var rows = max(1, min(tileRows, Self.targetFloats / (perTile * columnChunk)))
            rows = max(rows, (minTiles + columnChunk - 1) / columnChunk)
            if w > 1 { rows = min(rows, max(1, tileRows * chunks / (2 * w))) }
            tileRowsPerTask = max(1, min(rows, tileRows))
            tilesPerTask = tileRowsPerTask * columnChunk
            tasks = (tileRows + tileRowsPerTask - 1) / tileRowsPerTask * chunks
            filtersPerTask = filters
            scratchPerWorker = perTile * tilesPerTask
            scratchFloats = scratchPerWorker * min(w, tasks)
        } else {
            mode = .filters
            tileRowsPerTask = tileRows
            tilesPerTask = tiles
            tasks = 1
            filtersPerTask = max(16, (filters + 2 * w - 1) / (2 * w) + 15) / 16 * 16
            scratchPerWorker = 0
            scratchFloats = perTile * tiles
        }
    }
}
