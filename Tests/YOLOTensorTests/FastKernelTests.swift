import Foundation
import Testing
@testable import YOLOTensor
import CVectorMath

/// The fast kernels of the planned pass against their plain forms: FastMath against libm,
/// the threaded conv tilings and the workspace-view ops against the tensor references, on
/// 1 and 2 workers and on batch-strided views (a batch-2 concat slice).
struct FastMathTests {
    /// Stated bound: 3e-7 relative over the clamped range (FastMath.exp's comment).
    @Test func expIsAccurate() {
        var worst = 0.0
        var x: Float = -87
        while x <= 88 {
            let rel = abs(Double(FastMath.exp(x)) - Foundation.exp(Double(x))) / Foundation.exp(Double(x))
            worst = max(worst, rel)
            x += 0.0137
        }
        #expect(worst < 3e-7, "max relative error \(worst)")
    }

    @Test func siluAndSigmoidMatchLibm() {
        var worstSiLU: Float = 0, worstSigmoid: Float = 0
        var x: Float = -120
        while x <= 120 {
            let silu = Activation.silu.apply(x), sig = Activation.sigmoid.apply(x)
            // Below 1e-20 (x < -45) only the absolute error matters, and both are ~0 there.
            worstSiLU = max(worstSiLU, abs(FastMath.silu(x) - silu) / max(abs(silu), 1e-20))
            worstSigmoid = max(worstSigmoid, abs(FastMath.sigmoid(x) - sig) / max(sig, 1e-20))
            x += 0.00731
        }
        #expect(worstSiLU < 5e-7 && worstSigmoid < 5e-7, "SiLU \(worstSiLU), sigmoid \(worstSigmoid)")
        #expect(FastMath.silu(-200) == 0 || abs(FastMath.silu(-200)) < 1e-30)
        #expect(FastMath.silu(200) == 200 && FastMath.sigmoid(200) == 1)
    }
}

struct VectorEpilogueTests {
    /// The CVectorMath loops (at the level in effect; every level: KernelLevelTests) give
    /// FastMath's numbers exactly.
    @Test func cLoopsEqualSwiftFastMath() {
        var x: [Float] = (0..<5000).map { Float($0) * 0.05 - 125 }
        x += randomValues(3001, seed: 31).map { $0 * 30 }
        for act in [Activation.silu, .sigmoid] {
            var fast = x, plain = x
            fast.withUnsafeMutableBufferPointer { act.biasActivate($0.baseAddress!, count: $0.count, bias: 0.375) }
            plain.withUnsafeMutableBufferPointer { act.biasActivateReference($0.baseAddress!, count: $0.count, bias: 0.375) }
            #expect(fast == plain, "\(act)")
        }
    }
}

struct ThreadedConvTests {
    /// Planes big enough for column tiles (plane >= 1024 with 2 workers) and small enough for
    /// filter blocks, 3x3 s1/s2 and 1x1, filter counts that leave partial 16-blocks.
    static let cases: [(ConvGeometry, Int, Int)] = [
        (ConvGeometry(inChannels: 8, outChannels: 20, kernel: 3, stride: 1, padding: 1), 40, 37),
        (ConvGeometry(inChannels: 8, outChannels: 20, kernel: 3, stride: 2, padding: 1), 61, 50),
        (ConvGeometry(inChannels: 16, outChannels: 24, kernel: 1), 45, 30),
        (ConvGeometry(inChannels: 12, outChannels: 40, kernel: 3, stride: 1, padding: 1), 9, 11),
        (ConvGeometry(inChannels: 16, outChannels: 70, kernel: 1), 7, 6),
        (ConvGeometry(inChannels: 3, outChannels: 16, kernel: 6, stride: 2, padding: 2), 34, 34),
    ]

    @Test(arguments: 0..<6)
    func threadedMatchesReference(caseIndex: Int) {
        let (g, h, w) = Self.cases[caseIndex]
        let x = Tensor(shape: [2, g.inChannels, h, w], data: randomValues(2 * g.inChannels * h * w, seed: 11))
        let weight = randomValues(g.weightCount, seed: 12)
        let bias = randomValues(g.outChannels, seed: 13)
        for act in [Activation.identity, .silu, .leakyReLU(slope: 0.1)] {
            let ref = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: act)
            for workers in [1, 2, 3] {
                let fast = ConvKernel.forward(input: x, weight: weight, bias: bias, geometry: g, activation: act, workers: workers)
                let err = zip(fast.data, ref.data).map { abs($0 - $1) }.max() ?? 0
                #expect(err < 1e-4, "case \(caseIndex) \(act) workers \(workers): \(err)")
            }
        }
    }

    /// Batch 2 written into channels [3, 3 + F) of a wider map: every item at its batch stride,
    /// nothing outside the slice touched.
    @Test func writesIntoBatchStridedSlice() {
        let g = ConvGeometry(inChannels: 4, outChannels: 5, kernel: 3, stride: 1, padding: 1)
        let (h, w) = (34, 33)
        let x = Tensor(shape: [2, 4, h, w], data: randomValues(2 * 4 * h * w, seed: 14))
        let weight = randomValues(g.weightCount, seed: 15), bias = randomValues(5, seed: 16)
        let ref = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: .silu)
        var out = Tensor(shape: [2, 10, h, w], repeating: 7)
        var scratch: [Float] = []
        ConvKernel.forward(input: x, weight: weight, bias: bias, geometry: g, activation: .silu, into: &out,
                           channelOffset: 3, scratch: &scratch, workers: 2)
        let plane = h * w
        for n in 0..<2 {
            for c in 0..<10 {
                let got = out.data[((n * 10 + c) * plane)..<((n * 10 + c + 1) * plane)]
                if (3..<8).contains(c) {
                    let want = ref.data[((n * 5 + c - 3) * plane)..<((n * 5 + c - 2) * plane)]
                    #expect(zip(got, want).allSatisfy { abs($0 - $1) < 1e-4 })
                } else {
                    #expect(got.allSatisfy { $0 == 7 })
                }
            }
        }
    }
}

