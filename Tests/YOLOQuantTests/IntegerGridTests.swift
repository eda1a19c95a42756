import Foundation
import Testing
import YOLOTensor
@testable import YOLOQuant

/// The integer-grid formats (sub-filter groups with nested scales, codebook) against a plain
/// reference written from docs/FORMAT.md's definitions, with stated error bounds, as ggml's
/// test-quantize-fns checks each format's fast path against its reference.
struct IntegerGridTests {
    /// Ragged and whole groups: filter sizes 27 (16 + 11), 144 (2 x 64 + 16), 64, 5.
    static let shapes: [[Int]] = [[6, 3, 3, 3], [4, 16, 3, 3], [8, 64, 1, 1], [3, 5, 1, 1]]

    static var nestedFormats: [QuantFormat] {
        get throws {
            try [QuantScheme.affine, .symmetric].flatMap { scheme in
                try QuantFormat.subFilterBitRange.flatMap { bits in
                    try Granularity.subFilter.map { try QuantFormat(scheme: scheme, bits: bits, granularity: $0) }
                }
            }
        }
    }

    static var codebookFormats: [QuantFormat] {
        get throws {
            try QuantFormat.bitRange.flatMap { bits in
                try Granularity.axisAligned.map { try QuantFormat(scheme: .codebook, bits: bits, granularity: $0) }
            }
        }
    }

    /// r' of flat weight `index` straight from the definitions, one element at a time.
    static func referenceValue(_ q: QuantizedTensor, index: Int) -> Float {
        let format = q.format, grid = q.grid
        let n = q.layout.filterSize
        let code = Int(q.codes[index])
        if let size = format.granularity.subFilterGroupSize {
            let f = index / n, j = (index % n) / size
            let g = f * ((n + size - 1) / size) + j
            let l = Int(grid.groupScale[g])
            let m = format.scheme == .affine ? Int(grid.groupMin[g]) : l * (1 << (format.bits - 1))
            return grid.scale[f] * Float(l * code - m)
        }
        let g = q.layout.group(ofFlatIndex: index)
        return grid.scale[g] * Float(grid.levels[g * (1 << format.bits) + code])
    }

    // MARK: round trips

    /// quantize -> pack -> rebuild from the stored parts -> unpack and decode: the same codes
    /// and parameters, and values bit-identical to the reference, in the reference dequantizer,
    /// the packed one and the runtime's table decoder alike.
    @Test("round trip: quantize, pack, rebuild, dequantize equals the plain reference")
    func roundTrip() throws {
        for format in try Self.nestedFormats + Self.codebookFormats {
            for shape in Self.shapes {
                let count = shape.reduce(1, *)
                let weights = gaussian(count, sigma: 0.07, seed: UInt64(count * 7 + format.bits))
                let q = try QuantizedTensor(quantizing: weights, shape: shape, format: format)
                let packed = q.packed()
                let rebuilt = try PackedWeight(format: format, shape: shape, bytes: packed.bytes, grid: q.grid)
                #expect(try rebuilt.unpacked() == q, "\(format) \(shape)")
                let reference = (0..<count).map { Self.referenceValue(q, index: $0) }
                #expect(q.dequantize() == reference, "\(format) \(shape)")
                #expect(try rebuilt.dequantize() == reference, "\(format) \(shape)")
                #expect(PackedConvWeights(rebuilt).denseWeights() == reference, "\(format) \(shape) runtime decoder")
                #expect(q.size.totalBytes == q.size.codeBytes + IntegerGrid.storedBytes(format: format, layout: q.layout))
            }
        }
    }

    // MARK: error bounds

    /// Nested groups: every weight inside its group's grid [d*(-m), d*(l*(2^k-1) - m)] is at most
    /// half a step d*l from its value (the nearest level; 1e-6 relative slack for the Float
    /// division); every integer fits in k + 4 signed bits. On N(0, 1) weights the SQNR is at least
    /// that of the optimal uniform quantizer of a Gaussian (Max 1960: 9.25, 14.27, 19.38 dB at 2,
    /// 3, 4 bits) minus 1 dB. Measured: affine 9.85-11.63, 15.60-17.97, 21.50-23.79 dB (group64
    /// to group16); symmetric 8.51-9.03, 14.56-15.83, 20.68-22.19 dB (its codes -2^(k-1)...
    /// 2^(k-1)-1 are lopsided on symmetric data, which costs most at 2 bits).
    @Test("sub-filter groups: nearest level inside the grid, integers in range, SQNR bounds")
    func nestedBounds() throws {
        let shape = [16, 32, 3, 3]
        let count = shape.reduce(1, *)
        let weights = gaussian(count, sigma: 1, seed: 99)
        let floor: [Int: Double] = [2: 8.25, 3: 13.27, 4: 18.38]
        for format in try Self.nestedFormats {
            let q = try QuantizedTensor(quantizing: weights, shape: shape, format: format)
            let values = q.dequantize()
            let limit = IntegerGrid.integerLimit(format), maxCode = (1 << format.bits) - 1
            for index in 0..<count {
                let g = q.layout.group(ofFlatIndex: index), f = index / q.layout.filterSize
                let integer = q.grid.integer(code: q.codes[index], group: g, format: format)
                #expect(abs(integer) <= limit, "\(format): integer \(integer)")
                let d = q.grid.scale[f], l = Int(q.grid.groupScale[g])
                let m = format.scheme == .affine ? Int(q.grid.groupMin[g]) : l << (format.bits - 1)
                let (low, high) = (d * Float(-m), d * Float(l * maxCode - m))
                let w = weights[index]
                if w >= low && w <= high && l > 0 {
                    #expect(abs(w - values[index]) <= d * Float(l) / 2 * (1 + 1e-6), "\(format) weight \(index)")
                }
            }
            let sqnr = try q.error(against: weights).sqnrDB
            #expect(sqnr >= floor[format.bits]!, "\(format): \(sqnr) dB")
        }
    }

