import Foundation
import Testing
import YOLOTensor
@testable import YOLOQuant

/// Swift against the independent NumPy implementation (tools/quant_reference.py) on three real
/// BN-folded conv weights of YOLOv7-tiny-BCCD, for every scheme x bits x granularity: packed
/// codes and parameters must be identical, dequantized values and MSE equal to 1e-6 relative.
struct ReferenceCrossCheckTests {
    struct Manifest: Decodable {
        struct Layer: Decodable { let tag: String; let source: String; let shape: [Int] }
        let layers: [Layer]
        let schemes: [String]
        let bits: [Int]
        let granularities: [String]
        let maxSamples: Int
    }

    static let manifest: Manifest = {
        let data = try! Data(contentsOf: quantFixtures.appendingPathComponent("manifest.json"))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()

    static let cases: [(String, String)] = manifest.layers.flatMap { layer in
        manifest.schemes.map { (layer.tag, $0) }
    }

    static func sampleIndices(_ n: Int, max: Int) -> [Int] {
        n <= max ? Array(0..<n) : (0..<max).map { $0 * n / max }
    }

    @Test("codes, parameters, values and MSE match NumPy", arguments: cases)
    func matchesNumPy(layer tag: String, scheme schemeName: String) throws {
        let manifest = Self.manifest
        let weight = try fixture("\(tag)_weight.npy")
        let layer = try #require(manifest.layers.first { $0.tag == tag })
        #expect(weight.shape == layer.shape)
        let scheme = try QuantScheme(parsing: schemeName)
        let codes = try fixture("\(tag)_\(schemeName)_codes.npy").data.map { UInt8($0) }
        let params = try fixture("\(tag)_\(schemeName)_params.npy").data
        let values = try fixture("\(tag)_\(schemeName)_values.npy")
        let mses = try fixture("\(tag)_\(schemeName)_mse.npy").data
        let samples = Self.sampleIndices(weight.count, max: manifest.maxSamples)
        #expect(values.shape == [manifest.bits.count, manifest.granularities.count, samples.count])

        var codeOffset = 0, paramOffset = 0
        for (b, bits) in manifest.bits.enumerated() {
            for (g, granularityName) in manifest.granularities.enumerated() {
                let format = try QuantFormat(scheme: scheme, bits: bits, granularity: Granularity(parsing: granularityName))
                let q = try QuantizedTensor(quantizing: weight, format: format)
                let label = "\(tag) \(format)"

                let packed = q.packed()
                let expectedBytes = Array(codes[codeOffset..<(codeOffset + packed.bytes.count)])
                codeOffset += packed.bytes.count
                #expect(packed.bytes == expectedBytes, "\(label): packed codes differ")
                #expect(try BitPacking.unpack(expectedBytes, bits: bits, count: q.count) == q.codes, "\(label): codes differ")

                let groups = q.layout.groupCount
                var stored = q.scale
                if scheme == .affine { stored += q.zero }
                if scheme == .pwlq { stored += q.breakpoint }
                #expect(stored.count == groups * scheme.parametersPerGroup)
                let expectedParams = Array(params[paramOffset..<(paramOffset + stored.count)])
                paramOffset += stored.count
                #expect(stored == expectedParams, "\(label): parameters differ")

                let deq = q.dequantize()
                var worst: Float = 0
                for (s, index) in samples.enumerated() {
                    let expected = values.data[(b * manifest.granularities.count + g) * samples.count + s]
                    worst = max(worst, abs(deq[index] - expected) / max(abs(expected), 1e-30))
                }
                #expect(worst <= 1e-6, "\(label): dequantized values differ by \(worst) relative")
                let error = try q.error(against: weight.data)
                let expectedMSE = Double(mses[b * manifest.granularities.count + g])
                #expect(abs(error.mse - expectedMSE) <= 1e-6 * expectedMSE, "\(label): MSE \(error.mse) vs \(expectedMSE)")
            }
        }
        #expect(codeOffset == codes.count)
        #expect(paramOffset == params.count)
    }
}
