import CFuzzerDriver
import Foundation

/// The bytes libFuzzer hands a target, copied out (the parsers take arrays or Data).
public func fuzzBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// Writes a zip of stored entries, as `torch.save` does (no compression, no zip64).
///
/// FuzzPickle wraps each input in a checkpoint with this, so the mutated pickle gets a valid
/// CRC-32 and reaches the pickle machine and the loader behind it; mutating a whole `.pt`
/// (FuzzCheckpoint) mostly breaks the checksum first.
public struct StoredZip {
    private var body: [UInt8] = []
    private var directory: [UInt8] = []
    private var count = 0

    public init() {}

    public mutating func add(_ name: String, _ payload: [UInt8]) {
        let nameBytes = Array(name.utf8)
        let crc = StoredZip.crc32(payload)
        let offset = body.count
        // Local header: signature, version 20, flags 0, method 0 (stored), time/date 0.
        body += le32(0x0403_4b50) + le16(20) + le16(0) + le16(0) + le32(0)
        body += le32(crc) + le32(UInt32(payload.count)) + le32(UInt32(payload.count))
        body += le16(UInt16(nameBytes.count)) + le16(0) + nameBytes + payload
        directory += le32(0x0201_4b50) + le16(20) + le16(20) + le16(0) + le16(0) + le32(0)
        directory += le32(crc) + le32(UInt32(payload.count)) + le32(UInt32(payload.count))
        directory += le16(UInt16(nameBytes.count)) + le16(0) + le16(0) + le16(0) + le16(0) + le32(0)
        directory += le32(UInt32(offset)) + nameBytes
        count += 1
    }

    public func bytes() -> [UInt8] {
        let end = le32(0x0605_4b50) + le16(0) + le16(0) + le16(UInt16(count)) + le16(UInt16(count))
            + le32(UInt32(directory.count)) + le32(UInt32(body.count)) + le16(0)
        return body + directory + end
    }

    private func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }

    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

/// Rewrites the CRC-32 of every whole chunk of a PNG, so that mutated chunks get past
/// libpng's checksum test (which would otherwise stop nearly every input at the first chunk)
/// and into the decoder. Bytes that are not a PNG are left alone.
public func fixPNGChecksums(_ bytes: inout [UInt8]) {
    guard bytes.count >= 8, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return }
    var at = 8
    while at + 12 <= bytes.count {
        let length = bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - at - 12 else { return }
        let crc = StoredZip.crc32(bytes[(at + 4)..<(at + 8 + length)])
        for k in 0..<4 { bytes[at + 8 + length + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(k))) }
        at += 12 + length
    }
}

/// A target's fuzz function as libFuzzer calls it.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// Runs libFuzzer on `callback` with the process's arguments (`-max_total_time=...`, corpus
/// folders...). Each target calls this from its `<Target>_main`; see CFuzzerDriver.h for why.
public func runFuzzer(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ callback: FuzzCallback) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, callback)
}
