import Foundation
import Testing
@testable import YOLOEval

@Suite struct LabelFileTests {
    @Test func labelPathFollowsTheOfficialRule() {
        #expect(LabelFile.path(forImage: "/d/images/test/a.jpg") == "/d/labels/test/a.txt")
        #expect(LabelFile.path(forImage: "d/images/x/images/b.PNG") == "d/labels/x/images/b.txt")
        #expect(LabelFile.path(forImage: "/d/pics/c.v1.jpeg") == "/d/pics/c.v1.txt")
    }

    @Test func parsesBoxesAndSkipsBlankLines() throws {
        let boxes = try LabelFile.parse("0 0.5 0.5 0.2 0.1\n\n  2 0.1 0.2 0.05 0.05  \r\n", path: "l.txt")
        #expect(boxes == [GroundTruth(classID: 0, cx: 0.5, cy: 0.5, w: 0.2, h: 0.1),
                          GroundTruth(classID: 2, cx: 0.1, cy: 0.2, w: 0.05, h: 0.05)])
        #expect(try LabelFile.parse("", path: "l.txt").isEmpty)
        #expect(try LabelFile.parse("1.0 0.5 0.5 0.2 0.1", path: "l.txt")[0].classID == 1)
    }

    @Test func missingFileMeansNoObjects() throws {
        #expect(try LabelFile.read(path: "/nonexistent/labels/x.txt").isEmpty)
    }

    @Test func malformedLinesNameTheLine() {
        #expect(throws: EvalError.malformedLabel(path: "l.txt", line: 2, reason: "expected 5 values 'class cx cy w h', got 4")) {
            try LabelFile.parse("0 0.5 0.5 0.2 0.1\n1 0.5 0.5 0.2\n", path: "l.txt")
        }
        #expect(throws: EvalError.malformedLabel(path: "l.txt", line: 1, reason: "'abc' is not a finite number")) {
            try LabelFile.parse("0 abc 0.5 0.2 0.1", path: "l.txt")
        }
        #expect(throws: EvalError.malformedLabel(path: "l.txt", line: 1, reason: "'nan' is not a finite number")) {
            try LabelFile.parse("0 nan 0.5 0.2 0.1", path: "l.txt")
        }
        #expect(throws: EvalError.malformedLabel(path: "l.txt", line: 3, reason: "class 1.5 is not a class id")) {
            try LabelFile.parse("0 0.5 0.5 0.2 0.1\n\n1.5 0.5 0.5 0.2 0.1", path: "l.txt")
        }
        #expect(throws: EvalError.classOutOfRange(path: "l.txt", line: 1, classID: 3, classCount: 3)) {
            try LabelFile.parse("3 0.5 0.5 0.2 0.1", path: "l.txt", classCount: 3)
        }
        let message = EvalError.malformedLabel(path: "l.txt", line: 2, reason: "x").description
        #expect(message == "l.txt:2: malformed label (x)" && !message.contains("\n"))
    }

    @Test func officialAssertsRefuseTheFile() {
        #expect(throws: EvalError.rejectedLabels(path: "l.txt", reason: "negative labels")) {
            try LabelFile.parse("0 -0.1 0.5 0.2 0.1", path: "l.txt")
        }
        #expect(throws: EvalError.rejectedLabels(path: "l.txt", reason: "non-normalized or out of bounds coordinate labels")) {
            try LabelFile.parse("0 0.5 1.5 0.2 0.1", path: "l.txt")
        }
        #expect(throws: EvalError.rejectedLabels(path: "l.txt", reason: "duplicate labels")) {
            try LabelFile.parse("0 0.5 0.5 0.2 0.1\n0 0.5 0.5 0.2 0.1", path: "l.txt")
        }
    }

    @Test func polygonsBecomeTheirBoundingBoxes() throws {
        // More than 8 values on a line: every line is a polygon (official segments2boxes).
        let boxes = try LabelFile.parse("1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n0 0.3 0.3 0.4 0.5", path: "l.txt")
        #expect(boxes.count == 2)
        #expect(boxes[0].classID == 1 && abs(boxes[0].cx - 0.3) < 1e-7 && abs(boxes[0].cy - 0.4) < 1e-7)
        #expect(abs(boxes[0].w - 0.4) < 1e-7 && abs(boxes[0].h - 0.4) < 1e-7)
        #expect(abs(boxes[1].w - 0.1) < 1e-7 && abs(boxes[1].h - 0.2) < 1e-7)
        #expect(throws: EvalError.self) { try LabelFile.parse("1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6 0.7", path: "l.txt") }
    }
}
