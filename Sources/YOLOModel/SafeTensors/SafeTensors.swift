import Foundation
import YOLOTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types, spelled as safetensors spells them. Checkpoint storages use the same names
/// (`Checkpoint.storageTypes`), so one vocabulary covers both formats.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64

    public var byteSize: Int {
        switch self {
        case .BOOL, .U8, .I8: return 1
        case .I16, .U16, .F16, .BF16: return 2
        case .I32, .U32, .F32: return 4
        case .F64, .I64, .U64: return 8
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .F16, .BF16, .F32, .F64: return true
        default: return false
        }
    }

    /// Decodes little-endian elements to Float (integers and doubles are converted, so the
    /// result may round). `raw.count` must be a multiple of `byteSize`; a tail is ignored.
    ///
    /// The bytes are first copied into an array of the stored type (one memcpy, which also
    /// takes care of alignment), then converted in a second pass.
    func decodeFloats(_ raw: UnsafeRawBufferPointer) -> [Float] {
        let count = raw.count / byteSize
        let bytes = UnsafeRawBufferPointer(rebasing: raw[0..<(count * byteSize)])
        switch self {
        case .F32:
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
            if UInt32(1).littleEndian != 1 {
                out = out.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
            }
            return out
        case .F16, .BF16:
            var halves = [UInt16](repeating: 0, count: count)
            halves.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
            return HalfPrecision.widen(halves, bfloat: self == .BF16)
        case .F64: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: UInt64.self)) { Float(Double(bitPattern: UInt64(littleEndian: $0))) }
        case .I64: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: Int64.self)) { Float(Int64(littleEndian: $0)) }
        case .U64: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: UInt64.self)) { Float(UInt64(littleEndian: $0)) }
        case .I32: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: Int32.self)) { Float(Int32(littleEndian: $0)) }
        case .U32: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: UInt32.self)) { Float(UInt32(littleEndian: $0)) }
        case .I16: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: Int16.self)) { Float(Int16(littleEndian: $0)) }
        case .U16: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: UInt16.self)) { Float($0) }
        case .I8: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: Int8.self)) { Float($0) }
        case .U8: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: UInt8.self)) { Float($0) }
        case .BOOL: return SafeTensorsDType.convert(SafeTensorsDType.copy(bytes, as: UInt8.self)) { $0 != 0 ? 1 : 0 }
        }
    }

    private static func copy<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, as _: T.Type) -> [T] {
        var values = [T](repeating: 0, count: bytes.count / MemoryLayout<T>.size)
        values.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
        return values
    }

    private static func convert<T>(_ values: [T], _ transform: (T) -> Float) -> [Float] {
        let count = values.count
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            values.withUnsafeBufferPointer { source in
                guard var from = source.baseAddress, var to = out.baseAddress else { return }
                let end = from + count
                while from < end {
                    to.pointee = transform(from.pointee)
                    from += 1
                    to += 1
                }
            }
            initialized = count
        }
    }

    /// Encodes floats as little-endian F32, F16 (round to nearest even) or BF16 (same).
    func encodeFloats(_ values: [Float]) -> [UInt8]? {
        switch self {
        case .F32:
            return values.withUnsafeBytes { raw in
                var out = [UInt8](raw)
                if UInt32(1).littleEndian != 1 {
                    for i in 0..<values.count {
                        withUnsafeBytes(of: values[i].bitPattern.littleEndian) { b in
                            out.replaceSubrange((4 * i)..<(4 * i + 4), with: b)
                        }
                    }
                }
                return out
            }
        case .F16, .BF16:
            var out = [UInt8](repeating: 0, count: 2 * values.count)
            for (i, v) in values.enumerated() {
                let h = self == .F16 ? HalfPrecision.half(from: v) : HalfPrecision.bfloat16(from: v)
                out[2 * i] = UInt8(truncatingIfNeeded: h)
                out[2 * i + 1] = UInt8(truncatingIfNeeded: h >> 8)
            }
            return out
        default:
            return nil
        }
    }
}

/// IEEE half and bfloat16 conversions written out bit by bit, so results are the same on every
/// platform (Swift's `Float16` is missing on some).
enum HalfPrecision {
    /// Every half value widened, indexed by bit pattern (256 KB, built on first use).
    static let table: [Float] = (0...UInt16.max).map { float(fromHalf: $0) }

