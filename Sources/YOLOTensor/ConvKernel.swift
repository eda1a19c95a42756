import CBLAS

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

    /// Fast convolution: im2col in row tiles, then one sgemm per tile and group, then a fused
    /// bias + activation pass. Writes channels `[channelOffset, channelOffset + F)` of `output`,
    /// so a conv can write straight into its slice of a later concat.
    public static func forward(input: Tensor, weight: [Float], bias: [Float],
                               geometry g: ConvGeometry, activation: Activation,
                               into output: inout Tensor, channelOffset: Int = 0,
                               scratch: inout [Float], tileLimit: Int = maxScratchFloats) {
        let inShape = input.featureShape
        let outShape = output.featureShape
        let (oh, ow) = g.outputSize(height: inShape.height, width: inShape.width)
        precondition(inShape.channels == g.inChannels, "conv: input has \(inShape.channels) channels, weights want \(g.inChannels)")
        precondition(outShape.height == oh && outShape.width == ow && outShape.batch == inShape.batch
                     && channelOffset + g.outChannels <= outShape.channels, "conv: output slice does not fit")
        precondition(weight.count == g.weightCount && bias.count == g.outChannels, "conv: weight/bias size")
        let cPerGroup = g.inChannels / g.groups
        let fPerGroup = g.outChannels / g.groups
        let k = g.filterSize
        let plane = oh * ow
        // Rows of output per tile, so that the im2col tile stays under maxScratchFloats.
        let rowsPerTile = g.isPointwise ? oh : max(1, min(oh, tileLimit / max(1, k * ow)))
        if !g.isPointwise && scratch.count < k * rowsPerTile * ow {
            scratch = [Float](repeating: 0, count: k * rowsPerTile * ow)
        }
        input.data.withUnsafeBufferPointer { xBuf in
            weight.withUnsafeBufferPointer { wBuf in
                output.data.withUnsafeMutableBufferPointer { yBuf in
                    scratch.withUnsafeMutableBufferPointer { colBuf in
                        for n in 0..<inShape.batch {
                            for grp in 0..<g.groups {
                                let x = xBuf.baseAddress! + (n * inShape.channels + grp * cPerGroup) * inShape.planeSize
                                let w = wBuf.baseAddress! + grp * fPerGroup * k
                                let y = yBuf.baseAddress! + (n * outShape.channels + channelOffset + grp * fPerGroup) * plane
                                if g.isPointwise {
                                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                                Int32(fPerGroup), Int32(plane), Int32(k), 1,
                                                w, Int32(k), x, Int32(plane), 0, y, Int32(plane))
                                    continue
                                }
                                var oy0 = 0
                                while oy0 < oh {
                                    let rows = min(rowsPerTile, oh - oy0)
                                    let cols = rows * ow
                                    im2col(x, channels: cPerGroup, height: inShape.height, width: inShape.width,
                                           geometry: g, outWidth: ow, rowStart: oy0, rowCount: rows,
                                           into: colBuf.baseAddress!)
                                    // C[f, plane-slice] = W[f, k] * col[k, cols], ldc = full plane.
                                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                                Int32(fPerGroup), Int32(cols), Int32(k), 1,
                                                w, Int32(k), colBuf.baseAddress!, Int32(cols), 0,
                                                y + oy0 * ow, Int32(plane))
                                    oy0 += rows
                                }
                            }
                            let y = yBuf.baseAddress! + (n * outShape.channels + channelOffset) * plane
                            biasActivate(y, channels: g.outChannels, plane: plane, bias: bias, activation: activation)
                        }
                    }
                }
            }
        }
    }

    /// Convenience: allocates the output.
    public static func forward(input: Tensor, weight: [Float], bias: [Float],
                               geometry g: ConvGeometry, activation: Activation) -> Tensor {
        var out = Tensor(zeros: g.outputShape(input.featureShape))
        var scratch: [Float] = []
        forward(input: input, weight: weight, bias: bias, geometry: g, activation: activation,
                into: &out, scratch: &scratch)
        return out
    }

    /// Unrolls output rows `[rowStart, rowStart + rowCount)` into a `[C*kh*kw, rowCount*outW]` matrix.
    @inline(__always)
    static func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
                       geometry g: ConvGeometry, outWidth ow: Int, rowStart: Int, rowCount: Int,
                       into col: UnsafeMutablePointer<Float>) {
        let cols = rowCount * ow
        var row = 0
        for c in 0..<channels {
            let xc = x + c * height * width
            for i in 0..<g.kernelH {
                for j in 0..<g.kernelW {
                    let dst = col + row * cols
                    for r in 0..<rowCount {
                        let iy = (rowStart + r) * g.stride - g.padding + i
                        let d = dst + r * ow
                        if iy < 0 || iy >= height {
                            d.update(repeating: 0, count: ow)
                            continue
                        }
                        let src = xc + iy * width
                        if g.stride == 1 {
                            // Contiguous run with zero borders.
                            let shift = j - g.padding
                            let lo = min(ow, max(0, -shift))
                            let hi = max(lo, min(ow, width - shift))
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi > lo { (d + lo).update(from: src + lo + shift, count: hi - lo) }
                            if hi < ow { (d + hi).update(repeating: 0, count: ow - hi) }
                        } else {
                            for ox in 0..<ow {
                                let ix = ox * g.stride - g.padding + j
                                d[ox] = (ix >= 0 && ix < width) ? src[ix] : 0
                            }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    @inline(__always)
    static func biasActivate(_ y: UnsafeMutablePointer<Float>, channels: Int, plane: Int,
                             bias: [Float], activation: Activation) {
        for f in 0..<channels {
            let b = bias[f]
            let p = y + f * plane
            switch activation {
            case .identity:
                for i in 0..<plane { p[i] += b }
            case .leakyReLU(let s):
                for i in 0..<plane { let v = p[i] + b; p[i] = v >= 0 ? v : v * s }
            case .relu:
                for i in 0..<plane { p[i] = max(p[i] + b, 0) }
            default:
                for i in 0..<plane { p[i] = activation.apply(p[i] + b) }
            }
        }
    }
}

/// OpenBLAS threading, set once by the CLI (tests leave the library default).
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var current: Int { Int(openblas_get_num_threads()) }
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var config: String { String(cString: openblas_get_config()) }
}
