import Foundation
import YOLOEval
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision

/// A loaded YOLOv7 model that finds objects in images: decode, letterbox, forward pass, NMS,
/// boxes scaled back to the original image.
///
/// ```swift
/// let detector = try Detector(contentsOf: URL(fileURLWithPath: "weights/yolov7-tiny-bccd.pt"))
/// for d in try detector.detect(contentsOf: URL(fileURLWithPath: "images/BloodImage_00031.jpg")) {
///     print(d.className, d.confidence, d.box)
/// }
/// ```
///
/// Any weights file the `yolov7` command accepts loads: official `.pt` checkpoints and the
/// engine's FP32, FP16 and quantized (fake or packed) safetensors. One detector serves any
/// number of threads or tasks at once: each call takes its scratch memory from a pool of
/// ``Options/maxConcurrentCalls`` contexts and the model itself is only read.
public final class Detector: @unchecked Sendable {
    // Sendable by construction: after `init` nothing changes `model` (its convs' caches of
    // prepared weights sit behind their own locks) and `contexts` locks what it hands out.

    public let options: Options
    /// The model's class names, indexed by class id.
    public let classNames: [String]
    /// Classes the model predicts.
    public let classCount: Int
    /// The size images are letterboxed to: ``Options/imageSize`` rounded up to the stride.
    public let inputSize: Int
    /// The model's largest stride (32, or 64 for the P6 models).
    public let stride: Int
    /// What int8 precision switched (nil for fp32).
    public let int8Report: Int8Report?
    /// The model as loaded; read-only from here on (the CLI's `bench` times it layer by layer).
    package let model: YOLOModel
    private let contexts: ContextPool

    /// What the int8 switch did, for a log line.
    public struct Int8Report: Sendable {
        /// e.g. "int8: 58 convs (0 from packed 4-bit or integer-grid codes, 58 requantized to 8-bit), 0 kept in FP32".
        public let summary: String
        /// Where the activation ranges came from (the file, or the calibration images).
        public let rangesOrigin: String
        /// Images measured (0 when the file's ranges were used).
        public let calibrationImages: Int
        public let calibrationSeconds: Double
    }

    /// Loads a weights file. `calibration`: where int8's activation ranges come from (nil: the
    /// ones the file stores); `calibrationProgress` gets (done, total) while they are measured.
    public convenience init(contentsOf url: URL, configURL: URL? = nil, options: Options = Options(),
                            calibration: Int8Calibration? = nil,
                            calibrationProgress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        // The path as given (relative stays relative), so errors name the file as the caller did.
        let model = try ModelLoader.load(path: url.relativePath, configPath: configURL?.relativePath)
        try self.init(model: model, options: options, calibration: calibration, calibrationProgress: calibrationProgress)
        model.releaseDenseWeights(options: options.kernels)  // ours alone: keep only the form the kernels run
    }

    /// Loads a weights file from its bytes (`name` names them in errors).
    public convenience init(data: Data, name: String = "weights", configURL: URL? = nil, options: Options = Options(),
                            calibration: Int8Calibration? = nil,
                            calibrationProgress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let model = try ModelLoader.load(data: data, name: name, configPath: configURL?.relativePath)
        try self.init(model: model, options: options, calibration: calibration, calibrationProgress: calibrationProgress)
        model.releaseDenseWeights(options: options.kernels)
    }

