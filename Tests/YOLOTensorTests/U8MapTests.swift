import CVectorMath
import Testing
@testable import YOLOTensor

/// The u8 map kernels (CVectorMath/Int8Maps*.c), the int8 level's vector rows (`avx512: true`,
/// whichever level is in effect) and the plain loops, against plain Swift: the
/// codes of quantizing a map (`ActivationQuantization.quantize` per value), max pools and
/// upsampling on codes (the FP32 references in FeatureOps applied to the codes: max and copies
/// are exact, so the codes must be equal), dequantizing (`scale * (u - zero)`), and every map
/// complete with its border of zero-point words. Odd sizes: 3, 5 and 13 channels (a partial
/// group), widths around the 16-word vector, odd heights.
struct U8MapTests {
    static let shapes = [
        FeatureShape(batch: 1, channels: 3, height: 7, width: 9),
        FeatureShape(batch: 2, channels: 5, height: 6, width: 33),
        FeatureShape(batch: 1, channels: 13, height: 11, width: 16),
        FeatureShape(batch: 1, channels: 8, height: 20, width: 20),
        FeatureShape(batch: 1, channels: 4, height: 1, width: 1),
    ]
    static let grid = ActivationQuantization(min: -0.6, max: 2.2)

    /// A workspace holding `shape` quantized into a u8 map at offset 0 (through the kernel), the
    /// map's view, and the codes the reference gives.
    static func quantized(_ shape: FeatureShape, seed: UInt64, extra: Int) -> (Workspace, U8View, [UInt8], Tensor) {
        let layout = U8MapLayout(shape)
        let x = Tensor(shape: shape.dims, data: randomValues(shape.count, seed: seed).map { $0 * 1.8 + 0.7 })
        var ws = Workspace(arenaFloats: layout.regionWords(batch: shape.batch) + extra)
        // Garbage everywhere first, so a word a kernel forgets shows.
        for i in ws.arena.indices { ws.arena[i] = Float(bitPattern: 0xDEAD_BEEF) }
        ws.input = x.data
        let view = U8View(region: 0, layout: layout, batch: shape.batch)
        U8MapKernels.quantize(&ws, input: FeatureView(storage: .input, offset: 0, shape: shape), output: view, grid: grid,
                              workers: 2)
        let codes = x.data.map { UInt8(grid.quantize($0)) }
        return (ws, view, codes, x)
    }

    static func tensor(_ codes: [UInt8], _ shape: FeatureShape) -> Tensor {
        Tensor(shape: shape.dims, data: codes.map { Float($0) })
    }

    @Test(arguments: [true, false])
    func quantizeAndDequantize(avx512: Bool) {
        cvm_q8_use_avx512(avx512 ? 1 : 0)
        defer { cvm_q8_use_avx512(1) }
        for (n, shape) in Self.shapes.enumerated() {
            let region = U8MapLayout(shape).regionWords(batch: shape.batch)
            var (ws, view, codes, _) = Self.quantized(shape, seed: UInt64(n), extra: shape.count)
            #expect(U8MapKernels.codes(ws, view) == codes, "\(shape)")
            #expect(U8MapKernels.borderHolds(ws, view, zeroWord: Self.grid.zeroWord), "\(shape) border")
            let out = FeatureView(offset: region, shape: shape)
            U8MapKernels.dequantize(&ws, input: view, grid: Self.grid, output: out, workers: 2)
            let expected = codes.map { Self.grid.scale * Float(Int32($0) - Self.grid.zero) }
            #expect(ws.tensor(out).data == expected, "\(shape) dequantized")
        }
    }

