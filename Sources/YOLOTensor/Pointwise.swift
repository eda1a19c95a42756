import CVectorMath

/// 1x1 stride-1 ungrouped convs through the register-blocked C kernel (CVectorMath/Pointwise.c):
/// `Y[F, P] = act(W[F, C] X[C, P] + b)` with X read in place (no packing of the activations),
/// the weights read in place too (row-major, eight filter rows broadcast per channel), and the
/// bias + activation applied while each tile is still in registers. Replaces per-tile sgemm,
/// which re-packs all the weights for every column tile and needs a second pass for the epilogue.
/// Other ungrouped convs use it too, as a 1x1 conv over their im2col columns (C*kh*kw "channels").
public enum PointwiseKernel {
    /// Whether the engine uses it: at a level with its vector version (AVX2, AVX-512, NEON;
    /// `KernelISA`); at the plain level pointwise convs stay on sgemm.
    public static let available = KernelISA.current.hasVectorKernels

    /// Whether the kernel can multiply for this conv, directly (1x1 stride 1) or on im2col
    /// columns (it may still be switched off: `KernelOptions.pointwise`).
    public static func applies(_ g: ConvGeometry) -> Bool { available && g.groups == 1 }

    /// The C epilogue's code and LeakyReLU slope for an activation.
    static func code(_ a: Activation) -> (Int32, Float) {
        switch a {
        case .identity: return (Int32(CVM_ACT_IDENTITY), 0)
        case .relu: return (Int32(CVM_ACT_RELU), 0)
        case .leakyReLU(let s): return (Int32(CVM_ACT_LEAKY), s)
        case .silu: return (Int32(CVM_ACT_SILU), 0)
        case .sigmoid: return (Int32(CVM_ACT_SIGMOID), 0)
        }
    }

    /// How one image's product is split into tasks for `Parallel.forEachTask`: a grid of column
    /// chunks (whole 48-column panels, the kernel's tile width) by filter chunks (whole blocks
    /// of 8). Columns first, since every column task reads only its own part of X; filters are
    /// split too when the plane has too few panels to give each worker several tasks (20x20).
    struct Tiling: Equatable {
        static let panel = 48
        /// Tasks per worker: enough that a slower core (the machine is shared) takes fewer.
        static let tasksPerWorker = 4

        let plane: Int, filters: Int
        let columnChunks: Int, filterChunks: Int
        var tasks: Int { columnChunks * filterChunks }

        init(plane: Int, filters: Int, workers: Int) {
            self.plane = plane
            self.filters = filters
            let panels = (plane + Self.panel - 1) / Self.panel
            let blocks = (filters + 7) / 8
            let target = workers <= 1 ? 1 : workers * Self.tasksPerWorker
            columnChunks = max(1, min(panels, target))
            filterChunks = max(1, min(blocks, (target + columnChunks - 1) / columnChunks))
        }

        /// Columns and filters of task `t`.
        func ranges(_ t: Int) -> (columns: Range<Int>, filters: Range<Int>) {
            let ci = t % columnChunks, fi = t / columnChunks
            let panels = (plane + Self.panel - 1) / Self.panel
            let blocks = (filters + 7) / 8
            let p0 = min(plane, panels * ci / columnChunks * Self.panel)
            let p1 = min(plane, panels * (ci + 1) / columnChunks * Self.panel)
            let f0 = min(filters, blocks * fi / filterChunks * 8)
            let f1 = min(filters, blocks * (fi + 1) / filterChunks * 8)
            return (p0..<p1, f0..<f1)
        }
    }

    /// One image: `y[f * ldy + p] = act(sum_c W[f, c] x[c * ldx + p] + bias[f])` over the whole
    /// `filters x plane` output, tasks spread over `workers` threads.
    static func run(x: UnsafePointer<Float>, ldx: Int, weight: UnsafePointer<Float>, channels: Int,
                    bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, ldy: Int,
                    filters: Int, plane: Int, activation: Activation, workers: Int) {
        let tiling = Tiling(plane: plane, filters: filters, workers: workers)
        let (act, slope) = code(activation)
        Parallel.forEachTask(tiling.tasks, workers: workers) { _, t in
            let (cols, fs) = tiling.ranges(t)
            if cols.isEmpty || fs.isEmpty { return }
            cvm_pointwise(x, ldx, weight, channels, channels, bias, y, ldy, fs.lowerBound, fs.upperBound,
                          cols.lowerBound, cols.upperBound, act, slope)
        }
    }

