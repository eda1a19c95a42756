import Testing
import YOLOTensor
@testable import YOLOQuant

struct QuantizerTests {
    // MARK: formats and errors

    @Test("bits outside 2...8 and unknown names are errors with one-line descriptions")
    func validation() throws {
        for bits in [-1, 0, 1, 9, 16] {
            #expect(throws: QuantError.invalidBits(bits)) {
                try QuantFormat(scheme: .affine, bits: bits, granularity: .layer)
            }
        }
        for bits in 2...8 { _ = try QuantFormat(scheme: .pwlq, bits: bits, granularity: .cshape) }
        #expect(throws: QuantError.unknownScheme("log2")) { try QuantScheme(parsing: "log2") }
        #expect(throws: QuantError.unknownGranularity("kernel")) { try Granularity(parsing: "kernel") }
        #expect(throws: QuantError.unknownGranularity("mixed")) { try Granularity(parsing: "mixed") }
        #expect(try Granularity(parsing: "F-shape") == .fshape)
        #expect(try Granularity(parsing: "c_shape") == .cshape)
        #expect(try GranularityChoice(parsing: "mixed") == .mixed)
        #expect(try GranularityChoice(parsing: "Filter") == .fixed(.filter))
        #expect(try QuantScheme(parsing: "PWLQ") == .pwlq)
        let errors: [QuantError] = [
            .invalidBits(9), .unknownScheme("x"), .unknownGranularity("y"), .invalidShape([1]),
            .countMismatch(what: "scale", expected: 2, actual: 3),
            .packedSizeMismatch(bits: 3, count: 5, expected: 2, actual: 1),
            .codeOutOfRange(code: 9, bits: 3, index: 0), .nonFiniteWeight(index: 4), .nonFiniteParameter(index: 1),
            .filterRangeOutOfBounds(lower: 0, upper: 9, filters: 8), .noCandidates,
            .tensor("model.0.conv.weight", .invalidBits(1)),
        ]
        for error in errors {
            #expect(!error.description.isEmpty && !error.description.contains("\n"))
        }
        #expect(QuantError.tensor("model.0.conv.weight", .invalidBits(1)).description
            == "model.0.conv.weight: bits must be 2...8, got 1")
    }

    @Test("bad inputs: weight count, non-finite weights, stored parts of the wrong size")
    func badInputs() throws {
        let format = try QuantFormat(scheme: .affine, bits: 4, granularity: .filter)
        #expect(throws: QuantError.countMismatch(what: "weights for shape [2, 1, 1, 1]", expected: 2, actual: 3)) {
            try QuantizedTensor(quantizing: [1, 2, 3], shape: [2, 1, 1, 1], format: format)
        }
        #expect(throws: QuantError.nonFiniteWeight(index: 1)) {
            try QuantizedTensor(quantizing: [1, .nan], shape: [2, 1, 1, 1], format: format)
        }
        #expect(throws: QuantError.nonFiniteWeight(index: 0)) {
            try QuantizedTensor(quantizing: [.infinity, 0], shape: [2, 1, 1, 1], format: format)
        }
        #expect(throws: QuantError.countMismatch(what: "zero (affine)", expected: 2, actual: 0)) {
            try QuantizedTensor(format: format, shape: [2, 1, 1, 1], codes: [0, 0], scale: [1, 1])
        }
        #expect(throws: QuantError.codeOutOfRange(code: 16, bits: 4, index: 1)) {
            try QuantizedTensor(format: format, shape: [2, 1, 1, 1], codes: [0, 16], scale: [1, 1], zero: [0, 0])
        }
        #expect(throws: QuantError.nonFiniteParameter(index: 3)) {
            try QuantizedTensor(format: format, shape: [2, 1, 1, 1], codes: [0, 1], scale: [1, 1], zero: [0, .nan])
        }
        #expect(throws: QuantError.packedSizeMismatch(bits: 4, count: 3, expected: 2, actual: 1)) {
            try PackedWeight(format: format, shape: [3, 1, 1, 1], bytes: [0], scale: [1, 1, 1], zero: [0, 0, 0])
        }
        #expect(throws: QuantError.packedSizeMismatch(bits: 4, count: 3, expected: 2, actual: 3)) {
            try PackedWeight(format: format, shape: [3, 1, 1, 1], bytes: [0, 0, 0], scale: [1, 1, 1], zero: [0, 0, 0])
        }
        let q = try QuantizedTensor(quantizing: [1, 2, 3], shape: [3, 1, 1, 1], format: format)
        #expect(throws: QuantError.filterRangeOutOfBounds(lower: 2, upper: 4, filters: 3)) {
            try q.dequantize(filters: 2..<4)
        }
    }

    // MARK: the schemes' code layouts

    @Test("affine and symmetric follow DESIGN's formulas; symmetric codes are q + 2^(k-1)-1")
    func affineSymmetric() throws {
        let values: [Float] = [-1, -0.5, 0, 0.25, 0.5, 1]
        let shape = [1, 6, 1, 1]
        let sym = try QuantizedTensor(quantizing: values, shape: shape,
                                      format: QuantFormat(scheme: .symmetric, bits: 2, granularity: .layer))
        #expect(sym.scale == [1])
        #expect(sym.zero.isEmpty && sym.breakpoint.isEmpty)
        // q = round(r/1) with half to even: -1, -0 (-0.5), 0, 0 (0.25), 0 (0.5), 1; code = q + 1.
        #expect(sym.codes == [0, 1, 1, 1, 1, 2])
        let sym4 = try QuantizedTensor(quantizing: values, shape: shape,
                                       format: QuantFormat(scheme: .symmetric, bits: 4, granularity: .layer))
        #expect(sym4.scale == [Float(1) / 7])
        // r / s with s = Float(1/7): -0.5 / s = -3.4999998 rounds to -3 (not -3.5 -> -4).
        #expect(sym4.codes.map { Int($0) - 7 } == values.map { Int(($0 / sym4.scale[0]).rounded(.toNearestOrEven)) })
        #expect(sym4.codes == [0, 4, 7, 9, 10, 14])
        let affine = try QuantizedTensor(quantizing: values, shape: shape,
                                         format: QuantFormat(scheme: .affine, bits: 3, granularity: .layer))
        let s = Float(2) / 7
        #expect(affine.scale == [s])
        #expect(affine.zero == [(1 / s).rounded(.toNearestOrEven)])
        let z = affine.zero[0]
        #expect(affine.codes == values.map { UInt8(min(max(($0 / s).rounded(.toNearestOrEven) + z, 0), 7)) })
        #expect(affine.dequantize() == affine.codes.map { s * (Float($0) - z) })
    }

    @Test("PWLQ code layout for k = 2, 3, 4")
    func pwlqLayout() {
        // k = 2: 0 -> 0, 2 -> +p, 3 -> -p; threshold p/2.
        let two = PWLQCodec(maxAbs: 1, breakpoint: 0.5, bits: 2)
        #expect(two.encode(0.1).code == 0 && two.encode(0.1).value == 0)
        #expect(two.encode(0.3).code == 2 && two.encode(0.3).value == 0.5)
        #expect(two.encode(-0.9).code == 3 && two.encode(-0.9).value == -0.5)
        #expect([0, 2, 3].map { two.decode($0) } == [0, 0.5, -0.5])
        // k = 3, m = 1, p = 0.5: centre -0.25, 0, 0.25 (codes 0...2), tails 0.5, 1 (4, 5), -0.5, -1 (6, 7).
        let three = PWLQCodec(maxAbs: 1, breakpoint: 0.5, bits: 3)
        #expect([0, 1, 2, 4, 5, 6, 7].map { three.decode($0) } == [-0.25, 0, 0.25, 0.5, 1, -0.5, -1])
        #expect(three.encode(0.3).code == 2)    // 0.3 / 0.25 = 1.2 -> centre i = 1
        #expect(three.encode(0.4).code == 4)    // 1.6 -> i = 2 = H: tail, t = round(-0.2) = 0
        #expect(three.encode(0.8).code == 5)    // t = round(0.6) = 1
        #expect(three.encode(-0.7).code == 6)   // t = round(0.4) = 0, negative
        #expect(three.encode(-1).code == 7)
        // k = 4, m = 1, p = 0.4: sc = 0.1, st = 0.2; centre codes 0...6 = -0.3...0.3, tails 8...11, 12...15.
        let four = PWLQCodec(maxAbs: 1, breakpoint: 0.4, bits: 4)
        #expect(four.decode(3) == 0)
        #expect(four.decode(6) == Float(3) * (Float(0.4) / 4))
        #expect(four.decode(11) == Float(0.4) + 3 * ((Float(1) - 0.4) / 3))
        #expect(four.decode(12) == -0.4)
        for code in 0..<16 where code != 7 {
            let value = four.decode(UInt8(code))
            #expect(four.encode(value).code == UInt8(code), "code \(code) round trips")
        }
    }

    @Test("PWLQ's branch-free error sum equals encoding element by element", arguments: Array(2...8))
    func pwlqErrorSum(bits: Int) {
        let values = gaussian(2000, seed: UInt64(bits))
        let m = GroupQuantizer.maxAbs(values)
        var scratch = [Float]()
        for ratio: Float in [0.05, 0.3, 0.5, 0.77, 1] {
            let codec = PWLQCodec(maxAbs: m, breakpoint: ratio * m, bits: bits)
            let direct = values.reduce(0.0) { sum, r in
                let d = Double(r - codec.encode(r).value)
                return sum + d * d
            }
            let fast = PWLQCodec.squaredError(values, maxAbs: m, breakpoint: ratio * m, bits: bits, scratch: &scratch)
            #expect(fast == direct)
            #expect(values.allSatisfy { codec.decode(codec.encode($0).code) == codec.encode($0).value })
        }
    }

    @Test("round half to even matches rounded(.toNearestOrEven) bit for bit")
    func rounding() {
        var samples: [Float] = [0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, 8_388_607.5, 8_388_608, 8_388_609,
                                -8_388_607.5, 16_777_217, 1e20, -1e20, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                                .infinity, -.infinity]
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<10000 { samples.append(Float.random(in: -300...300, using: &rng)) }
        for _ in 0..<1000 { samples.append(Float(Int.random(in: -1000...1000, using: &rng)) + 0.5) }
        for x in samples {
            #expect(x.roundedHalfEven.bitPattern == x.rounded(.toNearestOrEven).bitPattern, "\(x)")
        }
        #expect(Float.nan.roundedHalfEven.isNaN)
    }

    // MARK: behaviour

    @Test("reconstruction error falls as bits rise, for every scheme and granularity")
    func errorFallsWithBits() throws {
        let real = try fixture("pointwise_weight.npy")
        let synthetic = Tensor(shape: [8, 16, 3, 3], data: gaussian(8 * 16 * 9, seed: 7))
        for weight in [real, synthetic] {
            for scheme in QuantScheme.allCases {
                for granularity in Granularity.allCases {
                    var previous = Double.infinity
                    for bits in 2...8 where QuantFormat.supports(scheme: scheme, bits: bits, granularity: granularity) {
                        let q = try QuantizedTensor(quantizing: weight,
                                                    format: QuantFormat(scheme: scheme, bits: bits, granularity: granularity))
                        let error = try q.error(against: weight.data)
                        // A codebook's levels are integers <= 127 times a scale: once it has more
                        // levels than a group has distinct values (or than that grid), more bits
                        // cannot lower its error.
                        if scheme == .codebook {
                            #expect(error.mse <= previous, "\(scheme) \(granularity) \(bits) bits: \(error.mse) > \(previous)")
                        } else {
                            #expect(error.mse < previous, "\(scheme) \(granularity) \(bits) bits: \(error.mse) >= \(previous)")
                        }
                        #expect(abs(error.mse - mse(weight.data, q.dequantize())) <= 1e-6 * error.mse)
                        previous = error.mse
                    }
                }
            }
        }
    }

    @Test("PWLQ error <= symmetric error on a bell-shaped group", arguments: Array(2...8))
    func pwlqBeatsSymmetric(bits: Int) throws {
        let values = gaussian(4096, seed: 11 + UInt64(bits))
        let shape = [1, 4096, 1, 1]
        let sym = try QuantizedTensor(quantizing: values, shape: shape,
                                      format: QuantFormat(scheme: .symmetric, bits: bits, granularity: .layer))
        let pwlq = try QuantizedTensor(quantizing: values, shape: shape,
                                       format: QuantFormat(scheme: .pwlq, bits: bits, granularity: .layer))
        let symError = try sym.error(against: values).mse
        let pwlqError = try pwlq.error(against: values).mse
        #expect(pwlqError <= symError * (1 + 1e-6), "\(bits) bits: PWLQ \(pwlqError) vs symmetric \(symError)")
        if bits <= 6 { #expect(pwlqError < 0.95 * symError, "PWLQ should clearly win at \(bits) bits") }
        #expect(pwlq.breakpoint[0] > 0 && pwlq.breakpoint[0] <= pwlq.scale[0])
    }

    @Test("degenerate groups (zeros, constants, tiny values) give finite, sensible values")
    func degenerate() throws {
        // Shape [4, 2, 1, 1]: filter 0 zeros, filter 1 a positive constant, filter 2 a negative
        // constant, filter 3 subnormals.
        let weights: [Float] = [0, 0, 0.3, 0.3, -2, -2, 1e-44, -3e-45]
        for format in try allFormats() {
            let q = try QuantizedTensor(quantizing: weights, shape: [4, 2, 1, 1], format: format)
            let values = q.dequantize()
            #expect(values.allSatisfy { $0.isFinite }, "\(format)")
            #expect((q.scale + q.zero + q.breakpoint).allSatisfy { $0.isFinite }, "\(format)")
            #expect(values[0] == 0 && values[1] == 0, "\(format): zeros stay zero")
            // Affine's rounded zero point may shift the grid by s/2 (at 2 bits, -2 becomes -2.3).
            #expect(values.allSatisfy { abs($0) <= 2.5 }, "\(format): no value far beyond the range")
            if format.granularity == .filter {
                let expectExact = format.scheme == .affine
                // A codebook level is an integer <= 127 times an FP16 scale rounded up: a constant
                // comes back within the scale's FP16 rounding, 2^-10 relative.
                let tolerance: Float = format.scheme == .codebook ? 0x1p-10 : 1e-6
                for f in 1...2 {
                    for k in 0..<2 {
                        let (r, v) = (weights[2 * f + k], values[2 * f + k])
                        if expectExact { #expect(v == r, "\(format)") } else { #expect(abs(v - r) <= tolerance * abs(r), "\(format)") }
                    }
                }
            }
            let packedBack = try q.packed().unpacked()
            #expect(packedBack == q)
        }
        for format in try allFormats(bits: [2, 8]) {
            let zeros = try QuantizedTensor(quantizing: [Float](repeating: 0, count: 18), shape: [2, 1, 3, 3], format: format)
            #expect(zeros.dequantize() == [Float](repeating: 0, count: 18))
            let error = try zeros.error(against: [Float](repeating: 0, count: 18))
            #expect(error.mse == 0 && error.sqnrDB == .infinity)
        }
    }

    @Test("tile dequantization, packed form and stored parts agree with the whole")
    func tilesAndPacking() throws {
        let weight = try fixture("first_weight.npy")
        for format in try allFormats(bits: [3, 4, 8]) {
            let q = try QuantizedTensor(quantizing: weight, format: format)
            let all = q.dequantize()
            let packed = q.packed()
            #expect(packed.bytes.count == q.size.codeBytes)
            #expect(try packed.dequantize() == all)
            #expect(try packed.unpacked() == q)
            let rebuilt = try PackedWeight(format: format, shape: q.shape, bytes: packed.bytes, scale: q.scale,
                                           zero: q.zero, breakpoint: q.breakpoint, grid: q.grid)
            #expect(rebuilt == packed)
            let size = q.layout.filterSize
            for range in [0..<1, 5..<13, 31..<32, 0..<32, 7..<7] {
                let expected = Array(all[(range.lowerBound * size)..<(range.upperBound * size)])
                #expect(try q.dequantize(filters: range) == expected, "\(format) \(range)")
                #expect(try packed.dequantize(filters: range) == expected, "\(format) \(range)")
            }
        }
    }

    @Test("size accounting: ceil(count*bits/8) code bytes, 4 bytes per parameter")
    func sizes() throws {
        let shape = [32, 3, 3, 3]
        let symmetric = try QuantFormat(scheme: .symmetric, bits: 4, granularity: .filter).size(of: shape)
        #expect(symmetric.codeBytes == 432 && symmetric.parameterBytes == 128 && symmetric.totalBytes == 560)
        let affine = try QuantFormat(scheme: .affine, bits: 3, granularity: .cshape).size(of: shape)
        #expect(affine.codeBytes == 324 && affine.parameterBytes == 32 * 9 * 8)
        let pwlq = try QuantFormat(scheme: .pwlq, bits: 5, granularity: .fshape).size(of: [5, 1, 1, 1])
        #expect(pwlq.codeBytes == 4 && pwlq.parameterBytes == 8)
        #expect(symmetric.fp32Bytes == 3456 && symmetric.fp16Bytes == 1728)
        #expect(abs(symmetric.bitsPerWeight - 560.0 * 8 / 864) < 1e-12)
    }
}
