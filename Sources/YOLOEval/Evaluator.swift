import Foundation
import YOLOModel
import YOLOTensor
import YOLOVision

/// Settings of an evaluation run (DESIGN section 5).
public struct EvalSettings: Equatable, Sendable {
    /// `--img`: the long side of every image, rounded up to a multiple of the model stride.
    public var imgSize: Int
    /// NMS as test.py: conf 0.001, IoU 0.65, multi-label, at most 300 per image.
    public var nms: NMSOptions

    public init(imgSize: Int = 640, confThreshold: Float = 0.001, iouThreshold: Float = 0.65) {
        self.imgSize = imgSize
        nms = NMSOptions(confThreshold: confThreshold, iouThreshold: iouThreshold, multiLabel: true, maxDetections: 300)
    }

    /// Official `check_img_size`: the size rounded up to a multiple of the grid
    /// `max(stride, 32)`.
    public static func checkedImageSize(_ size: Int, stride: Int) -> Int {
        let grid = max(stride, 32)
        return max(grid, (size + grid - 1) / grid * grid)
    }
}

/// One evaluated image.
public struct ImageEvaluation: Sendable {
    public var path: String
    public var width: Int
    public var height: Int
    /// Detections after NMS, boxes in original-image pixels, in NMS order.
    public var detections: [Detection]
    public var labels: [LabelBox]
    public var statistics: ImageStatistics
}

/// What `eval` reports.
public struct EvalResult: Sendable {
    public var metrics: DetectionMetrics
    public var images: [ImageEvaluation]
    /// Images left out, with why (undecodable, or labels the official loader refuses).
    public var skipped: [String]
    /// The inference size actually used.
    public var imgSize: Int
    public var seconds: Double
}

/// An image of a split ready for the network, or the reason it is left out.
enum PreparedSample {
    case ready(EvalSample)
    case skipped(String)
}

extension DatasetSplit {
    /// Prepares every image of the split with the pipeline's pre-processing (decoding,
    /// letterbox and labels on a background thread, one image ahead) and hands them to `body` in
    /// order on the calling thread. Undecodable images and refused label files are reported
    /// through `warning` and skipped; a malformed label line stops the run with its error.
    public func forEachSample(pipeline: some DetectionPipeline, classCount: Int?,
                              warning: ((String) -> Void)? = nil,
                              progress: ((Int, Int) -> Void)? = nil,
                              _ body: (EvalSample) throws -> Void) throws {
        let paths = images
        try pipelined(count: paths.count, prepare: { i -> Result<PreparedSample, Error> in
            do {
                return .success(.ready(try EvalSample(path: paths[i], pipeline: pipeline, classCount: classCount)))
            } catch let error as VisionError {
                return .success(.skipped("\(error); image skipped"))
            } catch let error as EvalError {
                if case .rejectedLabels = error { return .success(.skipped("\(error); image skipped")) }
                return .failure(error)
            } catch {
                return .failure(error)
            }
        }, consume: { i, prepared in
            switch try prepared.get() {
            case .ready(let sample): try body(sample)
            case .skipped(let why): warning?(why)
            }
            progress?(i + 1, paths.count)
        })
    }
}

/// Runs a detection pipeline over a split as official test.py does and computes its metrics.
/// The pipeline holds the protocol: test.py's pre-processing and NMS (the YOLOv7 library's
/// `Detector` with its `evaluation` options).
public struct Evaluator {
    public let pipeline: any DetectionPipeline

    public init(pipeline: any DetectionPipeline) {
        self.pipeline = pipeline
    }

    /// One image's detections (boxes in original pixels) -> its statistics.
    public static func evaluation(of sample: EvalSample, detections: [Detection]) -> ImageEvaluation {
        ImageEvaluation(path: sample.path, width: sample.width, height: sample.height,
                        detections: detections, labels: sample.labels,
                        statistics: ImageStatistics(detections: detections, labels: sample.labels))
    }

    /// A sample through the rest of the pipeline: forward, NMS (its own settings), boxes back.
    public static func evaluate(_ sample: EvalSample, pipeline: some DetectionPipeline) -> ImageEvaluation {
        let prediction = pipeline.predict(sample.input)
        return evaluation(of: sample, detections: pipeline.detections(in: prediction, boxTransform: sample.letterbox.boxTransform,
                                                                      nms: nil))
    }

    /// Checks the dataset's class count against the model's.
    public static func checkClasses(_ split: DatasetSplit, classCount: Int) throws {
        if let nc = split.classCount, nc != classCount {
            throw EvalError.classCountMismatch(data: split.source, dataClasses: nc, modelClasses: classCount)
        }
    }

    public func evaluate(_ split: DatasetSplit, warning: ((String) -> Void)? = nil,
                         progress: ((Int, Int) -> Void)? = nil) throws -> EvalResult {
        try Self.checkClasses(split, classCount: pipeline.classCount)
        let start = DispatchTime.now().uptimeNanoseconds
        var evaluated: [ImageEvaluation] = []
        var skipped: [String] = []
        try split.forEachSample(pipeline: pipeline, classCount: pipeline.classCount,
                                warning: { skipped.append($0); warning?($0) }, progress: progress) { sample in
            evaluated.append(Self.evaluate(sample, pipeline: pipeline))
        }
        guard !evaluated.isEmpty else {
            throw EvalError.noUsableImages(data: split.source, split: split.split, skipped: skipped.count)
        }
        let metrics = DetectionMetrics(statistics: evaluated.map(\.statistics), images: evaluated.count)
        return EvalResult(metrics: metrics, images: evaluated, skipped: skipped, imgSize: pipeline.inputSize,
                          seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
