import CVectorMath

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

/// Which map, on which grid, the quantized input at the start of a workspace's scratch is.
public struct QuantizedInputKey: Equatable, Sendable {
    let view: FeatureView
    let zero: Int32
    let inverse: Float
    /// Border of the quantized layout (0: plain, else padded for implicit columns).
    let border: Int
}

/// One conv ready to run in int8: its integer weights and how its input is quantized.
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

/// The int8 conv: the input quantized once into 4-channel words (`cvm_int8_quantize`), unrolled
/// into column panels of words (none for 1x1 stride-1 convs: the quantized map is the panel),
/// multiplied by `cvm_int8_gemm` (or `cvm_int8_gemm_packed4`, which unpacks 4-bit weights one
/// block of 8 filters at a time), bias + activation fused. FP32 in, FP32 out: the graph around
/// it is unchanged.
public enum Int8ConvKernel {
    public static let available = cvm_int8_available() != 0

    public static func applies(_ g: ConvGeometry) -> Bool { available && g.groups == 1 }

    /// Column panels up to this many words (1 MiB) are built whole; bigger ones per row task.
    static let wholePanelWords = 256 << 10
    /// Quantizing or unrolling fewer words than this per worker is not worth waking a thread
    /// (a 20x20 map's whole quantization takes microseconds).
    static let minParallelWords = 32 << 10
    /// Implicit columns compute (and drop) the padding columns too: 2 of every 22 on a 20x20
    /// map, where that measured slower than the panel (tiny at 640, layers 25 and 76: 1.32 vs
    /// 1.26 ms, 2.66 vs 2.50 ms); from 40x40 up it is as fast or faster (160x160: 1.41 vs 1.60 ms).
    /// (At least 16, so that a vector of 16 columns spans at most two output rows.)
    public static let minImplicitWidth = 40
    /// A row task's panel target in words (256 KiB: stays in L2 while every filter block reads it).
    static let taskPanelWords = 64 << 10

