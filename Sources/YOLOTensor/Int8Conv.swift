import CVectorMath

/// The range of values an activation map takes on calibration images: what its int8 grid covers.
public struct ActivationRange: Codable, Equatable, Sendable {
    public var min: Float
    public var max: Float

    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }
}

/// Per-tensor asymmetric u8 quantization of a conv's input: `u = clamp(round(x / s) + z, 0, 255)`,
/// `x' = s (u - z)`. The range always contains 0, so zero padding is exactly the code `z`.
public struct ActivationQuantization: Equatable, Sendable, CustomStringConvertible {
    public let scale: Float
    /// 1 / scale, the factor the kernels multiply by (so reference and kernel round alike).
    public let inverse: Float
    public let zero: Int32

    /// The grid that covers `[min(lo, 0), max(hi, 0)]` with 256 levels.
    public init(min lo: Float, max hi: Float) {
        let a = Swift.min(lo, 0), b = Swift.max(hi, 0)
        var s = (b - a) / 255
        if !(s > 0) || !s.isFinite { s = 1 }
        scale = s
        inverse = 1 / s
        zero = Int32(Swift.min(255, Swift.max(0, (-a / s).rounded(.toNearestOrEven))))
    }

    /// The code of one value, as `cvm_int8_quantize` computes it.
    @inline(__always)
    public func quantize(_ x: Float) -> Int32 {
        let v = Swift.min(Swift.max(x * inverse, -512), 512).rounded(.toNearestOrEven)
        return Swift.min(255, Swift.max(0, Int32(v) + zero))
    }

    public var description: String { "scale \(scale) zero \(zero)" }
}

/// A conv's weights as integers for the int8 kernels, in kernel order: `k = (i*kw + j)*Cp + c`
/// with the channels padded to `Cp` (a multiple of 4, padding weights 0), so each group of 4
/// consecutive k is one broadcast word of 4 channels at one kernel position. Real weight
/// `w[f, k] = scale[f] * q[f, k]`.
public final class Int8ConvWeights: Sendable {
    public enum Storage: Sendable {
        /// s8 rows `[F][K]`.
        case dense([Int8])
        /// 4-bit codes `[F][K]`, two a byte (low nibble first), `q = code - offset[f]`; padding
        /// positions hold `offset[f]`, so they are 0 once unpacked.
        case packed4(codes: [UInt8], offsets: [Int8])
    }

    public let geometry: ConvGeometry
    public let paddedChannels: Int
    /// K, weights per filter in kernel order (a multiple of 4).
    public let depth: Int
    public let storage: Storage
    public let scale: [Float]
    /// Per filter, the sum of its integer weights (for the activation zero-point correction).
    public let sums: [Int32]

    static func padded(_ c: Int) -> Int { (c + 3) / 4 * 4 }

    /// Kernel-order index of weight `[c, i, j]` (weight order index `c*kh*kw + i*kw + j`).
    @inline(__always)
    static func kernelIndex(channel c: Int, position ij: Int, paddedChannels: Int) -> Int { ij * paddedChannels + c }

    /// Integer weights given in the weight's own order `[F][C][kh][kw]` (each in -128...127),
    /// with one scale per filter.
    public init(integers: [Int8], scale: [Float], geometry g: ConvGeometry) {
        precondition(g.groups == 1 && integers.count == g.weightCount && scale.count == g.outChannels,
                     "Int8ConvWeights: sizes")
        geometry = g
        paddedChannels = Self.padded(g.inChannels)
        let positions = g.kernelH * g.kernelW
        depth = positions * paddedChannels
        var rows = [Int8](repeating: 0, count: g.outChannels * depth)
        var sums = [Int32](repeating: 0, count: g.outChannels)
        let n = g.filterSize
        for f in 0..<g.outChannels {
            for c in 0..<g.inChannels {
                for ij in 0..<positions {
                    let q = integers[f * n + c * positions + ij]
                    rows[f * depth + Self.kernelIndex(channel: c, position: ij, paddedChannels: paddedChannels)] = q
                    sums[f] += Int32(q)
                }
            }
        }
        storage = .dense(rows)
        self.scale = scale
        self.sums = sums
    }

