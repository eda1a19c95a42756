import YOLOTensor
import YOLOVision

/// The detection pipeline that `Evaluator` and `ModelComparison` run, stage by stage, so that
/// the next image is decoded and letterboxed on a background thread while the current one runs.
/// The YOLOv7 library's `Detector` implements it (its `evaluation` options give test.py's
/// pre-processing and NMS, DESIGN section 5); the stages are written there once, for the CLI,
/// the library and the server alike.
public protocol DetectionPipeline: Sendable {
    /// Classes the model predicts (`nc`), checked against a dataset's.
    var classCount: Int { get }
    /// The size images are letterboxed to (for evaluation: their long side), already rounded to
    /// the model's stride.
    var inputSize: Int { get }
    /// Pre-processing: the network's view of `image`, and the transform of boxes back to it.
    func letterbox(_ image: RGBImage) -> Letterbox
    /// The forward pass: raw predictions `[batch, rows, 5 + nc]` for an NCHW input in [0, 1].
    func predict(_ input: Tensor) -> Tensor
    /// Post-processing of one image's prediction: NMS (`nms`; nil: the pipeline's own settings),
    /// then boxes mapped by `boxTransform` (nil: left in letterboxed pixels).
    func detections(in prediction: Tensor, boxTransform: BoxTransform?, nms: NMSOptions?) -> [Detection]
}
