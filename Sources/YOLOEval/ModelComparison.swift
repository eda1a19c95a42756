import Foundation
import YOLOModel
import YOLOTensor
import YOLOVision

/// Runs a baseline and a quantized model on the same inputs and compares their detections.
public struct ModelComparison {
    public let baseline: YOLOModel
    public let quantized: YOLOModel
    /// `--img`.
    public var imgSize: Int
    /// The NMS whose detections are compared (detect.py's by default: conf 0.25, IoU 0.45).
    public var agreementNMS: NMSOptions
    /// Matches need the same class and at least this IoU.
    public var matchIoU: Float

    public init(baseline: YOLOModel, quantized: YOLOModel, imgSize: Int = 640,
                agreementNMS: NMSOptions = .detect, matchIoU: Float = 0.5) {
        self.baseline = baseline
        self.quantized = quantized
        self.imgSize = imgSize
        self.agreementNMS = agreementNMS
        self.matchIoU = matchIoU
    }

    var stride: Int { max(baseline.maxStride, quantized.maxStride) }

    /// Images prepared as detect.py prepares them (letterbox to `imgSize`, auto padding);
    /// undecodable images are reported through `warning` and skipped.
    public func compare(images: [String], warning: ((String) -> Void)? = nil,
                        progress: ((Int, Int) -> Void)? = nil) -> ComparisonSummary {
        var contextA = ForwardContext(), contextB = ForwardContext()
        var results: [ImageComparison] = []
        let size = imgSize, stride = stride
        pipelined(count: images.count, prepare: { i -> Result<Letterbox, Error> in
            Result { Letterbox(detect: try RGBImage(contentsOf: URL(fileURLWithPath: images[i])), size: size, stride: stride) }
        }, consume: { i, prepared in
            switch prepared {
            case .success(let boxed):
                let input = boxed.tensor()
                let a = boxed.boxTransform.apply(nonMaxSuppression(baseline.forward(input, context: &contextA), options: agreementNMS))
                let b = boxed.boxTransform.apply(nonMaxSuppression(quantized.forward(input, context: &contextB), options: agreementNMS))
                results.append(ImageComparison(image: images[i], baseline: a, quantized: b, iouThreshold: matchIoU))
            case .failure(let error):
                warning?("\(error); image skipped")
            }
            progress?(i + 1, images.count)
        })
        return ComparisonSummary(images: results)
    }

    /// A dataset split prepared as test.py prepares it: both models evaluated (`evalSettings`,
    /// whose size is used), and their detections under `agreementNMS` compared on the same
    /// forward passes.
    public func compare(split: DatasetSplit, evalSettings: EvalSettings, warning: ((String) -> Void)? = nil,
                        progress: ((Int, Int) -> Void)? = nil) throws
        -> (agreement: ComparisonSummary, baseline: EvalResult, quantized: EvalResult) {
        try Evaluator.checkClasses(split, model: baseline)
        try Evaluator.checkClasses(split, model: quantized)
        let start = DispatchTime.now().uptimeNanoseconds
        let size = EvalSettings.checkedImageSize(evalSettings.imgSize, stride: stride)
        if size != evalSettings.imgSize {
            warning?("--img \(evalSettings.imgSize) must be a multiple of max stride \(max(stride, 32)), updating to \(size)")
        }
        var contextA = ForwardContext(), contextB = ForwardContext()
        var evalA: [ImageEvaluation] = [], evalB: [ImageEvaluation] = []
        var results: [ImageComparison] = []
        var skipped: [String] = []
        try split.forEachSample(imgSize: size, stride: max(stride, 32), classCount: baseline.config.nc,
                                warning: { skipped.append($0); warning?($0) }, progress: progress) { sample in
            let predA = baseline.forward(sample.input, context: &contextA)
            let predB = quantized.forward(sample.input, context: &contextB)
            evalA.append(Evaluator.evaluate(prediction: predA, sample: sample, nms: evalSettings.nms))
            evalB.append(Evaluator.evaluate(prediction: predB, sample: sample, nms: evalSettings.nms))
            let transform = sample.letterbox.boxTransform
            results.append(ImageComparison(image: sample.path,
                                           baseline: transform.apply(nonMaxSuppression(predA, options: agreementNMS)),
                                           quantized: transform.apply(nonMaxSuppression(predB, options: agreementNMS)),
                                           iouThreshold: matchIoU))
        }
        guard !evalA.isEmpty else {
            throw EvalError.noUsableImages(data: split.source, split: split.split, skipped: skipped.count)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        func result(_ images: [ImageEvaluation]) -> EvalResult {
            EvalResult(metrics: DetectionMetrics(statistics: images.map(\.statistics), images: images.count),
                       images: images, skipped: skipped, imgSize: size, seconds: seconds)
        }
        return (ComparisonSummary(images: results), result(evalA), result(evalB))
    }

    /// The image files among `sources`: files as given, folders' image files (not recursive),
    /// sorted per folder. Missing paths throw.
    public static func imageFiles(_ sources: [String]) throws -> [String] {
        var files: [String] = []
        for source in sources {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
                throw EvalError.unreadable(path: source, reason: "no such file or folder")
            }
            if !isDirectory.boolValue {
                files.append(source)
                continue
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []
            files += DatasetSplit.sortedUnique(names.filter {
                !$0.hasPrefix(".") && DatasetSplit.imageExtensions.contains(($0 as NSString).pathExtension.lowercased())
            }.map { DatasetSplit.join(source, $0) })
        }
        return files
    }
}