    /// A 1x1 stride-1 conv between workspace views (the planned pass): a sibling pass of one.
    static func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, weight: [Float],
                        bias: [Float], geometry g: ConvGeometry, activation: Activation, workers: Int) {
        let s = input.shape
        precondition(g.isPointwise && s.channels == g.inChannels, "pointwise: input has \(s.channels) channels, weights want \(g.inChannels)")
        precondition(output.shape == g.outputShape(s), "pointwise: output view does not fit")
        forward(&ws, input: input, siblings: [Sibling(output: output, weight: weight, bias: bias, activation: activation)],
                workers: workers)
    }

    /// One conv of a sibling pass (`forward(_:input:siblings:workers:)`): its own weights
    /// `[filters, C]` (from `weightOffset` in `weight`: packed siblings share one staging buffer),
    /// bias, activation and output view.
    public struct Sibling {
        public let output: FeatureView
        public let weight: [Float]
        public let weightOffset: Int
        public let bias: [Float]
        public let activation: Activation
        public var filters: Int { output.shape.channels }

        public init(output: FeatureView, weight: [Float], weightOffset: Int = 0, bias: [Float], activation: Activation) {
            self.output = output
            self.weight = weight
            self.weightOffset = weightOffset
            self.bias = bias
            self.activation = activation
        }
    }

    /// One sibling resolved to pointers for one image.
    struct Member {
        let weight: UnsafePointer<Float>, bias: UnsafePointer<Float>
        let y: UnsafeMutablePointer<Float>, ldy: Int
        let filters: Int
        let act: Int32, slope: Float
    }

    /// Bytes of X a task works on at a time in a sibling pass: each sibling in turn runs over
    /// that many columns, so the later ones read them from L2 (1 MiB a core here), not memory,
    /// with room left for the outputs being written. (24 KiB to 512 KiB measured the same.)
    static let siblingChunkBytes = 128 * 1024

    /// Several 1x1 convs over the same input (an ELAN block's first two convs) in one parallel
    /// pass: each task takes a range of columns and runs every sibling's filters over it a
    /// chunk at a time, so X is streamed from memory once instead of once per conv, and there
    /// is one dispatch. Tasks are `Tiling`'s over the siblings' filters laid end to end. Each
    /// output is what `run` gives for its conv alone, bit for bit: the same kernel over the same
    /// 48-column panels, and a value's sum over channels does not depend on its tile.
    static func runSiblings(x: UnsafePointer<Float>, ldx: Int, channels: Int, plane: Int, members: [Member],
                            workers: Int) {
        let total = members.reduce(0) { $0 + $1.filters }
        let tiling = Tiling(plane: plane, filters: total, workers: workers)
        // One conv alone has no later sibling to keep X in L2 for: its task is one chunk.
        let chunk = members.count == 1 ? plane
            : max(1, siblingChunkBytes / (channels * Tiling.panel * MemoryLayout<Float>.size)) * Tiling.panel
        Parallel.forEachTask(tiling.tasks, workers: workers) { _, t in
            let (cols, fs) = tiling.ranges(t)
            if cols.isEmpty || fs.isEmpty { return }
            var p0 = cols.lowerBound
            while p0 < cols.upperBound {
                let p1 = min(cols.upperBound, p0 + chunk)
                var first = 0  // the member's first filter in the end-to-end numbering
                for m in members {
                    let f0 = max(fs.lowerBound, first) - first, f1 = min(fs.upperBound, first + m.filters) - first
                    if f0 < f1 {
                        // Prefetching runs on to the task's end: the next chunk is this task's too.
                        cvm_pointwise_prefetching(x, ldx, m.weight, channels, channels, m.bias, m.y, m.ldy, f0, f1,
                                                  p0, p1, cols.upperBound, m.act, m.slope)
                    }
                    first += m.filters
                }
                p0 = p1
            }
        }
    }

    /// Sibling 1x1 stride-1 convs between workspace views (the planned pass): every one reads
    /// `input` and writes its own output view (which must not overlap the input or each other).
    public static func forward(_ ws: inout Workspace, input: FeatureView, siblings: [Sibling], workers requested: Int? = nil) {
        precondition(available, "pointwise kernel needs a vector level (KernelISA)")
        let s = input.shape
        for m in siblings {
            precondition(m.output.shape.batch == s.batch && m.output.shape.height == s.height
                         && m.output.shape.width == s.width && m.output.storage == .arena, "pointwise siblings: output view does not fit")
            precondition(m.filters > 0 && m.weightOffset >= 0 && m.weight.count >= m.weightOffset + m.filters * s.channels
                         && m.bias.count == m.filters, "pointwise siblings: weight/bias size")
        }
        let workers = requested ?? ws.threadCount
        let plane = s.planeSize
        ws.withBases { inBase, arenaBase in
            let views = ViewPointers(input: inBase, arena: arenaBase)
            withPointers(siblings.map(\.weight)) { weights in
                withPointers(siblings.map(\.bias)) { biases in
                    for n in 0..<s.batch {
                        let members = siblings.indices.map { i in
                            let (act, slope) = code(siblings[i].activation)
                            return Member(weight: weights[i] + siblings[i].weightOffset, bias: biases[i],
                                          y: views.destination(siblings[i].output, item: n),
                                          ldy: plane, filters: siblings[i].filters, act: act, slope: slope)
                        }
                        runSiblings(x: views.source(input, item: n), ldx: plane, channels: s.channels, plane: plane,
                                    members: members, workers: workers)
                    }
                }
            }
        }
    }

    /// Base addresses of several arrays, valid inside `body`.
    private static func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> R) -> R {
        func nest(_ i: Int, _ bases: inout [UnsafePointer<Float>]) -> R {
            if i == arrays.count { return body(bases) }
            return arrays[i].withUnsafeBufferPointer { b in
                bases.append(b.baseAddress!)
                return nest(i + 1, &bases)
            }
        }
        var bases: [UnsafePointer<Float>] = []
        bases.reserveCapacity(arrays.count)
        return nest(0, &bases)
    }

    /// The sibling pass on arrays, for tests: `x` is `batch` images of `[C, P]`; each conv's
    /// output is `batch` images of `[filters, P]`.
    public static func applySiblings(x: [Float], batch: Int, channels: Int, plane: Int,
                                     convs: [(weight: [Float], bias: [Float], filters: Int, activation: Activation)],
                                     workers: Int) -> [[Float]] {
        precondition(available, "pointwise kernel needs a vector level (KernelISA)")
        precondition(x.count >= batch * channels * plane, "pointwise siblings apply: input size")
        var ws = Workspace()
        ws.input = x
        var offset = 0
        var siblings: [Sibling] = []
        for c in convs {
            let shape = FeatureShape(batch: batch, channels: c.filters, height: 1, width: plane)
            siblings.append(Sibling(output: FeatureView(offset: offset, shape: shape), weight: c.weight, bias: c.bias,
                                    activation: c.activation))
            offset += shape.count
        }
        ws.arena = [Float](repeating: .nan, count: offset)
        forward(&ws, input: FeatureView(storage: .input, offset: 0,
                                        shape: FeatureShape(batch: batch, channels: channels, height: 1, width: plane)),
                siblings: siblings, workers: workers)
        return siblings.map { Array(ws.arena[$0.output.offset..<($0.output.offset + $0.output.shape.count)]) }
    }

    /// The plain form the kernel is tested against: `x` `[C, P]`, `weight` `[F, C]`, each
    /// output a sum over channels in order, then `applyFast` (the fast epilogue's arithmetic).
    public static func reference(x: [Float], weight: [Float], bias: [Float], channels: Int, filters: Int,
                                 plane: Int, activation: Activation) -> [Float] {
        var y = [Float](repeating: 0, count: filters * plane)
        for f in 0..<filters {
            for p in 0..<plane {
                var acc: Float = 0
                for c in 0..<channels { acc += weight[f * channels + c] * x[c * plane + p] }
                y[f * plane + p] = activation.applyFast(acc + bias[f])
            }
        }
        return y
    }

    /// The kernel on arrays, for tests: `x` is `batch` images of `[C, P]`; image n's output goes
    /// to `y[yOffset + n * yBatchStride ...]` (rows of `plane`), so a channel slice of a wider
    /// map can be the target.
    public static func apply(x: [Float], batch: Int, weight: [Float], bias: [Float], channels: Int, filters: Int,
                             plane: Int, activation: Activation, into y: inout [Float], yOffset: Int = 0,
                             yBatchStride: Int? = nil, workers: Int) {
        precondition(available, "pointwise kernel needs a vector level (KernelISA)")
        let stride = yBatchStride ?? filters * plane
        precondition(x.count >= batch * channels * plane && weight.count >= filters * channels && bias.count >= filters,
                     "pointwise apply: sizes")
        precondition(y.count >= yOffset + (batch - 1) * stride + filters * plane, "pointwise apply: output size")
        x.withUnsafeBufferPointer { xb in
            weight.withUnsafeBufferPointer { w in
                bias.withUnsafeBufferPointer { b in
                    y.withUnsafeMutableBufferPointer { yb in
                        for n in 0..<batch {
                            run(x: xb.baseAddress! + n * channels * plane, ldx: plane, weight: w.baseAddress!,
                                channels: channels, bias: b.baseAddress!, y: yb.baseAddress! + yOffset + n * stride,
                                ldy: plane, filters: filters, plane: plane, activation: activation, workers: workers)
                        }
                    }
                }
            }
        }
    }
}
