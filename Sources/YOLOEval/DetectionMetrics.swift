/// Precision, recall and AP of one class (a class that has labels).
public struct ClassMetrics: Equatable, Sendable {
    public var classID: Int
    /// Labels of this class in the split.
    public var labels: Int
    /// Detections of this class that entered the statistics.
    public var detections: Int
    /// Precision and recall at the operating point (see `DetectionMetrics`).
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// AP at each of `iouThresholds`.
    public var ap: [Double]
    /// AP at IoU 0.5.
    public var ap50: Double { ap[0] }
    /// The mean of `ap` (official `ap.mean(1)`).
    public var ap50to95: Double

    public init(classID: Int, labels: Int, detections: Int, precision: Double, recall: Double, f1: Double, ap: [Double]) {
        self.classID = classID
        self.labels = labels
        self.detections = detections
        self.precision = precision
        self.recall = recall
        self.f1 = f1
        self.ap = ap
        self.ap50to95 = NumPyMath.mean(ap)
    }
}

/// The figures official test.py prints, computed as its `ap_per_class` / `compute_ap`
/// (utils/metrics.py) compute them:
/// - detections of all images sorted by descending confidence (stable here; NumPy's quicksort
///   may order exact ties differently, which can move AP in the last digits);
/// - per class with labels: cumulative TP/FP, recall = TP / labels, precision = TP / (TP + FP);
///   AP per IoU threshold from the precision envelope sampled at 101 recall points
///   (COCO 'interp'), the recall curve ending at `last recall + 0.01` (not the v5 metric);
/// - P and R of each class sampled on a grid of 1000 confidences; the operating point is the
///   grid index where the mean over classes of F1 is largest, the same index for all classes;
/// - mAP and the mean P, R over the classes that have labels (a class with labels but no
///   detections counts as 0; classes with detections but no labels are left out);
/// - when no detection is correct at any threshold, all figures are 0 (as test.py).
public struct DetectionMetrics: Equatable, Sendable {
    public var images: Int
    public var labels: Int
    /// Classes that have labels, ascending id.
    public var classes: [ClassMetrics]
    public var precision: Double
    public var recall: Double
    public var mAP50: Double
    public var mAP50to95: Double

    public init(statistics: [ImageStatistics], images: Int) {
        self.images = images
        var correct: [UInt16] = [], confidence: [Float] = [], predicted: [Int] = [], targets: [Int] = []
        for s in statistics {
            correct += s.correct
            confidence += s.confidence
            predicted += s.predictedClass
            targets += s.labelClasses
        }
        labels = targets.count
        var labelCounts: [Int: Int] = [:]
        for t in targets { labelCounts[t, default: 0] += 1 }
        let classIDs = labelCounts.keys.sorted()

        guard correct.contains(where: { $0 != 0 }) else {
            classes = classIDs.map { c in
                ClassMetrics(classID: c, labels: labelCounts[c]!, detections: predicted.filter { $0 == c }.count,
                             precision: 0, recall: 0, f1: 0, ap: [Double](repeating: 0, count: iouThresholds.count))
            }
            precision = 0
            recall = 0
            mAP50 = 0
            mAP50to95 = 0
            return
        }

        let order = confidence.indices.sorted { confidence[$0] > confidence[$1] || (confidence[$0] == confidence[$1] && $0 < $1) }
        let grid = NumPyMath.unitLinspace(1000)
        let negGrid = grid.map { -$0 }
        var pCurves: [[Double]] = [], rCurves: [[Double]] = []
        var aps: [[Double]] = [], counts: [Int] = []
        for c in classIDs {
            let mine = order.filter { predicted[$0] == c }
            let nl = labelCounts[c]!
            counts.append(mine.count)
            guard !mine.isEmpty else {
                pCurves.append([Double](repeating: 0, count: grid.count))
                rCurves.append([Double](repeating: 0, count: grid.count))
                aps.append([Double](repeating: 0, count: iouThresholds.count))
                continue
            }
            let negConf = mine.map { -Double(confidence[$0]) }
            var ap: [Double] = []
            for k in iouThresholds.indices {
                var tp = 0, fp = 0
                var recall: [Double] = [], precision: [Double] = []
                recall.reserveCapacity(mine.count)
                precision.reserveCapacity(mine.count)
                for i in mine {
                    if correct[i] & (1 << UInt16(k)) != 0 { tp += 1 } else { fp += 1 }
                    recall.append(Double(tp) / (Double(nl) + 1e-16))
                    precision.append(Double(tp) / Double(tp + fp))
                }
                if k == 0 {
                    rCurves.append(negGrid.map { NumPyMath.interp($0, negConf, recall, left: 0) })
                    pCurves.append(negGrid.map { NumPyMath.interp($0, negConf, precision, left: 1) })
                }
                ap.append(Self.averagePrecision(recall: recall, precision: precision))
            }
            aps.append(ap)
        }

        // F1 per class and grid point; the operating point maximises its mean over classes.
        let f1 = zip(pCurves, rCurves).map { p, r in zip(p, r).map { 2 * $0 * $1 / ($0 + $1 + 1e-16) } }
        var best = 0, bestMean = -Double.infinity
        for g in grid.indices {
            var total = 0.0
            for row in f1 { total += row[g] }
            let mean = total / Double(f1.count)
            if mean > bestMean {
                bestMean = mean
                best = g
            }
        }
        classes = classIDs.indices.map { i in
            ClassMetrics(classID: classIDs[i], labels: labelCounts[classIDs[i]]!, detections: counts[i],
                         precision: pCurves[i][best], recall: rCurves[i][best], f1: f1[i][best], ap: aps[i])
        }
        precision = NumPyMath.mean(classes.map(\.precision))
        recall = NumPyMath.mean(classes.map(\.recall))
        mAP50 = NumPyMath.mean(classes.map(\.ap50))
        mAP50to95 = NumPyMath.mean(classes.map(\.ap50to95))
    }

    /// Official `compute_ap` ('interp', not v5): the curve gets sentinels (recall 0 with
    /// precision 1 in front, `last recall + 0.01` with precision 0 at the end), precision becomes
    /// its running maximum from the right, and the area is the trapezoid rule over the envelope
    /// sampled at 101 recall points 0, 0.01, ..., 1.
    public static func averagePrecision(recall: [Double], precision: [Double]) -> Double {
        guard let last = recall.last else { return 0 }
        let mrec = [0] + recall + [last + 0.01]
        var mpre = [1] + precision + [0]
        for i in stride(from: mpre.count - 2, through: 0, by: -1) where mpre[i + 1] > mpre[i] || mpre[i + 1].isNaN {
            mpre[i] = mpre[i + 1]
        }
        let x = NumPyMath.unitLinspace(101)
        return NumPyMath.trapz(x.map { NumPyMath.interp($0, mrec, mpre) }, x)
    }
}