    /// Codebook: every code is its weight's nearest level, levels are integers in -127...127 in
    /// ascending order; on N(0, 1) weights per filter of 288 the SQNR is at least the Lloyd-Max
    /// quantizer's of a Gaussian (Max 1960: 9.30, 14.62, 20.22 dB at 2, 3, 4 bits; k-means is that
    /// quantizer fitted to a sample) minus 1 dB. Measured 9.28, 14.76, 19.54 dB (a sample of 288
    /// values and Lloyd's local optimum; more iterations do not change it).
    @Test("codebook: nearest level, integer levels, SQNR bounds")
    func codebookBounds() throws {
        let shape = [16, 32, 3, 3]
        let weights = gaussian(shape.reduce(1, *), sigma: 1, seed: 98)
        let floor: [Int: Double] = [2: 8.3, 3: 13.62, 4: 19.22]
        for bits in 2...4 {
            let format = try QuantFormat(scheme: .codebook, bits: bits, granularity: .filter)
            let q = try QuantizedTensor(quantizing: weights, shape: shape, format: format)
            let values = q.dequantize()
            let levelCount = 1 << bits
            for g in 0..<q.layout.groupCount {
                let levels = q.grid.levels[(g * levelCount)..<((g + 1) * levelCount)]
                #expect(levels.allSatisfy { $0 >= -127 } && zip(levels, levels.dropFirst()).allSatisfy { $0 <= $1 })
            }
            for (index, w) in weights.enumerated() {
                let g = q.layout.group(ofFlatIndex: index)
                let best = (0..<levelCount).map { abs(w - q.grid.scale[g] * Float(q.grid.levels[g * levelCount + $0])) }.min()!
                #expect(abs(w - values[index]) == best, "\(format) weight \(index)")
            }
            let sqnr = try q.error(against: weights).sqnrDB
            #expect(sqnr >= floor[bits]!, "\(format): \(sqnr) dB")
        }
    }

