import Testing
@testable import YOLOQuant

struct BitPackingTests {
    static let sizes = [0, 1, 7, 13, 1001]

    static func randomCodes(_ count: Int, bits: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &rng) }
    }

    @Test("pack/unpack round trip, fast path equals reference", arguments: Array(2...8))
    func roundTrip(bits: Int) throws {
        for count in Self.sizes {
            let codes = Self.randomCodes(count, bits: bits, seed: UInt64(bits * 7919 + count))
            let packed = try BitPacking.pack(codes, bits: bits)
            #expect(packed.count == (count * bits + 7) / 8)
            #expect(packed == (try BitPacking.packReference(codes, bits: bits)), "\(bits) bits, \(count) codes")
            #expect(try BitPacking.unpack(packed, bits: bits, count: count) == codes)
            #expect(try BitPacking.unpackReference(packed, bits: bits, count: count) == codes)
            // Unused high bits of the last byte stay zero.
            if (count * bits) % 8 != 0, let last = packed.last {
                #expect(last >> ((count * bits) % 8) == 0)
            }
            // Any sub-range decodes to the same codes as the whole (tile-by-tile dequantization).
            for range in [0..<0, 0..<min(1, count), (count / 3)..<count, (count / 2)..<(count / 2 + count / 4)] {
                #expect(try BitPacking.unpack(packed, bits: bits, count: count, range: range) == Array(codes[range]))
            }
        }
    }

    @Test("byte layout: first code in the lowest bits, codes straddle bytes")
    func layout() throws {
        #expect(try BitPacking.pack([0x1, 0x2], bits: 4) == [0x21])
        #expect(try BitPacking.pack([0x1, 0x2, 0x3], bits: 4) == [0x21, 0x03])
        // 3 bits: 001 | 010 << 3 | 011 << 6 (the 3's top bit spills into byte 1).
        #expect(try BitPacking.pack([1, 2, 3], bits: 3) == [0b1101_0001, 0b0000_0000])
        #expect(try BitPacking.pack([7, 7, 7], bits: 3) == [0xFF, 0x01])
        #expect(try BitPacking.pack([1, 2, 3, 0], bits: 2) == [0b0011_1001])
        // 5 bits: 0b10110 then 0b01101: byte0 = 10110 | (101 << 5), byte1 = 01.
        #expect(try BitPacking.pack([0b10110, 0b01101], bits: 5) == [0b1011_0110, 0b0000_0001])
        #expect(try BitPacking.pack([0xAB, 0x01], bits: 8) == [0xAB, 0x01])
        #expect(try BitPacking.pack([0x3F, 0x01], bits: 6) == [0x7F, 0x00])
        #expect(try BitPacking.pack([0x7F, 0x7F], bits: 7) == [0xFF, 0x3F])
    }

    @Test("wrong packed sizes, codes too wide and bad bit widths are errors")
    func errors() throws {
        #expect(throws: QuantError.packedSizeMismatch(bits: 3, count: 13, expected: 5, actual: 4)) {
            try BitPacking.unpack([0, 0, 0, 0], bits: 3, count: 13)
        }
        #expect(throws: QuantError.packedSizeMismatch(bits: 4, count: 2, expected: 1, actual: 2)) {
            try BitPacking.unpackReference([0, 0], bits: 4, count: 2)
        }
        #expect(throws: QuantError.codeOutOfRange(code: 4, bits: 2, index: 1)) {
            try BitPacking.pack([3, 4], bits: 2)
        }
        #expect(throws: QuantError.codeOutOfRange(code: 16, bits: 4, index: 0)) {
            try BitPacking.packReference([16], bits: 4)
        }
        for bits in [0, 1, 9] {
            #expect(throws: QuantError.invalidBits(bits)) { try BitPacking.pack([0], bits: bits) }
            #expect(throws: QuantError.invalidBits(bits)) { try BitPacking.unpack([0], bits: bits, count: 1) }
        }
    }
}
