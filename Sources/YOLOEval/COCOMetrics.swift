import Foundation

/// The 12 COCO box metrics, in the order of pycocotools' `COCOeval.stats`. -1 where nothing
/// applies (no ground truth in that area range). In JSON: `{"AP", "AP50", "AP75", "AP_small",
/// "AP_medium", "AP_large", "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
/// "annotations"}`.
public struct COCOMetrics: Codable, Equatable, Sendable {
    /// The JSON names of `stats`, in order.
    public static let names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
                               "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]

    public var stats: [Double]
    /// The annotation file they were computed against.
    public var annotations: String?

    public init(stats: [Double], annotations: String? = nil) {
        precondition(stats.count == Self.names.count, "COCOMetrics: 12 stats")
        self.stats = stats
        self.annotations = annotations
    }

    public var ap: Double { stats[0] }
    public var ap50: Double { stats[1] }
    public var ap75: Double { stats[2] }

    /// The lines `COCOeval.summarize()` prints, character for character.
    public var summary: String {
        let rows: [(ap: Bool, iou: String, area: String, maxDets: Int)] = [
            (true, "0.50:0.95", "all", 100), (true, "0.50", "all", 100), (true, "0.75", "all", 100),
            (true, "0.50:0.95", "small", 100), (true, "0.50:0.95", "medium", 100), (true, "0.50:0.95", "large", 100),
            (false, "0.50:0.95", "all", 1), (false, "0.50:0.95", "all", 10), (false, "0.50:0.95", "all", 100),
            (false, "0.50:0.95", "small", 100), (false, "0.50:0.95", "medium", 100), (false, "0.50:0.95", "large", 100),
        ]
        func left(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
        func right(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        return zip(rows, stats).map { row, value in
            " " + left(row.ap ? "Average Precision" : "Average Recall", 18) + " " + (row.ap ? "(AP)" : "(AR)")
                + " @[ IoU=" + left(row.iou, 9) + " | area=" + right(row.area, 6) + " | maxDets="
                + right("\(row.maxDets)", 3) + " ] = " + String(format: "%0.3f", value)
        }.joined(separator: "\n")
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        for (name, value) in zip(Self.names, stats) { try c.encode(value, forKey: Key(stringValue: name)) }
        try c.encodeIfPresent(annotations, forKey: Key(stringValue: "annotations"))
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        stats = try Self.names.map { try c.decode(Double.self, forKey: Key(stringValue: $0)) }
        annotations = try c.decodeIfPresent(String.self, forKey: Key(stringValue: "annotations"))
    }
}