    /// With an importance per input column, the search weights each weight's error by it: the
    /// weighted error is lower than when the same weight is quantized without it.
    @Test("importance weighting lowers the importance-weighted error")
    func importanceWeighting() throws {
        let shape = [8, 16, 3, 3]
        let n = 16 * 9
        let weights = gaussian(8 * n, sigma: 0.1, seed: 5)
        // Some inputs 100x more important than others.
        let importance = (0..<n).map { Float($0 % 5 == 0 ? 100 : 1) }
        func weightedError(_ values: [Float]) -> Double {
            zip(weights, values).enumerated().reduce(0.0) { sum, item in
                let d = Double(item.element.0 - item.element.1)
                return sum + Double(importance[item.offset % n]) * d * d
            }
        }
        for format in [try QuantFormat(scheme: .affine, bits: 2, granularity: .group32),
                       try QuantFormat(scheme: .symmetric, bits: 3, granularity: .group64),
                       try QuantFormat(scheme: .codebook, bits: 2, granularity: .filter)] {
            let plain = try QuantizedTensor(quantizing: weights, shape: shape, format: format)
            let weighted = try QuantizedTensor(quantizing: weights, shape: shape, format: format, importance: importance)
            #expect(weightedError(weighted.dequantize()) < weightedError(plain.dequantize()), "\(format)")
        }
        #expect(throws: QuantError.self) {
            try QuantizedTensor(quantizing: weights, shape: shape, format: try QuantFormat(scheme: .codebook, bits: 2, granularity: .filter),
                                importance: [Float](repeating: 1, count: n - 1))
        }
    }

    // MARK: formats that do not exist, parameters that break the rules

    @Test("unsupported combinations are errors naming the reason")
    func unsupported() throws {
        let cases: [(QuantScheme, Int, Granularity, String)] = [
            (.pwlq, 3, .group32, "affine or symmetric"), (.codebook, 2, .group16, "a codebook is per layer"),
            (.affine, 5, .group64, "2-4 bit"), (.symmetric, 8, .group32, "2-4 bit"),
        ]
        for (scheme, bits, granularity, words) in cases {
            #expect(!QuantFormat.supports(scheme: scheme, bits: bits, granularity: granularity))
            do {
                _ = try QuantFormat(scheme: scheme, bits: bits, granularity: granularity)
                Issue.record("\(scheme) \(bits) \(granularity) accepted")
            } catch let error as QuantError {
                #expect(error.description.contains(words), "\(error)")
            }
            #expect(throws: QuantError.self) {
                try QuantizationSettings(scheme: scheme, bits: bits, granularity: .fixed(granularity))
            }
        }
        #expect(try Granularity(parsing: "g32") == .group32 && Granularity(parsing: "Group-64") == .group64)
        #expect(try QuantScheme(parsing: "k-means") == .codebook)
        // mixed (under a budget) takes every scheme.
        #expect(try QuantizationSettings(scheme: "codebook", bits: 3, granularity: "mixed", budget: "3").granularity == .mixed)
    }

    /// Each broken parameter is refused with an error naming the array and what is wrong.
    @Test("invalid parameters: counts, NaN and negative scales, integers out of range, levels out of order")
    func invalidParameters() throws {
        let shape = [2, 8, 3, 3]  // 72 weights a filter: group32 -> 3 groups (32, 32, 8)
        let weights = gaussian(144, seed: 3)
        let affine = try QuantizedTensor(quantizing: weights, shape: shape,
                                         format: QuantFormat(scheme: .affine, bits: 2, granularity: .group32))
        let symmetric = try QuantizedTensor(quantizing: weights, shape: shape,
                                            format: QuantFormat(scheme: .symmetric, bits: 4, granularity: .group32))
        let codebook = try QuantizedTensor(quantizing: weights, shape: shape,
                                           format: QuantFormat(scheme: .codebook, bits: 2, granularity: .filter))
        func rejects(_ q: QuantizedTensor, _ words: String, _ edit: (inout IntegerGrid) -> Void) {
            var grid = q.grid
            edit(&grid)
            do {
                _ = try PackedWeight(format: q.format, shape: q.shape, bytes: q.packed().bytes, grid: grid)
                Issue.record("\(q.format): accepted (\(words))")
            } catch let error as QuantError {
                #expect(error.description.contains(words), "\(error)")
                #expect(!error.description.contains("\n"))
            } catch {
                Issue.record("\(error)")
            }
        }
        rejects(affine, "super_scale (one per filter)") { $0.scale.removeLast() }
        rejects(affine, "super_scale: value 1 is not finite") { $0.scale[1] = .nan }
        rejects(affine, "super_scale: value 0 (-0.5) is negative") { $0.scale[0] = -0.5 }
        rejects(affine, "group_min (affine)") { $0.groupMin.removeAll() }
        rejects(affine, "group_scale: group 2: scale 31 x code 3 - min 0 = 93 exceeds 31") { $0.groupScale[2] = 31; $0.groupMin[2] = 0 }
        rejects(affine, "group_min: value 1 (40) does not fit in 5 bits") { $0.groupMin[1] = 40 }
        rejects(symmetric, "group_scale: value 0 (16) does not fit in 4 bits") { $0.groupScale[0] = 16 }
        rejects(symmetric, "group_min (symmetric)") { $0.groupMin = $0.groupScale }
        rejects(codebook, "levels (4 per group)") { $0.levels.removeLast(4) }
        rejects(codebook, "levels: value 0 is -128") { $0.levels[0] = -128 }
        rejects(codebook, "levels: group 1 is not in ascending order") { $0.levels.swapAt(4, 7) }
        rejects(codebook, "level_scale: value 1 is not finite") { $0.scale[1] = .infinity }
        rejects(codebook, "group_scale (codebook)") { $0.groupScale = [1, 1] }
        #expect(throws: QuantError.self) {
            try PackedWeight(format: affine.format, shape: shape, bytes: affine.packed().bytes, scale: [1, 1, 1, 1, 1, 1],
                             grid: affine.grid)
        }
    }

    // MARK: sizes

    /// Stored bytes per format, as docs/FORMAT.md counts them.
    @Test("size: codes, bit-packed group integers, FP16 scales, I8 levels")
    func sizes() throws {
        let shape = [64, 32, 3, 3]  // 288 a filter: group32 -> 9 groups, group64 -> 5 (4 x 64 + 32)
        let a2 = try QuantFormat(scheme: .affine, bits: 2, granularity: .group32).size(of: shape)
        // 576 groups: 5-bit scales 360 B, 5-bit mins 360 B; 64 FP16 super-scales 128 B.
        #expect(a2.codeBytes == 64 * 288 * 2 / 8 && a2.parameterBytes == 360 + 360 + 128)
        let s4 = try QuantFormat(scheme: .symmetric, bits: 4, granularity: .group64).size(of: shape)
        // 320 groups of 4-bit scales, 160 B.
        #expect(s4.parameterBytes == 160 + 128)
        let c3 = try QuantFormat(scheme: .codebook, bits: 3, granularity: .filter).size(of: shape)
        #expect(c3.parameterBytes == 64 * (8 + 2))
        #expect(abs(a2.bitsPerWeight - (2 + 848.0 * 8 / 18432)) < 1e-12)
    }
}