    /// FP32 weights `[F][C][kh][kw]` quantized per filter, symmetric, 127 levels each side.
    public convenience init(quantizing weights: [Float], geometry g: ConvGeometry) {
        let n = g.filterSize
        var integers = [Int8](repeating: 0, count: g.weightCount)
        var scale = [Float](repeating: 0, count: g.outChannels)
        for f in 0..<g.outChannels {
            let row = weights[(f * n)..<((f + 1) * n)]
            let m = row.reduce(Float(0)) { Swift.max($0, abs($1)) }
            let s = m > 0 ? m / 127 : 1
            scale[f] = m > 0 ? s : 0
            for (k, w) in row.enumerated() {
                integers[f * n + k] = Int8(Swift.min(127, Swift.max(-127, (w / s).rounded(.toNearestOrEven))))
            }
        }
        self.init(integers: integers, scale: scale, geometry: g)
    }

    /// 4-bit codes (one per weight, `[F][C][kh][kw]`, each < 16) with `q = code - offsets[f]`;
    /// kept packed, repacked once into kernel order. Each offset must be in 0...15, so that the
    /// padding code is a real code whose weight is 0.
    public init(codes: [UInt8], offsets: [Int], scale: [Float], geometry g: ConvGeometry) {
        precondition(g.groups == 1 && codes.count == g.weightCount && offsets.count == g.outChannels
                     && scale.count == g.outChannels, "Int8ConvWeights: sizes")
        precondition(offsets.allSatisfy { (0...15).contains($0) }, "Int8ConvWeights: 4-bit offsets must be codes")
        geometry = g
        paddedChannels = Self.padded(g.inChannels)
        let positions = g.kernelH * g.kernelW
        depth = positions * paddedChannels
        var packed = [UInt8](repeating: 0, count: g.outChannels * depth / 2)
        var sums = [Int32](repeating: 0, count: g.outChannels)
        let n = g.filterSize
        for f in 0..<g.outChannels {
            for ij in 0..<positions {
                for c in 0..<paddedChannels {
                    let code = c < g.inChannels ? Int(codes[f * n + c * positions + ij]) : offsets[f]
                    precondition(code < 16, "Int8ConvWeights: code \(code) is not 4-bit")
                    sums[f] += Int32(code - offsets[f])
                    let k = f * depth + Self.kernelIndex(channel: c, position: ij, paddedChannels: paddedChannels)
                    packed[k / 2] |= UInt8(code) << (4 * (k & 1))
                }
            }
        }
        storage = .packed4(codes: packed, offsets: offsets.map { Int8($0) })
        self.scale = scale
        self.sums = sums
    }

    /// Integer weight `q[f, k]` (kernel order), read plainly from the storage: the reference's view.
    public func integer(filter f: Int, k: Int) -> Int32 {
        switch storage {
        case .dense(let rows): return Int32(rows[f * depth + k])
        case .packed4(let codes, let offsets):
            let i = f * depth + k
            return Int32((codes[i / 2] >> (4 * UInt8(i & 1))) & 15) - Int32(offsets[f])
        }
    }

    /// Resident bytes: integers (or codes) + per-filter scale, sum (and offset).
    public var bytes: Int {
        switch storage {
        case .dense(let rows): return rows.count + 8 * scale.count
        case .packed4(let codes, let offsets): return codes.count + offsets.count + 8 * scale.count
        }
    }
}

/// One conv ready to run in int8: its integer weights and the grid of its input map.
public final class Int8Conv: Sendable {
    public let weights: Int8ConvWeights
    public let input: ActivationQuantization
    /// `z * sum_k q[f, k]`: what the zero point adds to each accumulator.
    public let correction: [Int32]
    /// `s_x * s_w[f]`.
    public let scale: [Float]

    public init(weights: Int8ConvWeights, input: ActivationQuantization) {
        self.weights = weights
        self.input = input
        correction = weights.sums.map { $0 * input.zero }
        scale = weights.scale.map { $0 * input.scale }
    }

    public var geometry: ConvGeometry { weights.geometry }
}

/// The int8 conv on u8 maps (CVectorMath/Int8GEMM*.c, at the int8 level `KernelISA.int8Level`
/// picks: AVX-512 VNNI, AVX-VNNI, AVX2, NEON with or without dotprod, plain C; all give the same
/// codes): every output pixel is a "virtual column"
/// of the output's padded plane, and each k group reads the input word at a fixed offset from
/// it, so no column panel is ever built: stride-1 convs read the input map itself, 3x3
/// stride-2 convs its four phase planes (`cvm_q8_phase_split`, made into the conv's
/// temporary). The epilogue writes the next map's u8 codes (requantized with its grid, 4
/// filters to a word, its border columns the zero point) or FP32 planes (the detection head).
public enum Int8ConvKernel {
    /// True on every CPU: the plain C level runs anywhere.
    public static let available = cvm_int8_available() != 0

