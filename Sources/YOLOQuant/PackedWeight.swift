/// A quantized conv weight in its storage form: codes bit-packed as `BitPacking` describes
/// (`X.qweight`), per-group parameters as `QuantizedTensor`. A runtime can keep only this in
/// memory and dequantize filter tiles on demand.
public struct PackedWeight: Equatable, Sendable {
    public let format: QuantFormat
    public let shape: [Int]
    public let bytes: [UInt8]
    public let scale: [Float]
    public let zero: [Float]
    public let breakpoint: [Float]
    public let grid: IntegerGrid
    public let layout: GroupLayout

    /// Assembles a weight from stored parts; a byte count that is not ceil(count*bits/8) or a
    /// parameter array of the wrong length (or, for integer grids, value) is an error.
    public init(format: QuantFormat, shape: [Int], bytes: [UInt8], scale: [Float] = [],
                zero: [Float] = [], breakpoint: [Float] = [], grid: IntegerGrid = IntegerGrid()) throws {
        let layout = try GroupLayout(granularity: format.granularity, shape: shape)
        let expected = BitPacking.packedByteCount(count: layout.count, bits: format.bits)
        guard bytes.count == expected else {
            throw QuantError.packedSizeMismatch(bits: format.bits, count: layout.count, expected: expected,
                                                actual: bytes.count)
        }
        try QuantizedTensor.checkParameters(format: format, layout: layout, scale: scale, zero: zero,
                                            breakpoint: breakpoint, grid: grid)
        self.init(unchecked: format, shape: shape, bytes: bytes, scale: scale, zero: zero,
                  breakpoint: breakpoint, grid: grid, layout: layout)
    }

    init(unchecked format: QuantFormat, shape: [Int], bytes: [UInt8], scale: [Float], zero: [Float],
         breakpoint: [Float], grid: IntegerGrid, layout: GroupLayout) {
        self.format = format
        self.shape = shape
        self.bytes = bytes
        self.scale = scale
        self.zero = zero
        self.breakpoint = breakpoint
        self.grid = grid
        self.layout = layout
    }

    public var count: Int { layout.count }
    public var size: QuantizedSize { QuantizedSize(format: format, layout: layout) }

    public var parameters: [GroupParameters] {
        QuantizedTensor.groupParameters(scheme: format.scheme, scale: scale, zero: zero, breakpoint: breakpoint)
    }

    /// The in-memory form with one code per weight.
    public func unpacked() throws -> QuantizedTensor {
        try QuantizedTensor(format: format, shape: shape,
                            codes: BitPacking.unpack(bytes, bits: format.bits, count: count),
                            scale: scale, zero: zero, breakpoint: breakpoint, grid: grid)
    }

    public func dequantize() throws -> [Float] {
        try dequantize(filters: 0..<layout.filterCount)
    }

    /// Reconstructed values of `W[filters, :, :, :]`, unpacking only those filters' codes.
    public func dequantize(filters: Range<Int>) throws -> [Float] {
        try QuantizedTensor.checkFilters(filters, layout: layout)
        let first = filters.lowerBound * layout.filterSize
        let codes = try BitPacking.unpack(bytes, bits: format.bits, count: count,
                                          range: first..<(filters.upperBound * layout.filterSize))
        return GroupCodecs(self).dequantize(layout: layout, filters: filters, codes: codes, codeOffset: first)
    }
}