    /// Wraps a model already built (the tools that quantize in memory). The detector reads it
    /// as it is at each call: change its weights only while no call runs. With int8 precision
    /// its convs are switched here.
    public init(model: YOLOModel, options: Options = Options(), calibration: Int8Calibration? = nil,
                calibrationProgress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        try options.validate(classCount: model.config.nc)
        self.model = model
        self.options = options
        classNames = model.classNames
        classCount = model.config.nc
        stride = model.maxStride
        inputSize = Self.inputSize(options, stride: stride)
        int8Report = try Self.applyPrecision(options.precision, to: model, size: inputSize, calibration: calibration,
                                             progress: calibrationProgress)
        if let threads = options.threads { ComputeThreads.reserve(threads) }
        contexts = ContextPool(options: options.kernels, threads: options.threads,
                               capacity: options.maxConcurrentCalls ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The int8 switch: ranges from the file or the calibration images (`Int8Calibration`).
    private static func applyPrecision(_ precision: Precision, to model: YOLOModel, size: Int,
                                       calibration: Int8Calibration?,
                                       progress: ((Int, Int) -> Void)?) throws -> Int8Report? {
        guard precision == .int8 else { return nil }
        let start = DispatchTime.now().uptimeNanoseconds
        let (summary, origin, images) = try (calibration ?? .stored()).apply(to: model, size: size, progress: progress)
        return Int8Report(summary: summary, rangesOrigin: origin, calibrationImages: images,
                          calibrationSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// The size `options` letterbox to on this model: the image size rounded up to the stride
    /// (for evaluation, as test.py's `check_img_size`: to a multiple of at least 32).
    public func inputSize(for options: Options) -> Int { Self.inputSize(options, stride: stride) }

    private static func inputSize(_ options: Options, stride: Int) -> Int {
        switch options.preprocessing {
        case .detect: return (options.imageSize + stride - 1) / stride * stride
        case .evaluation: return EvalSettings.checkedImageSize(options.imageSize, stride: stride)
        }
    }

    /// Bytes of weights resident: as loaded (packed ones packed) plus the forms prepared for
    /// the kernels so far.
    public var weightBytes: Int { model.weightBytes + model.preparedWeightBytes }

    /// The NMS of ``options``.
    public var nms: NMSOptions { options.nms }

    // MARK: Detecting

    /// Objects in a decoded image, highest confidence first.
    public func detect(_ image: RGBImage) -> [Detection] {
        run(image, size: inputSize, nms: nms)
    }

    /// The same with other settings for this call: the NMS fields and the image size of
    /// `options` apply (precision, threads and kernels stay the detector's). Throws
    /// ``DetectorError/invalidOptions(_:)`` for values out of range.
    public func detect(_ image: RGBImage, with options: Options) throws -> [Detection] {
        try options.validate(classCount: classCount)
        return run(image, size: inputSize(for: options), nms: options.nms)
    }

    /// The pipeline, once: letterbox, forward pass, NMS, boxes back to the image.
    private func run(_ image: RGBImage, size: Int, nms: NMSOptions) -> [Detection] {
        let boxed = letterbox(image, size: size)
        return detections(in: predict(boxed.tensor()), boxTransform: boxed.boxTransform, nms: nms)
            .map { Detection($0, names: classNames) }
    }

    /// Objects in a JPEG or PNG file.
    public func detect(contentsOf url: URL) throws -> [Detection] {
        detect(try decode(url))
    }

    /// Objects in JPEG or PNG bytes (`name` names them in errors).
    public func detect(encoded data: Data, name: String = "image") throws -> [Detection] {
        detect(try RGBImage(decoding: [UInt8](data), name: name, maxPixels: options.maxPixels))
    }

    /// A file decoded as `detect(contentsOf:)` decodes it (the pixel limit of ``options``).
    public func decode(_ url: URL) throws -> RGBImage {
        try RGBImage(contentsOf: url, maxPixels: options.maxPixels)
    }

    // MARK: The stages, for tools that run them apart (eval prepares the next image meanwhile)

    /// Pre-processing: the network's view of `image` (``Options/preprocessing`` at
    /// ``inputSize``) and the transform of boxes back to it.
    public func letterbox(_ image: RGBImage) -> Letterbox {
        letterbox(image, size: inputSize)
    }

    private func letterbox(_ image: RGBImage, size: Int) -> Letterbox {
        switch options.preprocessing {
        case .detect: return Letterbox(detect: image, size: size, stride: stride)
        case .evaluation: return Letterbox(eval: image, imgSize: size, stride: max(stride, 32))
        }
    }

    /// The forward pass on a context from the pool: raw predictions `[batch, rows, 5 + nc]`
    /// (box centre, size, objectness, class probabilities) for an NCHW input in [0, 1].
    public func predict(_ input: Tensor) -> Tensor {
        contexts.withContext { model.forward(input, context: &$0) }
    }

    /// Post-processing of one image's prediction: NMS (`nms`; nil: ``nms``), then boxes mapped
    /// by `boxTransform` (nil: left in letterboxed pixels).
    public func detections(in prediction: Tensor, boxTransform: BoxTransform?,
                           nms: NMSOptions? = nil) -> [YOLOVision.Detection] {
        let found = nonMaxSuppression(prediction, options: nms ?? self.nms)
        return boxTransform?.apply(found) ?? found
    }

    /// Runs `body` with a context from the pool (the detector's kernel options and threads), for
    /// tools that drive the model themselves (`bench`'s per-layer profile).
    package func withContext<R>(_ body: (inout ForwardContext) throws -> R) rethrows -> R {
        try contexts.withContext(body)
    }
}

extension Detector: DetectionPipeline {}
