import Testing
@testable import YOLOVision

struct AnnotationTests {
    @Test func thicknessFollowsOfficialFormula() {
        #expect(Annotation.lineThickness(width: 640, height: 480) == 2)  // round(1.12) + 1
        #expect(Annotation.lineThickness(width: 416, height: 416) == 2)  // round(0.832) + 1
        #expect(Annotation.lineThickness(width: 1280, height: 960) == 3) // round(2.24) + 1
        #expect(Annotation.lineThickness(width: 4000, height: 3000) == 8)
        #expect(Annotation.lineThickness(width: 100, height: 80) == 1)
        #expect(Annotation.lineThickness(width: 1250, height: 1250) == 3) // round(2.5) = 2, half to even
    }

    @Test func classColorsAreDeterministicAndDistinct() {
        let colors = (0..<20).map(Annotation.color(forClass:))
        #expect(colors == (0..<20).map(Annotation.color(forClass:)))
        #expect(Set(colors).count == 20)
        for (a, b) in zip(colors, colors.dropFirst()) {
            let distance = abs(Int(a.r) - Int(b.r)) + abs(Int(a.g) - Int(b.g)) + abs(Int(a.b) - Int(b.b))
            #expect(distance > 120, "neighbouring classes need clearly different colours")
        }
    }

    @Test func fontCoversPrintableASCII() {
        #expect(BitmapFont.glyphs.count == 95 * 7)
        for code in 33...126 {
            let rows = BitmapFont.rows(Character(Unicode.Scalar(UInt8(code))))
            #expect(rows.contains { $0 != 0 }, "glyph \(code) is blank")
            #expect(rows.allSatisfy { $0 < 0x20 }, "glyph \(code) is wider than 5 columns")
        }
        #expect(BitmapFont.rows("é") == BitmapFont.rows("?"))
    }

    @Test func labelText() {
        let d = Detection(classID: 1, confidence: 0.925, x1: 0, y1: 0, x2: 1, y2: 1)
        #expect(Annotation.label(for: d, names: ["RBC", "WBC"]) == "WBC 0.93")
        #expect(Annotation.label(for: d, names: []) == "1 0.93")
    }

    @Test func drawsBoxAndReadableLabel() {
        var image = RGBImage(width: 640, height: 480, fill: RGB(30, 30, 30))
        let detection = Detection(classID: 2, confidence: 0.87, x1: 100.7, y1: 120.2, x2: 300.9, y2: 400.5)
        image.draw([detection], names: ["RBC", "WBC", "Platelets"])
        let color = Annotation.color(forClass: 2)
        // Thickness 2 centred on the edges at x = 100, 300 and y = 120, 400.
        #expect(image[100, 250] == color && image[101, 250] == color && image[102, 250] == RGB(30, 30, 30))
        #expect(image[300, 250] == color && image[200, 400] == color && image[200, 401] == color)
        #expect(image[200, 250] == RGB(30, 30, 30)) // inside stays untouched
        // The label sits above the box: 14 px text plus margins, filled with the class colour,
        // with text pixels in the contrasting colour.
        let textColor = Annotation.textColor(on: color)
        var textPixels = 0, fillPixels = 0
        for y in (120 - 20)..<120 {
            for x in 100..<200 {
                if image[x, y] == textColor { textPixels += 1 }
                if image[x, y] == color { fillPixels += 1 }
            }
        }
        #expect(textPixels > 100 && fillPixels > 500)
    }

    @Test func labelsStayInsideTheImage() {
        var image = RGBImage(width: 120, height: 90)
        let boxes = [Detection(classID: 0, confidence: 0.5, x1: -20, y1: -30, x2: 50, y2: 40),
                     Detection(classID: 5, confidence: 0.99, x1: 100, y1: 2, x2: 400, y2: 300),
                     Detection(classID: 7, confidence: 0.1, x1: 60, y1: 60, x2: 60, y2: 60),
                     Detection(classID: 1, confidence: 0.5, x1: .nan, y1: 0, x2: .infinity, y2: 10),
                     Detection(classID: 1, confidence: 0.5, x1: -1e30, y1: -1e30, x2: 1e30, y2: 1e30)]
        image.draw(boxes, names: [])
        // A box touching the top gets its label inside, below the top edge.
        let color = Annotation.color(forClass: 5)
        #expect((0..<120).contains { image[$0, 5] == color })
    }

    @Test func textScalesWithImageSize() {
        var small = RGBImage(width: 200, height: 200)
        var large = RGBImage(width: 2000, height: 2000)
        let d = { (s: Float) in Detection(classID: 0, confidence: 0.5, x1: 20 * s, y1: 40 * s, x2: 90 * s, y2: 90 * s) }
        small.draw([d(1)], names: ["cell"])
        large.draw([d(10)], names: ["cell"])
        let color = Annotation.color(forClass: 0)
        let labelHeight = { (image: RGBImage, x: Int, bottom: Int) -> Int in
            var h = 0
            while bottom - h - 1 >= 0, image[x, bottom - h - 1] == color || image[x, bottom - h - 1] != RGB(0, 0, 0) { h += 1 }
            return h
        }
        let smallHeight = labelHeight(small, 21, 40), largeHeight = labelHeight(large, 201, 400)
        #expect(largeHeight >= 4 * smallHeight, "\(smallHeight) vs \(largeHeight)")
    }
}
