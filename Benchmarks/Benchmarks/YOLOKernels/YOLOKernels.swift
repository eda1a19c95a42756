import Benchmark
import YOLOQuant
import YOLOTensor

/// Deterministic values in [-1, 1).
func values(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &+ 0x9E37_79B9_7F4A_7C15
    return (0..<n).map { _ in
        s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: s >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

/// Shapes of real YOLOv7 layers at 640x640 (yolov7.yaml; `yolov7 bench --profile` lists them).
struct ConvCase {
    let name: String
    let geometry: ConvGeometry
    let size: Int
}

let convCases = [
    ConvCase(name: "L0 3->32 k3s1 @640", geometry: ConvGeometry(inChannels: 3, outChannels: 32, kernel: 3, padding: 1), size: 640),
    ConvCase(name: "L1 32->64 k3s2 @640", geometry: ConvGeometry(inChannels: 32, outChannels: 64, kernel: 3, stride: 2, padding: 1), size: 640),
    ConvCase(name: "L2 64->64 k3s1 @320", geometry: ConvGeometry(inChannels: 64, outChannels: 64, kernel: 3, padding: 1), size: 320),
    ConvCase(name: "L11 256->256 k1 @160", geometry: ConvGeometry(inChannels: 256, outChannels: 256, kernel: 1), size: 160),
    ConvCase(name: "L20 128->128 k3s1 @80", geometry: ConvGeometry(inChannels: 128, outChannels: 128, kernel: 3, padding: 1), size: 80),
    ConvCase(name: "L28 256->256 k3s2 @80", geometry: ConvGeometry(inChannels: 256, outChannels: 256, kernel: 3, stride: 2, padding: 1), size: 80),
    ConvCase(name: "L37 1024->1024 k1 @40", geometry: ConvGeometry(inChannels: 1024, outChannels: 1024, kernel: 1), size: 40),
    ConvCase(name: "L104 512->1024 k3s1 @20", geometry: ConvGeometry(inChannels: 512, outChannels: 1024, kernel: 3, padding: 1), size: 20),
]

/// GEMM shapes (M filters, N output pixels, K = C*kh*kw) of the same layers' im2col form.
let gemmShapes: [(m: Int, n: Int, k: Int)] = [
    (32, 409_600, 27), (64, 102_400, 288), (256, 25_600, 256), (128, 6_400, 1_152), (1_024, 1_600, 1_024),
    (1_024, 400, 4_608), (255, 6_400, 256),
]

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .cpuTotal, .throughput],
                                           timeUnits: .microseconds, warmupIterations: 2,
                                           maxDuration: .seconds(3), maxIterations: 50)
    ComputeThreads.set(1)

    for (m, n, k) in gemmShapes {
        let a = values(m * k, seed: 1), b = values(k * n, seed: 2)
        var c = [Float](repeating: 0, count: m * n)
        Benchmark("gemm \(m)x\(n)x\(k)") { benchmark in
            for _ in benchmark.scaledIterations { Matrix.multiply(a, b, m: m, n: n, k: k, into: &c) }
            blackHole(c)
        }
    }

    for conv in convCases {
        let g = conv.geometry
        let x = Tensor(shape: [1, g.inChannels, conv.size, conv.size], data: values(g.inChannels * conv.size * conv.size, seed: 3))
        let w = values(g.weightCount, seed: 4), bias = values(g.outChannels, seed: 5)
        let prepared = PreparedWeights(weight: w, geometry: g)
        var out = Tensor(zeros: g.outputShape(x.featureShape))
        var scratch: [Float] = []
        for workers in [1, 2] {
            Benchmark("conv \(conv.name) silu, \(workers) thread\(workers > 1 ? "s" : "")") { benchmark in
                for _ in benchmark.scaledIterations {
                    ConvKernel.forward(input: x, weight: w, bias: bias, geometry: g, activation: .silu, into: &out,
                                       scratch: &scratch, prepared: prepared, workers: workers)
                }
                blackHole(out)
            }
        }
        // The Winograd tiles side by side (what `yolov7 bench --tune` chooses between per conv).
        if Winograd.applies(g) {
            for tile in Winograd.Tile.allCases where tile.available {
                let forTile = PreparedWeights(weight: w, geometry: g, tile: tile)
                Benchmark("winograd \(tile) \(conv.name) silu, 1 thread") { benchmark in
                    for _ in benchmark.scaledIterations {
                        ConvKernel.forward(input: x, weight: w, bias: bias, geometry: g, activation: .silu, into: &out,
                                           scratch: &scratch, prepared: forTile, workers: 1)
                    }
                    blackHole(out)
                }
            }
        }
        if g.kernelH > 1 {
            Benchmark("im2col \(conv.name)") { benchmark in
                for _ in benchmark.scaledIterations { blackHole(ConvKernel.unfold(x, geometry: g)) }
            }
        }
    }

    // The Winograd weight transform of a decoded 3x3 weight, per tile: what a packed model
    // runs per Winograd conv per pass (kernel-major planes in, [positions][F][C] out).
    for tile in Winograd.Tile.allCases {
        let (f, c) = (1024, 512)
        let planes = values(9 * f * c, seed: 7)
        var u = [Float](repeating: 0, count: tile.positions * f * c)
        Benchmark("winograd weight transform \(tile) 1024x512x3x3") { benchmark in
            for _ in benchmark.scaledIterations {
                planes.withUnsafeBufferPointer { g in
                    u.withUnsafeMutableBufferPointer { out in
                        Winograd.transformWeights(kernelMajor: g.baseAddress!, count: f * c, into: out.baseAddress!,
                                                  stride: f * c, tile: tile)
                    }
                }
            }
            blackHole(u)
        }
    }

    // Dequantizing a packed 4-bit weight (what a packed model does per conv per pass).
    for (name, shape) in [("256x256x3x3", [256, 256, 3, 3]), ("1024x512x3x3", [1024, 512, 3, 3])] {
        let count = shape.reduce(1, *)
        let weights = values(count, seed: 6).map { $0 * 0.05 }
        for granularity in [Granularity.filter, .channel] {
            let format = try! QuantFormat(scheme: .affine, bits: 4, granularity: granularity)
            let q = try! QuantizedTensor(quantizing: weights, shape: shape, format: format)
            let packed = try! PackedWeight(format: format, shape: shape, bytes: BitPacking.pack(q.codes, bits: 4),
                                           scale: q.scale, zero: q.zero, breakpoint: q.breakpoint)
            Benchmark("dequantize \(name) affine 4-bit \(granularity)") { benchmark in
                for _ in benchmark.scaledIterations { blackHole(try! packed.dequantize()) }
            }
            // The runtime's path: the C table-lookup decoder a packed model runs per conv per pass.
            let provider = PackedConvWeights(packed)
            Benchmark("decode (runtime) \(name) affine 4-bit \(granularity)") { benchmark in
                for _ in benchmark.scaledIterations { blackHole(provider.denseWeights()) }
            }
        }
    }
}