    /// Geometries the product runs: stride 1 with "same" padding up to 1 (1x1, 3x3), and 3x3
    /// stride 2 padding 1; ungrouped, square kernels.
    public static func applies(_ g: ConvGeometry) -> Bool {
        guard g.groups == 1, g.kernelH == g.kernelW else { return false }
        if g.stride == 1 { return g.padding <= 1 && g.kernelH == 2 * g.padding + 1 }
        return g.stride == 2 && g.kernelH == 3 && g.padding == 1
    }

    public enum Output: Equatable, Sendable {
        /// u8 codes of `grid` into a map (or a concat's slice of one).
        case codes(U8View, ActivationQuantization)
        /// FP32 into NCHW planes.
        case floats(FeatureView)
    }

    /// Arena elements of temporary a conv on `input` needs: the phase planes of one batch item
    /// for stride 2 (guards included), none for stride 1.
    public static func temporaryWords(_ g: ConvGeometry, input: U8MapLayout) -> Int {
        guard g.stride == 2 else { return 0 }
        return 4 * phaseLayout(g, input: input).words + 2 * U8View.guardWords
    }

    /// Each phase's planes: the input's channels on the output's plane shape.
    static func phaseLayout(_ g: ConvGeometry, input: U8MapLayout) -> U8MapLayout {
        let (oh, ow) = g.outputSize(height: input.height, width: input.width)
        return U8MapLayout(channels: input.channels, height: oh, width: ow)
    }