    @Test(arguments: [true, false])
    func maxPoolsOnCodes(avx512: Bool) {
        cvm_q8_use_avx512(avx512 ? 1 : 0)
        defer { cvm_q8_use_avx512(1) }
        for (n, shape) in Self.shapes.enumerated() {
            for pool in [U8MapKernels.Pool.halve, .same(radius: 2), .same(radius: 6)] {
                var o = shape
                if pool == .halve {
                    o.height /= 2
                    o.width /= 2
                    if o.height == 0 || o.width == 0 { continue }
                }
                let outLayout = U8MapLayout(o)
                let region = U8MapLayout(shape).regionWords(batch: shape.batch)
                var (ws, view, codes, _) = Self.quantized(shape, seed: UInt64(n) + 10, extra: outLayout.regionWords(batch: o.batch))
                let out = U8View(region: region, layout: outLayout, batch: o.batch)
                U8MapKernels.maxPool(&ws, input: view, output: out, pool: pool, zeroWord: Self.grid.zeroWord, workers: 2)
                let expected: Tensor
                switch pool {
                case .halve: expected = FeatureOps.maxPool(Self.tensor(codes, shape), kernel: 2, stride: 2, padding: 0)
                case .same(let r): expected = FeatureOps.maxPool(Self.tensor(codes, shape), kernel: 2 * r + 1, stride: 1, padding: r)
                }
                #expect(Self.tensor(U8MapKernels.codes(ws, out), o) == expected, "\(shape) \(pool)")
                #expect(U8MapKernels.borderHolds(ws, out, zeroWord: Self.grid.zeroWord), "\(shape) \(pool) border")
            }
        }
    }

    @Test(arguments: [true, false])
    func upsampleOnCodes(avx512: Bool) {
        cvm_q8_use_avx512(avx512 ? 1 : 0)
        defer { cvm_q8_use_avx512(1) }
        for (n, shape) in Self.shapes.enumerated() {
            var o = shape
            o.height *= 2
            o.width *= 2
            let outLayout = U8MapLayout(o)
            let region = U8MapLayout(shape).regionWords(batch: shape.batch)
            var (ws, view, codes, _) = Self.quantized(shape, seed: UInt64(n) + 20, extra: outLayout.regionWords(batch: o.batch))
            let out = U8View(region: region, layout: outLayout, batch: o.batch)
            U8MapKernels.upsample2x(&ws, input: view, output: out, zeroWord: Self.grid.zeroWord, workers: 2)
            #expect(Self.tensor(U8MapKernels.codes(ws, out), o) == FeatureOps.upsampleNearest(Self.tensor(codes, shape), scale: 2),
                    "\(shape)")
            #expect(U8MapKernels.borderHolds(ws, out, zeroWord: Self.grid.zeroWord), "\(shape) border")
        }
    }

    /// Stride-2 convs read the phase planes: the whole conv against its reference with the
    /// plain phase split (the level's vector one runs in Int8ConvTests).
    @Test
    func plainPhaseSplitInStrideTwoConv() {
        cvm_q8_use_avx512(0)
        defer { cvm_q8_use_avx512(1) }
        for (n, c) in Int8ConvTests.cases.enumerated() where c.stride == 2 {
            let g = c.geometry
            let weights = Int8ConvWeights(quantizing: randomValues(g.weightCount, seed: UInt64(n) + 40).map { $0 * 0.2 },
                                          geometry: g)
            let conv = Int8Conv(weights: weights, input: ActivationQuantization(min: -0.3, max: 2.7))
            let bias = randomValues(g.outChannels, seed: UInt64(n) + 50)
            let x = Int8ConvTests.input(c, seed: UInt64(n) + 60)
            let expected = Int8ConvKernel.reference(x, conv: conv, bias: bias, activation: .silu,
                                                    outputGrid: Int8ConvTests.outputGrid)
            let got = Int8ConvKernel.apply(x, conv: conv, bias: bias, activation: .silu, outputGrid: Int8ConvTests.outputGrid,
                                           workers: 2)
            #expect(got == expected, "case \(n) \(g)")
        }
    }

    @Test func sliceViewsAreWholeGroups() {
        let layout = U8MapLayout(channels: 24, height: 5, width: 6)
        let v = U8View(region: 100, layout: layout, batch: 2)
        let part = v.channels(8, 12)
        #expect(part.offset == v.offset + 2 * layout.groupStride && part.layout.groups == 3 && part.batchStride == v.batchStride)
        #expect(layout.groupStride % 16 == 0 && layout.groupStride >= 7 * 8)
        #expect(layout.interiorColumns == 8..<48)
    }
}
