import Foundation
import Testing
import YOLOTensor
@testable import YOLOVision

/// Hand-made cases with known answers, then seeded random predictions against the official
/// `non_max_suppression` (nms.json).
struct NonMaxSuppressionTests {
    /// A raw prediction row: centre box, objectness, class probabilities.
    static func row(_ cx: Float, _ cy: Float, _ w: Float, _ h: Float, obj: Float, _ cls: [Float]) -> [Float] {
        [cx, cy, w, h, obj] + cls
    }

    static func run(_ rows: [[Float]], _ options: NMSOptions = .detect) -> [Detection] {
        let columns = rows[0].count
        return nonMaxSuppression(Tensor(shape: [rows.count, columns], data: rows.flatMap { $0 }), options: options)
    }

    @Test func overlappingSameClassIsSuppressed() {
        let out = Self.run([
            Self.row(50, 50, 40, 40, obj: 0.9, [0.9, 0.1]),
            Self.row(52, 51, 40, 40, obj: 0.95, [0.95, 0.05]), // higher score, IoU ~0.88
            Self.row(200, 200, 40, 40, obj: 0.8, [0.9, 0.1]),  // far away
        ])
        #expect(out.count == 2)
        #expect(out[0].confidence == 0.95 * 0.95 && out[0].x1 == 32 && out[0].y1 == 31)
        #expect(out[1].x1 == 180)
    }

    @Test func differentClassesAreKept() {
        let rows = [Self.row(50, 50, 40, 40, obj: 0.9, [0.9, 0.1]),
                    Self.row(50, 50, 40, 40, obj: 0.9, [0.1, 0.8])]
        let out = Self.run(rows)
        #expect(out.map(\.classID) == [0, 1])
        // Agnostic NMS suppresses across classes.
        var agnostic = NMSOptions.detect
        agnostic.agnostic = true
        #expect(Self.run(rows, agnostic).map(\.classID) == [0])
    }

    @Test func iouEqualToThresholdIsNotSuppressed() {
        // IoU of [0,0,10,10] and [0,0,10,5] is exactly 0.5; only IoU > threshold suppresses.
        let rows = [Self.row(5, 5, 10, 10, obj: 0.9, [1, 0]), Self.row(5, 2.5, 10, 5, obj: 0.8, [1, 0])]
        var options = NMSOptions.detect
        options.iouThreshold = 0.5
        #expect(Self.run(rows, options).count == 2)
        options.iouThreshold = 0.49
        #expect(Self.run(rows, options).count == 1)
    }

    @Test func thresholdsAreOnObjectnessThenOnProduct() {
        let out = Self.run([
            Self.row(10, 10, 4, 4, obj: 0.25, [1, 0]),   // obj not > 0.25: not a candidate
            Self.row(30, 30, 4, 4, obj: 0.4, [0.6, 0.4]), // 0.24: below the score threshold
            Self.row(50, 50, 4, 4, obj: 0.5, [0.6, 0.4]), // 0.30: kept, class 0
        ])
        #expect(out.count == 1 && out[0].classID == 0 && out[0].x1 == 48)
    }

    @Test func maxDetectionsCutsLowestScores() {
        let rows = (0..<10).map { i in Self.row(Float(i) * 50 + 20, 20, 10, 10, obj: 0.5 + Float(i) * 0.04, [1, 0]) }
        var options = NMSOptions.detect
        options.maxDetections = 3
        let out = Self.run(rows, options)
        #expect(out.count == 3)
        #expect(out.map(\.x1) == [465, 415, 365]) // the three highest scores, descending
    }

    @Test func multiLabelGivesOneDetectionPerClassAboveThreshold() {
        let rows = [Self.row(50, 50, 20, 20, obj: 0.9, [0.5, 0.4, 0.1])]
        #expect(Self.run(rows).map(\.classID) == [0])
        var options = NMSOptions.detect
        options.multiLabel = true
        let out = Self.run(rows, options)
        #expect(out.map(\.classID) == [0, 1]) // 0.45 and 0.36 > 0.25; 0.09 is not
        #expect(out.map(\.confidence) == [0.5 * 0.9, 0.4 * 0.9])
    }

    @Test func classFilter() {
        let rows = [Self.row(50, 50, 20, 20, obj: 0.9, [0.9, 0.1, 0]),
                    Self.row(150, 50, 20, 20, obj: 0.9, [0.1, 0.9, 0]),
                    Self.row(250, 50, 20, 20, obj: 0.9, [0, 0.1, 0.9])]
        var options = NMSOptions.detect
        options.classes = [0, 2]
        #expect(Self.run(rows, options).map(\.classID) == [0, 2])
    }

    @Test func singleClassModelsScoreByObjectness() {
        let out = Self.run([Self.row(50, 50, 20, 20, obj: 0.6, [0.3])])
        #expect(out.count == 1 && out[0].confidence == 0.6)
    }

    @Test func emptyAndAllBelowThreshold() {
        #expect(Self.run([Self.row(1, 1, 1, 1, obj: 0.1, [1, 0])]).isEmpty)
        #expect(nonMaxSuppression([], rows: 0, columns: 7).isEmpty)
    }

    // MARK: against the official code

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var options: NMSOptions
        var testDescription: String { name }
    }

    static let cases: [Case] = ((Fixtures.json("nms.json") as? [[String: Any]]) ?? []).compactMap { entry in
        guard let o = entry["options"] as? [String: Any] else { return nil }
        let number = { (key: String, fallback: Float) in (o[key] as? NSNumber)?.floatValue ?? fallback }
        return Case(name: entry["name"] as! String, options: NMSOptions(
            confThreshold: number("conf_thres", 0.25), iouThreshold: number("iou_thres", 0.45),
            classes: o["classes"] as? [Int], agnostic: (o["agnostic"] as? Bool) ?? false,
            multiLabel: (o["multi_label"] as? Bool) ?? false))
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 6, "run tools/make_vision_fixtures.py")
    }

    @Test(arguments: cases)
    func matchesOfficialNMS(_ c: Case) throws {
        let prediction = try NPY.read(Fixtures.url("nms/\(c.name)_pred.npy"))
        let expected = try NPY.read(Fixtures.url("nms/\(c.name)_out.npy"))
        let out = nonMaxSuppression(prediction, options: c.options)
        let n = expected.shape[0]
        #expect(out.count == n, "\(c.name): \(out.count) detections, official \(n)")
        for (i, d) in out.prefix(n).enumerated() {
            let e = Array(expected.data[(6 * i)..<(6 * i + 6)])
            #expect(d.box == Array(e[0..<4]), "\(c.name) #\(i): box \(d.box) vs \(e[0..<4])")
            #expect(d.confidence == e[4] && d.classID == Int(e[5]), "\(c.name) #\(i)")
        }
    }

    @Test func scaleCoordsMatchesOfficial() throws {
        let prediction = try NPY.read(Fixtures.url("nms/detect_pred.npy"))
        let expected = try NPY.read(Fixtures.url("nms/detect_scaled.npy"))
        let transform = BoxTransform(letterboxedWidth: 640, letterboxedHeight: 416,
                                     originalWidth: 517, originalHeight: 333)
        let out = transform.apply(nonMaxSuppression(prediction, options: .detect))
        #expect(out.count == expected.shape[0])
        var worst: Float = 0
        for (i, d) in out.enumerated() {
            for k in 0..<4 { worst = max(worst, abs(d.box[k] - expected.data[4 * i + k])) }
        }
        #expect(worst <= 1e-4, "largest difference \(worst) px")
    }
}
