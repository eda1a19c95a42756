import Foundation
import YOLOTensor
@testable import YOLOVision

/// Fixtures made by tools/make_vision_fixtures.py (re-run it to re-make them).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let vision = root.appendingPathComponent("vision")

    static func url(_ relative: String) -> URL { vision.appendingPathComponent(relative) }

    static func json(_ relative: String) -> Any? {
        guard let data = try? Data(contentsOf: url(relative)) else { return nil }
        return try? JSONSerialization.jsonObject(with: data)
    }

    /// A uint8 `[H, W, 3]` .npy as an RGBImage.
    static func npyImage(_ url: URL) throws -> RGBImage {
        let tensor = try NPY.read(url)
        precondition(tensor.shape.count == 3 && tensor.shape[2] == 3, "\(url.path): shape \(tensor.shape)")
        return RGBImage(width: tensor.shape[1], height: tensor.shape[0], pixels: tensor.data.map { UInt8($0) })
    }

    static func image(_ relative: String) throws -> RGBImage {
        try RGBImage(contentsOf: url(relative))
    }
}

/// How closely two byte arrays agree.
struct Agreement: CustomStringConvertible {
    var count = 0
    var exact = 0
    var withinOne = 0
    var maxDifference = 0

    init(_ a: [UInt8], _ b: [UInt8]) {
        precondition(a.count == b.count, "Agreement: \(a.count) vs \(b.count) values")
        count = a.count
        for i in a.indices {
            let d = abs(Int(a[i]) - Int(b[i]))
            if d == 0 { exact += 1 }
            if d <= 1 { withinOne += 1 }
            maxDifference = max(maxDifference, d)
        }
    }

    var exactFraction: Double { count == 0 ? 1 : Double(exact) / Double(count) }
    var withinOneFraction: Double { count == 0 ? 1 : Double(withinOne) / Double(count) }

    var description: String {
        String(format: "%.4f%% exact, %.4f%% within 1, max diff %d over %d values",
               100 * exactFraction, 100 * withinOneFraction, maxDifference, count)
    }
}

/// FNV-1a, 64-bit, as tools/make_vision_fixtures.py stores the larger expected images.
func fnv1a64(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

extension RGBImage {
    /// The sub-image at (x, y) of the given size.
    func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        var out = [UInt8]()
        out.reserveCapacity(w * h * 3)
        for row in y..<(y + h) {
            let start = (row * width + x) * 3
            out.append(contentsOf: pixels[start..<(start + w * 3)])
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
