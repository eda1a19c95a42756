import Testing
import YOLOVision
@testable import YOLOEval

@Suite struct ComparisonTests {
    let boxes = [
        Detection(classID: 0, confidence: 0.9, x1: 0, y1: 0, x2: 10, y2: 10),
        Detection(classID: 1, confidence: 0.8, x1: 20, y1: 20, x2: 40, y2: 40),
        Detection(classID: 0, confidence: 0.5, x1: 2, y1: 2, x2: 11, y2: 11),
    ]

    @Test func identicalSetsMatchCompletely() {
        let c = ImageComparison(image: "a.jpg", baseline: boxes, quantized: boxes)
        #expect(c.matches.count == 3 && c.missed == 0 && c.extra == 0)
        #expect(c.matches.allSatisfy { $0.baseline == $0.quantized })
        #expect(c.meanIoU == 1)
        #expect(c.meanAbsConfidenceChange == 0 && c.maxAbsConfidenceChange == 0)
        let summary = ComparisonSummary(images: [c, c])
        #expect(summary.matchRate == 1 && summary.matched == 6 && summary.missed == 0 && summary.extra == 0)
        #expect(summary.meanIoU == 1 && summary.maxAbsConfidenceChange == 0)
    }

    @Test func missedExtraAndChanges() {
        var q = boxes
        q[0].confidence = 0.85          // same box, confidence -0.05
        q[1].classID = 2                // other class: baseline box missed, this one extra
        q.remove(at: 2)                 // missed
        q.append(Detection(classID: 0, confidence: 0.3, x1: 100, y1: 100, x2: 110, y2: 110)) // extra
        let c = ImageComparison(image: "a.jpg", baseline: boxes, quantized: q)
        #expect(c.matches.count == 1)
        #expect(c.missed == 2 && c.extra == 2)
        #expect(abs(c.meanAbsConfidenceChange! - 0.05) < 1e-6)
        #expect(c.matches[0].confidenceChange < 0)
    }

    @Test func oneToOneGreedyByBaselineConfidence() {
        // One quantized box overlapping two baseline boxes goes to the more confident one.
        let base = [Detection(classID: 0, confidence: 0.4, x1: 0, y1: 0, x2: 10, y2: 10),
                    Detection(classID: 0, confidence: 0.9, x1: 1, y1: 0, x2: 11, y2: 10)]
        let quant = [Detection(classID: 0, confidence: 0.7, x1: 0, y1: 0, x2: 10, y2: 10)]
        let c = ImageComparison(image: "x", baseline: base, quantized: quant)
        #expect(c.matches.count == 1 && c.matches[0].baseline == 1)
        #expect(c.missed == 1 && c.extra == 0)
    }

    @Test func emptySets() {
        let c = ImageComparison(image: "x", baseline: [], quantized: [])
        #expect(c.meanIoU == nil && c.missed == 0 && c.extra == 0)
        #expect(ComparisonSummary(images: [c]).matchRate == 1)
    }

    @Test func reportJSONHasNullMeansAndDeltas() throws {
        let summary = ComparisonSummary(images: [ImageComparison(image: "x", baseline: boxes, quantized: [])])
        let report = ComparisonReport(baseline: "b.pt", quantized: "q.safetensors", summary: summary, iouMatch: 0.5,
                                      confThreshold: 0.25, iouThreshold: 0.45)
        let text = String(decoding: try JSONOutput.encode(report), as: UTF8.self)
        #expect(text.contains("\"mean_iou\" : null"))
        #expect(report.overall.missed == 3 && report.overall.matchRate == 0)
    }
}
