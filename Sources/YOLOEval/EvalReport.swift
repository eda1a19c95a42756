import Foundation

/// The eval JSON of DESIGN section 2, with the run's settings added:
/// `{"mAP50", "mAP50_95", "precision", "recall", "images", "labels",
///   "per_class": [{"class", "class_id", "labels", "detections", "AP50", "AP50_95", "precision", "recall"}],
///   "img", "conf_thres", "iou_thres", "data", "split", "weights", "skipped", "seconds",
///   "coco": {COCOMetrics JSON, with --coco-annotations}}`.
public struct EvalReport: Codable, Equatable, Sendable {
    public struct PerClass: Codable, Equatable, Sendable {
        public var name: String
        public var classID: Int
        public var labels: Int
        public var detections: Int
        public var ap50: Double
        public var ap50to95: Double
        public var precision: Double
        public var recall: Double

        enum CodingKeys: String, CodingKey {
            case name = "class", classID = "class_id", labels, detections
            case ap50 = "AP50", ap50to95 = "AP50_95", precision, recall
        }
    }

    public var mAP50: Double
    public var mAP50to95: Double
    public var precision: Double
    public var recall: Double
    public var images: Int
    public var labels: Int
    public var perClass: [PerClass]
    public var imgSize: Int?
    public var confThreshold: Double?
    public var iouThreshold: Double?
    public var data: String?
    public var split: String?
    public var weights: String?
    public var skipped: [String]?
    public var seconds: Double?
    /// The 12 COCO metrics (`eval --coco-annotations`).
    public var coco: COCOMetrics?

    enum CodingKeys: String, CodingKey {
        case mAP50, mAP50to95 = "mAP50_95", precision, recall, images, labels, perClass = "per_class"
        case imgSize = "img", confThreshold = "conf_thres", iouThreshold = "iou_thres"
        case data, split, weights, skipped, seconds, coco
    }

    /// The report of `metrics`; class names from `names` (ids without a name print as numbers).
    public init(_ metrics: DetectionMetrics, names: [String]) {
        mAP50 = metrics.mAP50
        mAP50to95 = metrics.mAP50to95
        precision = metrics.precision
        recall = metrics.recall
        images = metrics.images
        labels = metrics.labels
        perClass = metrics.classes.map { c in
            PerClass(name: names.indices.contains(c.classID) ? names[c.classID] : "\(c.classID)", classID: c.classID,
                     labels: c.labels, detections: c.detections, ap50: c.ap50, ap50to95: c.ap50to95,
                     precision: c.precision, recall: c.recall)
        }
    }

    /// The report of a run, with its settings.
    public init(_ result: EvalResult, names: [String], settings: EvalSettings, data: String?, split: String?, weights: String?) {
        self.init(result.metrics, names: names)
        imgSize = result.imgSize
        // The thresholds as decimal numbers, not as their float32 approximations.
        confThreshold = Double(String(settings.nms.confThreshold))
        iouThreshold = Double(String(settings.nms.iouThreshold))
        self.data = data
        self.split = split
        self.weights = weights
        skipped = result.skipped
        seconds = (result.seconds * 1000).rounded() / 1000
    }

    /// The table official test.py prints: a header, then `all` and one row per class with
    /// labels (`%20s` then `%12i` x 2 and `%12.3g` x 4).
    public var table: String {
        func pad(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        var lines = [pad("Class", 20) + ["Images", "Labels", "P", "R", "mAP@.5", "mAP@.5:.95"].map { pad($0, 12) }.joined()]
        func row(_ name: String, _ labels: Int, _ p: Double, _ r: Double, _ a: Double, _ b: Double) -> String {
            pad(name, 20) + String(format: "%12d%12d%12.3g%12.3g%12.3g%12.3g", images, labels, p, r, a, b)
        }
        lines.append(row("all", labels, precision, recall, mAP50, mAP50to95))
        for c in perClass { lines.append(row(c.name, c.labels, c.precision, c.recall, c.ap50, c.ap50to95)) }
        return lines.joined(separator: "\n")
    }
}
