import CVectorMath
import Foundation
import Testing
@testable import YOLOTensor

/// Every kernel level this CPU runs (`KernelISA.supported`: on this machine baseline, avx2 and
/// avx512), with its C kernels, so each level's vector code is tested against the plain forms
/// whatever level the process runs at. (tools/kernel_harness.sh does the same in C, for aarch64
/// too; tools/test.sh runs the whole-model suites at each level through YOLOV7_ISA.)
let kernelLevels: [(level: KernelISA, kernels: cvm_fp32_kernels)] = KernelISA.supported.compactMap { level in
    level.kernels.map { (level, $0) }
}

struct KernelDispatchTests {
    /// What YOLOV7_ISA asks for is what runs: tools/test.sh runs the parity suites at each x86
    /// level that way, and a level silently not applied would make those runs test other kernels.
    @Test func requestedLevelIsInEffect() {
        let requested = ProcessInfo.processInfo.environment["YOLOV7_ISA"] ?? ""
        if requested.isEmpty {
            #expect(KernelISA.current == KernelISA.cpuBest)
        } else {
            #expect(KernelISA.requestProblem == nil, "\(KernelISA.requestProblem ?? "")")
            let name = String(requested.split(separator: ",").first ?? "")
            let lowest = KernelISA.current == .plain && (name == "plain" || name == "baseline")
            #expect(KernelISA.current.description == name || lowest, "YOLOV7_ISA=\(requested), running \(KernelISA.current)")
        }
        #expect(KernelISA.supported.contains(.plain) && KernelISA.supported.contains(KernelISA.current))
        #expect(kernelLevels.count == KernelISA.supported.count)
        #expect(PointwiseKernel.available == KernelISA.current.hasVectorKernels)
    }