    /// Widens F16 (by table) or BF16 (by shift) values to Float.
    ///
    /// Unrolled by eight with raw pointers because checkpoints are mostly F16 and debug builds
    /// matter while iterating: there, pointer subscripts and integer operators are inlined but
    /// range iterators, buffer subscripts and pointer comparisons are calls, so the plain loop
    /// takes 300 ms for a 12 MB checkpoint and this one about 15 ms.
    static func widen(_ halves: [UInt16], bfloat: Bool) -> [Float] {
        let count = halves.count
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            table.withUnsafeBufferPointer { tableBuffer in
                halves.withUnsafeBufferPointer { source in
                    guard var src = source.baseAddress, var dst = out.baseAddress,
                          let t = tableBuffer.baseAddress else { return }
                    var remaining = count
                    if bfloat {
                        while remaining >= 8 {
                            dst[0] = Float(bitPattern: UInt32(UInt16(littleEndian: src[0])) << 16)
                            dst[1] = Float(bitPattern: UInt32(UInt16(littleEndian: src[1])) << 16)
                            dst[2] = Float(bitPattern: UInt32(UInt16(littleEndian: src[2])) << 16)
                            dst[3] = Float(bitPattern: UInt32(UInt16(littleEndian: src[3])) << 16)
                            dst[4] = Float(bitPattern: UInt32(UInt16(littleEndian: src[4])) << 16)
                            dst[5] = Float(bitPattern: UInt32(UInt16(littleEndian: src[5])) << 16)
                            dst[6] = Float(bitPattern: UInt32(UInt16(littleEndian: src[6])) << 16)
                            dst[7] = Float(bitPattern: UInt32(UInt16(littleEndian: src[7])) << 16)
                            src += 8; dst += 8; remaining -= 8
                        }
                        while remaining > 0 {
                            dst[0] = Float(bitPattern: UInt32(UInt16(littleEndian: src[0])) << 16)
                            src += 1; dst += 1; remaining -= 1
                        }
                    } else {
                        while remaining >= 8 {
                            dst[0] = t[Int(UInt16(littleEndian: src[0]))]
                            dst[1] = t[Int(UInt16(littleEndian: src[1]))]
                            dst[2] = t[Int(UInt16(littleEndian: src[2]))]
                            dst[3] = t[Int(UInt16(littleEndian: src[3]))]
                            dst[4] = t[Int(UInt16(littleEndian: src[4]))]
                            dst[5] = t[Int(UInt16(littleEndian: src[5]))]
                            dst[6] = t[Int(UInt16(littleEndian: src[6]))]
                            dst[7] = t[Int(UInt16(littleEndian: src[7]))]
                            src += 8; dst += 8; remaining -= 8
                        }
                        while remaining > 0 {
                            dst[0] = t[Int(UInt16(littleEndian: src[0]))]
                            src += 1; dst += 1; remaining -= 1
                        }
                    }
                }
            }
            initialized = count
        }
    }

    static func float(fromHalf h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa * 2^-24, exact in float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign != 0 ? -magnitude : magnitude
        case 0x1F:
            return Float(bitPattern: sign | 0x7F80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 112) << 23 | mantissa << 13)
        }
    }

    static func half(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            // Keep NaN a (quiet) NaN: the top mantissa bit survives the shift.
            return sign | 0x7C00 | (mantissa != 0 ? 0x200 | UInt16(truncatingIfNeeded: mantissa >> 13) : 0)
        }
        let halfExponent = exponent - 127 + 15
        if halfExponent >= 31 { return sign | 0x7C00 }
        if halfExponent <= 0 {
            // Subnormal half: shift the full 24-bit significand, round to nearest even.
            guard halfExponent >= -10 else { return sign }
            let significand = mantissa | 0x80_0000
            let shift = UInt32(14 - halfExponent)
            var result = significand >> shift
            let remainder = significand & ((1 << shift) - 1)
            let halfway: UInt32 = 1 << (shift - 1)
            if remainder > halfway || (remainder == halfway && result & 1 == 1) { result += 1 }
            return sign | UInt16(truncatingIfNeeded: result)
        }
        var result = UInt32(halfExponent) << 10 | mantissa >> 13
        let remainder = mantissa & 0x1FFF
        // A carry out of the mantissa bumps the exponent, up to infinity: that is correct rounding.
        if remainder > 0x1000 || (remainder == 0x1000 && result & 1 == 1) { result += 1 }
        return sign | UInt16(truncatingIfNeeded: result)
    }

    static func float(fromBFloat16 b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
        let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}

