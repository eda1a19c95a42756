import CVectorMath

/// Non-conv layers of YOLOv7 on NCHW tensors: pooling, upsampling, concat, add, ReOrg.
public enum FeatureOps {
    /// Max pooling with PyTorch semantics: padding counts as -infinity, floor output size.
    public static func maxPool(_ x: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
        let s = x.featureShape
        let oh = (s.height + 2 * padding - kernel) / stride + 1
        let ow = (s.width + 2 * padding - kernel) / stride + 1
        let outShape = FeatureShape(batch: s.batch, channels: s.channels, height: oh, width: ow)
        var out = Tensor(zeros: outShape)
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(s.batch * s.channels) {
                    let xp = src.baseAddress! + plane * s.planeSize
                    let yp = dst.baseAddress! + plane * oh * ow
                    for oy in 0..<oh {
                        let y0 = max(0, oy * stride - padding), y1 = min(s.height, oy * stride - padding + kernel)
                        for ox in 0..<ow {
                            let x0 = max(0, ox * stride - padding), x1 = min(s.width, ox * stride - padding + kernel)
                            var m = -Float.infinity
                            for iy in y0..<y1 {
                                let row = xp + iy * s.width
                                for ix in x0..<x1 { m = max(m, row[ix]) }
                            }
                            yp[oy * ow + ox] = m
                        }
                    }
                }
            }
        }
        return out
    }

    /// Nearest-neighbour upsampling by an integer factor (nn.Upsample(scale_factor=k, 'nearest')).
    public static func upsampleNearest(_ x: Tensor, scale: Int) -> Tensor {
        let s = x.featureShape
        let oh = s.height * scale, ow = s.width * scale
        var out = Tensor(zeros: FeatureShape(batch: s.batch, channels: s.channels, height: oh, width: ow))
        x.data.withUnsafeBufferPointer { src in
            out.data.withUnsafeMutableBufferPointer { dst in
                for plane in 0..<(s.batch * s.channels) {
                    let xp = src.baseAddress! + plane * s.planeSize
                    let yp = dst.baseAddress! + plane * oh * ow
                    for oy in 0..<oh {
                        let row = xp + (oy / scale) * s.width
                        let orow = yp + oy * ow
                        for ox in 0..<ow { orow[ox] = row[ox / scale] }
                    }
                }
            }
        }
        return out
    }

    /// Concatenation along channels (dim 1).
    public static func concatChannels(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty)
        let first = parts[0].featureShape
        let channels = parts.reduce(0) { $0 + $1.featureShape.channels }
        let outShape = FeatureShape(batch: first.batch, channels: channels, height: first.height, width: first.width)
        var out = [Float]()
        out.reserveCapacity(outShape.count)
        for n in 0..<first.batch {
            for p in parts {
                let ps = p.featureShape
                precondition(ps.height == first.height && ps.width == first.width && ps.batch == first.batch,
                             "concat: \(ps) does not match \(first)")
                let per = ps.channels * ps.planeSize
                out.append(contentsOf: p.data[(n * per)..<((n + 1) * per)])
            }
        }
        return Tensor(shape: outShape.dims, data: out)
    }

    /// Elementwise sum of equally shaped tensors (Shortcut).
    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "add: \(a.shape) vs \(b.shape)")
        var out = a
        out.data.withUnsafeMutableBufferPointer { o in
            b.data.withUnsafeBufferPointer { bb in
                for i in 0..<o.count { o[i] += bb[i] }
            }
        }
        return out
    }

    /// Space-to-depth by 2 in the official ReOrg channel order:
    /// x[::2, ::2], x[1::2, ::2], x[::2, 1::2], x[1::2, 1::2] (row offset first).
    public static func reorg(_ x: Tensor) -> Tensor {
        let s = x.featureShape
        let oh = s.height / 2, ow = s.width / 2
        let outShape = FeatureShape(batch: s.batch, channels: s.channels * 4, height: oh, width: ow)
        var out = Tensor(zeros: outShape)
        let offsets = [(0, 0), (1, 0), (0, 1), (1, 1)]  // (dy, dx)
        for n in 0..<s.batch {
            for (q, (dy, dx)) in offsets.enumerated() {
                for c in 0..<s.channels {
                    let src = (n * s.channels + c) * s.planeSize
                    let dst = ((n * outShape.channels) + q * s.channels + c) * oh * ow
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            out.data[dst + oy * ow + ox] = x.data[src + (2 * oy + dy) * s.width + 2 * ox + dx]
                        }
                    }
                }
            }
        }
        return out
    }
}

