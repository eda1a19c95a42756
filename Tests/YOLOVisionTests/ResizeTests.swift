import Foundation
import Testing
@testable import YOLOVision

/// `RGBImage.resized` against cv2.resize on crops of a real photograph (resize.json).
struct ResizeTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var crop: [Int]
        var size: [Int]
        var interpolation: Interpolation
        var file: String?
        var checksum: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = ((Fixtures.json("resize.json") as? [[String: Any]]) ?? []).map {
        Case(name: $0["name"] as! String, crop: $0["crop"] as! [Int], size: $0["size"] as! [Int],
             interpolation: ($0["interpolation"] as! String) == "area" ? .area : .linear,
             file: $0["file"] as? String, checksum: $0["fnv1a64"] as? String)
    }

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 70, "run tools/make_vision_fixtures.py")
    }

    @Test(arguments: cases)
    func resizeMatchesOpenCV(_ c: Case) throws {
        let photo = try Fixtures.image("photo_517x333.png")
        let source = photo.cropped(x: c.crop[0], y: c.crop[1], width: c.crop[2], height: c.crop[3])
        let resized = source.resized(width: c.size[0], height: c.size[1], interpolation: c.interpolation)
        guard let file = c.file else {
            // Random geometries are stored as checksums: exact equality or nothing.
            #expect(fnv1a64(resized.pixels) == c.checksum, "\(c.name) differs from cv2.resize")
            return
        }
        let expected = try Fixtures.image("resize/\(file)")
        #expect(resized.width == expected.width && resized.height == expected.height)
        let agreement = Agreement(resized.pixels, expected.pixels)
        print("resize \(c.name): \(agreement)")
        // OpenCV's fixed-point arithmetic is reproduced exactly, so every value must agree.
        #expect(agreement.exact == agreement.count, "\(c.name): \(agreement)")
    }

    @Test func sameSizeIsACopy() throws {
        let photo = try Fixtures.image("photo_517x333.png")
        #expect(photo.resized(width: 517, height: 333) == photo)
    }

    @Test func constantImageStaysConstant() {
        let grey = RGBImage(width: 37, height: 23, fill: RGB(200, 100, 7))
        for (w, h) in [(5, 3), (100, 70), (37, 80), (12, 23)] {
            for mode in [Interpolation.linear, .area] {
                let out = grey.resized(width: w, height: h, interpolation: mode)
                #expect(out == RGBImage(width: w, height: h, fill: RGB(200, 100, 7)), "\(w)x\(h) \(mode)")
            }
        }
    }

    /// Letterbox-sized resizes must be fast enough for per-image use (release builds are far
    /// faster than this debug-build bound).
    @Test func linearResizeOf640IsFast() throws {
        let photo = try Fixtures.image("photo_1000x750.jpg")
        let start = Date()
        _ = photo.resized(width: 640, height: 480, interpolation: .linear)
        _ = photo.resized(width: 640, height: 480, interpolation: .area)
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