/// One tensor of a safetensors file.
public struct SafeTensorsEntry: Equatable, Sendable {
    public var name: String
    public var dtype: SafeTensorsDType
    public var shape: [Int]
    /// The raw little-endian bytes, exactly as stored.
    public var bytes: [UInt8]

    public init(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file read into memory: 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}`, then raw data.
///
/// Everything in the header is checked before any byte is trusted, with the rules of the
/// reference implementation: offsets inside the data area, entries tiling it with no gap or
/// overlap, each entry's size equal to dtype size times element count.
public struct SafeTensorsFile: Sendable {
    public let path: String
    public let metadata: [String: String]
    /// In data order (the order of their offsets).
    public let entries: [SafeTensorsEntry]
    private let indexByName: [String: Int]

    /// A header larger than this is refused before it is parsed (the reference uses 100 MB).
    public static let maxHeaderBytes = 100_000_000

    public var names: [String] { entries.map(\.name) }

    public func entry(named name: String) -> SafeTensorsEntry? {
        indexByName[name].map { entries[$0] }
    }

    public static func read(path: String) throws -> SafeTensorsFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw YOLOModelError.invalidFile(path: path, reason: "cannot read file (\(error.localizedDescription))")
        }
        return try parse(data, path: path)
    }

    /// Parses bytes already in memory; `path` only names them in errors.
    public static func parse(_ data: Data, path: String) throws -> SafeTensorsFile {
        func fail(_ reason: String) -> YOLOModelError {
            .invalidFile(path: path, reason: "safetensors: \(reason)")
        }
        let fileSize = data.count
        guard fileSize >= 8 else { throw fail("file is \(fileSize) bytes, too short for a header length") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(maxHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds the \(maxHeaderBytes)-byte limit")
        }
        guard headerLength >= 2, Int(headerLength) <= fileSize - 8 else {
            throw fail("header length \(headerLength) does not fit in the \(fileSize)-byte file (truncated?)")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = fileSize - dataStart
        let headerBytes = [UInt8](data[data.startIndex + 8..<data.startIndex + dataStart])
        guard headerBytes.first == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
        let header: JSONValue
        do {
            header = try JSONParser.parse(headerBytes)
        } catch let error as JSONParser.Failure {
            throw fail("header is not valid JSON (\(error.reason) at byte \(8 + error.offset))")
        }
        guard case .object(let fields) = header else { throw fail("header is not a JSON object") }

        var metadata: [String: String] = [:]
        struct Pending { var name: String; var dtype: SafeTensorsDType; var shape: [Int]; var begin: Int; var end: Int }
        var pending: [Pending] = []
        var seen = Set<String>()
        for (name, value) in fields {
            guard seen.insert(name).inserted else { throw fail("key '\(name)' appears twice in the header") }
            if name == "__metadata__" {
                guard case .object(let items) = value else { throw fail("__metadata__ is not an object") }
                for (k, v) in items {
                    guard case .string(let s) = v else { throw fail("__metadata__['\(k)'] is not a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case .object(let info) = value else { throw fail("entry '\(name)' is not an object") }
            func field(_ key: String) -> JSONValue? { info.first { $0.0 == key }?.1 }
            guard case .string(let dtypeName)? = field("dtype") else { throw fail("entry '\(name)' has no dtype") }
            guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
                throw fail("entry '\(name)' has unsupported dtype '\(dtypeName)'")
            }
            guard case .array(let dims)? = field("shape") else { throw fail("entry '\(name)' has no shape") }
            var shape: [Int] = []
            var count = 1
            for dim in dims {
                guard case .integer(let d) = dim, d >= 0 else { throw fail("entry '\(name)' has an invalid shape") }
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow else { throw fail("entry '\(name)' has a shape too large to address") }
                count = product
                shape.append(d)
            }
            guard case .array(let offsets)? = field("data_offsets"), offsets.count == 2,
                  case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1],
                  begin >= 0, end >= begin else {
                throw fail("entry '\(name)' has invalid data_offsets")
            }
            guard end <= dataSize else {
                throw fail("entry '\(name)' ends at data offset \(end), past the \(dataSize)-byte data area")
            }
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow, byteCount == end - begin else {
                throw fail("entry '\(name)' spans \(end - begin) bytes, but \(dtype.rawValue) \(shape) needs \(overflow ? "more than addressable" : String(byteCount))")
            }
            pending.append(Pending(name: name, dtype: dtype, shape: shape, begin: begin, end: end))
        }

        // The reference reader requires the entries to tile the data area exactly.
        pending.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var expected = 0
        for p in pending {
            guard p.begin == expected else {
                throw fail(p.begin < expected
                    ? "entry '\(p.name)' (bytes \(p.begin)..<\(p.end)) overlaps the previous entry, which ends at \(expected)"
                    : "entry '\(p.name)' starts at \(p.begin), leaving a gap after byte \(expected)")
            }
            expected = p.end
        }
        guard expected == dataSize else {
            throw fail("entries cover \(expected) bytes but the data area holds \(dataSize)")
        }

        var entries: [SafeTensorsEntry] = []
        entries.reserveCapacity(pending.count)
        var index: [String: Int] = [:]
        let base = data.startIndex + dataStart
        for p in pending {
            index[p.name] = entries.count
            entries.append(SafeTensorsEntry(name: p.name, dtype: p.dtype, shape: p.shape,
                                            bytes: [UInt8](data[(base + p.begin)..<(base + p.end)])))
        }
        return SafeTensorsFile(path: path, metadata: metadata, entries: entries, indexByName: index)
    }

    private init(path: String, metadata: [String: String], entries: [SafeTensorsEntry], indexByName: [String: Int]) {
        self.path = path
        self.metadata = metadata
        self.entries = entries
        self.indexByName = indexByName
    }

    /// The named entry as float32, converting from any dtype.
    public func floatTensor(_ name: String) throws -> Tensor {
        guard let entry = entry(named: name) else {
            throw YOLOModelError.missingTensor(name: name, source: path)
        }
        let values = entry.bytes.withUnsafeBytes { entry.dtype.decodeFloats($0) }
        return Tensor(shape: entry.shape, data: values)
    }
}

/// Builds a safetensors file and writes it atomically: to a temporary file in the destination
/// folder, renamed over the destination only once complete, so a failure never leaves a
/// half-written file behind.
public struct SafeTensorsWriter: Sendable {
    public var metadata: [String: String]
    public private(set) var entries: [SafeTensorsEntry] = []

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds raw little-endian bytes; checked against dtype and shape when written.
    public mutating func add(name: String, dtype: SafeTensorsDType, shape: [Int], bytes: [UInt8]) {
        entries.append(SafeTensorsEntry(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds a float tensor stored as F32, F16 or BF16.
    public mutating func add(name: String, tensor: Tensor, dtype: SafeTensorsDType = .F32) throws {
        guard let bytes = dtype.encodeFloats(tensor.data) else {
            throw YOLOModelError.invalidFile(path: name, reason: "a float tensor cannot be stored as \(dtype.rawValue)")
        }
        add(name: name, dtype: dtype, shape: tensor.shape, bytes: bytes)
    }

    /// The complete file contents. Entries are laid out largest element size first (stable
    /// otherwise), as the reference writer does, so that every entry starts aligned to its
    /// element size; the header is padded with spaces so the data area starts on 8 bytes.
    public func serialized(path: String = "<memory>") throws -> [UInt8] {
        let (header, ordered) = try layout(path: path)
        var out = [UInt8]()
        out.reserveCapacity(8 + header.count + ordered.reduce(0) { $0 + $1.bytes.count })
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for entry in ordered { out.append(contentsOf: entry.bytes) }
        return out
    }

    public func write(to path: String) throws {
        let (header, ordered) = try layout(path: path)
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw YOLOModelError.invalidFile(path: path, reason: "cannot create a file in \(folder)")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            defer { try? handle.close() }
            var prefix = Data()
            withUnsafeBytes(of: UInt64(header.count).littleEndian) { prefix.append(contentsOf: $0) }
            prefix.append(contentsOf: header)
            try handle.write(contentsOf: prefix)
            for entry in ordered { try handle.write(contentsOf: entry.bytes) }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw YOLOModelError.invalidFile(path: path, reason: "write failed (\(error.localizedDescription))")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw YOLOModelError.invalidFile(path: path, reason: "cannot move the finished file into place (\(reason))")
        }
    }

    private func layout(path: String) throws -> (header: [UInt8], ordered: [SafeTensorsEntry]) {
        func fail(_ reason: String) -> YOLOModelError { .invalidFile(path: path, reason: reason) }
        var names = Set<String>()
        for entry in entries {
            guard !entry.name.isEmpty, entry.name != "__metadata__" else {
                throw fail("invalid tensor name '\(entry.name)'")
            }
            guard names.insert(entry.name).inserted else { throw fail("tensor '\(entry.name)' added twice") }
            var count = 1
            for d in entry.shape {
                let (p, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else { throw fail("tensor '\(entry.name)' has an invalid shape \(entry.shape)") }
                count = p
            }
            guard count * entry.dtype.byteSize == entry.bytes.count else {
                throw fail("tensor '\(entry.name)': \(entry.bytes.count) bytes, but \(entry.dtype.rawValue) \(entry.shape) needs \(count * entry.dtype.byteSize)")
            }
        }
        let ordered = entries.enumerated()
            .sorted { ($1.element.dtype.byteSize, $0.offset) < ($0.element.dtype.byteSize, $1.offset) }
            .map(\.element)

        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += JSONWriter.string("__metadata__") + ":{"
            json += metadata.keys.sorted().map { JSONWriter.string($0) + ":" + JSONWriter.string(metadata[$0] ?? "") }
                .joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for entry in ordered {
            if !first { json += "," }
            first = false
            let end = offset + entry.bytes.count
            json += JSONWriter.string(entry.name) + ":{\"dtype\":\"\(entry.dtype.rawValue)\",\"shape\":["
                + entry.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}"
            offset = end
        }
        json += "}"
        var header = Array(json.utf8)
        // Pad so that 8 + header length is a multiple of 8, i.e. the data area is 8-aligned.
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
        return (header, ordered)
    }
}

// MARK: - JSON, just enough for headers

/// A parsed JSON value; objects keep their key order and duplicates (the caller rejects them).
enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }
}

/// A strict JSON parser with a nesting limit: the header is untrusted, and Foundation's parser
/// recurses without bound (a header of 10 million '[' would overflow the stack).
struct JSONParser {
    struct Failure: Error {
        var reason: String
        var offset: Int
    }

    static let maxDepth = 64

    private let bytes: [UInt8]
    private var at = 0

    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.at == bytes.count else { throw parser.failure("unexpected text after the value") }
        return value
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func failure(_ reason: String) -> Failure { Failure(reason: reason, offset: at) }

    private mutating func skipWhitespace() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 {
            at += 1
        }
    }

    private mutating func expect(_ literal: String, _ value: JSONValue) throws -> JSONValue {
        let chars = Array(literal.utf8)
        guard at + chars.count <= bytes.count, Array(bytes[at..<(at + chars.count)]) == chars else {
            throw failure("invalid literal")
        }
        at += chars.count
        return value
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < JSONParser.maxDepth else { throw failure("nested more than \(JSONParser.maxDepth) deep") }
        skipWhitespace()
        guard at < bytes.count else { throw failure("unexpected end") }
        switch bytes[at] {
        case UInt8(ascii: "{"):
            at += 1
            var fields: [(String, JSONValue)] = []
            skipWhitespace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(fields) }
            while true {
                skipWhitespace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                let key = try string()
                skipWhitespace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                at += 1
                fields.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard at < bytes.count else { throw failure("unexpected end") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "}") { at += 1; return .object(fields) }
                throw failure("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            at += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard at < bytes.count else { throw failure("unexpected end") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                if bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
                throw failure("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        default:
            return try number()
        }
    }

    private mutating func number() throws -> JSONValue {
        let start = at
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
        var integral = true
        while at < bytes.count {
            let c = bytes[at]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") {
                at += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                        || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                integral = false
                at += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<at], as: UTF8.self)
        guard !text.isEmpty, text != "-" else { throw failure("unexpected character") }
        if integral, let i = Int(text) { return .integer(i) }
        guard let d = Double(text), d.isFinite else { throw failure("invalid number '\(text.prefix(30))'") }
        return .number(d)
    }

    private mutating func string() throws -> String {
        at += 1 // opening quote
        var out = [UInt8]()
        while true {
            guard at < bytes.count else { throw failure("unterminated string") }
            let c = bytes[at]
            at += 1
            switch c {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw failure("string is not valid UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { throw failure("unterminated escape") }
                let e = bytes[at]
                at += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A high surrogate must be followed by an escaped low one.
                        guard at + 2 <= bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                            throw failure("unpaired surrogate")
                        }
                        at += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw failure("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw failure("invalid escape")
                }
            default:
                guard c >= 0x20 else { throw failure("control character in string") }
                out.append(c)
            }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<(at + 4)], as: UTF8.self), radix: 16) else {
            throw failure("invalid \\u escape")
        }
        at += 4
        return v
    }
}

enum JSONWriter {
    /// A JSON string literal; non-ASCII text is written as UTF-8, which JSON allows.
    static func string(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