extension FeatureOps {
    /// A detection head's levels to rows `[batch, rows, width]`, as the official
    /// `view(bs, na, no, ny, nx).permute(0, 1, 3, 4, 2)` then `torch.cat(z, 1)`: rows ordered
    /// level, anchor, y, x; the first four columns decoded as the official head does from
    /// y = sigmoid(raw) (`raw` holds y): xy = (y * 2 - 0.5 + grid) * stride, wh = (y * 2)^2 * anchor.
    public static func gridRows(_ raw: [Tensor], anchors: [[(w: Float, h: Float)]], strides: [Float],
                                width no: Int) -> [Float] {
        guard let batch = raw.first?.featureShape.batch else { return [] }
        let rows = zip(raw, anchors).reduce(0) { $0 + $1.1.count * $1.0.featureShape.planeSize }
        var out = [Float](repeating: 0, count: batch * rows * no)
        var rowBase = 0
        for (l, t) in raw.enumerated() {
            let s = t.featureShape, plane = s.planeSize, stride = strides[l]
            for n in 0..<batch {
                for (a, anchor) in anchors[l].enumerated() {
                    for y in 0..<s.height {
                        for x in 0..<s.width {
                            let row = n * rows + rowBase + (a * s.height + y) * s.width + x
                            let src = (n * s.channels + a * no) * plane + y * s.width + x
                            for k in 0..<no {
                                let v = t.data[src + k * plane]
                                let value: Float
                                switch k {
                                case 0: value = (v * 2 - 0.5 + Float(x)) * stride
                                case 1: value = (v * 2 - 0.5 + Float(y)) * stride
                                case 2: value = (v * 2) * (v * 2) * anchor.w
                                case 3: value = (v * 2) * (v * 2) * anchor.h
                                default: value = v
                                }
                                out[row * no + k] = value
                            }
                        }
                    }
                }
            }
            rowBase += anchors[l].count * plane
        }
        return out
    }
}

/// The same operations on workspace views, for the planned forward pass: no allocation, work
/// split over `Parallel.workers` by planes. Each is tested against the tensor form above.
extension FeatureOps {
    /// Below this many output values a kernel runs on one thread (dispatch costs ~10-20 us).
    static let parallelThreshold = 1 << 15

