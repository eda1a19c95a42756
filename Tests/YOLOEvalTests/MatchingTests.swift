import Testing
import YOLOVision
@testable import YOLOEval

/// test.py's per-image matching.
@Suite struct MatchingTests {
    func det(_ cls: Int, _ conf: Float, _ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) -> Detection {
        Detection(classID: cls, confidence: conf, x1: x1, y1: y1, x2: x2, y2: y2)
    }

    @Test func boxIoUAsOfficial() {
        #expect(boxIoU((0, 0, 10, 10), (0, 0, 10, 10)) == 1)
        #expect(boxIoU((0, 0, 10, 10), (5, 0, 15, 10)) == Float(50) / 150)
        #expect(boxIoU((0, 0, 10, 10), (20, 20, 30, 30)) == 0)
        #expect(boxIoU((0, 0, 0, 0), (0, 0, 0, 0)).isNaN)
    }

    @Test func perfectBoxIsCorrectAtEveryThreshold() {
        let s = ImageStatistics(detections: [det(0, 0.9, 0, 0, 10, 10)], labels: [LabelBox(classID: 0, x1: 0, y1: 0, x2: 10, y2: 10)])
        #expect(s.correct == [0x3FF])
        #expect(s.labelClasses == [0])
    }

    @Test func iouDecidesWhichThresholdsCount() {
        // IoU 0.72 (x-overlap 0.72 * 10 of same-height boxes... chosen as 8.372 / 11.628).
        let label = LabelBox(classID: 0, x1: 0, y1: 0, x2: 10, y2: 10)
        let shift: Float = 10 * (1 - 0.72) / (1 + 0.72)
        let s = ImageStatistics(detections: [det(0, 0.9, shift, 0, 10 + shift, 10)], labels: [label])
        let iou = boxIoU((shift, 0, 10 + shift, 10), (0, 0, 10, 10))
        #expect(abs(iou - 0.72) < 1e-5)
        #expect(s.correct == [0b11111]) // > 0.50, 0.55, 0.60, 0.65, 0.70
    }

    @Test func duplicateIsFalsePositive() {
        let label = LabelBox(classID: 0, x1: 0, y1: 0, x2: 10, y2: 10)
        let s = ImageStatistics(detections: [det(0, 0.9, 0, 0, 10, 10), det(0, 0.8, 0, 0, 10, 10)], labels: [label])
        #expect(s.correct == [0x3FF, 0])
    }

    @Test func wrongClassNeverMatches() {
        let label = LabelBox(classID: 1, x1: 0, y1: 0, x2: 10, y2: 10)
        let s = ImageStatistics(detections: [det(0, 0.9, 0, 0, 10, 10)], labels: [label])
        #expect(s.correct == [0])
    }

    @Test func crowdedSameClassKeepsTheOfficialQuirk() {
        // Two overlapping labels A and B. The second detection's best label is A, already taken
        // by the first: it stays a false positive although its IoU with B is > 0.5.
        let a = LabelBox(classID: 0, x1: 0, y1: 0, x2: 10, y2: 10)
        let b = LabelBox(classID: 0, x1: 2, y1: 0, x2: 12, y2: 10)
        let d1 = det(0, 0.9, 0, 0, 10, 10)
        let d2 = det(0, 0.8, 0.5, 0, 10.5, 10) // IoU with A 0.905, with B 0.739
        let s = ImageStatistics(detections: [d1, d2], labels: [a, b])
        #expect(s.correct == [0x3FF, 0])
        // A detection whose best label is B takes B.
        let d3 = det(0, 0.7, 1.8, 0, 11.8, 10)
        let t = ImageStatistics(detections: [d1, d3], labels: [a, b])
        #expect(t.correct[0] == 0x3FF && t.correct[1] != 0)
    }

    @Test func belowHalfIoUIsNotAMatch() {
        let label = LabelBox(classID: 0, x1: 0, y1: 0, x2: 10, y2: 10)
        let s = ImageStatistics(detections: [det(0, 0.9, 5, 0, 15, 10)], labels: [label]) // IoU 1/3
        #expect(s.correct == [0])
    }
}
