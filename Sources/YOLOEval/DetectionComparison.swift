import YOLOVision

/// A baseline detection paired with a quantized one.
public struct DetectionMatch: Equatable, Sendable {
    /// Indices into the two detection lists.
    public var baseline: Int
    public var quantized: Int
    public var iou: Float
    /// quantized confidence - baseline confidence.
    public var confidenceChange: Float
}

/// How the detections of a quantized model agree with the baseline's on one image.
///
/// Matching is one-to-one and greedy: baseline detections in descending confidence (ties in
/// list order) each take, among the quantized detections of the same class not taken yet, the
/// one with the highest IoU, if that IoU is >= the threshold (ties: the higher confidence, then
/// list order). Greedy rather than Hungarian because it is what NMS-style evaluation does and
/// it is deterministic and simple; with IoU >= 0.5 and NMS-suppressed lists the two rarely
/// differ. Unmatched baseline detections are "missed", unmatched quantized ones "extra".
public struct ImageComparison: Equatable, Sendable {
    public var image: String
    /// The compared detections (boxes in original-image pixels); `matches` index into them.
    public var baseline: [Detection]
    public var quantized: [Detection]
    public var matches: [DetectionMatch]
    /// The IoU a match needs.
    public var iouThreshold: Float

    public var baselineCount: Int { baseline.count }
    public var quantizedCount: Int { quantized.count }
    public var missed: Int { baselineCount - matches.count }
    public var extra: Int { quantizedCount - matches.count }
    /// nil when nothing matched.
    public var meanIoU: Double? { matches.isEmpty ? nil : matches.reduce(0) { $0 + Double($1.iou) } / Double(matches.count) }
    public var meanAbsConfidenceChange: Double? {
        matches.isEmpty ? nil : matches.reduce(0) { $0 + Double(abs($1.confidenceChange)) } / Double(matches.count)
    }
    public var maxAbsConfidenceChange: Double? { matches.map { Double(abs($0.confidenceChange)) }.max() }

    public init(image: String, baseline: [Detection], quantized: [Detection], iouThreshold: Float = 0.5) {
        self.image = image
        self.baseline = baseline
        self.quantized = quantized
        self.iouThreshold = iouThreshold
        let order = baseline.indices.sorted {
            baseline[$0].confidence > baseline[$1].confidence || (baseline[$0].confidence == baseline[$1].confidence && $0 < $1)
        }
        var taken = [Bool](repeating: false, count: quantized.count)
        var matches: [DetectionMatch] = []
        for b in order {
            let d = baseline[b]
            var best: Int?, bestIoU: Float = 0
            for (q, e) in quantized.enumerated() where !taken[q] && e.classID == d.classID {
                let iou = boxIoU((d.x1, d.y1, d.x2, d.y2), (e.x1, e.y1, e.x2, e.y2))
                guard iou >= iouThreshold else { continue }
                if let current = best {
                    guard iou > bestIoU || (iou == bestIoU && e.confidence > quantized[current].confidence) else { continue }
                }
                best = q
                bestIoU = iou
            }
            if let q = best {
                taken[q] = true
                matches.append(DetectionMatch(baseline: b, quantized: q, iou: bestIoU,
                                              confidenceChange: quantized[q].confidence - d.confidence))
            }
        }
        self.matches = matches
    }
}

/// Detection agreement over many images: the per-image figures pooled.
public struct ComparisonSummary: Equatable, Sendable {
    public var images: [ImageComparison]

    public init(images: [ImageComparison]) {
        self.images = images
    }

    public var baselineCount: Int { images.reduce(0) { $0 + $1.baselineCount } }
    public var quantizedCount: Int { images.reduce(0) { $0 + $1.quantizedCount } }
    public var matched: Int { images.reduce(0) { $0 + $1.matches.count } }
    public var missed: Int { baselineCount - matched }
    public var extra: Int { quantizedCount - matched }
    /// Matched / baseline detections (1 when the baseline has none and neither has the
    /// quantized model).
    public var matchRate: Double {
        baselineCount == 0 ? (quantizedCount == 0 ? 1 : 0) : Double(matched) / Double(baselineCount)
    }
    var allMatches: [DetectionMatch] { images.flatMap(\.matches) }
    public var meanIoU: Double? {
        let m = allMatches
        return m.isEmpty ? nil : m.reduce(0) { $0 + Double($1.iou) } / Double(m.count)
    }
    public var meanAbsConfidenceChange: Double? {
        let m = allMatches
        return m.isEmpty ? nil : m.reduce(0) { $0 + Double(abs($1.confidenceChange)) } / Double(m.count)
    }
    public var maxAbsConfidenceChange: Double? { allMatches.map { Double(abs($0.confidenceChange)) }.max() }

    /// The comparison of the detections with confidence above `threshold`, matched anew.
    /// Detections kept by NMS at a lower threshold and then filtered equal those NMS keeps at
    /// `threshold` (NMS visits boxes in descending confidence, so a box below the threshold
    /// never suppresses one above it, and the caps keep the same leading boxes): `compare
    /// --report` runs NMS once at a low threshold and derives every higher one this way.
    public func keeping(confidenceAbove threshold: Float) -> ComparisonSummary {
        ComparisonSummary(images: images.map { c in
            ImageComparison(image: c.image, baseline: c.baseline.filter { $0.confidence > threshold },
                            quantized: c.quantized.filter { $0.confidence > threshold }, iouThreshold: c.iouThreshold)
        })
    }
}
