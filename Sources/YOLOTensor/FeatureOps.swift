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

/// The same operations on workspace views, for the planned forward pass: no allocation, work
/// split over `Parallel.workers` by planes. Each is tested against the tensor form above.
extension FeatureOps {
    /// Below this many output values a kernel runs on one thread (dispatch costs ~10-20 us).
    static let parallelThreshold = 1 << 15

    /// Max pooling with PyTorch semantics (padding is -infinity, floor output size). Stride-1
    /// "same" pools (odd k, padding k/2: SP, SPPCSPC) run separably, a row max then a column
    /// max over the clipped window (exact: max is associative); 2x2 stride 2 (MP) directly.
    public static func maxPool(_ ws: inout Workspace, input: FeatureView, output: FeatureView,
                               kernel k: Int, stride: Int, padding: Int) {
        let s = input.shape, o = output.shape
        precondition(o.batch == s.batch && o.channels == s.channels
                     && o.height == (s.height + 2 * padding - k) / stride + 1
                     && o.width == (s.width + 2 * padding - k) / stride + 1, "maxPool: \(input) -> \(output)")
        let planes = s.batch * s.channels
        let separable = stride == 1 && k % 2 == 1 && padding == k / 2
        let workers = ws.threadCount
        ws.withBases { inBase, arenaBase in
            let p = ViewPointers(input: inBase, arena: arenaBase)
            Parallel.forEachChunk(planes, minPerChunk: max(1, parallelThreshold / max(1, o.planeSize)), workers: workers) { range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: separable ? s.planeSize : 1) { tmp in
                    for q in range {
                        let n = q / s.channels, c = q % s.channels
                        let x = p.source(input, item: n) + c * s.planeSize
                        let y = p.destination(output, item: n) + c * o.planeSize
                        if separable {
                            poolSeparable(x, y, height: s.height, width: s.width, radius: k / 2, tmp: tmp.baseAddress!)
                        } else if k == 2 && stride == 2 && padding == 0 {
                            pool2x2(x, y, width: s.width, outHeight: o.height, outWidth: o.width)
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
    static func poolSeparable(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                              radius r: Int, tmp: UnsafeMutablePointer<Float>) {
        // Rows: tmp[y][x] = max over x' in [x-r, x+r] clipped. Start from the centre and fold
        // in each offset over the columns where it is inside the row.
        tmp.update(from: x, count: h * w)
        for d in 1...max(1, r) where d <= r {
            for yy in 0..<h {
                let row = x + yy * w, t = tmp + yy * w
                if d < w {
                    for xx in 0..<(w - d) { t[xx] = max(t[xx], row[xx + d]) }
                    for xx in d..<w { t[xx] = max(t[xx], row[xx - d]) }
                }
            }
        }
        // Columns of the row maxima.
        y.update(from: tmp, count: h * w)
        for d in 1...max(1, r) where d <= r && d < h {
            for yy in 0..<h {
                let out = y + yy * w
                if yy + d < h { let t = tmp + (yy + d) * w; for xx in 0..<w { out[xx] = max(out[xx], t[xx]) } }
                if yy - d >= 0 { let t = tmp + (yy - d) * w; for xx in 0..<w { out[xx] = max(out[xx], t[xx]) } }
            }
        }
    }

    @inline(__always)
    static func pool2x2(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, width w: Int,
                        outHeight oh: Int, outWidth ow: Int) {
        for oy in 0..<oh {
            let r0 = x + 2 * oy * w, r1 = r0 + w, out = y + oy * ow
            for ox in 0..<ow {
                out[ox] = max(max(r0[2 * ox], r0[2 * ox + 1]), max(r1[2 * ox], r1[2 * ox + 1]))
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

    /// Nearest-neighbour upsampling by an integer factor.
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
                    for iy in 0..<s.height {
                        let row = x + iy * s.width, first = y + iy * scale * o.width
                        for ix in 0..<s.width {
                            let v = row[ix]
                            for t in 0..<scale { first[ix * scale + t] = v }
                        }
                        for t in 1..<max(1, scale) where t < scale {
                            (first + t * o.width).update(from: first, count: o.width)
                        }
                    }
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

    /// Channel groups to rows: for each batch item, group `a` of `width` channels of `input`
    /// becomes rows `rowOffset + (a * H + y) * W + x` of a `[rowsPerItem, width]` matrix in
    /// `ws.result` (YOLO's `view(bs, na, no, ny, nx).permute(0, 1, 3, 4, 2)`).
    public static func planesToRows(_ ws: inout Workspace, input: FeatureView, width: Int,
                                    rowOffset: Int, rowsPerItem: Int) {
        let s = input.shape
        precondition(s.channels % width == 0, "planesToRows: \(s.channels) channels in groups of \(width)")
        let groups = s.channels / width, plane = s.planeSize
        precondition(ws.result.count >= s.batch * rowsPerItem * width && rowOffset + groups * plane <= rowsPerItem,
                     "planesToRows: result too small")
        let workers = ws.threadCount
        ws.arena.withUnsafeBufferPointer { a in
            ws.input.withUnsafeBufferPointer { i in
                ws.result.withUnsafeMutableBufferPointer { r in
                    let p = ViewPointers(input: i.baseAddress, arena: UnsafeMutablePointer(mutating: a.baseAddress))
                    let out = r.baseAddress!
                    // Blocks of 16 positions: each read walks 16 consecutive values of a channel.
                    let blocks = (plane + 15) / 16
                    Parallel.forEachChunk(s.batch * groups * blocks, minPerChunk: max(1, parallelThreshold / (16 * width)), workers: workers) { range in
                        for q in range {
                            let n = q / (groups * blocks), rest = q % (groups * blocks)
                            let g = rest / blocks, b = rest % blocks
                            let x = p.source(input, item: n) + g * width * plane
                            let row0 = n * rowsPerItem + rowOffset + g * plane
                            for pos in (b * 16)..<min(plane, b * 16 + 16) {
                                let dst = out + (row0 + pos) * width
                                for k in 0..<width { dst[k] = x[k * plane + pos] }
                            }
                        }
                    }
                }
            }
        }
    }
}
