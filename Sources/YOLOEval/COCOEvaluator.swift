import Foundation

/// pycocotools' `COCOeval` for boxes (`iouType='bbox'`, default parameters), step for step, so
/// that the same annotations and results give the same 12 numbers:
///
/// - `evaluate`: per image and category, detections sorted by descending score (stable) and cut
///   to 100; per area range, ground truth outside the range or crowd is ignored and sorted last
///   (stable). At each IoU threshold .50:.05:.95 every detection in turn takes the unmatched
///   ground truth of highest IoU >= the threshold (crowd boxes stay available; once matched to
///   a regular box it does not move to an ignored one); a detection matched to an ignored box,
///   or unmatched and outside the area range, is ignored. IoU is pycocotools' `bbIou`: boxes as
///   x, y, w, h, a crowd box's "union" being the detection's own area.
/// - `accumulate`: per category, area range and maxDets (1, 10, 100), every image's first
///   maxDets detections pooled, sorted by score (stable), cumulative TP/FP; recall = TP / the
///   ground truth not ignored, precision made non-increasing from the right and read at 101
///   recall points (`searchsorted`, zero past the last recall reached); -1 where a category has
///   no ground truth in the range.
/// - `summarize`: each of the 12 numbers the mean of the entries above -1, or -1.
///
/// Quirks kept on purpose: a match is stored as the ground truth's `id`, so a ground-truth
/// annotation with id 0 counts as unmatched when it is matched (as in pycocotools); results
/// for categories that the annotations do not list are ignored.
public struct COCOEvaluator: Sendable {
    public let annotations: COCOAnnotations

    public init(annotations: COCOAnnotations) {
        self.annotations = annotations
    }

    /// `Params.setDetParams`.
    static let iouThresholds = NumPyMath.linspace(0.5, 0.95, 10)
    static let recallThresholds = NumPyMath.linspace(0, 1, 101)
    static let maxDetections = [1, 10, 100]
    static let areaRanges: [ClosedRange<Double>] = [0...1e10, 0...1024, 1024...9216, 9216...1e10]