struct WorkspaceOpsTests {
    /// A workspace holding `t` at a batch stride wider than its own, as a concat slice would.
    static func strided(_ t: Tensor, extraChannels: Int, at offset: Int) -> (Workspace, FeatureView) {
        let s = t.featureShape
        var wide = s
        wide.channels += extraChannels
        var ws = Workspace(arenaFloats: offset + wide.count + 64)
        let v = FeatureView(offset: offset, shape: wide).channels(extraChannels / 2, s.channels)
        ws.store(t, into: v)
        return (ws, v)
    }

    static func output(_ ws: inout Workspace, _ shape: FeatureShape) -> FeatureView {
        let v = FeatureView(offset: ws.arena.count, shape: shape)
        ws.arena += [Float](repeating: .nan, count: shape.count)
        return v
    }

    /// The C pools (separable doubling for same pools, vector code for 2x2) against the direct
    /// tensor form: equal floats. Planes narrower than a vector, with partial last vectors, and
    /// smaller than the kernel (k = 13 on 3x4: windows all clipped).
    @Test(arguments: [(5, 1, 2), (9, 1, 4), (13, 1, 6), (2, 2, 0), (3, 2, 1), (3, 1, 1), (1, 1, 0), (7, 1, 3)])
    func maxPoolMatchesReference(kernel: Int, stride: Int, padding: Int) {
        for (h, w) in [(15, 20), (3, 4), (20, 20), (33, 37), (40, 66), (1, 1)] where h + 2 * padding >= kernel && w + 2 * padding >= kernel {
            let x = Tensor(shape: [2, 3, h, w], data: randomValues(2 * 3 * h * w, seed: UInt64(21 + h * w)))
            let ref = FeatureOps.maxPool(x, kernel: kernel, stride: stride, padding: padding)
            // (Each level's 2x2 pool: KernelLevelTests.)
            for workers in [1, 2] {
                var (ws, v) = Self.strided(x, extraChannels: 4, at: 5)
                ws.workers = workers
                let out = Self.output(&ws, ref.featureShape)
                FeatureOps.maxPool(&ws, input: v, output: out, kernel: kernel, stride: stride, padding: padding)
                #expect(ws.tensor(out) == ref, "k\(kernel) s\(stride) p\(padding) \(h)x\(w) workers \(workers)")
            }
        }
    }

    /// Pools keep infinities and repeated maxima (a plateau of equal values, -inf everywhere
    /// but one cell).
    @Test func maxPoolEdgeValues() {
        var data = [Float](repeating: -.infinity, count: 2 * 21 * 18)
        data[7 * 18 + 5] = 3
        for i in (21 * 18)..<data.count { data[i] = i % 5 == 0 ? .infinity : 1 }
        let x = Tensor(shape: [1, 2, 21, 18], data: data)
        for (k, stride, pad) in [(5, 1, 2), (13, 1, 6), (2, 2, 0)] {
            let ref = FeatureOps.maxPool(x, kernel: k, stride: stride, padding: pad)
            var (ws, v) = Self.strided(x, extraChannels: 2, at: 1)
            let out = Self.output(&ws, ref.featureShape)
            FeatureOps.maxPool(&ws, input: v, output: out, kernel: k, stride: stride, padding: pad)
            #expect(ws.tensor(out) == ref, "k\(k)")
        }
    }

    @Test(arguments: [(2, 6, 8), (2, 5, 17), (3, 4, 7), (1, 3, 5)])
    func upsampleMatchesReference(scale: Int, h: Int, w: Int) {
        let x = Tensor(shape: [2, 3, h, w], data: randomValues(2 * 3 * h * w, seed: 25))
        let ref = FeatureOps.upsampleNearest(x, scale: scale)
        for workers in [1, 2] {
            var (ws, v) = Self.strided(x, extraChannels: 2, at: 3)
            ws.workers = workers
            let up = Self.output(&ws, ref.featureShape)
            FeatureOps.upsampleNearest(&ws, input: v, output: up, scale: scale)
            #expect(ws.tensor(up) == ref, "scale \(scale) \(h)x\(w) workers \(workers)")
        }
    }

