import YOLOTensor

/// An image resized and padded for the network, with what is needed to map boxes back.
public struct Letterbox: Sendable {
    /// The padded image, RGB.
    public let image: RGBImage
    /// The official `ratio`: letterbox's resize gain (new / old), the same for both axes.
    public let ratio: Double
    /// The official `(dw, dh)`: padding per side before rounding (may end in .5).
    public let padX: Double
    public let padY: Double
    /// Maps boxes from `image` coordinates to the original image, as the official script that
    /// this letterbox imitates does (detect.py or test.py).
    public let boxTransform: BoxTransform

    /// Official `letterbox(img, new_shape, color, auto, scaleFill=False, scaleup, stride)` from
    /// utils/datasets.py. `boxTransform` is detect.py's `scale_coords(img.shape[2:], det, im0.shape)`
    /// with no ratio_pad (gain and pad recomputed from the two shapes).
    public init(_ source: RGBImage, height newHeight: Int, width newWidth: Int, color: UInt8 = 114,
                auto: Bool = true, scaleup: Bool = true, stride: Int = 32) {
        let h = source.height, w = source.width
        var r = min(Double(newHeight) / Double(h), Double(newWidth) / Double(w))
        if !scaleup { r = min(r, 1) }
        // Python's round() is half-to-even. At least 1 pixel: for extreme aspect ratios the
        // official code would hand cv2.resize a zero size and fail.
        let unpadW = max(1, Int((Double(w) * r).rounded(.toNearestOrEven)))
        let unpadH = max(1, Int((Double(h) * r).rounded(.toNearestOrEven)))
        var dw = newWidth - unpadW, dh = newHeight - unpadH
        if auto { // np.mod: non-negative for a positive stride
            dw = ((dw % stride) + stride) % stride
            dh = ((dh % stride) + stride) % stride
        }
        let halfW = Double(dw) / 2, halfH = Double(dh) / 2
        let resized = (unpadW, unpadH) == (w, h) ? source
            : source.resized(width: unpadW, height: unpadH, interpolation: .linear)
        let top = Int((halfH - 0.1).rounded(.toNearestOrEven))
        let bottom = Int((halfH + 0.1).rounded(.toNearestOrEven))
        let left = Int((halfW - 0.1).rounded(.toNearestOrEven))
        let right = Int((halfW + 0.1).rounded(.toNearestOrEven))
        image = resized.padded(top: top, bottom: bottom, left: left, right: right, color: color)
        ratio = r
        padX = halfW
        padY = halfH
        boxTransform = BoxTransform(letterboxedWidth: image.width, letterboxedHeight: image.height,
                                    originalWidth: w, originalHeight: h)
    }

    /// detect.py's pre-processing: `letterbox(img0, img_size, stride=stride)` (auto, 114 grey).
    public init(detect source: RGBImage, size: Int = 640, stride: Int = 32) {
        self.init(source, height: size, width: size, stride: stride)
    }

    /// test.py's pre-processing (DESIGN section 5): `load_image` resizes the long side to
    /// `imgSize` (INTER_AREA when shrinking, INTER_LINEAR when growing, sizes truncated by
    /// `int()`), then `letterbox(img, batchShape, auto=False, scaleup=False)`. `boxTransform`
    /// is test.py's `scale_coords(..., ratio_pad=((h / h0, w / w0), pad))`, whose gain is the
    /// height ratio.
    public init(eval source: RGBImage, imgSize: Int, batchShape: (height: Int, width: Int)) {
        let h0 = source.height, w0 = source.width
        let r = Double(imgSize) / Double(max(h0, w0))
        var loaded = source
        if r != 1 {
            loaded = source.resized(width: max(1, Int(Double(w0) * r)), height: max(1, Int(Double(h0) * r)),
                                    interpolation: r < 1 ? .area : .linear)
        }
        let boxed = Letterbox(loaded, height: batchShape.height, width: batchShape.width,
                              auto: false, scaleup: false)
        image = boxed.image
        ratio = boxed.ratio
        padX = boxed.padX
        padY = boxed.padY
        boxTransform = BoxTransform(gain: Double(loaded.height) / Double(h0), padX: padX, padY: padY,
                                    originalWidth: w0, originalHeight: h0)
    }

    /// test.py's pre-processing of an image alone in its batch: `init(eval:imgSize:batchShape:)`
    /// with the rectangle `evalBatchShape` gives it (`stride`: the model's, at least 32).
    public init(eval source: RGBImage, imgSize: Int, stride: Int) {
        let shape = Letterbox.evalBatchShape(width: source.width, height: source.height, imgSize: imgSize, stride: stride)
        self.init(eval: source, imgSize: imgSize, batchShape: shape)
    }

