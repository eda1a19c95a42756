import Foundation
import YOLOTensor
import YOLOVision

/// One image prepared as official test.py prepares it with `--batch-size 1`.
public struct EvalSample {
    public var path: String
    /// Original size.
    public var width: Int
    public var height: Int
    /// The letterboxed image and the transform of its boxes back to the original.
    public var letterbox: Letterbox
    /// The network input `[1, 3, H, W]`.
    public var input: Tensor
    /// The image's labels in original-image pixels.
    public var labels: [LabelBox]

    /// Decodes `path`, letterboxes it for eval (DESIGN section 5: long side to `imgSize` with
    /// INTER_AREA when shrinking, then its own rectangle `ceil(img * short/long / stride + 0.5)
    /// * stride`, as the rect loader computes the shape of a batch of one) and reads its labels.
    public init(path: String, imgSize: Int, stride: Int, classCount: Int?) throws {
        try self.init(path: path, imgSize: imgSize, classCount: classCount) {
            Letterbox(eval: $0, imgSize: imgSize, stride: stride)
        }
    }

    /// The same with the pipeline's own pre-processing (its `inputSize` is `imgSize`).
    public init(path: String, pipeline: some DetectionPipeline, classCount: Int?) throws {
        try self.init(path: path, imgSize: pipeline.inputSize, classCount: classCount, letterbox: pipeline.letterbox)
    }

    init(path: String, imgSize: Int, classCount: Int?, letterbox boxing: (RGBImage) -> Letterbox) throws {
        let image = try RGBImage(contentsOf: URL(fileURLWithPath: path))
        let letterbox = boxing(image)
        let truth = try LabelFile.read(path: LabelFile.path(forImage: path), classCount: classCount)
        self.path = path
        width = image.width
        height = image.height
        self.letterbox = letterbox
        input = letterbox.tensor()
        labels = Self.labelBoxes(truth, letterbox: letterbox, width: image.width, height: image.height, imgSize: imgSize)
    }

    /// Normalised labels to original-image pixels along the official route, float32 at every
    /// step, so that the boxes equal the official ones bit for bit: the dataloader maps them to
    /// letterboxed pixels (`xywhn2xyxy` with the resize ratio and pad), back to normalised
    /// xywh of the letterboxed image (`xyxy2xywh`, divided by its size); test.py scales them to
    /// letterboxed pixels again (`xywh2xyxy`) and then to the original image (`scale_coords`
    /// with the loader's ratio and pad, clipped).
    public static func labelBoxes(_ truth: [GroundTruth], letterbox: Letterbox, width w0: Int, height h0: Int,
                                  imgSize: Int) -> [LabelBox] {
        // load_image's resized size (int() truncation), as Letterbox(eval:) computes it.
        let r = Double(imgSize) / Double(max(w0, h0))
        let loadedW = r == 1 ? w0 : max(1, Int(Double(w0) * r))
        let loadedH = r == 1 ? h0 : max(1, Int(Double(h0) * r))
        let sw = Float(letterbox.ratio * Double(loadedW)), sh = Float(letterbox.ratio * Double(loadedH))
        let padW = Float(letterbox.padX), padH = Float(letterbox.padY)
        let boxW = Float(letterbox.image.width), boxH = Float(letterbox.image.height)
        return truth.map { t in
            // xywhn2xyxy (letterboxed pixels)
            let ax1 = sw * (t.cx - t.w / 2) + padW
            let ay1 = sh * (t.cy - t.h / 2) + padH
            let ax2 = sw * (t.cx + t.w / 2) + padW
            let ay2 = sh * (t.cy + t.h / 2) + padH
            // xyxy2xywh, normalised by the letterboxed shape
            let nx = (ax1 + ax2) / 2 / boxW, ny = (ay1 + ay2) / 2 / boxH
            let nw = (ax2 - ax1) / boxW, nh = (ay2 - ay1) / boxH
            // test.py: to pixels, xywh2xyxy
            let px = nx * boxW, py = ny * boxH, pw = nw * boxW, ph = nh * boxH
            let corners = Detection(classID: t.classID, confidence: 1,
                                    x1: px - pw / 2, y1: py - ph / 2, x2: px + pw / 2, y2: py + ph / 2)
            let d = letterbox.boxTransform.apply(corners)
            return LabelBox(classID: t.classID, x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2)
        }
    }
}