    @Test func upsampleAddReorgCopyMatchReference() {
        let x = Tensor(shape: [2, 3, 6, 8], data: randomValues(2 * 3 * 48, seed: 22))
        let y = Tensor(shape: [2, 3, 6, 8], data: randomValues(2 * 3 * 48, seed: 23))
        for workers in [1, 2] {
            var (ws, v) = Self.strided(x, extraChannels: 2, at: 3)
            ws.workers = workers
            let yv = FeatureView(offset: ws.arena.count, shape: y.featureShape)
            ws.arena += y.data
            let up = Self.output(&ws, FeatureShape(batch: 2, channels: 3, height: 12, width: 16))
            FeatureOps.upsampleNearest(&ws, input: v, output: up, scale: 2)
            #expect(ws.tensor(up) == FeatureOps.upsampleNearest(x, scale: 2))
            let sum = Self.output(&ws, x.featureShape)
            FeatureOps.add(&ws, v, yv, into: sum)
            #expect(ws.tensor(sum) == FeatureOps.add(x, y))
            let re = Self.output(&ws, FeatureShape(batch: 2, channels: 12, height: 3, width: 4))
            FeatureOps.reorg(&ws, input: v, output: re)
            #expect(ws.tensor(re) == FeatureOps.reorg(x))
            let cat = Self.output(&ws, FeatureShape(batch: 2, channels: 6, height: 6, width: 8))
            FeatureOps.copy(&ws, from: yv, to: cat.channels(0, 3))
            FeatureOps.copy(&ws, from: v, to: cat.channels(3, 3))
            #expect(ws.tensor(cat) == FeatureOps.concatChannels([y, x]))
        }
    }

    /// Three detection levels of 2 anchors x 7 values (batch 2): the tensor reference is YOLO's
    /// permute with the box columns decoded.
    static let gridLevels = [(h: 5, w: 9, stride: Float(8)), (h: 3, w: 4, stride: 16), (h: 1, w: 33, stride: 32)]
    static let gridAnchors: [[(w: Float, h: Float)]] = [[(10, 13), (16, 30)], [(30, 61), (62, 45)], [(116, 90), (156, 198)]]

    @Test func gridRowsReferenceIsYOLOPermuteAndDecode() {
        let width = 7
        let raw = Self.gridLevels.enumerated().map { l, g in
            Tensor(shape: [2, 2 * width, g.h, g.w], data: randomValues(2 * 2 * width * g.h * g.w, seed: UInt64(30 + l)).map { $0 * 0.5 + 0.5 })
        }
        let rows = FeatureOps.gridRows(raw, anchors: Self.gridAnchors, strides: Self.gridLevels.map(\.stride), width: width)
        let rowsPerItem = Self.gridLevels.reduce(0) { $0 + 2 * $1.h * $1.w }
        #expect(rows.count == 2 * rowsPerItem * width)
        var rowBase = 0
        for (l, g) in Self.gridLevels.enumerated() {
            for n in 0..<2 {
                for a in 0..<2 {
                    for y in 0..<g.h {
                        for x in 0..<g.w {
                            let row = Array(rows[((n * rowsPerItem + rowBase + (a * g.h + y) * g.w + x) * width)...].prefix(width))
                            let v = (0..<width).map { raw[l].data[((n * 2 + a) * width + $0) * g.h * g.w + y * g.w + x] }
                            #expect(Array(row[4...]) == Array(v[4...]))
                            #expect(abs(row[0] - (2 * v[0] - 0.5 + Float(x)) * g.stride) <= 1e-4)
                            #expect(abs(row[1] - (2 * v[1] - 0.5 + Float(y)) * g.stride) <= 1e-4)
                            #expect(abs(row[2] - 4 * v[2] * v[2] * Self.gridAnchors[l][a].w) <= 1e-3)
                            #expect(abs(row[3] - 4 * v[3] * v[3] * Self.gridAnchors[l][a].h) <= 1e-3)
                        }
                    }
                }
            }
            rowBase += 2 * g.h * g.w
        }
    }

    /// The C kernel over workspace views (batch-strided, all levels in one pass) gives the
    /// reference's floats exactly.
    @Test func gridRowsMatchesReference() {
        let width = 7
        let raw = Self.gridLevels.enumerated().map { l, g in
            Tensor(shape: [2, 2 * width, g.h, g.w], data: randomValues(2 * 2 * width * g.h * g.w, seed: UInt64(40 + l)).map { $0 * 0.5 + 0.5 })
        }
        let ref = FeatureOps.gridRows(raw, anchors: Self.gridAnchors, strides: Self.gridLevels.map(\.stride), width: width)
        for workers in [1, 2] {
            var ws = Workspace(arenaFloats: 3)
            ws.workers = workers
            var levels = [FeatureOps.GridLevel]()
            for (l, t) in raw.enumerated() {
                var wide = t.featureShape
                wide.channels += 3
                let v = FeatureView(offset: ws.arena.count, shape: wide).channels(1, t.featureShape.channels)
                ws.arena += [Float](repeating: .nan, count: wide.count)
                ws.store(t, into: v)
                levels.append(FeatureOps.GridLevel(map: v, anchors: Self.gridAnchors[l], stride: Self.gridLevels[l].stride))
            }
            FeatureOps.gridRows(&ws, levels: levels, width: width)
            #expect(ws.result == ref, "workers \(workers)")
        }
    }
}

