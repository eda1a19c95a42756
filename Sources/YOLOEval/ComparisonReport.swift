import Foundation

/// The compare JSON: agreement overall and per image, and with a dataset both evaluations.
/// `{"baseline", "quantized", "iou_match": 0.5, "conf_thres", "iou_thres", "images",
///   "baseline_boxes", "quantized_boxes", "matched", "missed", "extra", "match_rate",
///   "mean_iou", "mean_abs_conf_change", "max_abs_conf_change",
///   "per_image": [{"image", "baseline_boxes", ...same figures...}],
///   "eval": {"baseline": {eval JSON}, "quantized": {eval JSON}, "delta_mAP50", "delta_mAP50_95"}}`.
/// Means over no matches are null.
public struct ComparisonReport: Codable, Equatable, Sendable {
    public struct Agreement: Codable, Equatable, Sendable {
        public var image: String?
        public var baselineBoxes: Int
        public var quantizedBoxes: Int
        public var matched: Int
        public var missed: Int
        public var extra: Int
        public var matchRate: Double?
        public var meanIoU: Double?
        public var meanAbsConfidenceChange: Double?
        public var maxAbsConfidenceChange: Double?

        enum CodingKeys: String, CodingKey {
            case image, baselineBoxes = "baseline_boxes", quantizedBoxes = "quantized_boxes", matched, missed, extra
            case matchRate = "match_rate", meanIoU = "mean_iou", meanAbsConfidenceChange = "mean_abs_conf_change"
            case maxAbsConfidenceChange = "max_abs_conf_change"
        }

        /// Means over no matches are written as null rather than left out.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(image, forKey: .image)
            try c.encode(baselineBoxes, forKey: .baselineBoxes)
            try c.encode(quantizedBoxes, forKey: .quantizedBoxes)
            try c.encode(matched, forKey: .matched)
            try c.encode(missed, forKey: .missed)
            try c.encode(extra, forKey: .extra)
            try c.encodeIfPresent(matchRate, forKey: .matchRate)
            try c.encode(meanIoU, forKey: .meanIoU)
            try c.encode(meanAbsConfidenceChange, forKey: .meanAbsConfidenceChange)
            try c.encode(maxAbsConfidenceChange, forKey: .maxAbsConfidenceChange)
        }

        init(_ c: ImageComparison) {
            image = c.image
            baselineBoxes = c.baselineCount
            quantizedBoxes = c.quantizedCount
            matched = c.matches.count
            missed = c.missed
            extra = c.extra
            meanIoU = c.meanIoU
            meanAbsConfidenceChange = c.meanAbsConfidenceChange
            maxAbsConfidenceChange = c.maxAbsConfidenceChange
        }
    }

    public struct EvalPair: Codable, Equatable, Sendable {
        public var baseline: EvalReport
        public var quantized: EvalReport
        public var deltaMAP50: Double
        public var deltaMAP50to95: Double

        enum CodingKeys: String, CodingKey {
            case baseline, quantized, deltaMAP50 = "delta_mAP50", deltaMAP50to95 = "delta_mAP50_95"
        }

        public init(baseline: EvalReport, quantized: EvalReport) {
            self.baseline = baseline
            self.quantized = quantized
            deltaMAP50 = quantized.mAP50 - baseline.mAP50
            deltaMAP50to95 = quantized.mAP50to95 - baseline.mAP50to95
        }
    }

    public var baseline: String
    public var quantized: String
    public var iouMatch: Double
    public var confThreshold: Double
    public var iouThreshold: Double
    public var images: Int
    public var overall: Agreement
    public var perImage: [Agreement]
    public var eval: EvalPair?

    enum CodingKeys: String, CodingKey {
        case baseline, quantized, iouMatch = "iou_match", confThreshold = "conf_thres", iouThreshold = "iou_thres"
        case images, overall, perImage = "per_image", eval
    }

    public init(baseline: String, quantized: String, summary: ComparisonSummary, iouMatch: Double,
                confThreshold: Double, iouThreshold: Double, eval: EvalPair? = nil) {
        self.baseline = baseline
        self.quantized = quantized
        self.iouMatch = iouMatch
        self.confThreshold = confThreshold
        self.iouThreshold = iouThreshold
        images = summary.images.count
        overall = Agreement(ImageComparison(image: "", baseline: [], quantized: []))
        overall.image = nil
        overall.baselineBoxes = summary.baselineCount
        overall.quantizedBoxes = summary.quantizedCount
        overall.matched = summary.matched
        overall.missed = summary.missed
        overall.extra = summary.extra
        overall.matchRate = summary.matchRate
        overall.meanIoU = summary.meanIoU
        overall.meanAbsConfidenceChange = summary.meanAbsConfidenceChange
        overall.maxAbsConfidenceChange = summary.maxAbsConfidenceChange
        perImage = summary.images.map(Agreement.init)
        self.eval = eval
    }

    /// A few lines for the terminal.
    public var text: String {
        func f(_ v: Double?, _ format: String = "%.4f") -> String { v.map { String(format: format, $0) } ?? "-" }
        var lines = [
            "images \(images): baseline \(overall.baselineBoxes) boxes, quantized \(overall.quantizedBoxes) boxes",
            "matched \(overall.matched) (\(f(overall.matchRate.map { $0 * 100 }, "%.2f"))%), missed \(overall.missed), extra \(overall.extra)",
            "mean IoU of matches \(f(overall.meanIoU)), |confidence change| mean \(f(overall.meanAbsConfidenceChange)) max \(f(overall.maxAbsConfidenceChange))",
        ]
        if let eval {
            lines.append(String(format: "mAP@0.5      baseline %.4f  quantized %.4f  delta %+.4f",
                                eval.baseline.mAP50, eval.quantized.mAP50, eval.deltaMAP50))
            lines.append(String(format: "mAP@0.5:0.95 baseline %.4f  quantized %.4f  delta %+.4f",
                                eval.baseline.mAP50to95, eval.quantized.mAP50to95, eval.deltaMAP50to95))
        }
        return lines.joined(separator: "\n")
    }
}
