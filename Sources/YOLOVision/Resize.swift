/// The two `cv2.resize` interpolations the official pipelines use.
public enum Interpolation: Sendable {
    /// `cv2.INTER_LINEAR` (letterbox; load_image when growing).
    case linear
    /// `cv2.INTER_AREA` (load_image when shrinking).
    case area
}

extension RGBImage {
    /// `cv2.resize(img, (width, height), interpolation=...)`, matching OpenCV's 8-bit code paths
    /// bit for bit (see `OpenCVResize`).
    public func resized(width newWidth: Int, height newHeight: Int,
                        interpolation: Interpolation = .linear) -> RGBImage {
        precondition(newWidth > 0 && newHeight > 0 && width > 0 && height > 0,
                     "resize: \(width)x\(height) -> \(newWidth)x\(newHeight)")
        if newWidth == width && newHeight == height { return self } // OpenCV copies too
        let out = OpenCVResize.resize(pixels, width: width, height: height, channels: 3,
                                      toWidth: newWidth, toHeight: newHeight, interpolation)
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}

/// OpenCV's `cv::resize` for interleaved 8-bit images (imgproc/src/resize.cpp), reproduced
/// arithmetic for arithmetic:
/// - scales are `1 / (dst / src)` in double, as OpenCV derives them;
/// - INTER_LINEAR samples at `(d + 0.5) * scale - 0.5` (computed in double, then float), with
///   11-bit fixed-point weights `round((1 - f) * 2048)`, `round(f * 2048)` rounded separately;
///   a horizontal pass into int rows, then a vertical pass with OpenCV's 8-bit rounding
///   (`>> 4`, 16-bit high products, `(v + 2) >> 2`);
/// - an exact 2x shrink with INTER_LINEAR is done as INTER_AREA, as OpenCV does;
/// - INTER_AREA with integer factors averages blocks in integers ("area fast"); with
///   non-integer factors it accumulates float weights in OpenCV's order; when enlarging it is
///   bilinear with OpenCV's area-specific weights.
enum OpenCVResize {
    static let coefficientBits = 11
    static let coefficientScale: Float = 2048

    static func resize(_ src: [UInt8], width sw: Int, height sh: Int, channels cn: Int,
                       toWidth dw: Int, toHeight dh: Int, _ interpolation: Interpolation) -> [UInt8] {
        if sw == dw && sh == dh { return src }
        let invX = Double(dw) / Double(sw), invY = Double(dh) / Double(sh)
        let scaleX = 1 / invX, scaleY = 1 / invY
        let intX = Int(scaleX.rounded(.toNearestOrEven)), intY = Int(scaleY.rounded(.toNearestOrEven))
        let isAreaFast = abs(scaleX - Double(intX)) < Double.ulpOfOne
            && abs(scaleY - Double(intY)) < Double.ulpOfOne
        var mode = interpolation
        if mode == .linear && isAreaFast && intX == 2 && intY == 2 { mode = .area }
        if mode == .area && scaleX >= 1 && scaleY >= 1 {
            if isAreaFast {
                return areaFast(src, sw, sh, cn, dw, dh, intX, intY)
            }
            return area(src, sw, sh, cn, dw, dh, scaleX, scaleY)
        }
        return linear(src, sw, sh, cn, dw, dh, invX: invX, invY: invY, scaleX: scaleX, scaleY: scaleY,
                      areaMode: mode == .area)
    }

    // MARK: INTER_LINEAR (and INTER_AREA when enlarging)

    /// Source index and fractional offset of destination index `d`.
    static func sample(_ d: Int, scale: Double, inverse: Double, areaMode: Bool) -> (Int, Float) {
        if !areaMode {
            var f = Float((Double(d) + 0.5) * scale - 0.5)
            let s = Int(f.rounded(.down))
            f -= Float(s)
            return (s, f)
        }
        let s = Int((Double(d) * scale).rounded(.down))
        var f = Float(Double(d + 1) - Double(s + 1) * inverse)
        f = f <= 0 ? 0 : f - f.rounded(.down)
        return (s, f)
    }

    /// `saturate_cast<short>(w * INTER_RESIZE_COEF_SCALE)`: float product, rounded half to even.
    static func fixedPoint(_ w: Float) -> Int32 {
        Int32((w * coefficientScale).rounded(.toNearestOrEven))
    }

