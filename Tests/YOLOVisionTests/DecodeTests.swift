import Foundation
import Testing
@testable import YOLOVision

/// Every image in Tests/Fixtures/vision/decode against what cv2.imread (IMREAD_COLOR, then
/// BGR->RGB) returned for it.
struct DecodeTests {
    static let cases: [String] = (Fixtures.json("decode.json") as? [String]) ?? []

    @Test func fixturesArePresent() {
        #expect(Self.cases.count >= 30, "run tools/make_vision_fixtures.py")
    }

    @Test(arguments: cases)
    func decodeMatchesOpenCV(_ file: String) throws {
        let image = try Fixtures.image("decode/\(file)")
        let stem = (file as NSString).deletingPathExtension
        let expected = try Fixtures.npyImage(Fixtures.url("decode/\(stem).npy"))
        #expect(image.width == expected.width && image.height == expected.height,
                "\(file): \(image.width)x\(image.height), cv2 \(expected.width)x\(expected.height)")
        guard image.pixels.count == expected.pixels.count else { return }
        let agreement = Agreement(image.pixels, expected.pixels)
        #expect(agreement.exact == agreement.count, "\(file): \(agreement)")
    }

    @Test func exifOrientationSixRotatesClockwise() throws {
        let upright = try Fixtures.image("decode/jpeg_exif_orientation1.jpg")
        let rotated = try Fixtures.image("decode/jpeg_exif_orientation6.jpg")
        #expect(rotated.width == upright.height && rotated.height == upright.width)
        // The stored bottom-left pixel becomes the top-left one.
        #expect(rotated[0, 0] == upright[0, upright.height - 1])
    }

    @Test func bigPhotographDecodes() throws {
        let photo = try Fixtures.image("photo_1000x750.jpg")
        #expect(photo.width == 1000 && photo.height == 750)
    }

    @Test func formatComesFromSignature() {
        #expect(ImageFormat(signature: [0xFF, 0xD8, 0xFF, 0xE0]) == .jpeg)
        #expect(ImageFormat(signature: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == .png)
        #expect(ImageFormat(signature: Array("GIF89a".utf8)) == nil)
        #expect(ImageFormat(signature: [0xFF, 0xD8]) == nil)
    }

    @Test func exifParserRejectsGarbage() {
        #expect(ExifOrientation.parse(tiff: [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0][...]) == 6)
        #expect(ExifOrientation.parse(tiff: [0x4D, 0x4D, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3][...]) == 3)
        #expect(ExifOrientation.parse(tiff: [0x49, 0x4D, 42, 0][...]) == nil)
        #expect(ExifOrientation.parse(tiff: [0x49, 0x49, 42, 0, 0xFF, 0xFF, 0xFF, 0x7F][...]) == nil)
        #expect(ExifOrientation.parse(tiff: [0x49, 0x49, 42, 0, 8, 0, 0, 0, 0xFF, 0xFF][...]) == nil)
        #expect(ExifOrientation.parse(tiff: [][...]) == nil)
    }
}
