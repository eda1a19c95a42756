import Foundation
import Testing
@testable import YOLOVision

/// `Letterbox` against the official letterbox / load_image (letterbox.json).
struct LetterboxTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var source: String
        var mode: String
        var img: Int
        var shape: [Int]
        var ratio: Double
        var pad: [Double]
        var batchShape: [Int]?
        var file: String?
        var checksum: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = ((Fixtures.json("letterbox.json") as? [[String: Any]]) ?? []).map {
        Case(name: $0["name"] as! String, source: $0["source"] as! String, mode: $0["mode"] as! String,
             img: $0["img"] as! Int, shape: $0["shape"] as! [Int], ratio: ($0["ratio"] as! NSNumber).doubleValue,
             pad: ($0["pad"] as! [NSNumber]).map(\.doubleValue), batchShape: $0["batch_shape"] as? [Int],
             file: $0["file"] as? String, checksum: $0["fnv1a64"] as? String)
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 8, "run tools/make_vision_fixtures.py")
    }

    @Test(arguments: cases)
    func letterboxMatchesOfficial(_ c: Case) throws {
        let source = try Fixtures.image(c.source)
        let boxed: Letterbox
        if c.mode == "detect" {
            boxed = Letterbox(detect: source, size: c.img)
        } else {
            let shape = Letterbox.evalBatchShape(width: source.width, height: source.height, imgSize: c.img)
            #expect([shape.height, shape.width] == c.batchShape)
            boxed = Letterbox(eval: source, imgSize: c.img, batchShape: shape)
        }
        #expect([boxed.image.height, boxed.image.width] == c.shape)
        // JSON on Linux may parse the last bit of a double differently.
        #expect(abs(boxed.ratio - c.ratio) < 1e-12)
        #expect([boxed.padX, boxed.padY] == c.pad)
        if let file = c.file {
            let expected = try Fixtures.image("letterbox/\(file)")
            guard expected.pixels.count == boxed.image.pixels.count else { return }
            let agreement = Agreement(boxed.image.pixels, expected.pixels)
            print("letterbox \(c.name): \(agreement)")
            #expect(agreement.exact == agreement.count, "\(c.name): \(agreement)")
        } else {
            #expect(fnv1a64(boxed.image.pixels) == c.checksum, "\(c.name): pixels differ from the official output")
        }
    }

    @Test func detectLetterboxGeometry() {
        // 517x333 at 640: r = 640/517, unpadded 640x412, dh = 228 mod 32 = 4 -> 2 + 2.
        let image = RGBImage(width: 517, height: 333, fill: RGB(10, 20, 30))
        let boxed = Letterbox(detect: image, size: 640)
        #expect(boxed.image.width == 640 && boxed.image.height == 416)
        #expect(boxed.padX == 0 && boxed.padY == 2)
        #expect(boxed.image[0, 0] == RGB(114, 114, 114) && boxed.image[0, 1] == RGB(114, 114, 114))
        #expect(boxed.image[0, 2] == RGB(10, 20, 30) && boxed.image[639, 413] == RGB(10, 20, 30))
        #expect(boxed.image[0, 414] == RGB(114, 114, 114))
    }

    @Test func oddPaddingSplitsAsOfficial() {
        // dh = 25 -> 12.5: top = round(12.4) = 12, bottom = round(12.6) = 13.
        let image = RGBImage(width: 64, height: 39, fill: RGB(1, 2, 3))
        let boxed = Letterbox(image, height: 64, width: 64, auto: false)
        #expect(boxed.image.width == 64 && boxed.image.height == 64)
        #expect(boxed.padY == 12.5)
        #expect(boxed.image[5, 11] == RGB(114, 114, 114) && boxed.image[5, 12] == RGB(1, 2, 3))
        #expect(boxed.image[5, 50] == RGB(1, 2, 3) && boxed.image[5, 51] == RGB(114, 114, 114))
    }

    @Test func evalBatchShapes() {
        // ceil(img * short/long / 32 + 0.5) * 32; a square image gets ceil(img/32 + 0.5) * 32.
        #expect(Letterbox.evalBatchShape(width: 640, height: 480, imgSize: 640) == (512, 672))
        #expect(Letterbox.evalBatchShape(width: 480, height: 640, imgSize: 416) == (448, 352))
        #expect(Letterbox.evalBatchShape(width: 500, height: 500, imgSize: 640) == (672, 672))
    }

    @Test func tensorIsPlanarRGBOver255() {
        var image = RGBImage(width: 3, height: 2)
        image[2, 1] = RGB(255, 51, 0)
        let tensor = image.tensor()
        #expect(tensor.shape == [1, 3, 2, 3])
        #expect(tensor.data[5] == 1 && tensor.data[6 + 5] == Float(51) / 255 && tensor.data[12 + 5] == 0)
        #expect(tensor.data[0] == 0)
    }

    @Test func boxTransformInvertsDetectLetterbox() {
        let image = RGBImage(width: 517, height: 333)
        let boxed = Letterbox(detect: image, size: 640)
        let scale = Float(boxed.ratio)
        // A box in original pixels mapped into the letterbox, then back.
        let original = Detection(classID: 0, confidence: 0.9, x1: 10, y1: 20, x2: 300, y2: 200)
        let inBox = Detection(classID: 0, confidence: 0.9,
                              x1: original.x1 * scale + Float(boxed.boxTransform.padX),
                              y1: original.y1 * scale + Float(boxed.boxTransform.padY),
                              x2: original.x2 * scale + Float(boxed.boxTransform.padX),
                              y2: original.y2 * scale + Float(boxed.boxTransform.padY))
        let back = boxed.boxTransform.apply(inBox)
        for (a, b) in zip(back.box, original.box) { #expect(abs(a - b) < 1e-3) }
        // Clipping to the original image.
        let outside = Detection(classID: 0, confidence: 1, x1: -50, y1: -50, x2: 5000, y2: 5000)
        #expect(boxed.boxTransform.apply(outside).box == [0, 0, 517, 333])
    }
}

struct LetterboxEdgeTests {
    @Test func extremeAspectRatiosDoNotTrap() {
        let thin = RGBImage(width: 1, height: 5000, fill: RGB(5, 5, 5))
        let boxed = Letterbox(detect: thin, size: 416)
        #expect(boxed.image.height == 416 && boxed.image.width == 32)
        let shape = Letterbox.evalBatchShape(width: 1, height: 5000, imgSize: 416)
        let evaluated = Letterbox(eval: thin, imgSize: 416, batchShape: shape)
        #expect(evaluated.image.height == shape.height && evaluated.image.width == shape.width)
    }
}
