import Testing
import YOLOVision
@testable import YOLOEval

/// ap_per_class / compute_ap on hand-made cases. Expected values are what the official
/// utils/metrics.py returns for the same inputs (worked out in the comments).
@Suite struct AveragePrecisionTests {
    /// Statistics of one image whose detections are TP at all thresholds or at none.
    func stats(_ tp: [Bool], _ conf: [Float], _ cls: [Int], labels: [Int]) -> ImageStatistics {
        ImageStatistics(correct: tp.map { $0 ? 0x3FF : 0 }, confidence: conf, predictedClass: cls, labelClasses: labels)
    }

    @Test func onePerfectBoxHasAPOne() {
        let m = DetectionMetrics(statistics: [stats([true], [0.9], [0], labels: [0])], images: 1)
        #expect(m.mAP50 == 1)
        #expect(m.mAP50to95 == 1)
        #expect(m.precision == 1)
        #expect(m.recall == 1)
        #expect(m.labels == 1 && m.images == 1)
        #expect(m.classes.map(\.classID) == [0])
    }

    @Test func duplicateDetectionIsAFalsePositiveAtTheTail() {
        // recall [1, 1], precision [1, 0.5]: the envelope is 1 up to recall 1 where the last
        // sample (x = 1.0) reads 0.5, so AP = 0.99 + 0.01 * (1 + 0.5) / 2 = 0.9975.
        let m = DetectionMetrics(statistics: [stats([true, false], [0.9, 0.8], [0, 0], labels: [0])], images: 1)
        #expect(abs(m.mAP50 - 0.9975) < 1e-15)
        // The 10-threshold mean is summed pairwise as NumPy does: 0.9975000000000002.
        #expect(m.mAP50to95 == 0.9975000000000002)
        #expect(m.recall == 1)
        #expect(m.precision < 1 && abs(m.precision - 0.9994996185298388) < 1e-12)
    }

    @Test func aMissLowersRecall() {
        // recall 0.5 with precision 1, then 0 from recall 0.51: AP = 0.5 + 0.005.
        let m = DetectionMetrics(statistics: [stats([true], [0.9], [0], labels: [0, 0])], images: 1)
        #expect(abs(m.mAP50 - 0.505) < 1e-12)
        #expect(m.recall == 0.5)
        #expect(m.precision == 1)
    }

    @Test func classesWithoutLabelsAreLeftOut() {
        let m = DetectionMetrics(statistics: [stats([true, false], [0.9, 0.8], [0, 2], labels: [0])], images: 1)
        #expect(m.classes.map(\.classID) == [0])
        #expect(m.mAP50 == 1)
        #expect(m.precision == 1)
    }

    @Test func classWithLabelsButNoDetectionsHasAPZero() {
        let m = DetectionMetrics(statistics: [stats([true], [0.9], [0], labels: [0, 1])], images: 1)
        #expect(m.classes.map(\.classID) == [0, 1])
        #expect(m.classes[1].ap == [Double](repeating: 0, count: 10))
        #expect(m.classes[1].detections == 0)
        #expect(m.mAP50 == 0.5)
        #expect(m.precision == 0.5 && m.recall == 0.5)
    }

    @Test func thresholdsAreIndependent() {
        // TP at IoU 0.50...0.70 only: AP 1 at 5 thresholds, 0 at the others.
        let s = ImageStatistics(correct: [0b11111], confidence: [0.9], predictedClass: [0], labelClasses: [0])
        let m = DetectionMetrics(statistics: [s], images: 1)
        #expect(m.classes[0].ap == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
        #expect(m.mAP50 == 1 && m.mAP50to95 == 0.5)
    }

    @Test func nothingCorrectGivesZeros() {
        let m = DetectionMetrics(statistics: [stats([false], [0.9], [0], labels: [0])], images: 1)
        #expect(m.mAP50 == 0 && m.mAP50to95 == 0 && m.precision == 0 && m.recall == 0)
        #expect(m.classes.count == 1 && m.labels == 1)
    }

    @Test func imagesWithoutDetectionsStillCountTheirLabels() {
        let a = stats([true], [0.9], [0], labels: [0])
        let b = stats([], [], [], labels: [0])
        let m = DetectionMetrics(statistics: [a, b], images: 2)
        #expect(m.labels == 2)
        #expect(m.recall == 0.5)
    }

    @Test func numpyInterpSemantics() {
        let xp: [Double] = [0, 1, 1, 2], fp: [Double] = [0, 10, 20, 30]
        #expect(NumPyMath.interp(-1, xp, fp) == 0)
        #expect(NumPyMath.interp(-1, xp, fp, left: 7) == 7)
        #expect(NumPyMath.interp(3, xp, fp) == 30)
        #expect(NumPyMath.interp(3, xp, fp, right: -1) == -1)
        // At a repeated xp, the value of its last occurrence.
        #expect(NumPyMath.interp(1, xp, fp) == 20)
        #expect(NumPyMath.interp(0.5, xp, fp) == 5)
        #expect(NumPyMath.interp(1.5, xp, fp) == 25)
        #expect(NumPyMath.interp(2, xp, fp) == 30)
    }

    @Test func pairwiseSumMatchesNumPyGrouping() {
        // Ten values: eight accumulators combined as a tree, then the rest in order.
        let a: [Double] = [1e16, 1, -1e16, 1, 1, 1, 1, 1, 1, 1]
        let r = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])) + a[8] + a[9]
        #expect(NumPyMath.sum(a) == r)
        #expect(NumPyMath.sum([1, 2, 3]) == 6)
        #expect(NumPyMath.unitLinspace(101)[100] == 1)
        #expect(NumPyMath.unitLinspace(101)[50] == 0.5)
    }
}
