import Foundation
import Testing
@testable import YOLOModel
import YOLOTensor

private enum SafeTensorsFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func hostile(_ name: String) -> String { root.appendingPathComponent("hostile/\(name)").path }
}

/// A fresh empty folder under the system temporary directory.
private func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("yolov7-safetensors-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

struct SafeTensorsTests {
    @Test func roundTripEveryDType() throws {
        var writer = SafeTensorsWriter(metadata: ["format": "pt", "yaml": "nc: 3\n\"quoted\" \u{7}", "names": "[\"RBC\"]"])
        writer.add(name: "u8", dtype: .U8, shape: [3], bytes: [1, 2, 255])
        writer.add(name: "i8", dtype: .I8, shape: [2], bytes: [0x80, 0x7F])
        try writer.add(name: "f32", tensor: Tensor(shape: [2, 2], data: [1, -2.5, 1e-30, 3.25]))
        try writer.add(name: "f16", tensor: Tensor(shape: [3], data: [0.5, -65504, 1.0 / 3.0]), dtype: .F16)
        try writer.add(name: "bf16", tensor: Tensor(shape: [2], data: [1.0 / 3.0, -1e30]), dtype: .BF16)
        writer.add(name: "i32", dtype: .I32, shape: [1], bytes: [0xFE, 0xFF, 0xFF, 0xFF])
        writer.add(name: "i64", dtype: .I64, shape: [1, 1], bytes: [5, 0, 0, 0, 0, 0, 0, 0])
        writer.add(name: "empty", dtype: .F32, shape: [0, 3], bytes: [])
        writer.add(name: "weird name \"\\ é", dtype: .U8, shape: [], bytes: [9])

        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("out.safetensors").path
        try writer.write(to: path)
        // Only the finished file is left: the temporary was renamed into place.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["out.safetensors"])

        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect([UInt8](raw) == (try writer.serialized()))
        let headerLength = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + headerLength) % 8 == 0)
        #expect(raw[8] == UInt8(ascii: "{"))

        let file = try SafeTensorsFile.read(path: path)
        #expect(file.metadata == writer.metadata)
        #expect(Set(file.names) == Set(writer.entries.map(\.name)))
        for entry in writer.entries {
            #expect(file.entry(named: entry.name) == entry)
        }
        // Largest elements first, so each entry starts aligned to its own element size.
        #expect(file.names.prefix(2) == ["i64", "f32"])
        #expect(try file.floatTensor("f32") == Tensor(shape: [2, 2], data: [1, -2.5, 1e-30, 3.25]))
        #expect(try file.floatTensor("f16").data == [0.5, -65504, 0.333251953125])
        #expect(try file.floatTensor("bf16").data == [0.333984375, -1.0002555517425873e+30])
        #expect(try file.floatTensor("i8").data == [-128, 127])
        #expect(try file.floatTensor("i32").data == [-2])
        #expect(try file.floatTensor("u8").data == [1, 2, 255])
        #expect(try file.floatTensor("weird name \"\\ é") == Tensor(shape: [], data: [9]))
        #expect(throws: YOLOModelError.missingTensor(name: "nope", source: path)) { try file.floatTensor("nope") }
    }

    @Test func headerMatchesReferenceLayout() throws {
        var writer = SafeTensorsWriter(metadata: ["k": "v"])
        writer.add(name: "a", dtype: .U8, shape: [1], bytes: [7])
        let bytes = try writer.serialized()
        let header = String(decoding: bytes[8...].prefix(while: { $0 != UInt8(ascii: " ") }), as: UTF8.self)
        #expect(header.hasPrefix("{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}"))
        #expect(bytes.count % 8 == 1)
        #expect(bytes.last == 7)
    }

    /// Writing never leaves a partial file: a bad entry fails before anything is created, and
    /// an existing file at the destination is untouched.
    @Test func failedWriteLeavesNothing() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("model.safetensors").path
        try Data("previous".utf8).write(to: URL(fileURLWithPath: path))

        var bad = SafeTensorsWriter()
        bad.add(name: "ok", dtype: .F32, shape: [1], bytes: [0, 0, 128, 63])
        bad.add(name: "short", dtype: .F32, shape: [2], bytes: [0, 0, 0])
        #expect(throws: YOLOModelError.self) { try bad.write(to: path) }
        var duplicate = SafeTensorsWriter()
        duplicate.add(name: "x", dtype: .U8, shape: [1], bytes: [1])
        duplicate.add(name: "x", dtype: .U8, shape: [1], bytes: [1])
        #expect(throws: YOLOModelError.self) { try duplicate.write(to: path) }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "previous")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])

        var good = SafeTensorsWriter()
        good.add(name: "x", dtype: .U8, shape: [1], bytes: [1])
        let nowhere = folder.appendingPathComponent("missing/dir/out.safetensors").path
        #expect(throws: YOLOModelError.self) { try good.write(to: nowhere) }
        #expect(!FileManager.default.fileExists(atPath: nowhere))
        try good.write(to: path)
        #expect(try SafeTensorsFile.read(path: path).entry(named: "x")?.bytes == [1])
    }

    static let hostileCases: [(String, String)] = [
        ("header_past_end.safetensors", "does not fit"),
        ("huge_header_length.safetensors", "exceeds"),
        ("offsets_outside.safetensors", "past the"),
        ("overlap.safetensors", "overlaps"),
        ("gap.safetensors", "gap"),
        ("size_mismatch.safetensors", "needs 6"),
        ("bad_dtype.safetensors", "unsupported dtype 'F128'"),
        ("metadata_not_string.safetensors", "is not a string"),
        ("duplicate_key.safetensors", "appears twice"),
        ("not_json.safetensors", "not valid JSON"),
        ("shape_overflow.safetensors", "too large"),
    ]

    @Test(arguments: hostileCases)
    func hostileFileRefused(file: String, mentions: String) {
        let path = SafeTensorsFixtures.hostile(file)
        do {
            _ = try SafeTensorsFile.read(path: path)
            Issue.record("\(file) was accepted")
        } catch YOLOModelError.invalidFile(let p, let reason) {
            #expect(p == path)
            #expect(reason.contains(mentions), "\(file): \(reason)")
        } catch {
            Issue.record("\(file): wrong error \(error)")
        }
    }

    @Test func deepJSONRefusedWithoutRecursion() {
        let depth = 100_000
        let json = Array(("{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}").utf8)
        var bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian) { [UInt8]($0) }
        bytes += json
        #expect {
            _ = try SafeTensorsFile.parse(Data(bytes), path: "deep")
        } throws: { error in
            guard case YOLOModelError.invalidFile(_, let reason) = error else { return false }
            return reason.contains("nested more than")
        }
    }

    /// Truncations and corruptions of a valid file end in an error or a file, never a trap.
    @Test func corruptedFilesNeverTrap() throws {
        var writer = SafeTensorsWriter(metadata: ["a": "b"])
        try writer.add(name: "w", tensor: Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6]), dtype: .F16)
        writer.add(name: "q", dtype: .U8, shape: [5], bytes: [1, 2, 3, 4, 5])
        let bytes = try writer.serialized()
        for cut in 0..<bytes.count {
            #expect(throws: YOLOModelError.self) { _ = try SafeTensorsFile.parse(Data(bytes.prefix(cut)), path: "cut") }
        }
        for at in 0..<bytes.count {
            for value: UInt8 in [0, 0x22, 0x5B, 0x7B, 0xFF] {
                var mutated = bytes
                mutated[at] = value
                _ = try? SafeTensorsFile.parse(Data(mutated), path: "mutated")
            }
        }
    }

    // MARK: Half precision

    /// The bit-level conversions agree with the platform's Float16 on every half value, and
    /// float -> half rounds to nearest even exactly as Float16(Float) does.
    @Test func halfConversionsMatchFloat16() {
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        var mismatches: [String] = []
        for bits in 0...UInt16.max {
            let reference = Float(Float16(bitPattern: bits))
            let ours = HalfPrecision.float(fromHalf: bits)
            let table = HalfPrecision.table[Int(bits)]
            if reference.isNaN {
                if !ours.isNaN || !table.isNaN || HalfPrecision.half(from: ours) & 0x7C00 != 0x7C00 {
                    mismatches.append("NaN 0x\(String(bits, radix: 16))")
                }
            } else if ours.bitPattern != reference.bitPattern || table.bitPattern != reference.bitPattern
                        || HalfPrecision.half(from: ours) != bits {
                mismatches.append("half 0x\(String(bits, radix: 16))")
            }
        }
        var state: UInt32 = 7
        for _ in 0..<200_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            // Exponents concentrated around the half range, including subnormals and overflow.
            let exponent = UInt32(100 + (state >> 8) % 50)
            let value = Float(bitPattern: (state & 0x8000_0000) | exponent << 23 | (state &* 2_654_435_761) >> 9)
            if HalfPrecision.half(from: value) != Float16(value).bitPattern { mismatches.append("\(value)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        #endif
    }

    @Test func bfloat16RoundsToNearestEven() {
        #expect(HalfPrecision.bfloat16(from: 1.0) == 0x3F80)
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F80_8000)) == 0x3F80) // tie, even stays
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F81_8000)) == 0x3F82) // tie, odd rounds up
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(HalfPrecision.bfloat16(from: .infinity) == 0x7F80)
        #expect(HalfPrecision.float(fromBFloat16: HalfPrecision.bfloat16(from: .nan)).isNaN)
    }
}
