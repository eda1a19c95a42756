import Foundation
import Testing
@testable import YOLOVision

/// Decode + letterbox against the detect fixtures (Tests/Fixtures/detect/letterbox, made by
/// tools/make_detect_fixtures.py): official `letterbox(cv2.imread(image), img, stride=32)` of
/// JPEG and PNG files, 333x517 and 1100x900, at 416 and 640.
struct OfficialLetterboxTests {
    static let folder = Fixtures.root.appendingPathComponent("detect/letterbox")

    struct Item: CustomTestStringConvertible, Sendable {
        var image: String
        var size: Int
        var expected: String
        var shape: [Int]
        var ratio: Double
        var pad: [Double]
        var testDescription: String { "\(image) at \(size)" }
    }

    static let items: [Item] = {
        guard let data = try? Data(contentsOf: folder.appendingPathComponent("manifest.json")),
              let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let items = manifest["items"] as? [[String: Any]] else { return [] }
        return items.map {
            Item(image: $0["image"] as! String, size: $0["img_size"] as! Int, expected: $0["letterbox"] as! String,
                 shape: $0["letterboxed_hw"] as! [Int], ratio: (($0["ratio"] as! [NSNumber])[0]).doubleValue,
                 pad: ($0["pad_wh"] as! [NSNumber]).map(\.doubleValue))
        }
    }()

    @Test(.enabled(if: !items.isEmpty, "Tests/Fixtures/detect/letterbox not made"), arguments: items)
    func letterboxOfDecodedFileMatchesOfficial(_ item: Item) throws {
        let source = try RGBImage(contentsOf: Self.folder.appendingPathComponent(item.image))
        let boxed = Letterbox(detect: source, size: item.size)
        #expect([boxed.image.height, boxed.image.width] == item.shape)
        #expect(abs(boxed.ratio - item.ratio) < 1e-12)
        #expect([boxed.padX, boxed.padY] == item.pad)
        let expected = try Fixtures.npyImage(Self.folder.appendingPathComponent(item.expected))
        guard expected.pixels.count == boxed.image.pixels.count else {
            Issue.record("size differs")
            return
        }
        let agreement = Agreement(boxed.image.pixels, expected.pixels)
        print("official letterbox \(item.testDescription): \(agreement)")
        // The acceptance bound is 99.9% of values within 1; the implementation is exact.
        #expect(agreement.withinOneFraction >= 0.999, "\(agreement)")
        #expect(agreement.exact == agreement.count, "\(agreement)")
    }
}
