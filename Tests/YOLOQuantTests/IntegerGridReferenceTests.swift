import Foundation
import Testing
import YOLOTensor
@testable import YOLOQuant

/// Swift against the independent NumPy implementation (tools/grid_reference.py) of the
/// integer-grid formats, on three real BN-folded conv weights of YOLOv7-tiny-BCCD and the
/// calibration fixture's weight with its input importance: packed codes, integers and FP16
/// scales identical; MSE equal to 1e-9 relative (NumPy sums pairwise, Swift in order).
struct IntegerGridReferenceTests {
    struct Manifest: Decodable {
        struct Case: Decodable {
            let layer: String
            let scheme: String
            let bits: Int
            let granularity: String
            let importance: Bool
            let codeBytes: Int
            let integers: Int
            let scales: Int
        }
        let cases: [Case]
        let weights: [String: String]
    }

    static let folder = quantFixtures.appendingPathComponent("grid")

    @Test("codes, group integers, levels and scales match NumPy")
    func matchesNumPy() throws {
        let manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: Self.folder.appendingPathComponent("manifest.json")))
        let codes = try NPY.read(Self.folder.appendingPathComponent("codes.npy")).data.map { UInt8($0) }
        let integers = try NPY.read(Self.folder.appendingPathComponent("integers.npy")).data
        let scales = try NPY.read(Self.folder.appendingPathComponent("scales.npy")).data
        let mses = try NPY.readFloat64(Self.folder.appendingPathComponent("mse.npy"))
        let importance = try NPY.read(Self.folder.appendingPathComponent("importance.npy")).data
        #expect(manifest.cases.count == mses.count && manifest.cases.count > 60)
        var weights: [String: Tensor] = [:]
        var (codeOffset, integerOffset, scaleOffset) = (0, 0, 0)
        for (k, c) in manifest.cases.enumerated() {
            let weight = try weights[c.layer] ?? fixture(try #require(manifest.weights[c.layer]))
            weights[c.layer] = weight
            let format = try QuantFormat(scheme: QuantScheme(parsing: c.scheme), bits: c.bits,
                                         granularity: Granularity(parsing: c.granularity))
            let q = try QuantizedTensor(quantizing: weight.data, shape: weight.shape, format: format,
                                        importance: c.importance ? importance : nil)
            let label = "\(c.layer) \(format)\(c.importance ? " weighted" : "")"
            let packed = q.packed()
            #expect(packed.bytes == Array(codes[codeOffset..<(codeOffset + c.codeBytes)]), "\(label): codes differ")
            let stored = q.grid.groupScale.map(Float.init) + q.grid.groupMin.map(Float.init) + q.grid.levels.map(Float.init)
            #expect(stored == Array(integers[integerOffset..<(integerOffset + c.integers)]), "\(label): integers differ")
            #expect(q.grid.scale == Array(scales[scaleOffset..<(scaleOffset + c.scales)]), "\(label): scales differ")
            let mse = try q.error(against: weight.data).mse
            #expect(abs(mse - mses[k]) <= 1e-9 * mses[k], "\(label): MSE \(mse) vs \(mses[k])")
            codeOffset += c.codeBytes
            integerOffset += c.integers
            scaleOffset += c.scales
        }
        #expect(codeOffset == codes.count && integerOffset == integers.count && scaleOffset == scales.count)
    }
}