/// The kernel-major weight transform (C, what packed models run) against the pairwise one
/// (Swift, the reference, what dense models cache): identical floats.
struct WinogradWeightTransformTests {
    @Test(arguments: [(1, 1), (3, 5), (16, 17), (40, 24)])
    func kernelMajorMatchesPairwise(filters: Int, channels: Int) {
        let w = randomValues(filters * channels * 9, seed: 77)
        let reference = Winograd.transformWeights(w, filters: filters, channels: channels)
        // Kernel-major planes: g[k * n + (f * C + c)] = W[f, c, k].
        let n = filters * channels
        var planes = [Float](repeating: 0, count: 9 * n)
        for pair in 0..<n {
            for k in 0..<9 { planes[k * n + pair] = w[pair * 9 + k] }
        }
        var u = [Float](repeating: .nan, count: 16 * n)
        planes.withUnsafeBufferPointer { g in
            u.withUnsafeMutableBufferPointer { out in
                Winograd.transformWeights(kernelMajor: g.baseAddress!, count: n, into: out.baseAddress!, stride: n)
            }
        }
        #expect(u == reference)
    }
}

/// Winograd `tile` on a batch-2 input written into a channel slice of a wider map, against the
/// direct reference (identity and SiLU, 1 and 2 workers): max error within `bound` of the
/// largest output, and the channels around the slice untouched.
func expectWinogradMatchesDirect(c: Int, f: Int, h: Int, w: Int, tile: Winograd.Tile, products: Winograd.Products,
                                 bound: Float, seed: UInt64) {
    let g = ConvGeometry(inChannels: c, outChannels: f, kernel: 3, stride: 1, padding: 1)
    let x = Tensor(shape: [2, c, h, w], data: randomValues(2 * c * h * w, seed: seed))
    let weight = randomValues(g.weightCount, seed: seed + 1), bias = randomValues(f, seed: seed + 2)
    let u = Winograd.transformWeights(weight, filters: f, channels: c, tile: tile)
    for act in [Activation.identity, .silu] {
        let ref = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: act)
        let scale = ref.maxAbs
        for workers in [1, 2] {
            var ws = Workspace(arenaFloats: 2 * (f + 3) * h * w)
            ws.input = x.data
            ws.arena = [Float](repeating: 7, count: ws.arena.count)
            let out = FeatureView(offset: 0, shape: FeatureShape(batch: 2, channels: f + 3, height: h, width: w))
            Winograd.forward(&ws, input: FeatureView(storage: .input, offset: 0, shape: x.featureShape),
                             output: out.channels(2, f), transformed: u, tile: tile, products: products, bias: bias,
                             geometry: g, activation: act, workers: workers)
            let got = ws.tensor(out.channels(2, f))
            let err = zip(got.data, ref.data).map { abs($0 - $1) }.max() ?? .infinity
            #expect(err <= bound * scale, "\(tile) \(c)x\(f) \(h)x\(w) \(products) \(act) workers \(workers): \(err) of \(scale)")
            #expect(ws.tensor(out.channels(0, 2)).data.allSatisfy { $0 == 7 })
            #expect(ws.tensor(out.channels(f + 2, 1)).data.allSatisfy { $0 == 7 })
        }
    }
}

/// Winograd F(2x2, 3x3) against the direct reference: odd and even sizes (cropped last tiles),
/// both tilings (tile-row blocks on big planes, filter blocks on small ones with 2 workers),
/// batch 2 into a channel slice.
struct WinogradTests {
    static let cases: [(c: Int, f: Int, h: Int, w: Int)] = [(16, 16, 9, 7), (24, 40, 37, 30), (32, 20, 6, 5), (16, 48, 64, 66)]

    @Test(arguments: 0..<4)
    func matchesDirectConvolution(caseIndex: Int) {
        let (c, f, h, w) = Self.cases[caseIndex]
        #expect(Winograd.applies(ConvGeometry(inChannels: c, outChannels: f, kernel: 3, stride: 1, padding: 1)))
        // Both ways of running the products: sgemm, and the blocked kernel where the CPU has it.
        let productKernels: [Winograd.Products] = PointwiseKernel.available ? [.sgemm, .blocked] : [.sgemm]
        for products in productKernels {
            // Sums of 144 products of values in [-1, 1]: relative 1e-5 of the largest output.
            expectWinogradMatchesDirect(c: c, f: f, h: h, w: w, tile: .f2, products: products, bound: 1e-5, seed: 41)
        }
    }

    /// The tiling modes the cases above exercise.
    @Test func casesCoverBothTilings() {
        let small = WinogradTiling(geometry: ConvGeometry(inChannels: 32, outChannels: 20, kernel: 3, padding: 1),
                                   input: FeatureShape(batch: 1, channels: 32, height: 6, width: 5), workers: 2)
        let big = WinogradTiling(geometry: ConvGeometry(inChannels: 16, outChannels: 48, kernel: 3, padding: 1),
                                 input: FeatureShape(batch: 1, channels: 16, height: 64, width: 66), workers: 2)
        #expect(small.mode == .filters && big.mode == .tiles && big.tasks > 1)
        // One worker splits tiles, except for weights decoded block by block on a small plane.
        let g = ConvGeometry(inChannels: 32, outChannels: 20, kernel: 3, padding: 1)
        let shape = FeatureShape(batch: 1, channels: 32, height: 6, width: 5)
        #expect(WinogradTiling(geometry: g, input: shape, workers: 1, tile: .f4).mode == .tiles)
        #expect(WinogradTiling(geometry: g, input: shape, workers: 1, tile: .f4, decodedWeights: true).mode == .filters)
        #expect(WinogradTiling(geometry: g, input: FeatureShape(batch: 1, channels: 32, height: 64, width: 66), workers: 1,
                               tile: .f4, decodedWeights: true).mode == .tiles)
    }
}