    /// The rectangle LoadImagesAndLabels(rect=True) letterboxes an image of the given original
    /// size to when it is alone in its batch: `ceil(shape * img / stride + pad) * stride` with
    /// shape `[h/w, 1]` for landscape, `[1, w/h]` for portrait, `[1, 1]` for square.
    /// Returns (height, width).
    public static func evalBatchShape(width: Int, height: Int, imgSize: Int, stride: Int = 32,
                                      pad: Double = 0.5) -> (height: Int, width: Int) {
        let aspect = Double(height) / Double(width)
        var shape = (1.0, 1.0)
        if aspect < 1 {
            shape = (aspect, 1)
        } else if aspect > 1 {
            shape = (1, 1 / aspect)
        }
        func side(_ s: Double) -> Int {
            Int((s * Double(imgSize) / Double(stride) + pad).rounded(.up)) * stride
        }
        return (side(shape.0), side(shape.1))
    }

    /// The network input: `[1, 3, H, W]` float32, RGB planes, values / 255 (detect.py's
    /// `img.float() / 255.0` after HWC->CHW).
    public func tensor() -> Tensor {
        image.tensor()
    }
}

extension RGBImage {
    /// `[1, 3, H, W]` float32 planes R, G, B with values / 255.
    public func tensor() -> Tensor {
        let plane = width * height
        var data = [Float](repeating: 0, count: 3 * plane)
        pixels.withUnsafeBufferPointer { src in
            data.withUnsafeMutableBufferPointer { dst in
                for i in 0..<plane {
                    dst[i] = Float(src[3 * i]) / 255
                    dst[plane + i] = Float(src[3 * i + 1]) / 255
                    dst[2 * plane + i] = Float(src[3 * i + 2]) / 255
                }
            }
        }
        return Tensor(shape: [1, 3, height, width], data: data)
    }

    /// `cv2.copyMakeBorder(img, top, bottom, left, right, BORDER_CONSTANT, value=(c, c, c))`.
    public func padded(top: Int, bottom: Int, left: Int, right: Int, color: UInt8) -> RGBImage {
        let outW = width + left + right, outH = height + top + bottom
        var out = [UInt8](repeating: color, count: outW * outH * 3)
        let rowBytes = width * 3
        for y in 0..<height {
            let d = ((y + top) * outW + left) * 3
            out.replaceSubrange(d..<(d + rowBytes), with: pixels[(y * rowBytes)..<((y + 1) * rowBytes)])
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}

/// How the official scripts map boxes from the letterboxed image back to the original:
/// `scale_coords` (utils/general.py) — subtract the pad, divide by the gain, clip to the image.
/// Done in float32 like the official tensors.
public struct BoxTransform: Equatable, Sendable {
    public var gain: Double
    public var padX: Double
    public var padY: Double
    public var originalWidth: Int
    public var originalHeight: Int

    public init(gain: Double, padX: Double, padY: Double, originalWidth: Int, originalHeight: Int) {
        self.gain = gain
        self.padX = padX
        self.padY = padY
        self.originalWidth = originalWidth
        self.originalHeight = originalHeight
    }

    /// `scale_coords(img1_shape, coords, img0_shape)` with `ratio_pad=None`: the gain is
    /// `min(h1 / h0, w1 / w0)` and the pad what is left over, halved.
    public init(letterboxedWidth w1: Int, letterboxedHeight h1: Int, originalWidth w0: Int,
                originalHeight h0: Int) {
        let gain = min(Double(h1) / Double(h0), Double(w1) / Double(w0))
        self.init(gain: gain, padX: (Double(w1) - Double(w0) * gain) / 2,
                  padY: (Double(h1) - Double(h0) * gain) / 2, originalWidth: w0, originalHeight: h0)
    }

    /// The detection in original-image pixels.
    public func apply(_ detection: Detection) -> Detection {
        let g = Float(gain), px = Float(padX), py = Float(padY)
        let w = Float(originalWidth), h = Float(originalHeight)
        var d = detection
        d.x1 = min(max((d.x1 - px) / g, 0), w)
        d.y1 = min(max((d.y1 - py) / g, 0), h)
        d.x2 = min(max((d.x2 - px) / g, 0), w)
        d.y2 = min(max((d.y2 - py) / g, 0), h)
        return d
    }

    public func apply(_ detections: [Detection]) -> [Detection] {
        detections.map(apply)
    }
}
