import ArgumentParser
import Foundation
import YOLOEval
import YOLOQuant
import YOLOVision
import YOLOv7

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Detection agreement of a quantized model with its baseline, and with --data both mAPs.",
        discussion: """
            Detections (NMS with --conf/--iou, detect's defaults) of the two models are matched \
            one-to-one: same class, IoU >= 0.5, greedily in descending baseline confidence, each \
            taking the unmatched quantized box of highest IoU. Reported: matched, missed (baseline \
            boxes without a match) and extra (quantized boxes without one), the mean IoU of matches \
            and the mean and max |confidence change|, overall and per image. SOURCE images are \
            letterboxed as detect does; with --data as eval does, and both models are also \
            evaluated (conf 0.001, IoU 0.65).
            """)

    @Option(help: "Baseline weights (.pt or .safetensors).")
    var baseline: String

    @Option(help: "Quantized weights (.safetensors, fake or packed).")
    var quantized: String

    @Option(help: "Dataset folder or data YAML: compare on a split and report both mAPs.")
    var data: String?

    @Option(help: "Split of --data.")
    var split = "test"

    @Option(help: "Inference size.")
    var img = 640

    @Option(name: [.customLong("conf"), .customLong("conf-thres")], help: "Confidence threshold of the compared detections.")
    var conf = 0.25

    @Option(name: [.customLong("iou"), .customLong("iou-thres")], help: "NMS IoU threshold of the compared detections.")
    var iou = 0.45

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "Write the comparison as JSON to this file.")
    var json: String?

    @Option(name: .customLong("report"), help: ArgumentHelp(
        "Write a self-contained HTML report (index.html, pictures in images/) into this new or empty folder.",
        discussion: "It shows both models, both mAPs with --data, agreement per class, agreement against the confidence threshold, and every image ranked by disagreement with matched, missed and extra boxes drawn.",
        valueName: "dir"))
    var reportFolderPath: String?

    @Option(name: .customLong("report-images"), help: ArgumentHelp("Pictures in the report: the N images with the most disagreement.", valueName: "n"))
    var reportImages = 100

    @Argument(help: "Images or folders of images (instead of --data).")
    var sources: [String] = []

    func validate() throws {
        guard (data == nil) != sources.isEmpty else {
            throw ValidationError("give either --data or SOURCE images, not both and not neither")
        }
        guard img > 0 else { throw ValidationError("--img must be positive") }
        guard (0...1).contains(conf), (0...1).contains(iou) else { throw ValidationError("--conf and --iou must be in 0...1") }
        guard reportImages >= 0 else { throw ValidationError("--report-images must not be negative") }
    }

    func run() throws {
        try runReportingErrors {
            let reportFolder = try reportFolderPath.map { try ReportFolder(path: $0) }  // checked before any work
            let dataset = try data.map { try DatasetSplit.load(data: $0, split: split) }
            let images = dataset == nil ? try ModelComparison.imageFiles(sources) : []
            // With --data both models run test.py's protocol (and are evaluated); on images,
            // detect.py's pre-processing. The agreement is always under --conf/--iou.
            let settings = EvalSettings(imgSize: img)
            let options = dataset == nil ? Detector.Options(imageSize: img) : .evaluation(settings)
            let cfgURL = cfg.map { URL(fileURLWithPath: $0) }
            let base = try Detector(contentsOf: URL(fileURLWithPath: baseline), configURL: cfgURL, options: options)
            let quant = try Detector(contentsOf: URL(fileURLWithPath: quantized), configURL: cfgURL, options: options)
            if dataset != nil && base.inputSize != img {
                printError("yolov7: --img \(img) must be a multiple of max stride \(max(base.stride, 32)), updating to \(base.inputSize)")
            }
            var comparison = ModelComparison(baseline: base, quantized: quant)
            // A report also looks below --conf (its chart, the causes of unmatched boxes): NMS runs
            // once at its lowest threshold, and the figures at --conf are derived from that.
            let nmsConf = reportFolder == nil ? Float(conf) : min(Float(conf), ComparisonHTMLReport.lowestThreshold)
            comparison.agreementNMS = NMSOptions(confThreshold: nmsConf, iouThreshold: Float(iou))
            let warn: (String) -> Void = { printError("yolov7: \($0)") }
            let names = base.classNames.isEmpty ? (dataset?.classNames ?? []) : base.classNames
            let agreement: ComparisonSummary
            let report: ComparisonReport
            if let dataset {
                let (all, a, b) = try comparison.compare(split: dataset, warning: warn,
                                                         progress: ProgressLine.reporter("compare"))
                agreement = all
                let pair = ComparisonReport.EvalPair(
                    baseline: EvalReport(a, names: names, settings: settings, data: data, split: self.split, weights: baseline),
                    quantized: EvalReport(b, names: names, settings: settings, data: data, split: self.split, weights: quantized))
                report = ComparisonReport(baseline: baseline, quantized: quantized, summary: all.keeping(confidenceAbove: Float(conf)),
                                          iouMatch: 0.5, confThreshold: conf, iouThreshold: iou, eval: pair)
            } else {
                agreement = comparison.compare(images: images, warning: warn, progress: ProgressLine.reporter("compare"))
                report = ComparisonReport(baseline: baseline, quantized: quantized, summary: agreement.keeping(confidenceAbove: Float(conf)),
                                          iouMatch: 0.5, confThreshold: conf, iouThreshold: iou)
            }
            if let json { try JSONOutput.write(report, to: json) }
            if let reportFolder {
                let inputs = dataset.map { "\($0.source), \($0.split) split" } ?? "\(images.count) images from \(sources.joined(separator: ", "))"
                try ComparisonHTMLReport(report: report, all: agreement, baseline: base.model, quantized: quant.model, classNames: names,
                                         inputs: inputs, imgSize: img, maxPictures: reportImages)
                    .write(to: reportFolder, progress: ProgressLine.reporter("report"))
            }
            print(report.text)
            for file in [json, reportFolder.map { "\($0.path)/index.html" }].compactMap({ $0 }) { print("wrote \(file)") }
        }
    }
}