    /// The int8 kernels' level follows the level in effect and its features (CVectorMathDispatch.h),
    /// so tools/test.sh's runs at YOLOV7_ISA=avx2 (AVX-VNNI here), avx2,no-vnni (vpmaddubsw) and
    /// baseline run the int8 suites on each int8 product.
    @Test func int8LevelFollowsTheLevel() {
        let features = Set(KernelISA.features)
        let expected: String
        switch KernelISA.current {
        case .avx512:
            expected = features.contains("avx512vnni") ? "avx512-vnni" : features.contains("avxvnni") ? "avx2-vnni" : "avx2"
        case .avx2: expected = features.contains("avxvnni") ? "avx2-vnni" : "avx2"
        case .neon: expected = features.contains("dotprod") ? "neon-dotprod" : "neon"
        case .plain: expected = KernelISA.plain.description
        }
        #expect(KernelISA.int8Level == expected)
        #expect(Int8ConvKernel.available)
        #expect(KernelISA.int8Supported.contains(KernelISA.int8Level))
        #expect(KernelISA.int8Supported.contains(KernelISA.plain.description))
        let requested = ProcessInfo.processInfo.environment["YOLOV7_ISA"] ?? ""
        if requested.contains("no-vnni") { #expect(!features.contains("avx512vnni") && !features.contains("avxvnni")) }
        if requested.contains("no-dotprod") { #expect(!features.contains("dotprod")) }
    }
}

struct KernelLevelTests {
    static let activations: [Activation] = [.identity, .relu, .leakyReLU(slope: 0.1), .silu, .sigmoid]

    /// Every level's epilogue gives FastMath's numbers exactly (the ramp crosses both clamps).
    @Test func epilogueEqualsFastMathAtEveryLevel() {
        var x: [Float] = (0..<5000).map { Float($0) * 0.05 - 125 }
        x += randomValues(3001, seed: 31).map { $0 * 30 }
        for (level, k) in kernelLevels {
            for act in Self.activations {
                let (code, slope) = PointwiseKernel.code(act)
                var got = x
                got.withUnsafeMutableBufferPointer { k.bias_activate($0.baseAddress!, $0.count, 0.375, code, slope) }
                let want = x.map { act.applyFast($0 + 0.375) }
                #expect(got == want, "\(level) \(act)")
            }
        }
    }

    /// Every level's pointwise kernel against the plain sum on a sub-range of filters and columns
    /// (the engine's tasks), with column tails of every width and filter tails; nothing written
    /// outside the range. One input channel: a single rounding on both sides, so exact.
    @Test(arguments: [(3, 5, 63), (16, 70, 481), (200, 24, 400), (64, 8, 17), (1, 11, 4000), (5, 9, 3)])
    func pointwiseAtEveryLevel(channels: Int, filters: Int, plane: Int) {
        let x = channels == 1 ? (0..<plane).map { Float($0) * 0.0625 - 125 } : randomValues(channels * plane, seed: 151)
        let weight = randomValues(filters * channels, seed: 152), bias = randomValues(filters, seed: 153)
        let f0 = filters > 4 ? 1 : 0, p0 = plane > 10 ? 5 : 0, p1 = plane > 10 ? plane - 1 : plane
        for act in Self.activations {
            let reference = PointwiseKernel.reference(x: x, weight: weight, bias: bias, channels: channels, filters: filters,
                                                      plane: plane, activation: act)
            let (code, slope) = PointwiseKernel.code(act)
            for (level, k) in kernelLevels {
                var y = [Float](repeating: 7, count: filters * plane)
                y.withUnsafeMutableBufferPointer { yb in
                    k.pointwise(x, plane, weight, channels, channels, bias, yb.baseAddress!, plane, f0, filters, p0, p1, p1,
                                code, slope)
                }
                var worst: Float = 0, outside = 0
                for f in 0..<filters {
                    for p in 0..<plane {
                        let i = f * plane + p
                        if f >= f0 && p >= p0 && p < p1 { worst = max(worst, abs(y[i] - reference[i])) } else if y[i] != 7 { outside += 1 }
                    }
                }
                // Sums of <= 200 products of values in [-1, 1]: reassociation and fused
                // multiply-adds move them by ~1e-5.
                #expect(worst <= (channels == 1 ? 0 : 1e-4), "\(level) C\(channels) F\(filters) P\(plane) \(act): \(worst)")
                #expect(outside == 0, "\(level) C\(channels) F\(filters) P\(plane) \(act): \(outside) written outside")
            }
        }
    }

    /// Every level's packed-weight decode against codes read bit by bit: every width, one table
    /// row per filter (the vector paths' 4-bit case) or one per channel and position, weight
    /// order and kernel-major planes, channel counts around the 16-channel vector step, filters
    /// that start on a half byte. A decode copies table entries, so exactly.
    @Test(arguments: [(40, 9), (16, 9), (7, 9), (70, 1), (21, 3)])
    func decodeAtEveryLevel(channels: Int, kernel: Int) {
        let filters = 3, n = channels * kernel
        for bits in 2...8 {
            let bytes = (0..<((filters * n * bits + 7) / 8)).map { UInt8(truncatingIfNeeded: $0 &* 73 &+ 41 &+ ($0 >> 7)) }
            let perRow = 1 << bits
            for perPosition in [false, true] {
                let levels = randomValues(channels * kernel * perRow, seed: UInt64(bits))
                let (levelC, levelK) = perPosition ? (kernel * perRow, perRow) : (0, 0)
                for f in 0..<filters {
                    var want = [Float](repeating: 0, count: n)
                    for c in 0..<channels {
                        for k in 0..<kernel {
                            var code = 0
                            for b in 0..<bits {
                                let at = (f * n + c * kernel + k) * bits + b
                                code |= Int((bytes[at / 8] >> (at % 8)) & 1) << b
                            }
                            want[c * kernel + k] = levels[c * levelC + k * levelK + code]
                        }
                    }
                    // Kernel-major as one filter of a block of two: planes 2C apart, the rest untouched.
                    var wantPlanes = [Float](repeating: 7, count: 2 * n)
                    for c in 0..<channels { for k in 0..<kernel { wantPlanes[k * 2 * channels + c] = want[c * kernel + k] } }
                    for (level, table) in kernelLevels {
                        var got = [Float](repeating: .nan, count: n), planes = [Float](repeating: 7, count: 2 * n)
                        got.withUnsafeMutableBufferPointer {
                            table.decode_filter(bytes, bytes.count, Int32(bits), f * n, channels, kernel, levels, levelC,
                                                levelK, $0.baseAddress!, kernel, 1)
                        }
                        planes.withUnsafeMutableBufferPointer {
                            table.decode_filter(bytes, bytes.count, Int32(bits), f * n, channels, kernel, levels, levelC,
                                                levelK, $0.baseAddress!, 1, 2 * channels)
                        }
                        let what = "\(level) \(bits)-bit C\(channels) k\(kernel) filter \(f) per position \(perPosition)"
                        #expect(got == want, "\(what)")
                        #expect(planes == wantPlanes, "\(what) planes")
                    }
                }
            }
        }
    }

    /// Every level's 2x2 stride-2 pool against the tensor form: equal floats, odd sizes and
    /// every tail width of the vector versions.
    @Test func maxPool2x2AtEveryLevel() {
        for (h, w) in [(15, 20), (3, 4), (40, 66), (2, 2), (9, 37)] {
            let x = Tensor(shape: [1, 1, h, w], data: randomValues(h * w, seed: UInt64(41 + w)))
            let want = FeatureOps.maxPool(x, kernel: 2, stride: 2, padding: 0)
            for (level, k) in kernelLevels {
                var y = [Float](repeating: .nan, count: (h / 2) * (w / 2))
                y.withUnsafeMutableBufferPointer { k.maxpool2x2(x.data, w, h / 2, w / 2, $0.baseAddress!) }
                #expect(y == want.data, "\(level) \(h)x\(w)")
            }
        }
    }
}
