import YOLOTensor

/// One detected object: class, confidence and corner box (x1, y1, x2, y2) in pixels of
/// whichever image the boxes currently refer to (letterboxed after NMS, original after
/// `BoxTransform.apply`).
public struct Detection: Equatable, Sendable {
    public var classID: Int
    public var confidence: Float
    public var x1: Float
    public var y1: Float
    public var x2: Float
    public var y2: Float

    public init(classID: Int, confidence: Float, x1: Float, y1: Float, x2: Float, y2: Float) {
        self.classID = classID
        self.confidence = confidence
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    public var box: [Float] { [x1, y1, x2, y2] }
}

/// The settings of official `non_max_suppression` (utils/general.py).
public struct NMSOptions: Equatable, Sendable {
    /// Candidates need objectness > this, and detections a score > this.
    public var confThreshold: Float
    /// Boxes overlapping a kept box with IoU > this are suppressed.
    public var iouThreshold: Float
    /// Keep only these class ids (nil: all).
    public var classes: [Int]?
    /// Suppress across classes too.
    public var agnostic: Bool
    /// One detection per (box, class) with score > threshold instead of the best class only
    /// (ignored when the model has one class, as officially).
    public var multiLabel: Bool
    /// Official `max_det`.
    public var maxDetections: Int
    /// Official `max_nms`: at most this many highest-scoring boxes enter NMS.
    public var maxNMS: Int

    public init(confThreshold: Float = 0.25, iouThreshold: Float = 0.45, classes: [Int]? = nil,
                agnostic: Bool = false, multiLabel: Bool = false, maxDetections: Int = 300,
                maxNMS: Int = 30000) {
        self.confThreshold = confThreshold
        self.iouThreshold = iouThreshold
        self.classes = classes
        self.agnostic = agnostic
        self.multiLabel = multiLabel
        self.maxDetections = maxDetections
        self.maxNMS = maxNMS
    }

    /// detect.py's defaults.
    public static let detect = NMSOptions()
    /// test.py's settings for mAP (DESIGN section 5).
    public static let eval = NMSOptions(confThreshold: 0.001, iouThreshold: 0.65, multiLabel: true)
}

/// Official `non_max_suppression` for one image. `prediction` is `[rows, 5 + nc]` (or
/// `[1, rows, 5 + nc]`): box centre x, y, width, height in letterboxed pixels, objectness, class
/// probabilities. Returns detections sorted by descending confidence, boxes in letterboxed
/// pixels. Arithmetic is float32 as in the official tensors, including the class offset of 4096
/// per class added to the boxes before IoU (which rounds their coordinates the same way).
public func nonMaxSuppression(_ prediction: Tensor, options: NMSOptions = .detect) -> [Detection] {
    let shape = prediction.shape
    precondition((shape.count == 2 || (shape.count == 3 && shape[0] == 1)) && shape.last! > 5,
                 "nonMaxSuppression: expected [rows, 5+nc] or [1, rows, 5+nc], got \(shape)")
    let columns = shape.last!
    let rows = shape.count == 2 ? shape[0] : shape[1]
    return nonMaxSuppression(prediction.data, rows: rows, columns: columns, options: options)
}

/// The same on a flat row-major buffer.
public func nonMaxSuppression(_ values: [Float], rows: Int, columns: Int,
                              options: NMSOptions = .detect) -> [Detection] {
    let nc = columns - 5
    precondition(nc >= 1 && values.count >= rows * columns, "nonMaxSuppression: bad prediction layout")
    let multiLabel = options.multiLabel && nc > 1
    var candidates: [Detection] = []

    for r in 0..<rows {
        let row = values[(r * columns)..<((r + 1) * columns)]
        let base = row.startIndex
        let obj = row[base + 4]
        guard obj > options.confThreshold else { continue }
        // xywh2xyxy in float32.
        let x = row[base], y = row[base + 1], w = row[base + 2], h = row[base + 3]
        let box = (x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        func add(_ cls: Int, _ conf: Float) {
            candidates.append(Detection(classID: cls, confidence: conf, x1: box.0, y1: box.1, x2: box.2, y2: box.3))
        }
        // One-class models: the class probability is meaningless (always about 0.5), so the
        // official code uses objectness alone as the score.
        let score: (Int) -> Float = nc == 1 ? { _ in obj } : { row[base + 5 + $0] * obj }
        if multiLabel {
            for c in 0..<nc where score(c) > options.confThreshold { add(c, score(c)) }
        } else {
            var best = 0, bestScore = score(0)
            for c in 1..<max(nc, 1) where score(c) > bestScore {
                best = c
                bestScore = score(c)
            }
            if bestScore > options.confThreshold { add(best, bestScore) }
        }
    }
    if let classes = options.classes {
        candidates = candidates.filter { classes.contains($0.classID) }
    }
    guard !candidates.isEmpty else { return [] }

    // Descending score; stable so that equal scores keep row order (torch's sort is stable).
    var order = Array(candidates.indices)
    order.sort { candidates[$0].confidence > candidates[$1].confidence }
    if order.count > options.maxNMS { order.removeLast(order.count - options.maxNMS) }

    // torchvision.ops.nms on class-offset boxes: greedy, areas without +1, suppress IoU > thr.
    let offset: (Detection) -> Float = { options.agnostic ? 0 : Float($0.classID) * 4096 }
    let boxes = order.map { i -> (Float, Float, Float, Float) in
        let d = candidates[i], c = offset(d)
        return (d.x1 + c, d.y1 + c, d.x2 + c, d.y2 + c)
    }
    let areas = boxes.map { ($0.2 - $0.0) * ($0.3 - $0.1) }
    var suppressed = [Bool](repeating: false, count: boxes.count)
    var kept: [Detection] = []
    for i in boxes.indices where !suppressed[i] {
        kept.append(candidates[order[i]])
        if kept.count == options.maxDetections { break }
        let a = boxes[i]
        for j in (i + 1)..<boxes.count where !suppressed[j] {
            let b = boxes[j]
            let w = max(0, min(a.2, b.2) - max(a.0, b.0))
            let h = max(0, min(a.3, b.3) - max(a.1, b.1))
            let inter = w * h
            if inter / (areas[i] + areas[j] - inter) > options.iouThreshold { suppressed[j] = true }
        }
    }
    return kept
}
