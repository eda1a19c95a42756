import YOLOVision

/// The IoU thresholds of mAP@0.5:0.95: official `torch.linspace(0.5, 0.95, 10)`, float32
/// (each equals the float32 literal).
public let iouThresholds: [Float] = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]

/// A labelled object in pixels: class and corners (x1, y1, x2, y2).
public struct LabelBox: Equatable, Sendable {
    public var classID: Int
    public var x1: Float
    public var y1: Float
    public var x2: Float
    public var y2: Float

    public init(classID: Int, x1: Float, y1: Float, x2: Float, y2: Float) {
        self.classID = classID
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }
}

/// Official `box_iou` for one pair, float32 as the official tensors: areas without +1, the
/// intersection clamped at 0, `inter / (area1 + area2 - inter)` (NaN for two empty boxes).
public func boxIoU(_ a: (Float, Float, Float, Float), _ b: (Float, Float, Float, Float)) -> Float {
    let areaA = (a.2 - a.0) * (a.3 - a.1)
    let areaB = (b.2 - b.0) * (b.3 - b.1)
    let w = max(min(a.2, b.2) - max(a.0, b.0), 0)
    let h = max(min(a.3, b.3) - max(a.1, b.1), 0)
    let inter = w * h
    return inter / (areaA + areaB - inter)
}

/// What one image contributes to `ap_per_class`: per detection, whether it is a true positive
/// at each IoU threshold, its confidence and class; and the classes of the image's labels.
public struct ImageStatistics: Equatable, Sendable {
    /// Bit k set: a true positive at `iouThresholds[k]`.
    public var correct: [UInt16]
    public var confidence: [Float]
    public var predictedClass: [Int]
    public var labelClasses: [Int]

    public init(correct: [UInt16], confidence: [Float], predictedClass: [Int], labelClasses: [Int]) {
        self.correct = correct
        self.confidence = confidence
        self.predictedClass = predictedClass
        self.labelClasses = labelClasses
    }

    public func isCorrect(_ detection: Int, threshold k: Int) -> Bool {
        correct[detection] & (1 << UInt16(k)) != 0
    }

    /// test.py's matching of one image's detections (in NMS order, boxes in original-image
    /// pixels) to its labels. Per label class, in ascending class order: each detection of that
    /// class takes its best-IoU label of the class (the first on ties); in detection order, a
    /// detection whose best IoU is > 0.5 and whose label is not taken yet takes it, and is
    /// correct at every threshold its IoU exceeds. A detection whose best label is taken stays
    /// a false positive even if another label would do (the official quirk). Matching stops
    /// once every label of the image is taken.
    public init(detections: [Detection], labels: [LabelBox]) {
        var correct = [UInt16](repeating: 0, count: detections.count)
        var detectedCount = 0
        for cls in Set(labels.map(\.classID)).sorted() {
            let ti = labels.indices.filter { labels[$0].classID == cls }
            let pi = detections.indices.filter { detections[$0].classID == cls }
            guard !pi.isEmpty else { continue }
            var taken = Set<Int>()
            for p in pi {
                let d = detections[p]
                // torch.max(1): the first maximum, and NaN wins (it propagates).
                var best: Float = -.infinity, bestIndex = 0
                for (k, t) in ti.enumerated() {
                    let l = labels[t]
                    let iou = boxIoU((d.x1, d.y1, d.x2, d.y2), (l.x1, l.y1, l.x2, l.y2))
                    if iou.isNaN {
                        best = iou
                        bestIndex = k
                        break
                    }
                    if k == 0 || iou > best {
                        best = iou
                        bestIndex = k
                    }
                }
                guard best > iouThresholds[0] else { continue }
                let target = ti[bestIndex]
                guard taken.insert(target).inserted else { continue }
                detectedCount += 1
                var mask: UInt16 = 0
                for (k, threshold) in iouThresholds.enumerated() where best > threshold { mask |= 1 << UInt16(k) }
                correct[p] = mask
                if detectedCount == labels.count { break }
            }
        }
        self.init(correct: correct, confidence: detections.map(\.confidence),
                  predictedClass: detections.map(\.classID), labelClasses: labels.map(\.classID))
    }
}