    /// The 12 metrics of `results`, which must name only images of the annotations (as
    /// pycocotools' `loadRes` requires); `resultsPath` names them in errors. An empty list
    /// scores 0 (pycocotools' `loadRes` cannot read one).
    public func evaluate(_ results: [COCOResult], resultsPath: String = "results") throws -> COCOMetrics {
        let imageIDs = Array(Set(annotations.images.map(\.id))).sorted()
        let categoryIDs = Array(Set(annotations.categories.map(\.id))).sorted()
        let imageIndex = Dictionary(uniqueKeysWithValues: imageIDs.enumerated().map { ($1, $0) })
        let categoryIndex = Dictionary(uniqueKeysWithValues: categoryIDs.enumerated().map { ($1, $0) })
        if let bad = results.firstIndex(where: { imageIndex[$0.imageID] == nil }) {
            throw EvalError.cocoMismatch(path: resultsPath, reason: "result \(bad) has image_id \(results[bad].imageID), which is not among the images of \(annotations.path)")
        }

        // Ground truth and detections per (category, image), in file order.
        let cells = categoryIDs.count * imageIDs.count
        var truth = [[Int]](repeating: [], count: cells), found = [[Int]](repeating: [], count: cells)
        for (i, a) in annotations.annotations.enumerated() {
            guard let k = categoryIndex[a.categoryID], let n = imageIndex[a.imageID] else { continue }
            truth[k * imageIDs.count + n].append(i)
        }
        for (i, r) in results.enumerated() {
            guard let k = categoryIndex[r.categoryID], let n = imageIndex[r.imageID] else { continue }
            found[k * imageIDs.count + n].append(i)
        }

        // evaluate(): [category][area][image]
        var evaluated = [[[ImageResult?]]](repeating: [[ImageResult?]](repeating: [], count: Self.areaRanges.count),
                                           count: categoryIDs.count)
        for k in categoryIDs.indices {
            for n in imageIDs.indices {
                let gts = truth[k * imageIDs.count + n].map { annotations.annotations[$0] }
                let dts = found[k * imageIDs.count + n].map { (id: $0 + 1, result: results[$0]) }  // loadRes: id = position + 1
                let perArea = Self.evaluateImage(truth: gts, detections: dts)
                for a in Self.areaRanges.indices { evaluated[k][a].append(perArea?[a]) }
            }
        }

        // accumulate(): precision [T][R][K][A][M], recall [T][K][A][M]
        let T = Self.iouThresholds.count, R = Self.recallThresholds.count, K = categoryIDs.count
        let A = Self.areaRanges.count, M = Self.maxDetections.count
        var precision = [Double](repeating: -1, count: T * R * K * A * M)
        var recall = [Double](repeating: -1, count: T * K * A * M)
        for k in 0..<K {
            for a in 0..<A {
                let images = evaluated[k][a].compactMap { $0 }
                guard !images.isEmpty else { continue }
                for (m, maxDet) in Self.maxDetections.enumerated() {
                    let curves = Self.accumulate(images, maxDetections: maxDet)
                    guard let curves else { continue }
                    for t in 0..<T {
                        recall[((t * K + k) * A + a) * M + m] = curves.recall[t]
                        for r in 0..<R { precision[(((t * R + r) * K + k) * A + a) * M + m] = curves.precision[t][r] }
                    }
                }
            }
        }

        // summarize()
        func mean(ap: Bool, iou: Double? = nil, area: Int = 0, maxDet: Int = 100) -> Double {
            let m = Self.maxDetections.firstIndex(of: maxDet)!
            let ts = iou.map { v in Self.iouThresholds.indices.filter { Self.iouThresholds[$0] == v } } ?? Array(0..<T)
            var values: [Double] = []  // C order of the selected array: t, then r, then k
            for t in ts {
                if ap {
                    for r in 0..<R {
                        for k in 0..<K { values.append(precision[(((t * R + r) * K + k) * A + area) * M + m]) }
                    }
                } else {
                    for k in 0..<K { values.append(recall[((t * K + k) * A + area) * M + m]) }
                }
            }
            let kept = values.filter { $0 > -1 }
            return kept.isEmpty ? -1 : NumPyMath.mean(kept)
        }
        let stats = [
            mean(ap: true), mean(ap: true, iou: 0.5), mean(ap: true, iou: 0.75),
            mean(ap: true, area: 1), mean(ap: true, area: 2), mean(ap: true, area: 3),
            mean(ap: false, maxDet: 1), mean(ap: false, maxDet: 10), mean(ap: false),
            mean(ap: false, area: 1), mean(ap: false, area: 2), mean(ap: false, area: 3),
        ]
        return COCOMetrics(stats: stats, annotations: annotations.path)
    }

    /// `evaluateImg` for one image and category, for every area range; nil when there is
    /// neither ground truth nor detection.
    struct ImageResult {
        /// Scores of the (at most 100) detections, descending.
        var scores: [Double]
        /// Per IoU threshold and detection: matched (to a ground truth whose id is not 0).
        var matched: [[Bool]]
        /// Per IoU threshold and detection: ignored.
        var ignored: [[Bool]]
        /// Per ground truth: ignored.
        var truthIgnored: [Bool]
    }