    /// Word offset of each k group `kg = (i*kw + j)*G + g` from its virtual column, in the
    /// input's planes (stride 1) or the phase planes (stride 2: tap i of a 3x3 stride-2 kernel
    /// reads input row 2a - 1 + i of output row a, which is row a - 1 of the odd phase for
    /// i = 0, row a of the even phase for i = 1 and of the odd phase for i = 2; so for columns).
    public static func columnOffsets(_ g: ConvGeometry, input: U8MapLayout) -> [Int] {
        let groups = input.groups
        var offsets = [Int](repeating: 0, count: g.kernelH * g.kernelW * groups)
        if g.stride == 1 {
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    for c in 0..<groups {
                        offsets[(i * g.kernelW + j) * groups + c] = c * input.groupStride
                            + (i - g.padding) * input.paddedWidth + (j - g.padding)
                    }
                }
            }
        } else {
            let ph = phaseLayout(g, input: input)
            let parity = [1, 0, 1], shift = [-1, 0, 0]
            for i in 0..<3 {
                for j in 0..<3 {
                    let phase = 2 * parity[i] + parity[j]
                    for c in 0..<groups {
                        offsets[(i * 3 + j) * groups + c] = phase * ph.words + c * ph.groupStride
                            + shift[i] * ph.paddedWidth + shift[j]
                    }
                }
            }
        }
        return offsets
    }

    /// Runs the conv on every batch item of `input` (`temporary`: arena offset of
    /// `temporaryWords` elements). `offsets`: `columnOffsets` made once by the caller (a plan),
    /// else computed here.
    public static func forward(_ ws: inout Workspace, input: U8View, output: Output, conv: Int8Conv, bias: [Float],
                               activation: Activation, temporary: Int = 0, offsets given: [Int]? = nil,
                               workers requested: Int? = nil) {
        let g = conv.geometry
        let l = input.layout
        precondition(applies(g), "int8 conv: geometry \(g) has no u8 product")
        precondition(l.channels == g.inChannels, "int8 conv: input has \(l.channels) channels, weights want \(g.inChannels)")
        precondition(bias.count == g.outChannels, "int8 conv: bias size")
        let (oh, ow) = g.outputSize(height: l.height, width: l.width)
        let outLayout = U8MapLayout(channels: g.outChannels, height: oh, width: ow)
        switch output {
        case .codes(let v, _):
            precondition(v.layout == outLayout && v.batch == input.batch, "int8 conv: output \(v) does not fit \(outLayout)")
        case .floats(let v):
            precondition(v.shape == FeatureShape(batch: input.batch, channels: g.outChannels, height: oh, width: ow)
                         && v.storage == .arena, "int8 conv: output \(v) does not fit")
        }
        let workers = max(1, requested ?? ws.threadCount)
        let offsets = given ?? columnOffsets(g, input: l)
        let kgroups = offsets.count
        let depth = conv.weights.depth
        precondition(depth == 4 * kgroups, "int8 conv: weights' depth \(depth) for \(kgroups) k groups")
        // Per worker, a block of 8 unpacked 4-bit filters.
        ws.reserveScratch(workers * 2 * depth + 16)
        let (act, slope) = PointwiseKernel.code(activation)
        let columns = outLayout.interiorColumns
        let tiling = Tiling(plane: columns.count, filters: g.outChannels, workers: workers)
        let phases = g.stride == 2 ? phaseLayout(g, input: l) : nil
        let phaseBase = temporary + U8View.guardWords
        for n in 0..<input.batch {
            if let ph = phases {
                let inputItem = input.offset + n * input.batchStride
                let zeroWord = conv.input.zeroWord
                ws.withWordBases { _, words in
                    let x = UnsafePointer(words + inputItem)
                    U8MapKernels.forEachGroups(l, workers: workers) { gs in
                        cvm_q8_phase_split(x, l.groupStride, l.height, l.width, gs.lowerBound, gs.upperBound, zeroWord,
                                           words + phaseBase, ph.words, ph.groupStride)
                    }
                }
            }
            let source = phases == nil ? input.offset + n * input.batchStride : phaseBase
            ws.withWordBases { floats, words, scratch in
                do {
                    let blocks = scratch.assumingMemoryBound(to: Int8.self)
                    var out = cvm_q8_output()
                    out.padded_width = outLayout.paddedWidth
                    out.width = ow
                    switch output {
                    case .codes(let v, let grid):
                        out.kind = Int32(CVM_Q8_U8)
                        out.words = words + v.offset + n * v.batchStride
                        out.group_stride = outLayout.groupStride
                        out.inv_scale = grid.inverse
                        out.zero = grid.zero
                        cvm_q8_fill_border_rows(out.words, outLayout.groupStride, oh, ow, 0, outLayout.groups, grid.zeroWord)
                    case .floats(let v):
                        out.kind = Int32(CVM_Q8_F32)
                        out.y = floats.destination(v, item: n)
                        out.plane = oh * ow
                    }
                    let x = UnsafePointer(words + source)
                    conv.correction.withUnsafeBufferPointer { corr in
                        conv.scale.withUnsafeBufferPointer { scale in
                            bias.withUnsafeBufferPointer { b in
                                offsets.withUnsafeBufferPointer { off in
                                    withWeights(conv.weights) { dense, codes, codeOffsets in
                                        withUnsafePointer(to: &out) { out in
                                            Parallel.forEachTask(tiling.tasks, workers: workers) { worker, t in
                                                let (cols, fs) = tiling.ranges(t)
                                                if cols.isEmpty || fs.isEmpty { return }
                                                cvm_q8_gemm(x, off.baseAddress!, kgroups, dense, depth, codes, codeOffsets,
                                                            blocks + worker * 8 * depth, corr.baseAddress!,
                                                            scale.baseAddress!, b.baseAddress!, fs.lowerBound,
                                                            fs.upperBound, columns.lowerBound + cols.lowerBound,
                                                            columns.lowerBound + cols.upperBound, act, slope, out)
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
    }

    /// Tasks of one product: `PointwiseKernel.Tiling`'s grid of column x filter chunks, except
    /// that planes of a few panels (20x20: 10) are not split by columns at all but into equal
    /// filter chunks: column chunks of 1 or 2 panels left one worker a panel behind (measured,
    /// 20x20 convs 1.4-1.6x faster on 2 threads than on 1), and a small plane's whole input
    /// stays in L2 while every filter chunk reads it.
    struct Tiling {
        static let smallPanels = 16
        let grid: PointwiseKernel.Tiling?
        let plane: Int, filters: Int, filterChunks: Int

        init(plane: Int, filters: Int, workers: Int) {
            self.plane = plane
            self.filters = filters
            let panels = (plane + PointwiseKernel.Tiling.panel - 1) / PointwiseKernel.Tiling.panel
            if workers > 1 && panels <= Self.smallPanels {
                grid = nil
                filterChunks = max(1, min((filters + 7) / 8, workers * PointwiseKernel.Tiling.tasksPerWorker))
            } else {
                grid = PointwiseKernel.Tiling(plane: plane, filters: filters, workers: workers)
                filterChunks = 0
            }
        }

        var tasks: Int { grid?.tasks ?? filterChunks }

        func ranges(_ t: Int) -> (columns: Range<Int>, filters: Range<Int>) {
            if let grid { return grid.ranges(t) }
            let blocks = (filters + 7) / 8
            return (0..<plane, min(filters, blocks * t / filterChunks * 8)..<min(filters, blocks * (t + 1) / filterChunks * 8))
        }
    }

    /// Base pointers of the weight storage: dense rows, or 4-bit codes and offsets.
    private static func withWeights<R>(_ w: Int8ConvWeights,
                                       _ body: (UnsafePointer<Int8>?, UnsafePointer<UInt8>?, UnsafePointer<Int8>?) -> R) -> R {
        switch w.storage {
        case .dense(let rows):
            return rows.withUnsafeBufferPointer { body($0.baseAddress!, nil, nil) }
        case .packed4(let codes, let offsets):
            return codes.withUnsafeBufferPointer { c in
                offsets.withUnsafeBufferPointer { o in body(nil, c.baseAddress!, o.baseAddress!) }
            }
        }
    }

    /// The kernel on a standalone FP32 tensor (tests): the input quantized on the conv's grid
    /// into a u8 map, the conv, and its output as codes of `outputGrid` (`[N, F, oh, ow]`, as
    /// floats) or, without it, as FP32.
    public static func apply(_ input: Tensor, conv: Int8Conv, bias: [Float], activation: Activation,
                             outputGrid: ActivationQuantization? = nil, workers: Int = 1) -> Tensor {
        let s = input.featureShape
        let g = conv.geometry
        let inLayout = U8MapLayout(s)
        let outShape = g.outputShape(s)
        let outLayout = U8MapLayout(outShape)
        let inRegion = inLayout.regionWords(batch: s.batch)
        let outRegion = outputGrid != nil ? outLayout.regionWords(batch: s.batch) : outShape.count
        let temp = temporaryWords(g, input: inLayout)
        var ws = Workspace(arenaFloats: inRegion + outRegion + temp)
        ws.input = input.data
        let inView = U8View(region: 0, layout: inLayout, batch: s.batch)
        U8MapKernels.quantize(&ws, input: FeatureView(storage: .input, offset: 0, shape: s), output: inView,
                              grid: conv.input, workers: workers)
        let output: Output
        if let outputGrid {
            output = .codes(U8View(region: inRegion, layout: outLayout, batch: s.batch), outputGrid)
        } else {
            output = .floats(FeatureView(offset: inRegion, shape: outShape))
        }
        forward(&ws, input: inView, output: output, conv: conv, bias: bias, activation: activation,
                temporary: inRegion + outRegion, workers: workers)
        switch output {
        case .codes(let v, _):
            return Tensor(shape: outShape.dims, data: U8MapKernels.codes(ws, v).map { Float($0) })
        case .floats:
            return Tensor(shape: outShape.dims, data: Array(ws.arena[inRegion..<(inRegion + outShape.count)]))
        }
    }

    /// Direct int8 convolution, written for clarity: every input value quantized as the kernel
    /// does, integer products summed in Int32 over (i, j, c), then
    /// `applyFast(Float(acc - correction) * scale + bias)`, and with `outputGrid` that value's
    /// code (returned as a float). The kernel must match it exactly.
    public static func reference(_ input: Tensor, conv: Int8Conv, bias: [Float], activation: Activation,
                                 outputGrid: ActivationQuantization? = nil) -> Tensor {
        let g = conv.geometry, w = conv.weights, q = conv.input
        let s = input.featureShape
        let outShape = g.outputShape(s)
        var out = Tensor(zeros: outShape)
        let codes = input.data.map { q.quantize($0) }
        for n in 0..<s.batch {
            for f in 0..<g.outChannels {
                for oy in 0..<outShape.height {
                    for ox in 0..<outShape.width {
                        var acc: Int32 = 0
                        for i in 0..<g.kernelH {
                            for j in 0..<g.kernelW {
                                let iy = oy * g.stride - g.padding + i, ix = ox * g.stride - g.padding + j
                                let inside = iy >= 0 && iy < s.height && ix >= 0 && ix < s.width
                                for c in 0..<g.inChannels {
                                    let u = inside ? codes[((n * s.channels + c) * s.height + iy) * s.width + ix] : q.zero
                                    acc += u * w.integer(filter: f, k: (i * g.kernelW + j) * w.paddedChannels + c)
                                }
                            }
                        }
                        var v = activation.applyFast(Float(acc - conv.correction[f]) * conv.scale[f] + bias[f])
                        if let outputGrid { v = Float(outputGrid.quantize(v)) }
                        out.data[((n * outShape.channels + f) * outShape.height + oy) * outShape.width + ox] = v
                    }
                }
            }
        }
        return out
    }
}
