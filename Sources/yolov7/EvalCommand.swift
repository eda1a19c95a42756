import ArgumentParser
import Foundation
import YOLOEval
import YOLOQuant
import YOLOv7

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "mAP@0.5, mAP@0.5:0.95, P and R on a dataset split, as official test.py --batch-size 1.")

    @Option(help: "Weights: .pt checkpoint or .safetensors (FP32/FP16, fake or packed quantized).")
    var weights: String

    @OptionGroup var precision: PrecisionOptions

    @Option(help: "Dataset folder (images/<split>, labels/<split>) or data YAML (train/val/test, nc, names).")
    var data: String

    @Option(help: "Split to evaluate.")
    var split = "test"

    @Option(help: "Inference size: the long side of each image (rect letterbox per image).")
    var img = 640

    @Option(name: [.customLong("conf"), .customLong("conf-thres")], help: "NMS confidence threshold.")
    var conf = 0.001

    @Option(name: [.customLong("iou"), .customLong("iou-thres")], help: "NMS IoU threshold.")
    var iou = 0.65

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "Write the metrics as JSON to this file.")
    var json: String?

    @Option(name: .customLong("coco-json"), help: ArgumentHelp("Write the detections as a COCO results JSON, as official test.py --save-json.",
                                                               valueName: "file"))
    var cocoJSON: String?

    @Option(name: .customLong("coco-annotations"), help: ArgumentHelp(
        "Also compute the 12 COCO metrics (pycocotools' COCOeval) against this COCO annotation file.",
        discussion: "Its image ids must be the split's file stems (numbers when all digits) and its category ids the class indices; tools/yolo_to_coco.py writes one.",
        valueName: "file"))
    var cocoAnnotations: String?

    func validate() throws {
        guard img > 0 else { throw ValidationError("--img must be positive") }
        guard (0...1).contains(conf) else { throw ValidationError("--conf must be in 0...1") }
        guard (0...1).contains(iou) else { throw ValidationError("--iou must be in 0...1") }
    }

    func run() throws {
        try runReportingErrors {
            let split = try DatasetSplit.load(data: data, split: split)
            let settings = EvalSettings(imgSize: img, confThreshold: Float(conf), iouThreshold: Float(iou))
            var options = Detector.Options.evaluation(settings)
            options.precision = precision.precision.detectorPrecision
            // int8 calibrates on the same dataset's train split unless --calib says otherwise.
            let detector = try Detector(contentsOf: URL(fileURLWithPath: weights), configURL: cfg.map { URL(fileURLWithPath: $0) },
                                        options: options, calibration: try precision.calibration(fallback: data),
                                        calibrationProgress: ProgressLine.reporter("calibration"))
            precision.report(detector)
            let coco = try COCOEvalOutputs(resultsPath: cocoJSON, annotationsPath: cocoAnnotations, split: split,
                                           dataPath: data, classCount: detector.classCount)
            if detector.inputSize != img {
                printError("yolov7: --img \(img) must be a multiple of max stride \(max(detector.stride, 32)), updating to \(detector.inputSize)")
            }
            let result = try Evaluator(pipeline: detector)
                .evaluate(split, warning: { printError("yolov7: \($0)") }, progress: ProgressLine.reporter("eval"))
            let names = detector.classNames.isEmpty ? (split.classNames ?? []) : detector.classNames
            var report = EvalReport(result, names: names, settings: settings, data: data, split: self.split, weights: weights)
            report.coco = try coco.finish(result)
            if let json { try JSONOutput.write(report, to: json) }
            print(report.table)
            if let metrics = report.coco { print(metrics.summary) }
            print(String(format: "%.1f ms per image (%d images, %.1f s)", result.seconds * 1000 / Double(max(result.images.count, 1)),
                         result.images.count, result.seconds))
            for file in [cocoJSON, json].compactMap({ $0 }) { print("wrote \(file)") }
        }
    }
}

/// Progress lines on stderr, only when stderr is a terminal (quiet when piped or redirected).
enum ProgressLine {
    static func reporter(_ label: String) -> (@Sendable (Int, Int) -> Void)? {
        guard stderrIsTerminal else { return nil }
        return { done, total in
            FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)\(done == total ? "\r\u{1B}[K" : "")".utf8))
        }
    }
}
