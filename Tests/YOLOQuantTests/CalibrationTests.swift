import Foundation
import Testing
import YOLOModel
import YOLOTensor
import YOLOVision
@testable import YOLOQuant

/// Calibrated quantization against the NumPy reference (tools/calib_reference.py, fixtures in
/// Tests/Fixtures/quant/calib: a [6,4,3,3] weight with outliers, a correlated input map with a
/// dead channel) and on a real layer of the shipped model.
struct CalibrationTests {
    static let folder = quantFixtures.appendingPathComponent("calib")
    static let shape = [6, 4, 3, 3]
    static let geometry = ConvGeometry(inChannels: 4, outChannels: 6, kernel: 3, stride: 1, padding: 1)
    static let gptqCases = [("affine", 3, "filter"), ("affine", 3, "cshape"), ("affine", 3, "channel"),
                            ("affine", 4, "filter"), ("affine", 4, "cshape"), ("affine", 4, "channel"),
                            ("symmetric", 3, "filter"), ("symmetric", 3, "cshape"), ("symmetric", 3, "channel"),
                            ("symmetric", 4, "filter"), ("symmetric", 4, "cshape"), ("symmetric", 4, "channel"),
                            ("pwlq", 3, "filter"), ("pwlq", 3, "cshape"), ("pwlq", 3, "channel"),
                            ("pwlq", 4, "filter"), ("pwlq", 4, "cshape"), ("pwlq", 4, "channel")]

    static func npy(_ name: String) throws -> Tensor { try NPY.read(folder.appendingPathComponent(name)) }
    static func doubles(_ name: String) throws -> [Double] {
        try NPY.readFloat64(folder.appendingPathComponent(name))
    }

    static func format(_ c: (String, Int, String)) throws -> QuantFormat {
        try QuantFormat(scheme: try QuantScheme(parsing: c.0), bits: c.1, granularity: try Granularity(parsing: c.2))
    }

    /// im2col + ssyrk in Float against an explicit float64 im2col: the second moment to 1e-6 of
    /// its largest entry (Float sums of 90 products), the mean to 1e-6.
    @Test func statisticsMatchReference() throws {
        let stats = ConvInputStatistics(geometry: Self.geometry)
        stats.add(try Self.npy("input.npy"))
        let h = stats.secondMoment, expected = try Self.doubles("second_moment.npy")
        #expect(stats.columns == 90)
        let scale = expected.map(abs).max()!
        let worst = zip(h, expected).map { abs($0 - $1) }.max()!
        #expect(worst <= 1e-6 * scale, "second moment off by \(worst) of \(scale)")
        let meanWorst = zip(stats.mean, try Self.doubles("mean.npy")).map { abs($0 - $1) }.max()!
        #expect(meanWorst <= 1e-6)
    }

    /// The blocked LAPACK/BLAS implementation and the reference's plain column loop pick the same
    /// codes in every case (18 cases: 3 schemes x 3 and 4 bits x filter, C-shape, channel).
    @Test func errorFeedbackMatchesReference() throws {
        let weight = try Self.npy("weight.npy").data
        let hessian = try Self.doubles("second_moment.npy")
        let expected = try Self.npy("gptq_codes.npy")
        let n = weight.count
        for (k, c) in Self.gptqCases.enumerated() {
            let start = try QuantizedTensor(quantizing: weight, shape: Self.shape, format: try Self.format(c))
            let q = try ErrorFeedbackQuantizer.quantize(weights: weight, start: start, hessian: hessian)
            let want = expected.data[(k * n)..<((k + 1) * n)].map { UInt8($0) }
            #expect(q.codes == Array(want), "\(c)")
            #expect(q.scale == start.scale && q.zero == start.zero && q.breakpoint == start.breakpoint)
        }
    }