    static func linear(_ src: [UInt8], _ sw: Int, _ sh: Int, _ cn: Int, _ dw: Int, _ dh: Int,
                       invX: Double, invY: Double, scaleX: Double, scaleY: Double,
                       areaMode: Bool) -> [UInt8] {
        let width = dw * cn
        var xofs = [Int](repeating: 0, count: width)
        var alpha = [Int32](repeating: 0, count: width * 2)
        var xmax = dw // from here on the right neighbour would fall outside: one tap only
        for dx in 0..<dw {
            var (sx, fx) = sample(dx, scale: scaleX, inverse: invX, areaMode: areaMode)
            if sx < 0 {
                sx = 0
                fx = 0
            }
            if sx + 1 >= sw {
                xmax = min(xmax, dx)
                if sx >= sw - 1 {
                    sx = sw - 1
                    fx = 0
                }
            }
            let a0 = fixedPoint(1 - fx), a1 = fixedPoint(fx)
            for k in 0..<cn {
                xofs[dx * cn + k] = sx * cn + k
                alpha[2 * (dx * cn + k)] = a0
                alpha[2 * (dx * cn + k) + 1] = a1
            }
        }
        // Vertically OpenCV neither clamps the sample nor renormalises the weights: rows
        // outside the image are replaced by the edge row.
        var yofs = [Int](repeating: 0, count: dh)
        var beta = [Int32](repeating: 0, count: dh * 2)
        for dy in 0..<dh {
            let (sy, fy) = sample(dy, scale: scaleY, inverse: invY, areaMode: areaMode)
            yofs[dy] = sy
            beta[2 * dy] = fixedPoint(1 - fy)
            beta[2 * dy + 1] = fixedPoint(fy)
        }

        var out = [UInt8](repeating: 0, count: width * dh)
        var row0 = [Int32](repeating: 0, count: width), row1 = row0
        var index0 = -1, index1 = -1
        let rowBytes = sw * cn
        src.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                for dy in 0..<dh {
                    let r0 = min(max(yofs[dy], 0), sh - 1), r1 = min(max(yofs[dy] + 1, 0), sh - 1)
                    if index0 != r0 {
                        if index1 == r0 {
                            swap(&row0, &row1)
                            swap(&index0, &index1)
                        } else {
                            horizontalLinear(s, rowStart: r0 * rowBytes, xofs, alpha, xmax * cn, cn, &row0)
                            index0 = r0
                        }
                    }
                    if r1 != r0 && index1 != r1 {
                        horizontalLinear(s, rowStart: r1 * rowBytes, xofs, alpha, xmax * cn, cn, &row1)
                        index1 = r1
                    }
                    let destination = UnsafeMutableBufferPointer(rebasing: o[(dy * width)..<((dy + 1) * width)])
                    verticalLinear(row0, r1 == r0 ? row0 : row1, beta[2 * dy], beta[2 * dy + 1], destination)
                }
            }
        }
        return out
    }

    /// One source row resampled horizontally into fixed point (weights sum to about 2048).
    static func horizontalLinear(_ src: UnsafeBufferPointer<UInt8>, rowStart: Int, _ xofs: [Int],
                                 _ alpha: [Int32], _ twoTapEnd: Int, _ cn: Int, _ dst: inout [Int32]) {
        xofs.withUnsafeBufferPointer { xo in
            alpha.withUnsafeBufferPointer { a in
                dst.withUnsafeMutableBufferPointer { d in
                    for x in 0..<twoTapEnd {
                        let sx = rowStart + xo[x]
                        d[x] = Int32(src[sx]) * a[2 * x] + Int32(src[sx + cn]) * a[2 * x + 1]
                    }
                    for x in twoTapEnd..<d.count {
                        d[x] = Int32(src[rowStart + xo[x]]) << coefficientBits
                    }
                }
            }
        }
    }

    /// OpenCV's `VResizeLinear` specialisation for 8-bit output: both its SIMD body
    /// (`VResizeLinearVec_32s8u`) and its scalar tail compute
    /// `((s0 >> 4) * b0 >> 16) + ((s1 >> 4) * b1 >> 16)` rounded by `(v + 2) >> 2` (rather than
    /// the exact `(s0 * b0 + s1 * b1 + 2^21) >> 22`, which differs by one level now and then).
    static func verticalLinear(_ s0: [Int32], _ s1: [Int32], _ b0: Int32, _ b1: Int32,
                               _ dst: UnsafeMutableBufferPointer<UInt8>) {
        s0.withUnsafeBufferPointer { p0 in
            s1.withUnsafeBufferPointer { p1 in
                for x in 0..<dst.count {
                    let v = ((((p0[x] >> 4) * b0) >> 16) + (((p1[x] >> 4) * b1) >> 16) + 2) >> 2
                    dst[x] = UInt8(clamping: v)
                }
            }
        }
    }

    // MARK: INTER_AREA

    /// `saturate_cast<uchar>(float)`: round half to even, then clamp.
    static func roundToByte(_ v: Float) -> UInt8 {
        UInt8(clamping: Int(v.rounded(.toNearestOrEven)))
    }

    /// Integer shrink factors: block sums. OpenCV's 2x2 path rounds `(sum + 2) >> 2`; other
    /// factors multiply by the float `1 / area` and round.
    static func areaFast(_ src: [UInt8], _ sw: Int, _ sh: Int, _ cn: Int, _ dw: Int, _ dh: Int,
                         _ fx: Int, _ fy: Int) -> [UInt8] {
        let width = dw * cn, rowBytes = sw * cn
        let scale = 1 / Float(fx * fy)
        let fullWidth = (sw / fx) * cn
        let twoByTwo = fx == 2 && fy == 2 && (cn == 1 || cn == 3 || cn == 4)
        var offsets: [Int] = []
        for y in 0..<fy {
            for x in 0..<fx { offsets.append(y * rowBytes + x * cn) }
        }
        var out = [UInt8](repeating: 0, count: width * dh)
        src.withUnsafeBufferPointer { s in
            for dy in 0..<dh {
                let sy0 = dy * fy
                guard sy0 < sh else { continue } // stays 0, as in OpenCV
                let w = sy0 + fy <= sh ? fullWidth : 0
                let base = sy0 * rowBytes
                for x in 0..<min(w, width) {
                    let start = base + fx * (x - x % cn) + x % cn
                    if twoByTwo {
                        let sum = Int(s[start]) + Int(s[start + cn]) + Int(s[start + rowBytes])
                            + Int(s[start + rowBytes + cn])
                        out[dy * width + x] = UInt8((sum + 2) >> 2)
                    } else {
                        var sum = 0
                        for o in offsets { sum += Int(s[start + o]) }
                        out[dy * width + x] = roundToByte(Float(sum) * scale)
                    }
                }
                // Blocks cut by the right or bottom edge average what is inside.
                for x in min(w, width)..<width {
                    let sx0 = fx * (x - x % cn) + x % cn
                    var sum = 0, count = 0
                    for y in 0..<fy where sy0 + y < sh {
                        for step in Swift.stride(from: 0, to: fx * cn, by: cn) where sx0 + step < rowBytes {
                            sum += Int(s[(sy0 + y) * rowBytes + sx0 + step])
                            count += 1
                        }
                    }
                    out[dy * width + x] = count > 0 ? roundToByte(Float(sum) / Float(count)) : 0
                }
            }
        }
        return out
    }

    struct AreaWeight {
        var source: Int
        var destination: Int
        var alpha: Float
    }

    /// OpenCV's `computeResizeAreaTab`: for each destination cell, the source cells it covers
    /// with their coverage fractions (partial cells at both ends, ignoring slivers below 1e-3).
    static func areaTable(source: Int, destination: Int, channels cn: Int, scale: Double) -> [AreaWeight] {
        var table: [AreaWeight] = []
        table.reserveCapacity(source * 2)
        for d in 0..<destination {
            let f1 = Double(d) * scale, f2 = f1 + scale
            let cellWidth = min(scale, Double(source) - f1)
            var s1 = Int(f1.rounded(.up))
            let s2 = min(Int(f2.rounded(.down)), source - 1)
            s1 = min(s1, s2)
            if Double(s1) - f1 > 1e-3 {
                table.append(AreaWeight(source: (s1 - 1) * cn, destination: d * cn,
                                        alpha: Float((Double(s1) - f1) / cellWidth)))
            }
            for s in s1..<max(s1, s2) {
                table.append(AreaWeight(source: s * cn, destination: d * cn, alpha: Float(1 / cellWidth)))
            }
            if f2 - Double(s2) > 1e-3 {
                table.append(AreaWeight(source: s2 * cn, destination: d * cn,
                                        alpha: Float(min(min(f2 - Double(s2), 1), cellWidth) / cellWidth)))
            }
        }
        return table
    }

    /// Non-integer shrink: each source row is reduced horizontally into a float buffer, then
    /// rows are accumulated with their vertical weights, all in OpenCV's order of float
    /// operations so that the final rounding agrees.
    static func area(_ src: [UInt8], _ sw: Int, _ sh: Int, _ cn: Int, _ dw: Int, _ dh: Int,
                     _ scaleX: Double, _ scaleY: Double) -> [UInt8] {
        let xtab = areaTable(source: sw, destination: dw, channels: cn, scale: scaleX)
        let ytab = areaTable(source: sh, destination: dh, channels: 1, scale: scaleY)
        let width = dw * cn, rowBytes = sw * cn
        var out = [UInt8](repeating: 0, count: width * dh)
        var buffer = [Float](repeating: 0, count: width)
        var sum = [Float](repeating: 0, count: width)
        guard var previous = ytab.first?.destination else { return out }
        src.withUnsafeBufferPointer { s in
            buffer.withUnsafeMutableBufferPointer { buf in
                sum.withUnsafeMutableBufferPointer { acc in
                    for entry in ytab {
                        let rowStart = entry.source * rowBytes
                        for x in 0..<width { buf[x] = 0 }
                        for w in xtab {
                            for c in 0..<cn {
                                buf[w.destination + c] = buf[w.destination + c]
                                    + Float(s[rowStart + w.source + c]) * w.alpha
                            }
                        }
                        let beta = entry.alpha
                        if entry.destination != previous {
                            for x in 0..<width {
                                out[previous * width + x] = roundToByte(acc[x])
                                acc[x] = beta * buf[x]
                            }
                            previous = entry.destination
                        } else {
                            for x in 0..<width { acc[x] = acc[x] + beta * buf[x] }
                        }
                    }
                    for x in 0..<width { out[previous * width + x] = roundToByte(acc[x]) }
                }
            }
        }
        return out
    }
}
