import Foundation
import Testing
@testable import YOLOVision

/// Broken, truncated, disguised and oversized inputs: each must throw a VisionError whose
/// description is one line naming the file, and never crash or allocate for a lying header.
struct HostileInputTests {
    static func temporaryFile(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("yolovision-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    static func fixtureBytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Fixtures.url(relative)))
    }

    /// Decodes `bytes` from a temporary file and returns the error thrown.
    static func failure(_ name: String, _ bytes: [UInt8], maxPixels: Int = RGBImage.defaultMaxPixels) throws -> VisionError? {
        let url = try temporaryFile(name, bytes)
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try RGBImage(contentsOf: url, maxPixels: maxPixels)
            return nil
        } catch let error as VisionError {
            #expect(error.description.contains(url.path), "\(error)")
            #expect(!error.description.contains("\n"))
            return error
        }
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }

    static func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
    }

    @Test func truncatedJPEG() throws {
        let bytes = try Self.fixtureBytes("photo_1000x750.jpg")
        let error = try Self.failure("truncated.jpg", Array(bytes.prefix(bytes.count / 2)))
        guard case .corrupt(_, .jpeg, let reason)? = error else {
            Issue.record("expected a corrupt JPEG error, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("Premature end"))
    }

    @Test func truncatedProgressiveJPEGAndHeaderOnly() throws {
        let bytes = try Self.fixtureBytes("decode/jpeg_progressive.jpg")
        for cut in [bytes.count * 3 / 4, 300, 40, 3] {
            let error = try Self.failure("cut\(cut).jpg", Array(bytes.prefix(cut)))
            guard case .corrupt(_, .jpeg, _)? = error else {
                Issue.record("cut at \(cut): \(String(describing: error))")
                continue
            }
        }
    }

    @Test func truncatedPNG() throws {
        let bytes = try Self.fixtureBytes("photo_517x333.png")
        for cut in [bytes.count / 2, bytes.count - 12, 40, 20] { // mid-IDAT, missing IEND, header, IHDR
            let error = try Self.failure("cut\(cut).png", Array(bytes.prefix(cut)))
            guard case .corrupt(_, .png, _)? = error else {
                Issue.record("cut at \(cut): \(String(describing: error))")
                continue
            }
        }
    }

    @Test func corruptPNGData() throws {
        var bytes = try Self.fixtureBytes("decode/png_rgb8.png")
        bytes[60] ^= 0xFF // inside IDAT: the CRC (and zlib) check fails
        guard case .corrupt(_, .png, _)? = try Self.failure("crc.png", bytes) else {
            Issue.record("a corrupted IDAT must be reported")
            return
        }
    }

    @Test func textFileNamedJPEG() throws {
        let error = try Self.failure("notes.jpg", Array("this is not an image\n".utf8))
        guard case .unknownFormat? = error else {
            Issue.record("expected .unknownFormat, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("not a JPEG or PNG") == true)
    }

    @Test func emptyFile() throws {
        let error = try Self.failure("empty.png", [])
        guard case .empty? = error else {
            Issue.record("expected .empty, got \(String(describing: error))")
            return
        }
    }

    @Test func missingFile() {
        let url = URL(fileURLWithPath: "/nonexistent/dir/image.jpg")
        #expect(throws: VisionError.self) { try RGBImage(contentsOf: url) }
        do {
            _ = try RGBImage(contentsOf: url)
        } catch {
            #expect("\(error)".hasPrefix("/nonexistent/dir/image.jpg: cannot read file"))
        }
    }

    @Test func pngClaiming50000SquaredIsRefusedFast() throws {
        // A valid little PNG whose IHDR claims 50,000 x 50,000 RGB (7.5 GB decoded).
        var ihdr = Self.bigEndian(50_000) + Self.bigEndian(50_000)
        ihdr += [8, 2, 0, 0, 0]
        let bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + Self.pngChunk("IHDR", ihdr) + Self.pngChunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])
            + Self.pngChunk("IEND", [])
        let start = Date()
        let error = try Self.failure("huge.png", bytes)
        #expect(Date().timeIntervalSince(start) < 0.5)
        guard case .tooLarge(_, 50_000, 50_000, RGBImage.defaultMaxPixels)? = error else {
            Issue.record("expected tooLarge, got \(String(describing: error))")
            return
        }
    }

    /// The fixture JPEG with its frame header (SOF0/SOF2) claiming another size.
    static func jpegClaiming(width: UInt16, height: UInt16) throws -> [UInt8] {
        var bytes = try fixtureBytes("decode/jpeg_progressive.jpg")
        // Walk the marker segments (table data may contain 0xFF bytes) up to the frame header.
        var i = 2
        while i + 9 < bytes.count, bytes[i] == 0xFF {
            let marker = bytes[i + 1], length = Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            if marker == 0xC0 || marker == 0xC2 {
                bytes.replaceSubrange((i + 5)..<(i + 9), with: [UInt8(height >> 8), UInt8(height & 0xFF),
                                                                UInt8(width >> 8), UInt8(width & 0xFF)])
                return bytes
            }
            i += 2 + length
        }
        Issue.record("no frame header found")
        return bytes
    }

    @Test func jpegClaiming65535SquaredIsRefusedFast() throws {
        // libjpeg itself refuses dimensions above 65,500 while reading the header.
        let start = Date()
        let error = try Self.failure("huge.jpg", Self.jpegClaiming(width: 65535, height: 65535))
        #expect(Date().timeIntervalSince(start) < 0.5)
        guard case .corrupt(_, .jpeg, let reason)? = error else {
            Issue.record("expected a refusal, got \(String(describing: error))")
            return
        }
        #expect(reason.contains("65500"))
    }

    @Test func jpegClaiming65500SquaredIsRefusedByThePixelLimit() throws {
        let start = Date()
        let error = try Self.failure("huge.jpg", Self.jpegClaiming(width: 65500, height: 65500))
        #expect(Date().timeIntervalSince(start) < 0.5)
        guard case .tooLarge(_, 65500, 65500, _)? = error else {
            Issue.record("expected tooLarge, got \(String(describing: error))")
            return
        }
    }

    @Test func pixelLimitIsConfigurable() throws {
        let bytes = try Self.fixtureBytes("decode/png_rgb8.png") // 61 x 47
        #expect(try Self.failure("ok.png", bytes, maxPixels: 61 * 47) == nil)
        guard case .tooLarge(_, 61, 47, 2866)? = try Self.failure("limit.png", bytes, maxPixels: 61 * 47 - 1) else {
            Issue.record("limit not applied")
            return
        }
    }

    @Test func zeroSizedPNGHeader() throws {
        let bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + Self.pngChunk("IHDR", Self.bigEndian(0) + Self.bigEndian(10) + [8, 2, 0, 0, 0]) + Self.pngChunk("IEND", [])
        guard case .corrupt(_, .png, _)? = try Self.failure("zero.png", bytes) else {
            Issue.record("a 0-wide image must be refused")
            return
        }
    }

    /// Random byte flips and cuts of valid files: decoding may succeed (libjpeg, like OpenCV,
    /// accepts some corrupt entropy data) or throw, but must never crash or hang.
    @Test func mutatedFilesNeverCrash() throws {
        var generator = SplitMix64(seed: 99)
        for file in ["decode/jpeg_baseline_420.jpg", "decode/jpeg_progressive.jpg", "decode/png_rgb8_interlaced.png",
                     "decode/png_palette4.png", "decode/jpeg_cmyk.jpg"] {
            let original = try Self.fixtureBytes(file)
            for _ in 0..<60 {
                var bytes = original
                for _ in 0..<Int(generator.next() % 8 + 1) {
                    let i = Int(generator.next() % UInt64(bytes.count))
                    bytes[i] = UInt8(truncatingIfNeeded: generator.next())
                }
                if generator.next() % 3 == 0 { bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count)) + 1)) }
                _ = try? RGBImage(decoding: bytes, name: file)
            }
        }
    }
}

/// A small deterministic generator for the fuzz test.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
