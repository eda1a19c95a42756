import Foundation
import YOLOModel
import YOLOTensor
import YOLOVision

/// Runs a baseline and a quantized model on the same inputs and compares their detections.
/// Both pipelines get the inputs the baseline's pre-processing makes (the same for both).
public struct ModelComparison {
    public let baseline: any DetectionPipeline
    public let quantized: any DetectionPipeline
    /// The NMS whose detections are compared (detect.py's by default: conf 0.25, IoU 0.45).
    public var agreementNMS: NMSOptions
    /// Matches need the same class and at least this IoU.
    public var matchIoU: Float

    public init(baseline: any DetectionPipeline, quantized: any DetectionPipeline,
                agreementNMS: NMSOptions = .detect, matchIoU: Float = 0.5) {
        self.baseline = baseline
        self.quantized = quantized
        self.agreementNMS = agreementNMS
        self.matchIoU = matchIoU
    }

    /// Images prepared by the pipelines' pre-processing (detect.py's: letterbox to their size,
    /// auto padding); undecodable images are reported through `warning` and skipped.
    public func compare(images: [String], warning: ((String) -> Void)? = nil,
                        progress: ((Int, Int) -> Void)? = nil) -> ComparisonSummary {
        var results: [ImageComparison] = []
        let boxing = baseline
        pipelined(count: images.count, prepare: { i -> Result<Letterbox, Error> in
            Result { boxing.letterbox(try RGBImage(contentsOf: URL(fileURLWithPath: images[i]))) }
        }, consume: { i, prepared in
            switch prepared {
            case .success(let boxed):
                let input = boxed.tensor()
                let a = baseline.detections(in: baseline.predict(input), boxTransform: boxed.boxTransform, nms: agreementNMS)
                let b = quantized.detections(in: quantized.predict(input), boxTransform: boxed.boxTransform, nms: agreementNMS)
                results.append(ImageComparison(image: images[i], baseline: a, quantized: b, iouThreshold: matchIoU))
            case .failure(let error):
                warning?("\(error); image skipped")
            }
            progress?(i + 1, images.count)
        })
        return ComparisonSummary(images: results)
    }

    /// A dataset split prepared as test.py prepares it (the pipelines' pre-processing: give them
    /// the evaluation protocol): both models evaluated with their own NMS, and their
    /// detections under `agreementNMS` compared on the same forward passes.
    public func compare(split: DatasetSplit, warning: ((String) -> Void)? = nil,
                        progress: ((Int, Int) -> Void)? = nil) throws
        -> (agreement: ComparisonSummary, baseline: EvalResult, quantized: EvalResult) {
        try Evaluator.checkClasses(split, classCount: baseline.classCount)
        try Evaluator.checkClasses(split, classCount: quantized.classCount)
        let start = DispatchTime.now().uptimeNanoseconds
        let size = baseline.inputSize
        var evalA: [ImageEvaluation] = [], evalB: [ImageEvaluation] = []
        var results: [ImageComparison] = []
        var skipped: [String] = []
        try split.forEachSample(pipeline: baseline, classCount: baseline.classCount,
                                warning: { skipped.append($0); warning?($0) }, progress: progress) { sample in
            let predA = baseline.predict(sample.input)
            let predB = quantized.predict(sample.input)
            let transform = sample.letterbox.boxTransform
            evalA.append(Evaluator.evaluation(of: sample, detections: baseline.detections(in: predA, boxTransform: transform, nms: nil)))
            evalB.append(Evaluator.evaluation(of: sample, detections: quantized.detections(in: predB, boxTransform: transform, nms: nil)))
            results.append(ImageComparison(image: sample.path,
                                           baseline: baseline.detections(in: predA, boxTransform: transform, nms: agreementNMS),
                                           quantized: quantized.detections(in: predB, boxTransform: transform, nms: agreementNMS),
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
