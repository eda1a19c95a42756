import Foundation
import YOLOTensor
@testable import YOLOQuant

/// Tests/Fixtures/quant, found from this file's path (fixtures are made by
/// tools/quant_reference.py).
let quantFixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent("quant")

func fixture(_ name: String) throws -> Tensor {
    try NPY.read(quantFixtures.appendingPathComponent(name))
}

/// Deterministic pseudo-random numbers (SplitMix64), so every run sees the same data.
struct SeededGenerator: RandomNumberGenerator {
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

/// Normally distributed values (Box-Muller): a bell-shaped weight group.
func gaussian(_ count: Int, sigma: Float = 0.05, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng)
        let v = Double.random(in: 0..<1, using: &rng)
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)) * sigma
    }
}

func mse(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) } / Double(a.count)
}

/// Every format (scheme x bits x granularity that `QuantFormat.supports`) with these bits.
func allFormats(bits: [Int] = Array(2...8)) throws -> [QuantFormat] {
    var formats = [QuantFormat]()
    for scheme in QuantScheme.allCases {
        for k in bits {
            for granularity in Granularity.allCases where QuantFormat.supports(scheme: scheme, bits: k, granularity: granularity) {
                formats.append(try QuantFormat(scheme: scheme, bits: k, granularity: granularity))
            }
        }
    }
    return formats
}

/// The schemes of DESIGN.md section 3 (the ones the older fixtures cover).
let gridSchemes: [QuantScheme] = [.affine, .symmetric, .pwlq]