    /// b' = b + (W - Q) E[x], with Q from the reference codes.
    @Test func biasCorrectionMatchesReference() throws {
        let weight = try Self.npy("weight.npy").data
        let bias = try Self.npy("bias.npy").data
        let mean = try Self.doubles("mean.npy")
        let hessian = try Self.doubles("second_moment.npy")
        let expected = try Self.npy("corrected_bias.npy").data
        for (k, c) in Self.gptqCases.enumerated() {
            let start = try QuantizedTensor(quantizing: weight, shape: Self.shape, format: try Self.format(c))
            let q = try ErrorFeedbackQuantizer.quantize(weights: weight, start: start, hessian: hessian)
            let corrected = BiasCorrection.corrected(bias: bias, weights: weight, quantized: q.dequantize(), inputMean: mean)
            let want = Array(expected[(k * 6)..<((k + 1) * 6)])
            let worst = zip(corrected, want).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-6, "\(c): \(worst)")
            #expect(corrected != bias)
        }
    }

    /// Range search: the same clipped parameters and codes as the reference (3-bit, per filter).
    @Test func rangeSearchMatchesReference() throws {
        let weight = try Self.npy("weight.npy").data
        let codes = try Self.npy("range_codes.npy").data
        let params = try Self.npy("range_params.npy").data
        var offset = 0
        for (k, scheme) in gridSchemes.enumerated() {
            let format = try QuantFormat(scheme: scheme, bits: 3, granularity: .filter)
            let q = try QuantizedTensor(quantizing: weight, shape: Self.shape, format: format, rangeSearch: true)
            #expect(q.codes == codes[(k * weight.count)..<((k + 1) * weight.count)].map { UInt8($0) }, "\(scheme)")
            let stored = q.scale + q.zero + q.breakpoint
            #expect(stored == Array(params[offset..<(offset + stored.count)]), "\(scheme) parameters")
            offset += stored.count
            // Never worse than min/max on its own measure, and here strictly better (outliers).
            let plain = try QuantizedTensor(quantizing: weight, shape: Self.shape, format: format)
            #expect(try q.error(against: weight).mse < (try plain.error(against: weight).mse))
        }
    }

    /// On a real layer (model.11.conv of the shipped model, [64,64,3,3]) calibrated on two BCCD
    /// photos of images/ at 320, error feedback lowers the layer's output error
    /// tr((W-Q) H (W-Q)^T) against round-to-nearest on the same grid, measured with H from the
    /// two *other* photos (out of sample).
    @Test func errorFeedbackReducesLayerOutputError() throws {
        let root = QuantModelFixtures.packageRoot
        let model = try ModelLoader.load(path: root.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path)
        let conv = try #require(model.convs.first { $0.name == "model.11.conv" })
        func secondMoment(_ names: [String]) throws -> [Double] {
            let images = names.map { root.appendingPathComponent("images/\($0)") }
            let stats = try CalibrationCollector.collect(model: model, convs: [conv.name], count: images.count) { i in
                Letterbox(detect: try RGBImage(contentsOf: images[i]), size: 320, stride: model.maxStride).tensor()
            }
            return try #require(stats[conv.name]).secondMoment
        }
        let calibration = try secondMoment(["BloodImage_00031.jpg", "BloodImage_00178.jpg"])
        let h = try secondMoment(["BloodImage_00249.jpg", "BloodImage_00391.jpg"])
        let weights = conv.weights.values()
        let n = conv.geometry.filterSize
        func outputError(_ q: [Float]) -> Double {
            var total = 0.0
            for f in 0..<conv.geometry.outChannels {
                let d = (0..<n).map { Double(weights[f * n + $0] - q[f * n + $0]) }
                for i in 0..<n where d[i] != 0 {
                    var row = 0.0
                    for j in 0..<n { row += h[i * n + j] * d[j] }
                    total += d[i] * row
                }
            }
            return total
        }
        let formats = try QuantScheme.allCases.map { try QuantFormat(scheme: $0, bits: 4, granularity: .filter) } + [
            try QuantFormat(scheme: .affine, bits: 4, granularity: .group32),
            try QuantFormat(scheme: .symmetric, bits: 2, granularity: .group64),
        ]
        for format in formats {
            let rtn = try QuantizedTensor(quantizing: weights, shape: conv.geometry.weightShape, format: format)
            let fed = try ErrorFeedbackQuantizer.quantize(weights: weights, start: rtn, hessian: calibration)
            // Error feedback keeps the grid (the integer grids' parameters too) and moves codes.
            #expect(fed.grid == rtn.grid && fed.scale == rtn.scale && fed.codes != rtn.codes)
            let (before, after) = (outputError(rtn.dequantize()), outputError(fed.dequantize()))
            // Measured: 0.124 (affine), 0.124 (symmetric), 0.127 (PWLQ) of round-to-nearest's error.
            #expect(after < 0.3 * before, "\(format): \(after) vs \(before)")
        }
    }
}
