import Foundation
import Testing
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision
import class YOLOv7.Detector
@testable import YOLOEval

@Suite struct ComparisonHTMLReportTests {
    static let weights = Paths.packageRoot.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path
    static let images = ["BloodImage_00031.jpg", "BloodImage_00178.jpg"].map {
        Paths.packageRoot.appendingPathComponent("images/\($0)").path
    }

    func d(_ c: Int, _ conf: Float, _ x: Float, _ y: Float, _ w: Float = 10, _ h: Float = 10) -> Detection {
        Detection(classID: c, confidence: conf, x1: x, y1: y, x2: x + w, y2: y + h)
    }

    /// The report runs NMS once at a low threshold and cuts higher: on real predictions that must
    /// give exactly what NMS at the higher threshold gives (same boxes, same order).
    @Test func filteringLowThresholdNMSEqualsNMSAtTheThreshold() throws {
        let model = try ModelLoader.load(path: Self.weights)
        for path in Self.images {
            let boxed = Letterbox(detect: try RGBImage(contentsOf: URL(fileURLWithPath: path)), size: 416, stride: 32)
            let prediction = model.forward(boxed.tensor())
            let low = nonMaxSuppression(prediction, options: NMSOptions(confThreshold: 0.05, iouThreshold: 0.45))
            for t: Float in [0.1, 0.25, 0.5, 0.8] {
                let direct = nonMaxSuppression(prediction, options: NMSOptions(confThreshold: t, iouThreshold: 0.45))
                #expect(low.filter { $0.confidence > t } == direct, "\(path) at \(t)")
                #expect(!direct.isEmpty || t == 0.8)
            }
            #expect(low.count > 10)
        }
    }

    @Test func keepingAboveAThresholdMatchesAnew() {
        let base = [d(0, 0.9, 0, 0), d(0, 0.2, 50, 50)]
        let quant = [d(0, 0.3, 50, 50), d(0, 0.85, 0, 1)]
        let all = ComparisonSummary(images: [ImageComparison(image: "a", baseline: base, quantized: quant)])
        #expect(all.matched == 2)
        let cut = all.keeping(confidenceAbove: 0.25)
        #expect(cut.baselineCount == 1 && cut.quantizedCount == 2 && cut.matched == 1 && cut.extra == 1)
        #expect(cut.images[0].iouThreshold == 0.5)
    }

