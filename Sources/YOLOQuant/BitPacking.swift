/// Bit packing of k-bit codes (k = 2...8) into bytes, the layout of `X.qweight` (DESIGN.md
/// section 4).
///
/// The codes form one little-endian bit stream: bit b of code n is stream bit `n*k + b`, and
/// stream bit s is bit `s % 8` (value `1 << (s % 8)`) of byte `s / 8`. So the first code sits in
/// the lowest bits of byte 0, and for k = 3, 5, 6, 7 a code may straddle two bytes, its low
/// bits at the top of one byte and its high bits at the bottom of the next. k = 4: byte =
/// code[2n] | code[2n+1] << 4; k = 8: byte = code. The last byte's unused high bits are 0.
/// Packed size is always `ceil(count * k / 8)` bytes; anything else is a `packedSizeMismatch`.
///
/// `packReference` / `unpackReference` go bit by bit, for clarity; `pack` / `unpack` move whole
/// codes through a 64-bit accumulator (2, 4, 8 bits: whole bytes at a time). Tests check the
/// two agree for every width.
public enum BitPacking {
    public static func packedByteCount(count: Int, bits: Int) -> Int { (count * bits + 7) / 8 }

    // MARK: plain reference

    public static func packReference(_ codes: [UInt8], bits: Int) throws -> [UInt8] {
        try validate(codes, bits: bits)
        var bytes = [UInt8](repeating: 0, count: packedByteCount(count: codes.count, bits: bits))
        for (n, code) in codes.enumerated() {
            for b in 0..<bits where (code >> b) & 1 == 1 {
                let s = n * bits + b
                bytes[s / 8] |= 1 << (s % 8)
            }
        }
        return bytes
    }

    public static func unpackReference(_ bytes: [UInt8], bits: Int, count: Int) throws -> [UInt8] {
        try checkSize(bytes, bits: bits, count: count)
        var codes = [UInt8](repeating: 0, count: count)
        for n in 0..<count {
            var code: UInt8 = 0
            for b in 0..<bits {
                let s = n * bits + b
                code |= ((bytes[s / 8] >> (s % 8)) & 1) << b
            }
            codes[n] = code
        }
        return codes
    }

    // MARK: fast path

    public static func pack(_ codes: [UInt8], bits: Int) throws -> [UInt8] {
        try validate(codes, bits: bits)
        return packValidated(codes, bits: bits)
    }

    /// `pack` for codes already known to fit in `bits` (2...8).
    static func packValidated(_ codes: [UInt8], bits: Int) -> [UInt8] {
        let byteCount = packedByteCount(count: codes.count, bits: bits)
        switch bits {
        case 8:
            return codes
        case 4:
            var bytes = [UInt8](repeating: 0, count: byteCount)
            let pairs = codes.count / 2
            for n in 0..<pairs { bytes[n] = codes[2 * n] | codes[2 * n + 1] << 4 }
            if codes.count % 2 == 1 { bytes[pairs] = codes[codes.count - 1] }
            return bytes
        default:
            var bytes = [UInt8]()
            bytes.reserveCapacity(byteCount)
            var accumulator: UInt64 = 0
            var pending = 0
            for code in codes {
                accumulator |= UInt64(code) << UInt64(pending)
                pending += bits
                while pending >= 8 {
                    bytes.append(UInt8(truncatingIfNeeded: accumulator))
                    accumulator >>= 8
                    pending -= 8
                }
            }
            if pending > 0 { bytes.append(UInt8(truncatingIfNeeded: accumulator)) }
            return bytes
        }
    }

    public static func unpack(_ bytes: [UInt8], bits: Int, count: Int) throws -> [UInt8] {
        try checkSize(bytes, bits: bits, count: count)
        return decode(bytes, bits: bits, range: 0..<count)
    }

    /// Codes `range` of a packed stream of `count` codes: what a runtime needs to dequantize a
    /// tile without unpacking the whole weight.
    public static func unpack(_ bytes: [UInt8], bits: Int, count: Int, range: Range<Int>) throws -> [UInt8] {
        try checkSize(bytes, bits: bits, count: count)
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw QuantError.countMismatch(what: "code range \(range.lowerBound)..<\(range.upperBound)",
                                           expected: count, actual: range.upperBound)
        }
        return decode(bytes, bits: bits, range: range)
    }

    private static func decode(_ bytes: [UInt8], bits: Int, range: Range<Int>) -> [UInt8] {
        switch bits {
        case 8:
            return Array(bytes[range])
        case 4:
            var codes = [UInt8](repeating: 0, count: range.count)
            var n = 0
            for index in range {
                let byte = bytes[index >> 1]
                codes[n] = index & 1 == 0 ? byte & 0x0F : byte >> 4
                n += 1
            }
            return codes
        default:
            var codes = [UInt8](repeating: 0, count: range.count)
            let mask = UInt64((1 << bits) - 1)
            let firstBit = range.lowerBound * bits
            var byteIndex = firstBit / 8
            var accumulator: UInt64 = 0
            var available = 0
            // Prime with the bits of the first byte from the first code's offset on.
            if !range.isEmpty {
                accumulator = UInt64(bytes[byteIndex]) >> UInt64(firstBit % 8)
                available = 8 - firstBit % 8
                byteIndex += 1
            }
            for n in 0..<range.count {
                while available < bits {
                    accumulator |= UInt64(bytes[byteIndex]) << UInt64(available)
                    byteIndex += 1
                    available += 8
                }
                codes[n] = UInt8(truncatingIfNeeded: accumulator & mask)
                accumulator >>= UInt64(bits)
                available -= bits
            }
            return codes
        }
    }

    // MARK: checks

    private static func validate(_ codes: [UInt8], bits: Int) throws {
        try QuantFormat.validate(bits: bits)
        guard bits < 8 else { return }
        let limit = UInt8(1 << bits)
        if let index = codes.firstIndex(where: { $0 >= limit }) {
            throw QuantError.codeOutOfRange(code: codes[index], bits: bits, index: index)
        }
    }

    private static func checkSize(_ bytes: [UInt8], bits: Int, count: Int) throws {
        try QuantFormat.validate(bits: bits)
        let expected = packedByteCount(count: count, bits: bits)
        guard count >= 0, bytes.count == expected else {
            throw QuantError.packedSizeMismatch(bits: bits, count: count, expected: expected, actual: bytes.count)
        }
    }
}