    /// Max pooling with PyTorch semantics (padding is -infinity, floor output size). Stride-1
    /// "same" pools (odd k, padding k/2: SP, SPPCSPC) run separably, each direction by doubling
    /// (exact: max is associative), 2x2 stride 2 (MP) with vector code per kernel level; both in C
    /// (`CVectorMath/Pooling.c`). Other shapes run the direct loop.
    public static func maxPool(_ ws: inout Workspace, input: FeatureView, output: FeatureView,
                               kernel k: Int, stride: Int, padding: Int) {
        let s = input.shape, o = output.shape
        precondition(o.batch == s.batch && o.channels == s.channels
                     && o.height == (s.height + 2 * padding - k) / stride + 1
                     && o.width == (s.width + 2 * padding - k) / stride + 1, "maxPool: \(input) -> \(output)")
        let planes = s.batch * s.channels
        let separable = stride == 1 && k % 2 == 1 && padding == k / 2
        let scratch = separable ? cvm_maxpool_same_scratch(s.height, s.width, k / 2) : 1
        let workers = ws.threadCount
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            Parallel.forEachChunk(planes, minPerChunk: max(1, parallelThreshold / max(1, o.planeSize)), workers: workers) { range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: scratch) { tmp in
                    for q in range {
                        let n = q / s.channels, c = q % s.channels
                        let x = p.source(input, item: n) + c * s.planeSize
                        let y = p.destination(output, item: n) + c * o.planeSize
                        if separable {
                            cvm_maxpool_same(x, s.height, s.width, k / 2, y, tmp.baseAddress!)
                        } else if k == 2 && stride == 2 && padding == 0 {
                            cvm_maxpool2x2(x, s.width, o.height, o.width, y)
                        } else {
                            poolPlane(x, y, height: s.height, width: s.width, outHeight: o.height, outWidth: o.width,
                                      kernel: k, stride: stride, padding: padding)
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func poolPlane(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, height: Int, width: Int,
                          outHeight oh: Int, outWidth ow: Int, kernel: Int, stride: Int, padding: Int) {
        for oy in 0..<oh {
            let y0 = max(0, oy * stride - padding), y1 = min(height, oy * stride - padding + kernel)
            for ox in 0..<ow {
                let x0 = max(0, ox * stride - padding), x1 = min(width, ox * stride - padding + kernel)
                var m = -Float.infinity
                for iy in y0..<y1 {
                    let row = x + iy * width
                    for ix in x0..<x1 { m = max(m, row[ix]) }
                }
                y[oy * ow + ox] = m
            }
        }
    }

    /// Nearest-neighbour upsampling by an integer factor (C, `cvm_upsample_nearest`).
    public static func upsampleNearest(_ ws: inout Workspace, input: FeatureView, output: FeatureView, scale: Int) {
        let s = input.shape, o = output.shape
        precondition(o.batch == s.batch && o.channels == s.channels && o.height == s.height * scale
                     && o.width == s.width * scale, "upsample: \(input) -> \(output)")
        let workers = ws.threadCount
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            Parallel.forEachChunk(s.batch * s.channels, minPerChunk: max(1, parallelThreshold / max(1, o.planeSize)), workers: workers) { range in
                for q in range {
                    let n = q / s.channels, c = q % s.channels
                    let x = p.source(input, item: n) + c * s.planeSize
                    let y = p.destination(output, item: n) + c * o.planeSize
                    cvm_upsample_nearest(x, s.height, s.width, scale, y)
                }
            }
        }
    }

    /// Copies a map into another view of the same shape (a concat part that could not be
    /// written in place).
    public static func copy(_ ws: inout Workspace, from input: FeatureView, to output: FeatureView) {
        precondition(input.shape == output.shape, "copy: \(input) -> \(output)")
        if input == output { return }
        let per = input.shape.channels * input.shape.planeSize
        let workers = ws.threadCount
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            for n in 0..<input.shape.batch {
                let x = p.source(input, item: n), y = p.destination(output, item: n)
                Parallel.forEachChunk(per, minPerChunk: parallelThreshold * 4, workers: workers) { r in
                    (y + r.lowerBound).update(from: x + r.lowerBound, count: r.count)
                }
            }
        }
    }

    /// Elementwise sum (Shortcut).
    public static func add(_ ws: inout Workspace, _ a: FeatureView, _ b: FeatureView, into output: FeatureView) {
        precondition(a.shape == b.shape && a.shape == output.shape, "add: \(a) + \(b) -> \(output)")
        let per = a.shape.channels * a.shape.planeSize
        let workers = ws.threadCount
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            for n in 0..<a.shape.batch {
                let x = p.source(a, item: n), z = p.source(b, item: n), y = p.destination(output, item: n)
                Parallel.forEachChunk(per, minPerChunk: parallelThreshold, workers: workers) { r in
                    for i in r { y[i] = x[i] + z[i] }
                }
            }
        }
    }

    /// Space-to-depth by 2 in the official ReOrg order (see `reorg(_:)`).
    public static func reorg(_ ws: inout Workspace, input: FeatureView, output: FeatureView) {
        let s = input.shape, o = output.shape
        precondition(o.batch == s.batch && o.channels == 4 * s.channels && o.height == s.height / 2
                     && o.width == s.width / 2, "reorg: \(input) -> \(output)")
        let workers = ws.threadCount
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            Parallel.forEachChunk(s.batch * 4 * s.channels, minPerChunk: max(1, parallelThreshold / max(1, o.planeSize)), workers: workers) { range in
                for q in range {
                    let n = q / (4 * s.channels), oc = q % (4 * s.channels)
                    let part = oc / s.channels, c = oc % s.channels
                    let dy = part & 1, dx = part >> 1  // parts: (0,0), (1,0), (0,1), (1,1) as (dy, dx)
                    let x = p.source(input, item: n) + c * s.planeSize
                    let y = p.destination(output, item: n) + oc * o.planeSize
                    for oy in 0..<o.height {
                        let row = x + (2 * oy + dy) * s.width + dx, out = y + oy * o.width
                        for ox in 0..<o.width { out[ox] = row[2 * ox] }
                    }
                }
            }
        }
    }

