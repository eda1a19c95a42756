/// Detection agreement of one class over many images (matches always pair boxes of one class).
public struct ClassAgreement: Equatable, Sendable {
    public var classID: Int
    public var baselineBoxes = 0
    public var quantizedBoxes = 0
    public var matched = 0
    public var iouSum = 0.0
    public var absConfidenceChangeSum = 0.0
    public var maxAbsConfidenceChange: Double?

    public var missed: Int { baselineBoxes - matched }
    public var extra: Int { quantizedBoxes - matched }
    /// Matched / baseline boxes (1 when neither model has a box of the class).
    public var matchRate: Double {
        baselineBoxes == 0 ? (quantizedBoxes == 0 ? 1 : 0) : Double(matched) / Double(baselineBoxes)
    }
    public var meanIoU: Double? { matched == 0 ? nil : iouSum / Double(matched) }
    public var meanAbsConfidenceChange: Double? { matched == 0 ? nil : absConfidenceChangeSum / Double(matched) }

    /// The classes either model detected, ascending id.
    public static func perClass(_ summary: ComparisonSummary) -> [ClassAgreement] {
        var byClass: [Int: ClassAgreement] = [:]
        for image in summary.images {
            for d in image.baseline { byClass[d.classID, default: ClassAgreement(classID: d.classID)].baselineBoxes += 1 }
            for d in image.quantized { byClass[d.classID, default: ClassAgreement(classID: d.classID)].quantizedBoxes += 1 }
            for m in image.matches {
                let c = image.baseline[m.baseline].classID, change = Double(abs(m.confidenceChange))
                byClass[c]!.matched += 1
                byClass[c]!.iouSum += Double(m.iou)
                byClass[c]!.absConfidenceChangeSum += change
                byClass[c]!.maxAbsConfidenceChange = max(byClass[c]!.maxAbsConfidenceChange ?? 0, change)
            }
        }
        return byClass.keys.sorted().map { byClass[$0]! }
    }
}
