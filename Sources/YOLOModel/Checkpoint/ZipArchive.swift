import Foundation

/// A read-only view of a zip file, enough for PyTorch checkpoints.
///
/// `torch.save` writes every entry *stored* (no compression) and pads local headers so that
/// each payload starts on a 64-byte boundary; the archive is read once (memory-mapped where the
/// platform allows) and each entry is handed out as a byte range of that one buffer, so opening
/// a 300 MB checkpoint costs no copies. Nothing is trusted: every offset and length read from
/// the file is checked against the file size before use.
struct ZipArchive {
    struct Entry: Equatable {
        var name: String
        /// 0 = stored, 8 = deflate; only stored entries can be read.
        var method: UInt16
        var flags: UInt16
        var crc32: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        /// Where the payload lies in `ZipArchive.bytes` (resolved through the local header).
        var dataRange: Range<Int>
    }

    let path: String
    /// The whole file; entries are ranges of it.
    let bytes: Data
    private(set) var entries: [Entry] = []
    private var indexByName: [String: Int] = [:]

    /// A directory needs at least 46 bytes an entry, so this many entries cannot fit in a file
    /// of a sane size; it guards the entry array against a forged count.
    private static let maxEntries = 1 << 20

    init(path: String) throws {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw YOLOModelError.invalidFile(path: path, reason: "cannot read file (\(error.localizedDescription))")
        }
        try self.init(path: path, bytes: data)
    }

    /// Parses an archive already in memory; `path` only names it in errors.
    init(path: String, bytes: Data) throws {
        self.path = path
        // Re-base a slice so that offsets read from the file index the buffer directly.
        self.bytes = bytes.startIndex == 0 ? bytes : Data(bytes)
        try readCentralDirectory()
    }

    func entry(named name: String) -> Entry? {
        indexByName[name].map { entries[$0] }
    }

    /// The payload of a stored entry. Deflated (or encrypted) entries are refused: PyTorch never
    /// writes them, and an inflater would be code to get wrong for files nobody produces.
    func contents(of entry: Entry, verifyChecksum: Bool = true) throws -> Data {
        try checkReadable(entry)
        let payload = bytes.subdata(in: entry.dataRange)
        if verifyChecksum {
            let actual = ZipArchive.crc32(payload)
            guard actual == entry.crc32 else {
                throw fail("entry '\(entry.name)' is corrupt (CRC-32 \(hex(actual)), expected \(hex(entry.crc32)))")
            }
        }
        return payload
    }

    /// Throws unless `entry`'s payload can be used as raw bytes straight from `bytes`.
    func checkReadable(_ entry: Entry) throws {
        if entry.flags & 1 != 0 {
            throw fail("entry '\(entry.name)' is encrypted")
        }
        guard entry.method == 0 else {
            let how = entry.method == 8 ? "deflate-compressed" : "compressed with method \(entry.method)"
            throw fail("entry '\(entry.name)' is \(how); only stored (uncompressed) entries are supported, as torch.save writes them")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw fail("entry '\(entry.name)' is stored but its sizes disagree (\(entry.compressedSize) vs \(entry.uncompressedSize))")
        }
    }

    /// Checks a stored entry's CRC-32 without copying it out.
    func verifyChecksum(of entry: Entry) throws {
        let actual = bytes.withUnsafeBytes { raw in
            ZipArchive.crc32(UnsafeRawBufferPointer(rebasing: raw[entry.dataRange]))
        }
        guard actual == entry.crc32 else {
            throw fail("entry '\(entry.name)' is corrupt (CRC-32 \(hex(actual)), expected \(hex(entry.crc32)))")
        }
    }

    // MARK: - Parsing

    private func fail(_ reason: String) -> YOLOModelError {
        .invalidFile(path: path, reason: "zip: \(reason)")
    }

    private func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }

    private mutating func readCentralDirectory() throws {
        let size = bytes.count
        let looksLikeZip = bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) || bytes.starts(with: [0x50, 0x4B, 0x05, 0x06])
        guard looksLikeZip else {
            throw fail("not a zip archive (legacy torch.save files and plain pickles are not supported)")
        }
        guard size >= 22, let eocd = findEndOfCentralDirectory() else {
            throw fail("end-of-central-directory record not found (file truncated?)")
        }
        var entryCount = Int(read16(eocd + 10) ?? 0)
        var directorySize = Int(read32(eocd + 12) ?? 0)
        var directoryOffset = Int(read32(eocd + 16) ?? 0)

        // Zip64: the classic record holds 0xFFFF/0xFFFFFFFF and the real values live in a
        // zip64 record found through the locator just before the classic one.
        if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF
            || (eocd >= 20 && read32(eocd - 20) == 0x0706_4b50) {
            if let zip64 = try readZip64EndRecord(classicAt: eocd) {
                entryCount = zip64.count
                directorySize = zip64.size
                directoryOffset = zip64.offset
            } else if entryCount == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF {
                throw fail("zip64 end-of-central-directory locator missing")
            }
        }
        guard entryCount <= ZipArchive.maxEntries, entryCount <= directorySize / 46 + 1 else {
            throw fail("central directory claims \(entryCount) entries in \(directorySize) bytes")
        }
        guard directoryOffset >= 0, directorySize >= 0, directoryOffset <= size,
              directorySize <= size - directoryOffset else {
            throw fail("central directory (offset \(directoryOffset), \(directorySize) bytes) lies outside the \(size)-byte file (truncated?)")
        }

        var cursor = directoryOffset
        let end = directoryOffset + directorySize
        entries.reserveCapacity(entryCount)
        for number in 0..<entryCount {
            guard cursor + 46 <= end, read32(cursor) == 0x0201_4b50 else {
                throw fail("central directory entry \(number) is malformed")
            }
            let flags = read16(cursor + 8) ?? 0
            let method = read16(cursor + 10) ?? 0
            let crc = read32(cursor + 16) ?? 0
            var compressed = Int(read32(cursor + 20) ?? 0)
            var uncompressed = Int(read32(cursor + 24) ?? 0)
            let nameLength = Int(read16(cursor + 28) ?? 0)
            let extraLength = Int(read16(cursor + 30) ?? 0)
            let commentLength = Int(read16(cursor + 32) ?? 0)
            var localOffset = Int(read32(cursor + 42) ?? 0)
            let nameStart = cursor + 46
            let extraStart = nameStart + nameLength
            let next = extraStart + extraLength + commentLength
            guard next <= end else {
                throw fail("central directory entry \(number) runs past the directory")
            }
            let name = decodeName(nameStart..<extraStart)

            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                // The zip64 extra field lists only the fields that overflowed, in this order.
                guard let extra = findExtraField(id: 0x0001, in: extraStart..<(extraStart + extraLength)) else {
                    throw fail("entry '\(name)' needs a zip64 extra field and has none")
                }
                var at = extra.lowerBound
                func next64() throws -> Int {
                    guard at + 8 <= extra.upperBound, let v = read64(at), v <= UInt64(Int.max) else {
                        throw fail("entry '\(name)' has a short or invalid zip64 extra field")
                    }
                    at += 8
                    return Int(v)
                }
                if uncompressed == 0xFFFF_FFFF { uncompressed = try next64() }
                if compressed == 0xFFFF_FFFF { compressed = try next64() }
                if localOffset == 0xFFFF_FFFF { localOffset = try next64() }
            }

            let dataRange = try payloadRange(name: name, localOffset: localOffset, compressedSize: compressed)
            guard indexByName[name] == nil else {
                throw fail("entry '\(name)' appears twice")
            }
            indexByName[name] = entries.count
            entries.append(Entry(name: name, method: method, flags: flags, crc32: crc,
                                 compressedSize: compressed, uncompressedSize: uncompressed,
                                 dataRange: dataRange))
            cursor = next
        }
    }

    /// The record sits at the end, followed only by a comment of at most 65535 bytes, so the
    /// search scans backwards over at most that much.
    private func findEndOfCentralDirectory() -> Int? {
        let size = bytes.count
        let lowest = max(0, size - 22 - 65_535)
        return bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int? in
            var fallback: Int?
            var at = size - 22
            while at >= lowest {
                if raw[at] == 0x50, raw[at + 1] == 0x4b, raw[at + 2] == 0x05, raw[at + 3] == 0x06 {
                    let commentLength = Int(raw[at + 20]) | Int(raw[at + 21]) << 8
                    // A genuine record's comment reaches exactly to the end of the file; failing
                    // that (bytes appended after the archive), the last signature is the best guess.
                    if at + 22 + commentLength == size { return at }
                    if fallback == nil { fallback = at }
                }
                at -= 1
            }
            return fallback
        }
    }

    private func readZip64EndRecord(classicAt eocd: Int) throws -> (count: Int, size: Int, offset: Int)? {
        let locator = eocd - 20
        guard locator >= 0, read32(locator) == 0x0706_4b50 else { return nil }
        guard let recordOffset64 = read64(locator + 8), recordOffset64 <= UInt64(bytes.count) else {
            throw fail("zip64 locator points outside the file")
        }
        let record = Int(recordOffset64)
        guard record + 56 <= bytes.count, read32(record) == 0x0606_4b50 else {
            throw fail("zip64 end-of-central-directory record is missing or malformed")
        }
        guard let count = read64(record + 32), let size = read64(record + 40), let offset = read64(record + 48),
              count <= UInt64(ZipArchive.maxEntries), size <= UInt64(bytes.count), offset <= UInt64(bytes.count) else {
            throw fail("zip64 end-of-central-directory record holds impossible values")
        }
        return (Int(count), Int(size), Int(offset))
    }

    /// Resolves where the payload starts: after the *local* header, whose name and extra
    /// lengths may differ from the central directory's (PyTorch pads only the local extra).
    private func payloadRange(name: String, localOffset: Int, compressedSize: Int) throws -> Range<Int> {
        let size = bytes.count
        guard localOffset >= 0, localOffset <= size - 30, read32(localOffset) == 0x0403_4b50 else {
            throw fail("entry '\(name)': local header at offset \(localOffset) is missing (truncated?)")
        }
        let nameLength = Int(read16(localOffset + 26) ?? 0)
        let extraLength = Int(read16(localOffset + 28) ?? 0)
        let start = localOffset + 30 + nameLength + extraLength
        guard compressedSize >= 0, start <= size, compressedSize <= size - start else {
            throw fail("entry '\(name)' (\(compressedSize) bytes at offset \(start)) runs past the end of the \(size)-byte file (truncated?)")
        }
        return start..<(start + compressedSize)
    }

    private func findExtraField(id: UInt16, in range: Range<Int>) -> Range<Int>? {
        var at = range.lowerBound
        while at + 4 <= range.upperBound {
            guard let fieldID = read16(at), let length = read16(at + 2) else { return nil }
            let body = (at + 4)..<(at + 4 + Int(length))
            guard body.upperBound <= range.upperBound else { return nil }
            if fieldID == id { return body }
            at = body.upperBound
        }
        return nil
    }

    /// Names are UTF-8 (flag bit 11) or CP437; PyTorch's are ASCII, so any byte that is not
    /// valid UTF-8 is simply replaced.
    private func decodeName(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    // Bounds-checked little-endian reads; nil when the field would run past the buffer.
    private func read16(_ at: Int) -> UInt16? { readLE(at, UInt16.self) }
    private func read32(_ at: Int) -> UInt32? { readLE(at, UInt32.self) }
    private func read64(_ at: Int) -> UInt64? { readLE(at, UInt64.self) }

    private func readLE<T: FixedWidthInteger>(_ at: Int, _: T.Type) -> T? {
        guard at >= 0, at <= bytes.count - MemoryLayout<T>.size else { return nil }
        return bytes.withUnsafeBytes { raw in
            T(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: T.self))
        }
    }

    // MARK: - CRC-32 (IEEE 802.3, the zip polynomial)

    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { crc32($0) }
    }

    /// Unrolled over raw pointers so that debug builds, where loop machinery is not inlined,
    /// still check a 12 MB checkpoint in tens of milliseconds.
    static func crc32(_ raw: UnsafeRawBufferPointer) -> UInt32 {
        crcTable.withUnsafeBufferPointer { table in
            var c: UInt32 = 0xFFFF_FFFF
            guard let t = table.baseAddress, var p = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
                return 0
            }
            var remaining = raw.count
            while remaining >= 8 {
                c = t[Int((c ^ UInt32(p[0])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[1])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[2])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[3])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[4])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[5])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[6])) & 0xFF)] ^ (c >> 8)
                c = t[Int((c ^ UInt32(p[7])) & 0xFF)] ^ (c >> 8)
                p += 8
                remaining -= 8
            }
            while remaining > 0 {
                c = t[Int((c ^ UInt32(p[0])) & 0xFF)] ^ (c >> 8)
                p += 1
                remaining -= 1
            }
            return c ^ 0xFFFF_FFFF
        }
    }
}