    /// A detection level's map for `gridRows`: `anchors.count` groups of `width` channels
    /// (sigmoid applied), on a grid of cells `stride` input pixels wide.
    public struct GridLevel {
        public var map: FeatureView
        public var anchors: [(w: Float, h: Float)]
        public var stride: Float

        public init(map: FeatureView, anchors: [(w: Float, h: Float)], stride: Float) {
            self.map = map
            self.anchors = anchors
            self.stride = stride
        }
    }

    /// `gridRows(_:anchors:strides:width:)` on workspace views, into a new `ws.result` (the
    /// prediction the pass returns): C (`cvm_grid_rows`) on tasks of grid rows of one (level,
    /// item, anchor), all levels in one parallel pass.
    public static func gridRows(_ ws: inout Workspace, levels: [GridLevel], width no: Int) {
        guard let first = levels.first else { ws.result = []; return }
        let batch = first.map.shape.batch
        var rowBases = [Int](), rowsPerItem = 0
        for level in levels {
            let s = level.map.shape
            precondition(s.batch == batch && s.channels == level.anchors.count * no && no >= 4,
                         "gridRows: \(s) is not \(level.anchors.count) anchors x \(no)")
            rowBases.append(rowsPerItem)
            rowsPerItem += level.anchors.count * s.planeSize
        }
        // Tasks of about 4096 cells: (level, item, anchor, first grid row, grid rows).
        var tasks = [(level: Int, n: Int, a: Int, y0: Int, y1: Int)]()
        for (l, level) in levels.enumerated() {
            let s = level.map.shape
            let step = max(1, 4096 / max(1, s.width))
            for n in 0..<batch {
                for a in level.anchors.indices {
                    for y0 in stride(from: 0, to: s.height, by: step) {
                        tasks.append((l, n, a, y0, min(s.height, y0 + step)))
                    }
                }
            }
        }
        let total = batch * rowsPerItem * no
        // Every row is written below (the levels' rows tile [0, rowsPerItem)).
        var out = [Float](unsafeUninitializedCapacity: total) { _, count in count = total }
        let workers = total >= parallelThreshold ? ws.threadCount : 1
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            out.withUnsafeMutableBufferPointer { r in
                let rows = r.baseAddress!
                Parallel.forEachTask(tasks.count, workers: workers) { _, t in
                    let task = tasks[t], level = levels[task.level], s = level.map.shape
                    let x = p.source(level.map, item: task.n) + task.a * no * s.planeSize
                    let dst = rows + ((task.n * rowsPerItem + rowBases[task.level]) + task.a * s.planeSize) * no
                    let anchor = level.anchors[task.a]
                    cvm_grid_rows(x, s.planeSize, s.width, no, task.y0, task.y1, anchor.w, anchor.h, level.stride, dst)
                }
            }
        }
        ws.result = out
    }
}