    public static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, conv: Int8Conv,
                               bias: [Float], activation: Activation, workers requested: Int? = nil,
                               minImplicitWidth: Int = minImplicitWidth) {
        let g = conv.geometry
        let inShape = input.shape
        precondition(inShape.channels == g.inChannels, "int8 conv: input has \(inShape.channels) channels, weights want \(g.inChannels)")
        precondition(output.shape == g.outputShape(inShape) && output.storage == .arena, "int8 conv: output view does not fit")
        precondition(bias.count == g.outChannels, "int8 conv: bias size")
        let plan = Plan(conv: conv, input: inShape, workers: max(1, requested ?? ws.threadCount),
                        minImplicitWidth: minImplicitWidth, implicitColumns: ws.options.implicitColumns)
        let key = QuantizedInputKey(view: input, zero: conv.input.zero, inverse: conv.input.inverse,
                                    border: plan.implicit ? g.padding : 0)
        let reuse = ws.reuseQuantizedInput && inShape.batch == 1 && ws.quantizedInput == key
            && ws.scratch.count >= plan.scratchWords
        ws.reserveScratch(plan.scratchWords)
        ws.quantizedInput = inShape.batch == 1 ? key : nil
        ws.arena.withUnsafeMutableBufferPointer { arenaBuf in
            ws.input.withUnsafeBufferPointer { inputBuf in
                ws.scratch.withUnsafeMutableBytes { scratch in
                    let views = ViewPointers(input: inputBuf.baseAddress, arena: arenaBuf.baseAddress)
                    let words = scratch.baseAddress!.assumingMemoryBound(to: UInt32.self)
                    for n in 0..<inShape.batch {
                        run(plan, conv: conv, x: views.source(input, item: n), y: views.destination(output, item: n),
                            bias: bias, activation: activation, scratch: words, quantized: reuse)
                    }
                }
            }
        }
    }

    /// How one conv's work is laid out: 1x1 stride-1 convs multiply the quantized map itself;
    /// other stride-1 convs read implicit columns of the map quantized with a border of zero
    /// points (`cvm_int8_columns`: no panel at all; tasks as `PointwiseKernel.Tiling` over the
    /// virtual columns); the rest build the column panel whole when it is small (tasks a grid of
    /// column x filter chunks), else per task of whole output rows, each into its worker's panel
    /// (kept in L2 while every filter block reads it).
    struct Plan {
        let geometry: ConvGeometry
        let inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
        let groups: Int, channelGroups: Int, depth: Int
        let pointwise: Bool, whole: Bool, implicit: Bool
        /// Implicit columns: the padded map's width and height.
        let paddedWidth: Int, paddedHeight: Int
        let rowsPerTask: Int
        let workers: Int
        /// Scratch, in 4-byte words: the quantized input, the whole panel or one per worker,
        /// and each worker's unpacked weight block (8 x K bytes).
        let inputWords: Int, panelWords: Int, panelSlots: Int, blockWords: Int

        /// `implicitColumns` off (`KernelOptions.implicitColumns`): a panel for every conv, to
        /// measure the difference.
        init(conv: Int8Conv, input: FeatureShape, workers: Int, minImplicitWidth: Int, implicitColumns: Bool) {
            let g = conv.geometry
            geometry = g
            inHeight = input.height
            inWidth = input.width
            (outHeight, outWidth) = g.outputSize(height: input.height, width: input.width)
            depth = conv.weights.depth
            groups = depth / 4
            channelGroups = conv.weights.paddedChannels / 4
            self.workers = workers
            let plane = outHeight * outWidth
            pointwise = g.isPointwise
            paddedWidth = input.width + 2 * g.padding
            paddedHeight = input.height + 2 * g.padding
            implicit = !pointwise && g.stride == 1 && paddedWidth >= max(16, minImplicitWidth)
                && implicitColumns
            whole = !pointwise && !implicit && groups * plane <= Int8ConvKernel.wholePanelWords
            if pointwise || whole || implicit {
                rowsPerTask = outHeight
            } else {
                let byCache = max(1, Int8ConvKernel.taskPanelWords / (groups * outWidth))
                let bySpread = max(1, outHeight / (2 * workers))
                rowsPerTask = min(outHeight, byCache, bySpread)
            }
            inputWords = channelGroups * (implicit ? paddedHeight * paddedWidth : input.height * input.width)
            panelWords = pointwise || implicit ? 0 : groups * rowsPerTask * outWidth
            panelSlots = whole ? 1 : workers
            blockWords = 2 * depth
        }

        var plane: Int { outHeight * outWidth }
        /// Implicit columns: the last output pixel's virtual column + 1.
        var virtualColumns: Int { (outHeight - 1) * paddedWidth + outWidth }

        /// Implicit columns: the word offset of each k group from its virtual column.
        func columnOffsets() -> [Int] {
            let g = geometry
            var offsets = [Int](repeating: 0, count: groups)
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    for c in 0..<channelGroups {
                        offsets[(i * g.kernelW + j) * channelGroups + c] = c * paddedHeight * paddedWidth + i * paddedWidth + j
                    }
                }
            }
            return offsets
        }
        var scratchWords: Int { inputWords + panelSlots * panelWords + workers * blockWords + 16 }
    }

    /// One image: quantize `x` (unless `quantized`: the scratch holds it already), build panels,
    /// multiply, with the epilogue writing `y`.
    static func run(_ p: Plan, conv: Int8Conv, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, bias: [Float],
                    activation: Activation, scratch: UnsafeMutablePointer<UInt32>, quantized: Bool = false) {
        let g = p.geometry
        let (act, slope) = PointwiseKernel.code(activation)
        let q = conv.input
        let padWord = UInt32(truncatingIfNeeded: q.zero) * 0x0101_0101
        let qin = scratch
        let panels = scratch + p.inputWords
        let blocks = UnsafeMutableRawPointer(panels + p.panelSlots * p.panelWords).assumingMemoryBound(to: Int8.self)
        let plane = p.plane, depth = p.depth, groups = p.groups
        if !quantized {
            // Parts of about `minParallelWords`: whole channel groups on small maps, rows of one
            // group on big ones (the network input is a single group of 3 channels).
            let width = p.inWidth, height = p.inHeight
            let total = p.channelGroups * height * width
            let split = p.workers > 1 && total >= 2 * Int8ConvKernel.minParallelWords
            let rowsPerPart = split ? max(1, min(height, Int8ConvKernel.minParallelWords / max(1, width))) : height
            let groupsPerPart = split && rowsPerPart == height
                ? max(1, Int8ConvKernel.minParallelWords / max(1, height * width)) : (split ? 1 : p.channelGroups)
            let rowParts = (height + rowsPerPart - 1) / rowsPerPart
            let groupParts = (p.channelGroups + groupsPerPart - 1) / groupsPerPart
            Parallel.forEachTask(rowParts * groupParts, workers: p.workers) { _, t in
                let g0 = t / rowParts * groupsPerPart, r0 = t % rowParts * rowsPerPart
                let groups = g0..<min(p.channelGroups, g0 + groupsPerPart)
                let rows = r0..<min(height, r0 + rowsPerPart)
                if p.implicit {
                    cvm_int8_quantize_padded(x, g.inChannels, height, width, g.padding, rows.lowerBound,
                                             rows.upperBound, q.inverse, q.zero, groups.lowerBound, groups.upperBound, qin)
                } else {
                    cvm_int8_quantize(x, g.inChannels, height * width, rows.lowerBound * width, rows.upperBound * width,
                                      q.inverse, q.zero, groups.lowerBound, groups.upperBound, qin)
                }
            }
        }
        let offsets = p.implicit ? p.columnOffsets() : []
        conv.correction.withUnsafeBufferPointer { corr in
            conv.scale.withUnsafeBufferPointer { scale in
                bias.withUnsafeBufferPointer { b in
                    withWeights(conv.weights) { dense, codes, codeOffsets in
                        offsets.withUnsafeBufferPointer { columnOffsets in
                            // y[f, columns] for filters fs from a panel (rows ldx words apart), or
                            // from implicit columns when `implicit` is given.
                            func multiply(_ x: UnsafePointer<UInt32>, ldx: Int, y: UnsafeMutablePointer<Float>,
                                          filters fs: Range<Int>, columns: Range<Int>, worker: Int,
                                          implicit: UnsafePointer<cvm_int8_columns>? = nil) {
                                let xb = UnsafeRawPointer(x).assumingMemoryBound(to: UInt8.self)
                                if let dense {
                                    cvm_int8_gemm(xb, ldx, groups, dense, depth, corr.baseAddress!, scale.baseAddress!,
                                                  b.baseAddress!, y, plane, fs.lowerBound, fs.upperBound,
                                                  columns.lowerBound, columns.upperBound, act, slope, implicit)
                                } else {
                                    cvm_int8_gemm_packed4(xb, ldx, groups, codes!, codeOffsets!, blocks + worker * 8 * depth,
                                                          corr.baseAddress!, scale.baseAddress!, b.baseAddress!, y, plane,
                                                          fs.lowerBound, fs.upperBound, columns.lowerBound,
                                                          columns.upperBound, act, slope, implicit)
                                }
                            }
                            if p.implicit {
                                var shape = cvm_int8_columns(offsets: columnOffsets.baseAddress!, padded_width: p.paddedWidth,
                                                             out_width: p.outWidth)
                                let tiling = Tiling(plane: p.virtualColumns, filters: g.outChannels, workers: p.workers)
                                withUnsafePointer(to: &shape) { shape in
                                    Parallel.forEachTask(tiling.tasks, workers: p.workers) { worker, t in
                                        let (cols, fs) = tiling.ranges(t)
                                        if cols.isEmpty || fs.isEmpty { return }
                                        multiply(UnsafePointer(qin), ldx: 0, y: y, filters: fs, columns: cols, worker: worker,
                                                 implicit: shape)
                                    }
                                }
                            } else if p.pointwise || p.whole {
                                if p.whole {
                                    let perGroup = g.kernelH * g.kernelW * plane
                                    Parallel.forEachChunk(p.channelGroups,
                                                          minPerChunk: max(1, Int8ConvKernel.minParallelWords / perGroup),
                                                          workers: p.workers) { range in
                                        cvm_int8_im2col(qin, p.channelGroups, p.inHeight, p.inWidth, g.kernelH, g.kernelW,
                                                        g.stride, g.padding, p.outWidth, 0, p.outHeight, padWord,
                                                        range.lowerBound, range.upperBound, panels, plane)
                                    }
                                }
                                let panel = UnsafePointer(p.pointwise ? qin : panels)
                                let tiling = Tiling(plane: plane, filters: g.outChannels, workers: p.workers)
                                Parallel.forEachTask(tiling.tasks, workers: p.workers) { worker, t in
                                    let (cols, fs) = tiling.ranges(t)
                                    if cols.isEmpty || fs.isEmpty { return }
                                    multiply(panel, ldx: plane, y: y, filters: fs, columns: cols, worker: worker)
                                }
                            } else {
                                let tasks = (p.outHeight + p.rowsPerTask - 1) / p.rowsPerTask
                                Parallel.forEachTask(tasks, workers: p.workers) { worker, t in
                                    let row0 = t * p.rowsPerTask
                                    let rows = min(p.rowsPerTask, p.outHeight - row0)
                                    let cols = rows * p.outWidth
                                    let panel = panels + worker * p.panelWords
                                    cvm_int8_im2col(qin, p.channelGroups, p.inHeight, p.inWidth, g.kernelH, g.kernelW,
                                                    g.stride, g.padding, p.outWidth, row0, rows, padWord, 0,
                                                    p.channelGroups, panel, cols)
                                    multiply(panel, ldx: cols, y: y + row0 * p.outWidth, filters: 0..<g.outChannels,
                                             columns: 0..<cols, worker: worker)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Tasks of one product: `PointwiseKernel.Tiling`'s grid of column x filter chunks, except
    /// that planes of a few panels (20x20: 9) are not split by columns at all but into equal
    /// filter chunks: column chunks of 1 or 2 panels left one worker a panel behind (measured,
    /// 20x20 convs 1.4-1.6x faster on 2 threads than on 1), and a small plane's whole panel
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

    /// The kernel on a standalone tensor (tests): output `[N, F, oh, ow]`.
    public static func apply(_ input: Tensor, conv: Int8Conv, bias: [Float], activation: Activation,
                             workers: Int = 1, minImplicitWidth: Int = minImplicitWidth) -> Tensor {
        let outShape = conv.geometry.outputShape(input.featureShape)
        var ws = Workspace(arenaFloats: outShape.count)
        ws.input = input.data
        forward(&ws, input: FeatureView(storage: .input, offset: 0, shape: input.featureShape),
                output: FeatureView(offset: 0, shape: outShape), conv: conv, bias: bias, activation: activation,
                workers: workers, minImplicitWidth: minImplicitWidth)
        return Tensor(shape: outShape.dims, data: ws.arena)
    }

    /// Direct int8 convolution, written for clarity: every input value quantized as the kernel
    /// does, integer products summed in Int32 over (i, j, c), then
    /// `applyFast(Float(acc - correction) * scale + bias)`. The kernel must match it.
    public static func reference(_ input: Tensor, conv: Int8Conv, bias: [Float], activation: Activation) -> Tensor {
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
                        let v = Float(acc - conv.correction[f]) * conv.scale[f] + bias[f]
                        out.data[((n * outShape.channels + f) * outShape.height + oy) * outShape.width + ox] =
                            activation.applyFast(v)
                    }
                }
            }
        }
        return out
    }
}
