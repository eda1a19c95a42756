import Foundation
import Testing
@testable import YOLOVision

struct EncodingTests {
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("yolovision-encode-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func pngRoundTripIsLossless() throws {
        let photo = try Fixtures.image("photo_517x333.png")
        let bytes = try photo.pngData()
        #expect(try RGBImage(decoding: bytes, name: "memory.png") == photo)
    }

    @Test func jpegRoundTripIsClose() throws {
        let photo = try Fixtures.image("photo_517x333.png")
        let bytes = try photo.jpegData(quality: 90)
        #expect(ImageFormat(signature: bytes) == .jpeg)
        let decoded = try RGBImage(decoding: bytes, name: "memory.jpg")
        #expect(decoded.width == photo.width && decoded.height == photo.height)
        let meanError = zip(decoded.pixels, photo.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
        #expect(Double(meanError) / Double(photo.pixels.count) < 3)
    }

    @Test func writeChoosesFormatByExtensionAndLeavesNoTemporaryFiles() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = RGBImage(width: 33, height: 17, fill: RGB(9, 99, 199))
        try image.write(to: dir.appendingPathComponent("a.png"))
        try image.write(to: dir.appendingPathComponent("b.JPG"))
        try image.write(to: dir.appendingPathComponent("a.png")) // replaces atomically
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["a.png", "b.JPG"])
        #expect(try RGBImage(contentsOf: dir.appendingPathComponent("a.png")) == image)
        let jpeg = [UInt8](try Data(contentsOf: dir.appendingPathComponent("b.JPG")))
        #expect(ImageFormat(signature: jpeg) == .jpeg)
    }

    @Test func writeFailureIsOneLineNamingTheFile() {
        let url = URL(fileURLWithPath: "/nonexistent-dir/out.png")
        do {
            try RGBImage(width: 4, height: 4).write(to: url)
            Issue.record("writing into a missing folder must fail")
        } catch let error as VisionError {
            guard case .writeFailed = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(error.description.hasPrefix(url.path + ": cannot write image"))
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