    /// Each cause of an unmatched box, found among the other model's boxes below the threshold.
    @Test func causesOfUnmatchedBoxes() {
        let base = [
            d(0, 0.9, 0, 0),             // quantized has it at 0.2: below the threshold
            d(0, 0.8, 100, 0),           // quantized calls it class 1
            d(0, 0.7, 200, 0),           // quantized box moved (IoU 1/3)
            d(0, 0.6, 300, 0),           // nothing there
            d(0, 0.5, 400, 0), d(0, 0.45, 401, 0),  // one quantized box for the two: the second is merged away
            d(2, 0.15, 500, 0),          // below the threshold in the baseline: the quantized box here is extra for that
        ]
        let quant = [d(0, 0.2, 0, 0), d(1, 0.7, 100, 0), d(0, 0.6, 205, 0), d(0, 0.5, 400, 0), d(2, 0.4, 500, 0),
                     d(1, 0.6, 700, 0)]
        let all = ImageComparison(image: "a", baseline: base, quantized: quant)
        let shown = ComparisonSummary(images: [all]).keeping(confidenceAbove: 0.25).images[0]
        let why = ImageDisagreements(shown: shown, all: all, threshold: 0.25)
        let missed = Dictionary(uniqueKeysWithValues: why.missed.map { (shown.baseline[$0.index].x1, $0.cause) })
        #expect(missed[0] == .belowThreshold(confidence: 0.2, iou: 1))
        #expect(missed[100] == .relabelled(classID: 1, confidence: 0.7, iou: 1))
        #expect(missed[200] == .moved(iou: 50.0 / 150.0))
        #expect(missed[300] == .absent)
        if case .merged(let iou)? = missed[401] { #expect(abs(iou - 90.0 / 110.0) < 1e-6) } else { Issue.record("\(String(describing: missed[401]))") }
        #expect(why.missed.count == 5)
        let extra = Dictionary(uniqueKeysWithValues: why.extra.map { (shown.quantized[$0.index].x1, $0.cause) })
        #expect(extra[100] == .relabelled(classID: 0, confidence: 0.8, iou: 1))
        #expect(extra[205] == .moved(iou: 50.0 / 150.0))
        #expect(extra[500] == .belowThreshold(confidence: 0.15, iou: 1))
        #expect(extra[700] == .absent)
        #expect(why.extra.count == 4)
    }

    @Test func perClassAgreementAndTheCurve() {
        let base = [d(0, 0.9, 0, 0), d(1, 0.8, 100, 0), d(1, 0.3, 200, 0)]
        let quant = [d(0, 0.7, 0, 0), d(1, 0.85, 100, 0), d(2, 0.6, 300, 0)]
        let all = ComparisonSummary(images: [ImageComparison(image: "a", baseline: base, quantized: quant)])
        let classes = ClassAgreement.perClass(all)
        #expect(classes.map(\.classID) == [0, 1, 2])
        #expect(classes.map(\.matched) == [1, 1, 0] && classes.map(\.missed) == [0, 1, 0] && classes.map(\.extra) == [0, 0, 1])
        #expect(abs(classes[0].maxAbsConfidenceChange! - 0.2) < 1e-6 && classes[2].meanIoU == nil)
        let curve = AgreementCurve(all, thresholds: [0.5, 0.05, 0.75], marked: 0.5)
        let thresholds: [Float] = [0.05, 0.5, 0.75], matched = [2, 2, 1]
        let baselineFound: [Double?] = [2.0 / 3, 1, 0.5], quantizedFound: [Double?] = [2.0 / 3, 2.0 / 3, 1]
        #expect(curve.points.map(\.threshold) == thresholds)
        #expect(curve.points.map(\.matched) == matched)
        #expect(curve.points.map(\.baselineFound) == baselineFound)
        #expect(curve.points.map(\.quantizedFound) == quantizedFound)
        #expect(curve.svg.hasPrefix("<svg class=\"chart\"") && curve.svg.contains("<polyline"))
        #expect(AgreementCurve.thresholds(from: 0.05, marked: 0.33).count == 20)
        #expect(AgreementCurve.thresholds(from: 0.05, marked: 0.25).count == 19)
    }

    @Test func reportFolderRefusesBadPlacesBeforeAnyWork() throws {
        let root = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let full = root.appendingPathComponent("full")
        try FileManager.default.createDirectory(at: full, withIntermediateDirectories: false)
        try Data("x".utf8).write(to: full.appendingPathComponent("old.txt"))
        #expect(throws: EvalError.reportFolder(path: full.path, reason: "the report folder exists and is not empty; give a new or empty folder")) {
            try ReportFolder(path: full.path)
        }
        let file = full.appendingPathComponent("old.txt").path
        #expect(throws: EvalError.reportFolder(path: file, reason: "exists and is not a folder")) { try ReportFolder(path: file) }
        #expect(throws: EvalError.self) { try ReportFolder(path: file + "/report") }
        #expect(throws: EvalError.self) { try ReportFolder(path: "/proc/yolov7-report") }

        // A new folder (with a missing parent) and an empty one are fine, and filled at once.
        for path in [root.appendingPathComponent("new/deeper/report").path, full.deletingLastPathComponent().appendingPathComponent("empty").path] {
            if path.hasSuffix("empty") { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false) }
            let folder = try ReportFolder(path: path)
            try folder.write { try Data("page".utf8).write(to: $0.appendingPathComponent("index.html")) }
            #expect(try String(contentsOfFile: path + "/index.html", encoding: .utf8) == "page")
        }
        // A failure leaves neither the folder nor the staging folder behind.
        let failing = root.appendingPathComponent("failing").path
        struct Boom: Error {}
        #expect(throws: Boom.self) { try ReportFolder(path: failing).write { _ in throw Boom() } }
        #expect(!FileManager.default.fileExists(atPath: failing))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path).allSatisfy { !$0.hasPrefix(".") })
    }

    /// The whole report on two real images: the shipped model against a 3-bit copy of itself.
    @Test func writesAReportWithEverySection() throws {
        let root = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let base = try ModelLoader.load(path: Self.weights)
        let quantizedPath = root.appendingPathComponent("q3.safetensors").path
        let settings = try QuantizationSettings(scheme: "affine", bits: 3, granularity: "filter")
        let quantized = try ModelQuantizer.quantize(try ModelLoader.load(path: Self.weights), settings: settings)
        try QuantizedModelFile.write(quantized, to: quantizedPath, mode: .packed, source: Self.weights)
        let quant = try ModelLoader.load(path: quantizedPath)
        base.classNames = ["<RBC & co>", "WBC", "Platelets"]  // escaped everywhere

        var comparison = ModelComparison(baseline: try Detector(model: base, options: Detector.Options(imageSize: 320)),
                                         quantized: try Detector(model: quant, options: Detector.Options(imageSize: 320)))
        comparison.agreementNMS = NMSOptions(confThreshold: ComparisonHTMLReport.lowestThreshold, iouThreshold: 0.45)
        let all = comparison.compare(images: Self.images)
        let shown = all.keeping(confidenceAbove: 0.25)
        #expect(shown.missed + shown.extra > 0)
        let report = ComparisonReport(baseline: Self.weights, quantized: quantizedPath, summary: shown, iouMatch: 0.5,
                                      confThreshold: 0.25, iouThreshold: 0.45)
        let folder = try ReportFolder(path: root.appendingPathComponent("report").path)
        let html = try ComparisonHTMLReport(report: report, all: all, baseline: base, quantized: quant, classNames: base.classNames,
                                            inputs: "2 images", imgSize: 320, maxPictures: 1)
        #expect(html.layers.count == base.convs.count && html.layers.allSatisfy { $0.isQuantized && $0.error!.sqnrDB < 30 })
        try html.write(to: folder)

        let page = try String(contentsOfFile: folder.path + "/index.html", encoding: .utf8)
        for id in ["summary", "models", "agreement", "threshold", "images", "image-1"] { #expect(page.contains("id=\"\(id)\"")) }
        #expect(!page.contains("id=\"accuracy\""))  // no dataset, no mAP
        #expect(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"))
        #expect(page.contains("&lt;RBC &amp; co&gt;") && !page.contains("<RBC"))
        #expect(page.contains("affine 3-bit filter"))
        let pictures = try FileManager.default.contentsOfDirectory(atPath: folder.path + "/images")
        #expect(pictures == ["001.jpg"])
        #expect(page.contains("src=\"images/001.jpg\""))
        // The worst image comes first and is the pictured one.
        let order = ComparisonHTMLReport.ranking(shown)
        let worst = shown.images[order[0]]
        #expect(worst.missed + worst.extra >= shown.images[order[1]].missed + shown.images[order[1]].extra)
        #expect(page.contains("1. \((worst.image as NSString).lastPathComponent)"))
        // Every unmatched box of the pictured image is drawn with its style (one more in the legend).
        #expect(page.components(separatedBy: "class=\"box missed\"").count - 1 == worst.missed + 1)
        #expect(page.components(separatedBy: "class=\"box extra\"").count - 1 == worst.extra + 1)
    }
}