    static func evaluateImage(truth: [COCOAnnotations.Annotation], detections all: [(id: Int, result: COCOResult)])
        -> [ImageResult]? {
        guard !truth.isEmpty || !all.isEmpty else { return nil }
        let order = all.indices.sorted { all[$0].result.score > all[$1].result.score || (all[$0].result.score == all[$1].result.score && $0 < $1) }
        let dts = order.prefix(maxDetections.last!).map { all[$0] }
        let ious = dts.map { d in truth.map { g in boxIoU(d.result.bbox, g.bbox, crowd: g.isCrowd) } }  // [D][G]

        return areaRanges.map { range in
            let ignore = truth.map { $0.isCrowd || !range.contains($0.area) }
            let gtOrder = truth.indices.sorted { (ignore[$0] ? 1 : 0, $0) < (ignore[$1] ? 1 : 0, $1) }
            let gtIgnore = gtOrder.map { ignore[$0] }
            var matched = [[Bool]](), ignored = [[Bool]]()
            for t in iouThresholds {
                var truthTaken = [Bool](repeating: false, count: gtOrder.count)
                var dtMatch = [Int](repeating: 0, count: dts.count)  // the ground truth's id, 0 = none
                var dtIgnore = [Bool](repeating: false, count: dts.count)
                if !dts.isEmpty && !truth.isEmpty {
                    for d in dts.indices {
                        var best = min(t, 1 - 1e-10), m = -1
                        for (g, original) in gtOrder.enumerated() {
                            if truthTaken[g] && !truth[original].isCrowd { continue }
                            if m > -1 && !gtIgnore[m] && gtIgnore[g] { break }
                            let iou = ious[d][original]
                            if iou < best { continue }
                            best = iou
                            m = g
                        }
                        guard m > -1 else { continue }
                        dtIgnore[d] = gtIgnore[m]
                        dtMatch[d] = truth[gtOrder[m]].id
                        truthTaken[m] = true
                    }
                }
                // Unmatched detections outside the area range are ignored.
                for d in dts.indices where dtMatch[d] == 0 {
                    let area = dts[d].result.bbox[2] * dts[d].result.bbox[3]
                    if !range.contains(area) { dtIgnore[d] = true }
                }
                matched.append(dtMatch.map { $0 != 0 })
                ignored.append(dtIgnore)
            }
            return ImageResult(scores: dts.map(\.result.score), matched: matched, ignored: ignored, truthIgnored: gtIgnore)
        }
    }

    /// pycocotools' `bbIou` (maskApi.c): x, y, w, h boxes in double; a crowd box's union is the
    /// detection's area.
    static func boxIoU(_ d: [Double], _ g: [Double], crowd: Bool) -> Double {
        let w = min(d[2] + d[0], g[2] + g[0]) - max(d[0], g[0])
        guard w > 0 else { return 0 }
        let h = min(d[3] + d[1], g[3] + g[1]) - max(d[1], g[1])
        guard h > 0 else { return 0 }
        let inter = w * h
        let da = d[2] * d[3], ga = g[2] * g[3]
        return inter / (crowd ? da : da + ga - inter)
    }

    /// `accumulate` for one category, area range and maxDets: recall and the 101-point
    /// precision per IoU threshold; nil when no ground truth counts.
    static func accumulate(_ images: [ImageResult], maxDetections maxDet: Int) -> (recall: [Double], precision: [[Double]])? {
        let npig = images.reduce(0) { $0 + $1.truthIgnored.filter { !$0 }.count }
        guard npig > 0 else { return nil }
        var scores: [Double] = []
        var matched = [[Bool]](repeating: [], count: iouThresholds.count)
        var ignored = [[Bool]](repeating: [], count: iouThresholds.count)
        for image in images {
            let n = min(maxDet, image.scores.count)
            scores += image.scores.prefix(n)
            for t in iouThresholds.indices {
                matched[t] += image.matched[t].prefix(n)
                ignored[t] += image.ignored[t].prefix(n)
            }
        }
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        var recall: [Double] = [], precision: [[Double]] = []
        for t in iouThresholds.indices {
            var tp = 0.0, fp = 0.0
            var rc: [Double] = [], pr: [Double] = []
            rc.reserveCapacity(order.count)
            pr.reserveCapacity(order.count)
            for i in order {
                if !ignored[t][i] {
                    if matched[t][i] { tp += 1 } else { fp += 1 }
                }
                rc.append(tp / Double(npig))
                pr.append(tp / (fp + tp + Double.ulpOfOne))  // np.spacing(1)
            }
            recall.append(rc.last ?? 0)
            if pr.count > 1 {
                for i in stride(from: pr.count - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] }
            }
            var q = [Double](repeating: 0, count: recallThresholds.count)
            var lo = 0
            for (r, threshold) in recallThresholds.enumerated() {
                // searchsorted(rc, threshold, side='left'): the first index with rc >= threshold.
                while lo < rc.count && rc[lo] < threshold { lo += 1 }
                guard lo < rc.count else { break }
                q[r] = pr[lo]
            }
            precision.append(q)
        }
        return (recall, precision)
    }
}
