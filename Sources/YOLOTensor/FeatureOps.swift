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