/// Weights decoded as the conv runs (`WeightDecoder`, how packed models run) against the same
/// weights held dense: identical outputs, on the Winograd path (with enough channels that the
/// staging runs in several filter blocks; these small planes take the block-by-block F(4x4)
/// path at 1 and 2 workers, 20 filters leaving a partial block, while the dense weights take the
/// `tiles` split at 1 worker: the splits give the same floats) and the im2col / pointwise paths.
struct StagedWeightTests {
    /// Hands out a dense weight block by block, in either order.
    final class DenseDecoder: WeightDecoder, @unchecked Sendable {
        let weight: [Float]
        let channels: Int, kernel: Int
        init(_ weight: [Float], channels: Int, kernel: Int) {
            self.weight = weight
            self.channels = channels
            self.kernel = kernel
        }
        func decode(filters: Range<Int>, order: WeightOrder, into out: UnsafeMutablePointer<Float>) {
            let n = filters.count * channels
            for (i, f) in filters.enumerated() {
                for c in 0..<channels {
                    for k in 0..<kernel {
                        let value = weight[(f * channels + c) * kernel + k]
                        switch order {
                        case .filterMajor: out[(i * channels + c) * kernel + k] = value
                        case .kernelMajor: out[k * n + i * channels + c] = value
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: [(256, 40, 3, 1), (32, 20, 3, 1), (24, 20, 3, 2), (32, 48, 1, 1), (3, 16, 3, 2)])
    func stagedEqualsDense(channels: Int, filters: Int, kernel: Int, stride: Int) {
        let g = ConvGeometry(inChannels: channels, outChannels: filters, kernel: kernel, stride: stride,
                             padding: kernel / 2)
        let (h, w) = (11, 14)
        let x = randomValues(channels * h * w, seed: 91)
        let weight = randomValues(g.weightCount, seed: 92), bias = randomValues(filters, seed: 93)
        let (oh, ow) = g.outputSize(height: h, width: w)
        let outShape = FeatureShape(batch: 1, channels: filters, height: oh, width: ow)
        let inView = FeatureView(storage: .input, offset: 0, shape: FeatureShape(batch: 1, channels: channels, height: h, width: w))
        let outView = FeatureView(offset: 0, shape: outShape)
        func run(_ body: (inout Workspace) -> Void) -> [Float] {
            var ws = Workspace(arenaFloats: outShape.count)
            ws.input = x
            body(&ws)
            return ws.arena
        }
        for workers in [1, 2] {
            if Winograd.applies(g) && KernelOptions.default.preferredWinogradTile == .f4 {
                let shape = FeatureShape(batch: 1, channels: channels, height: h, width: w)
                #expect(Winograd.decodesPerBlock(g, input: shape, tile: .f4, workers: workers))
            }
            let dense = run { ws in
                ConvKernel.forward(&ws, input: inView, output: outView, weight: weight, bias: bias, geometry: g,
                                   activation: .silu, prepared: PreparedWeights(weight: weight, geometry: g),
                                   workers: workers)
            }
            let staged = run { ws in
                ConvKernel.forward(&ws, input: inView, output: outView,
                                   decoder: DenseDecoder(weight, channels: channels, kernel: kernel * kernel),
                                   bias: bias, geometry: g, activation: .silu, workers: workers)
            }
            #expect(staged == dense, "\(g) workers \(workers)")
        }
    }
}

/// The register-blocked 1x1 kernel (CVectorMath/Pointwise.c) against its plain form: sizes that
/// leave column tails (P not a multiple of 16 or of the 48-column panel), filter tails (F not a
/// multiple of 8), batch 2 written into a channel slice of a wider map, 1 to 3 workers.
struct PointwiseKernelTests {
    static let activations: [Activation] = [.identity, .relu, .leakyReLU(slope: 0.1), .silu, .sigmoid]

    // (channels, filters, height, width)
    @Test(.enabled(if: PointwiseKernel.available, "needs a vector kernel level (at the plain level the engine keeps sgemm)"),
          arguments: [(3, 5, 7, 9), (16, 70, 13, 37), (200, 24, 20, 20), (64, 8, 1, 17), (33, 130, 9, 11),
                      (8, 1, 2, 3)])
    func matchesReference(channels: Int, filters: Int, height: Int, width: Int) {
        let plane = height * width
        let x = randomValues(2 * channels * plane, seed: 101)
        let weight = randomValues(filters * channels, seed: 102), bias = randomValues(filters, seed: 103)
        // Output: channels [2, 2 + F) of a (F + 5)-channel map, batch 2.
        let wide = filters + 5, offset = 2 * plane
        for act in Self.activations {
            let want = (0..<2).map { n in
                PointwiseKernel.reference(x: Array(x[(n * channels * plane)..<((n + 1) * channels * plane)]),
                                          weight: weight, bias: bias, channels: channels, filters: filters,
                                          plane: plane, activation: act)
            }
            for workers in [1, 2, 3] {
                var y = [Float](repeating: 7, count: 2 * wide * plane)
                PointwiseKernel.apply(x: x, batch: 2, weight: weight, bias: bias, channels: channels, filters: filters,
                                      plane: plane, activation: act, into: &y, yOffset: offset,
                                      yBatchStride: wide * plane, workers: workers)
                var worst: Float = 0
                var outside = 0
                for n in 0..<2 {
                    for i in 0..<(wide * plane) {
                        let v = y[n * wide * plane + i]
                        let c = i / plane
                        if c >= 2 && c < 2 + filters {
                            worst = max(worst, abs(v - want[n][i - offset]))
                        } else if v != 7 {
                            outside += 1
                        }
                    }
                }
                #expect(worst < 1e-4, "C\(channels) F\(filters) \(height)x\(width) \(act) workers \(workers): \(worst)")
                #expect(outside == 0, "C\(channels) F\(filters) \(act): \(outside) values written outside the slice")
            }
        }
    }

    /// With one input channel the product is a single rounding on both sides, so the fused
    /// epilogue must give the reference's (FastMath's) numbers exactly, clamps included.
    @Test(.enabled(if: PointwiseKernel.available, "needs a vector kernel level (at the plain level the engine keeps sgemm)"))
    func epilogueIsExact() {
        let plane = 4000
        let x = (0..<plane).map { Float($0) * 0.0625 - 125 }
        let weight = randomValues(11, seed: 104).map { $0 * 1.5 }, bias = randomValues(11, seed: 105)
        for act in Self.activations {
            let want = PointwiseKernel.reference(x: x, weight: weight, bias: bias, channels: 1, filters: 11,
                                                 plane: plane, activation: act)
            var y = [Float](repeating: 0, count: 11 * plane)
            PointwiseKernel.apply(x: x, batch: 1, weight: weight, bias: bias, channels: 1, filters: 11, plane: plane,
                                  activation: act, into: &y, workers: 2)
            #expect(y == want, "\(act)")
        }
    }

    /// Tasks cover every column and filter exactly once, for planes and filter counts with tails.
    @Test func tilingCoversOutput() {
        for (plane, filters) in [(400, 512), (25600, 32), (17, 3), (481, 70), (1600, 24), (48, 8)] {
            for workers in [1, 2, 3, 8] {
                let t = PointwiseKernel.Tiling(plane: plane, filters: filters, workers: workers)
                var hits = [Int](repeating: 0, count: plane * filters)
                for task in 0..<t.tasks {
                    let (cols, fs) = t.ranges(task)
                    #expect(cols.lowerBound % 48 == 0 && fs.lowerBound % 8 == 0)
                    for f in fs { for p in cols { hits[f * plane + p] += 1 } }
                }
                #expect(hits.allSatisfy { $0 == 1 }, "P\(plane) F\(filters) workers \(workers)")
            }
        }
    }

    /// Through the conv entry point: batch 2 into channels [3, 3 + F) of a wider map.
    @Test func convWritesIntoBatchStridedSlice() {
        let g = ConvGeometry(inChannels: 19, outChannels: 13, kernel: 1)
        let (h, w) = (15, 21)
        let x = Tensor(shape: [2, 19, h, w], data: randomValues(2 * 19 * h * w, seed: 106))
        let weight = randomValues(g.weightCount, seed: 107), bias = randomValues(13, seed: 108)
        let ref = ConvKernel.reference(input: x, weight: weight, bias: bias, geometry: g, activation: .silu)
        for workers in [1, 2] {
            var out = Tensor(shape: [2, 20, h, w], repeating: 7)
            var scratch: [Float] = []
            ConvKernel.forward(input: x, weight: weight, bias: bias, geometry: g, activation: .silu, into: &out,
                               channelOffset: 3, scratch: &scratch, prepared: PreparedWeights(weight: weight, geometry: g),
                               workers: workers)
            let plane = h * w
            for n in 0..<2 {
                for c in 0..<20 {
                    let got = out.data[((n * 20 + c) * plane)..<((n * 20 + c + 1) * plane)]
                    if (3..<16).contains(c) {
                        let want = ref.data[((n * 13 + c - 3) * plane)..<((n * 13 + c - 2) * plane)]
                        #expect(zip(got, want).allSatisfy { abs($0 - $1) < 1e-4 }, "channel \(c) workers \(workers)")
                    } else {
                        #expect(got.allSatisfy { $0 == 7 }, "channel \(c) workers \(workers)")
                    }
                }
            }
        }
    }
}

/// Sibling 1x1 convs in one pass (`PointwiseKernel.forward(_:input:siblings:)`, the ELAN
/// blocks' first two convs): each output bit-equal to its conv run alone, and near the plain
/// form. Cases with filter tails, column tails, several chunks per task (700 channels make a
/// chunk one panel) and, with 8 workers on small planes, filter ranges split across siblings.
struct PointwiseSiblingTests {
    // (channels, each sibling's filters, height, width)
    @Test(.enabled(if: PointwiseKernel.available, "needs a vector kernel level (at the plain level the engine keeps sgemm)"),
          arguments: [(16, [32, 32], 13, 37), (33, [13, 70, 8], 9, 11), (700, [24, 5], 20, 20), (64, [32, 32], 40, 41),
                      (3, [1, 2], 2, 3)])
    func eachOutputIsItsConvAlone(channels: Int, filters: [Int], height: Int, width: Int) {
        let plane = height * width
        let acts: [Activation] = [.leakyReLU(slope: 0.1), .silu, .identity]
        let x = randomValues(2 * channels * plane, seed: 111)
        let convs = filters.enumerated().map { i, f in
            (weight: randomValues(f * channels, seed: 112 + UInt64(i)), bias: randomValues(f, seed: 120 + UInt64(i)),
             filters: f, activation: acts[i % acts.count])
        }
        let alone = convs.map { c in
            var y = [Float](repeating: 0, count: 2 * c.filters * plane)
            PointwiseKernel.apply(x: x, batch: 2, weight: c.weight, bias: c.bias, channels: channels, filters: c.filters,
                                  plane: plane, activation: c.activation, into: &y, workers: 1)
            return y
        }
        for (c, y) in zip(convs, alone) {
            let want = PointwiseKernel.reference(x: Array(x[0..<(channels * plane)]), weight: c.weight, bias: c.bias,
                                                 channels: channels, filters: c.filters, plane: plane,
                                                 activation: c.activation)
            let worst = zip(y.prefix(want.count), want).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-3, "C\(channels) F\(c.filters): \(worst) from the reference")
        }
        for workers in [1, 2, 3, 8] {
            let got = PointwiseKernel.applySiblings(x: x, batch: 2, channels: channels, plane: plane, convs: convs,
                                                    workers: workers)
            for i in convs.indices {
                #expect(got[i] == alone[i], "C\(channels) F\(filters) \(height)x\(width) sibling \(i) workers \(workers)")
            }
        }
    }
}

/// The C im2col the conv tiles use against the Swift one: strides 1, 2 and 3, padding on every
/// side, kernels up to 6x6, row ranges at the top, middle and bottom of the output.
struct Im2colTests {
    @Test(arguments: [(3, 1, 1), (3, 2, 1), (1, 2, 0), (6, 2, 2), (5, 3, 2), (2, 2, 0)])
    func cEqualsSwift(kernel: Int, stride: Int, padding: Int) {
        let g = ConvGeometry(inChannels: 5, outChannels: 4, kernel: kernel, stride: stride, padding: padding)
        let (h, w) = (23, 37)
        let x = Tensor(shape: [1, 5, h, w], data: randomValues(5 * h * w, seed: 111))
        let oh = g.outputSize(height: h, width: w).height
        for (start, rows) in [(0, oh), (0, 2), (oh / 2, 3), (oh - 1, 1)] {
            let fast = ConvKernel.unfoldFast(x, geometry: g, rowStart: start, rows: rows)
            let ref = ConvKernel.unfold(x, geometry: g, rowStart: start, rows: rows)
            #expect(fast == ref, "k\(kernel) s\(stride) p\(padding) rows \(start)+\(rows)")
        }
    }
}

/// Winograd F(4x4, 3x3): the C transforms (Winograd4.c) at every kernel level against their
/// plain per-tile forms, then whole convs against the direct reference (where the engine runs
/// F(4x4): a vector level).
struct Winograd4Tests {
    /// The C weight transform against the Swift one, pair by pair: identical floats.
    @Test func weightTransformMatchesReference() {
        let (filters, channels) = (5, 7)
        let n = filters * channels
        let w = randomValues(n * 9, seed: 501)
        let u = Winograd.transformWeights(w, filters: filters, channels: channels, tile: .f4)
        for pair in 0..<n {
            let expected = Winograd.transformWeights4Reference(Array(w[(pair * 9)..<(pair * 9 + 9)]))
            let got = (0..<36).map { u[$0 * n + pair] }
            #expect(got == expected, "pair \(pair)")
        }
    }

    /// The float transform against U = G g G^T by the matrices in Double: within a few roundings
    /// (sums of up to 49 terms of unit-scale weights, then one scaling; measured 6e-8).
    @Test func weightTransformNearMatrixForm() {
        let n = 300
        let w = randomValues(n * 9, seed: 503)
        let u = Winograd.transformWeights(w, filters: 20, channels: 15, tile: .f4)
        var worst = 0.0
        for pair in 0..<n {
            let g = (0..<9).map { Double(w[pair * 9 + $0]) }
            for i in 0..<6 {
                for l in 0..<6 {
                    var sum = 0.0
                    for a in 0..<3 { for b in 0..<3 { sum += Winograd.g4[i][a] * g[a * 3 + b] * Winograd.g4[l][b] } }
                    worst = max(worst, abs(Double(u[(i * 6 + l) * n + pair]) - sum))
                }
            }
        }
        #expect(worst < 1e-6, "worst \(worst)")
    }

    /// Input transform of a plane whose tiles run past the right and bottom edges, in two
    /// column chunks (tx0 > 0), against B^T d B per tile on the zero-padded plane. 70 wide: 18
    /// tile columns, so a whole block of 16 tiles (both chunkings) beside ragged ones.
    @Test(arguments: [(3, 10, 13), (2, 9, 70)])
    func inputTransformMatchesReference(c: Int, h: Int, w: Int) {
        let tileRows = (h + 3) / 4, tileColumns = (w + 3) / 4
        let x = randomValues(c * h * w, seed: 502)
        func pixel(_ ch: Int, _ iy: Int, _ ix: Int) -> Float {
            iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : x[(ch * h + iy) * w + ix]
        }
        for (level, k) in kernelLevels {
        for (tx0, tw) in [(0, 2), (2, tileColumns - 2)] {
            for (ty0, ty1) in [(0, tileRows), (1, 3)] {
                let tiles = (ty1 - ty0) * tw
                var v = [Float](repeating: .nan, count: 36 * c * tiles)
                x.withUnsafeBufferPointer { xb in
                    v.withUnsafeMutableBufferPointer { vb in
                        k.winograd4_input(xb.baseAddress!, c, h, w, ty0, ty1, tx0, tw, vb.baseAddress!, tiles, c * tiles)
                    }
                }
                var worst = 0.0
                for ch in 0..<c {
                    for ty in ty0..<ty1 {
                        for tx in tx0..<(tx0 + tw) {
                            var d = [Float](repeating: 0, count: 36)
                            for i in 0..<6 { for j in 0..<6 { d[i * 6 + j] = pixel(ch, 4 * ty - 1 + i, 4 * tx - 1 + j) } }
                            let expected = Winograd.inputTile4Reference(d)
                            let j = (ty - ty0) * tw + (tx - tx0)
                            for xi in 0..<36 {
                                worst = max(worst, abs(Double(v[xi * c * tiles + ch * tiles + j]) - expected[xi]))
                            }
                        }
                    }
                }
                // Values in [-1, 1], at most 25 weighted terms with |coefficient| <= 25: a few float ulps of 100.
                #expect(worst <= 1e-4, "\(level) tx0 \(tx0) ty0 \(ty0): \(worst)")
            }
        }
        }
    }

    /// Output transform with bias and SiLU, cropped at the edges, against A^T M A per tile. 70
    /// wide: a whole block of 16 tiles stored straight from registers, then a ragged one.
    @Test(arguments: [(3, 7, 10), (2, 9, 70)])
    func outputTransformMatchesReference(f: Int, h: Int, w: Int) {
        let tileRows = (h + 3) / 4, tileColumns = (w + 3) / 4
        let tiles = tileRows * tileColumns
        let m = randomValues(36 * f * tiles, seed: 503), bias = randomValues(f, seed: 504)
        for (level, k) in kernelLevels {
        var y = [Float](repeating: .nan, count: f * h * w)
        m.withUnsafeBufferPointer { mb in
            y.withUnsafeMutableBufferPointer { yb in
                k.winograd4_output(mb.baseAddress!, tiles, f * tiles, f, 0, tileRows, 0, tileColumns, bias,
                                   Int32(CVM_ACT_SILU), 0, yb.baseAddress!, h, w)
            }
        }
        var worst: Float = 0
        for fi in 0..<f {
            for ty in 0..<tileRows {
                for tx in 0..<tileColumns {
                    let j = ty * tileColumns + tx
                    let tile = Winograd.outputTile4Reference((0..<36).map { m[$0 * f * tiles + fi * tiles + j] })
                    for a in 0..<4 {
                        for b in 0..<4 where 4 * ty + a < h && 4 * tx + b < w {
                            let expected = Activation.silu.apply(Float(tile[a * 4 + b]) + bias[fi])
                            worst = max(worst, abs(y[(fi * h + 4 * ty + a) * w + 4 * tx + b] - expected))
                        }
                    }
                }
            }
        }
        // Sums of 36 terms with coefficients up to 64 of values in [-1, 1].
        #expect(worst <= 2e-4, "\(level): \(worst)")
        #expect(!y.contains { $0.isNaN }, "\(level)")
        }
    }

    /// Whole convs against the direct reference: the cases of WinogradTests (both tilings,
    /// batch 2 into a channel slice), and a plane wider than one column chunk (1,030 > 4 x 256).
    @Test(.enabled(if: Winograd.Tile.f4.available, "the engine runs F(4x4) at vector kernel levels only"),
          arguments: [(16, 16, 9, 7), (24, 40, 37, 30), (32, 20, 6, 5), (16, 48, 64, 66), (16, 17, 5, 1030)])
    func matchesDirectConvolution(c: Int, f: Int, h: Int, w: Int) {
        // F(4x4)'s larger coefficients: measured about 1e-6 relative here; bound 2e-5.
        expectWinogradMatchesDirect(c: c, f: f, h: h, w: w, tile: .f4, products: .blocked, bound: 2e-5, seed: 505)
    }

    /// The tiling the wide case needs: several column chunks per tile row.
    @Test func widePlanesSplitIntoColumnChunks() {
        let t = WinogradTiling(geometry: ConvGeometry(inChannels: 16, outChannels: 17, kernel: 3, padding: 1),
                               input: FeatureShape(batch: 1, channels: 16, height: 5, width: 1030), workers: 2, tile: .f4)
        #expect(t.mode == .tiles && t.columnChunk == 256 && t.tileColumns == 258 && t.tasks == 4)
    }
}

/// Dense weights recomputed from either transform (what a model that dropped its dense copy
/// hands to whoever asks): the originals up to float rounding.
struct WinogradUntransformTests {
    @Test(arguments: Winograd.Tile.allCases)
    func recoversTheWeights(tile: Winograd.Tile) {
        let (filters, channels) = (6, 5)
        let w = randomValues(filters * channels * 9, seed: 601)
        let u = Winograd.transformWeights(w, filters: filters, channels: channels, tile: tile)
        let back = Winograd.untransformWeights(u, filters: filters, channels: channels, tile: tile)
        let err = zip(w, back).map { abs($0 - $1) }.max() ?? .infinity
        // U rounded to float, then a least-squares inverse with coefficients up to ~10: 1e-6.
        #expect(err <= 1e-6, "\(tile): \(err)")
        #expect(err > 0 || tile == .f2, "F(4x4)'s 1/6 and 1/24 cannot all round exactly")
    }
}
