import YOLOVision

/// Why a box of one model has no match in the other's at the compared threshold, found by
/// looking at the other model's detections down to a lower threshold.
public enum DisagreementCause: Equatable, Sendable {
    /// The other model has a box of the same class here (IoU >= the match IoU), but with a
    /// confidence at or below the threshold.
    case belowThreshold(confidence: Float, iou: Float)
    /// The other model's box of the same class here was matched to a neighbouring box (one box
    /// where this model has two, as NMS merged them).
    case merged(iou: Float)
    /// The other model has an unmatched box of another class here.
    case relabelled(classID: Int, confidence: Float, iou: Float)
    /// The other model's nearest unmatched box of the same class overlaps too little.
    case moved(iou: Float)
    /// Nothing of the class near it, even below the threshold.
    case absent

    /// Boxes that overlap less than this are unrelated rather than moved.
    static let movedIoU: Float = 0.1
}

/// The unmatched boxes of one image with their causes.
public struct ImageDisagreements: Sendable {
    /// Indices into the compared (thresholded) baseline detections, baseline order.
    public var missed: [(index: Int, cause: DisagreementCause)]
    /// Indices into the compared quantized detections.
    public var extra: [(index: Int, cause: DisagreementCause)]

    /// `shown` is the comparison at `threshold`; `all` the same image compared down to a lower
    /// threshold, whose detection lists `shown`'s are the part above `threshold` of.
    public init(shown: ImageComparison, all: ImageComparison, threshold: Float) {
        let matchedBaseline = Set(shown.matches.map(\.baseline)), matchedQuantized = Set(shown.matches.map(\.quantized))
        // Positions in `all` of the shown boxes (the shown lists are `all`'s filtered in order).
        let baselineAll = all.baseline.indices.filter { all.baseline[$0].confidence > threshold }
        let quantizedAll = all.quantized.indices.filter { all.quantized[$0].confidence > threshold }
        let takenBaseline = Set(matchedBaseline.map { baselineAll[$0] }), takenQuantized = Set(matchedQuantized.map { quantizedAll[$0] })
        let unmatchedBaseline = Set(baselineAll).subtracting(takenBaseline)
        let unmatchedQuantized = Set(quantizedAll).subtracting(takenQuantized)
        let iou = shown.iouThreshold
        missed = shown.baseline.indices.filter { !matchedBaseline.contains($0) }.map { i in
            (i, Self.cause(of: shown.baseline[i], among: all.quantized, taken: takenQuantized, unmatched: unmatchedQuantized,
                           threshold: threshold, matchIoU: iou))
        }
        extra = shown.quantized.indices.filter { !matchedQuantized.contains($0) }.map { i in
            (i, Self.cause(of: shown.quantized[i], among: all.baseline, taken: takenBaseline, unmatched: unmatchedBaseline,
                           threshold: threshold, matchIoU: iou))
        }
    }

    /// The first cause that applies, in the order of `DisagreementCause`.
    static func cause(of box: Detection, among others: [Detection], taken: Set<Int>, unmatched: Set<Int>,
                      threshold: Float, matchIoU: Float) -> DisagreementCause {
        func overlap(_ d: Detection) -> Float { boxIoU((box.x1, box.y1, box.x2, box.y2), (d.x1, d.y1, d.x2, d.y2)) }
        let near = others.indices.map { (index: $0, detection: others[$0], iou: overlap(others[$0])) }.filter { $0.iou > 0 }
        let sameClass = near.filter { $0.detection.classID == box.classID }
        if let low = sameClass.filter({ $0.iou >= matchIoU && $0.detection.confidence <= threshold })
            .max(by: { $0.detection.confidence < $1.detection.confidence }) {
            return .belowThreshold(confidence: low.detection.confidence, iou: low.iou)
        }
        if let other = sameClass.filter({ $0.iou >= matchIoU && taken.contains($0.index) }).max(by: { $0.iou < $1.iou }) {
            return .merged(iou: other.iou)
        }
        if let other = near.filter({ $0.detection.classID != box.classID && $0.iou >= matchIoU && unmatched.contains($0.index) })
            .max(by: { $0.iou < $1.iou }) {
            return .relabelled(classID: other.detection.classID, confidence: other.detection.confidence, iou: other.iou)
        }
        if let other = sameClass.filter({ unmatched.contains($0.index) && $0.iou >= DisagreementCause.movedIoU })
            .max(by: { $0.iou < $1.iou }) {
            return .moved(iou: other.iou)
        }
        return .absent
    }
}
