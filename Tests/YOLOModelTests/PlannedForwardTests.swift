import Foundation
import Synchronization
import Testing
@testable import YOLOModel
import YOLOTensor

/// The planned pass (one arena, concat parts written in place, threaded kernels) against the
/// plain per-layer tensor pass, on configs that use every module: tiny (LeakyReLU, SP pools),
/// yolov7 (SPPCSPC, RepConv, IDetect), e6 (ReOrg, DownC, IAuxDetect).
struct PlannedForwardTests {
    static func model(_ name: String, seed: UInt64) throws -> YOLOModel {
        try ModelBuilder.build(config: try ModelConfig.load(path: Fixtures.configPath(name)),
                               weights: RandomTensorSource(seed: seed))
    }

    static func input(batch: Int, size: Int) -> Tensor {
        var s: UInt32 = 7
        return Tensor(shape: [batch, 3, size, size], data: (0..<(batch * 3 * size * size)).map { _ in
            s = s &* 1_664_525 &+ 1_013_904_223
            return Float(s >> 8) / Float(1 << 24)
        })
    }

    static func relativeError(_ a: Tensor, _ b: Tensor) -> Float {
        (zip(a.data, b.data).map { abs($0 - $1) }.max() ?? .infinity) / b.maxAbs
    }

    /// Same kernels on both sides except the head's sigmoid (FastMath in the planned pass, expf
    /// in the plain one, 4e-7 apart) and BLAS tile shapes: 1e-5 relative.
    @Test(arguments: [("training/yolov7-tiny", 1, 160), ("training/yolov7", 2, 128), ("training/yolov7-e6", 1, 128)])
    func plannedMatchesReference(name: String, batch: Int, size: Int) throws {
        let model = try Self.model(name, seed: 3)
        let x = Self.input(batch: batch, size: size)
        var plain = ForwardContext()
        let reference = model.forwardReference(x, context: &plain)
        for workers in [1, 2] {
            var context = ForwardContext()
            context.workspace.workers = workers
            let out = model.forward(x, context: &context)
            #expect(out.shape == reference.shape)
            let err = Self.relativeError(out, reference)
            #expect(err < 1e-5, "\(name) batch \(batch) workers \(workers): \(err)")
            // Steady state: the second pass reuses the arena and gives the same numbers.
            let arena = context.workspace.arena.count
            let again = model.forward(x, context: &context)
            #expect(context.workspace.arena.count == arena)
            #expect(again.data == out.data)
        }
    }

    /// Kernel options belong to a context, not the process: passes with different options run
    /// at once on one model (each conv's Winograd cache swapped between tiles under its lock)
    /// and each gives, bit for bit, what it gives alone.
    @Test func contextsWithDifferentOptionsRunSideBySide() throws {
        let model = try Self.model("training/yolov7-tiny", seed: 5)
        let x = Self.input(batch: 1, size: 96)
        var plain = KernelOptions()
        plain.winograd = false
        plain.pointwise = false
        plain.siblingFusion = false
        plain.spinningPool = false
        var twoByTwo = KernelOptions()
        twoByTwo.winogradTile = .f2
        let settings = [KernelOptions.default, plain, twoByTwo]
        let alone = settings.map { options -> [Float] in
            var context = ForwardContext(options: options, threads: 2)
            return model.forward(x, context: &context).data
        }
        // The F(2x2) pass differs from the default where the default takes F(4x4).
        if KernelOptions.default.preferredWinogradTile == .f4 { #expect(alone[0] != alone[2]) }
        let together = Mutex([[Float]?](repeating: nil, count: settings.count * 3))
        DispatchQueue.concurrentPerform(iterations: settings.count * 3) { i in
            var context = ForwardContext(options: settings[i % settings.count], threads: 2)
            let out = model.forward(x, context: &context).data
            together.withLock { $0[i] = out }
        }
        for (i, out) in together.withLock({ $0 }).enumerated() {
            #expect(out == alone[i % settings.count], "pass \(i)")
        }
    }

    /// The arena holds less than every activation at once, and every concat part of tiny is
    /// placed in its slice.
    @Test func arenaIsSmallerThanAllOutputs() throws {
        let model = try Self.model("training/yolov7-tiny", seed: 4)
        let input = FeatureShape(batch: 1, channels: 3, height: 320, width: 320)
        let shapes = try model.shapes(for: input)
        let all = shapes.dropLast().reduce(0) { $0 + $1.count }
        let plan = ExecutionPlan(model: model, input: input)
        #expect(plan.arenaFloats < all / 2, "arena \(plan.arenaFloats) floats, outputs \(all)")
        let concatInputs = model.nodes.filter { $0.layer is ConcatLayer }.reduce(0) { $0 + $1.inputs.count }
        #expect(plan.inPlaceParts == concatInputs)
    }
}

/// Sibling 1x1 convs (an ELAN block's first two, SPPCSPC's cv1 and cv2) run as one pass over
/// their input (`KernelOptions.siblingFusion`): the same outputs bit for bit as one conv at a time.
struct SiblingFusionTests {
    /// Every view a sibling run writes is apart from the input and from the others, batch items
    /// included (a concat slice of a batch-2 map is strided).
    @Test func siblingOutputsOverlapNothingTheyRunWith() throws {
        for (name, batch) in [("training/yolov7-tiny", 2), ("training/yolov7", 2), ("training/yolov7-e6", 1)] {
            let model = try PlannedForwardTests.model(name, seed: 8)
            let plan = ExecutionPlan(model: model, input: FeatureShape(batch: batch, channels: 3, height: 128, width: 128))
            #expect(!plan.siblings.isEmpty, "\(name)")
            func ranges(_ v: FeatureView) -> [Range<Int>] {
                (0..<v.shape.batch).map { n in
                    let start = v.offset + n * v.batchStride
                    return start..<(start + v.shape.channels * v.shape.planeSize)
                }
            }
            for (first, run) in plan.siblings {
                #expect(run.first == first && run.count >= 2)
                let input = plan.inputs[first][0]
                var views = run.map { plan.outputs[$0] }
                for i in run {
                    let node = model.nodes[i]
                    #expect(plan.inputs[i] == [input] && (node.layer as? ConvLayer)?.conv.geometry.isPointwise == true)
                }
                if input.storage == .arena { views.append(input) }
                for a in views.indices {
                    for b in views.indices where a < b {
                        let overlap = ranges(views[a]).contains { ra in ranges(views[b]).contains { ra.overlaps($0) } }
                        #expect(!overlap, "\(name) run \(run): \(views[a]) and \(views[b])")
                    }
                }
            }
        }
    }

    /// Fused against one conv at a time on the same planned pass: identical outputs, with the
    /// pairs of tiny (ELAN blocks, its SPP block's rows) and yolov7 (ELAN, SPPCSPC inside one
    /// layer) at batch 2. Fusion is switched per context (`KernelOptions.siblingFusion`).
    @Test(.enabled(if: PointwiseKernel.available, "siblings run on the blocked kernel only (a vector kernel level)"))
    func fusedEqualsUnfused() throws {
        for (name, batch, size) in [("training/yolov7-tiny", 1, 160), ("training/yolov7-tiny", 2, 96), ("training/yolov7", 2, 128)] {
            let model = try PlannedForwardTests.model(name, seed: 9)
            let x = PlannedForwardTests.input(batch: batch, size: size)
            let plan = ExecutionPlan(model: model, input: x.featureShape)
            for workers in [1, 2] {
                var unfused = KernelOptions()
                unfused.siblingFusion = false
                var apartContext = ForwardContext(options: unfused, threads: workers)
                let apart = model.forward(x, context: &apartContext)
                #expect(apartContext.fusedSiblings.isEmpty)
                var context = ForwardContext(threads: workers)
                let fused = model.forward(x, context: &context)
                #expect(fused.data == apart.data, "\(name) batch \(batch) workers \(workers)")
                #expect(Set(context.fusedSiblings) == Set(plan.siblings.values), "\(name)")
                if name.hasSuffix("tiny") {
                    // Layers 2/3 (the first ELAN block's 1x1 convs) are one of them.
                    #expect(context.fusedSiblings.contains([2, 3]))
                    #expect(context.fusedSiblings.count >= 9)
                }
            }
        }
    }

    /// Weights held by a provider (as packed files hold them: decoded as the conv runs), here
    /// the same weights handed out from a dense copy.
    final class DenseProvider: ConvWeightProvider, @unchecked Sendable {
        let weights: [Float]
        let filterCount: Int, kernel: Int
        init(_ weights: [Float], geometry g: ConvGeometry) {
            self.weights = weights
            filterCount = g.outChannels
            kernel = g.kernelH * g.kernelW
        }
        var weightCount: Int { weights.count }
        var residentBytes: Int { weights.count * 4 }
        var summary: String { "dense (test provider)" }
        func decode(filters: Range<Int>, order: WeightOrder, into out: UnsafeMutablePointer<Float>) {
            let channels = weights.count / filterCount / kernel, n = filters.count * channels
            for (i, f) in filters.enumerated() {
                for c in 0..<channels {
                    for k in 0..<kernel {
                        let value = weights[(f * channels + c) * kernel + k]
                        switch order {
                        case .filterMajor: out[(i * channels + c) * kernel + k] = value
                        case .kernelMajor: out[k * n + i * channels + c] = value
                        }
                    }
                }
            }
        }
    }

    /// Packed siblings (decoded into the workspace for the pass) join sibling passes, alone or
    /// beside a dense one: the same outputs as the all-dense model, fused as before.
    @Test(.enabled(if: PointwiseKernel.available, "siblings run on the blocked kernel only (a vector kernel level)"))
    func packedSiblingsFuse() throws {
        let model = try PlannedForwardTests.model("training/yolov7-tiny", seed: 11)
        let x = PlannedForwardTests.input(batch: 1, size: 128)
        var context = ForwardContext()
        let dense = model.forward(x, context: &context)
        let plan = ExecutionPlan(model: model, input: x.featureShape)
        // Every sibling pair packed but the first, whose second conv only is.
        for (first, run) in plan.siblings {
            for i in run where first != 2 || i == 3 {
                let conv = (model.nodes[i].layer as! ConvLayer).conv
                conv.weights = .provided(DenseProvider(conv.weights.values(), geometry: conv.geometry))
            }
        }
        for workers in [1, 2] {
            context.workspace.workers = workers
            let packed = model.forward(x, context: &context)
            #expect(packed.data == dense.data, "workers \(workers)")
            #expect(Set(context.fusedSiblings) == Set(plan.siblings.values))
        }
    }

    /// A conv that cannot run in a sibling pass (an input observer here; an int8 form likewise)
    /// sends its run back to one conv at a time, with the same outputs.
    @Test func runFallsBackWhenAConvCannotJoin() throws {
        let model = try PlannedForwardTests.model("training/yolov7-tiny", seed: 10)
        let x = PlannedForwardTests.input(batch: 1, size: 96)
        var context = ForwardContext()
        let before = model.forward(x, context: &context)
        let conv = (model.nodes[3].layer as! ConvLayer).conv
        var observed = 0
        conv.inputObserver = { _ in observed += 1 }
        let after = model.forward(x, context: &context)
        #expect(observed == 1)
        #expect(!context.fusedSiblings.contains([2, 3]))
        #expect(after.data == before.data)
    }
}

/// Per-conv Winograd tiles chosen by timing (`tuneWinograd`), and inference without the dense
/// copy of the weights (`releaseDenseWeights`).
struct WinogradTuningTests {
    @Test(.enabled(if: Winograd.Tile.f4.available, "only F(2x2) here: nothing to choose"))
    func tuningPicksATilePerConvAndKeepsTheOutput() throws {
        let model = try PlannedForwardTests.model("training/yolov7-tiny", seed: 5)
        let x = PlannedForwardTests.input(batch: 1, size: 160)
        var context = ForwardContext()
        let before = model.forward(x, context: &context)
        model.tuneWinograd()
        let tuned = model.forward(x, context: &context)
        let winograd = model.convs.filter { Winograd.applies($0.geometry) }
        #expect(!winograd.isEmpty)
        for conv in winograd {
            #expect(Set(conv.winogradTimings.keys) == [.f2, .f4], "\(conv.name)")
            #expect(conv.winogradTimings.values.allSatisfy { $0 > 0 && $0.isFinite })
            let fastest = conv.winogradTimings.min { $0.value < $1.value }!.key
            #expect(conv.winogradTile == fastest, "\(conv.name)")
            #expect(!conv.tunesWinograd)
        }
        // Either tile computes the same conv: only rounding differs.
        #expect(PlannedForwardTests.relativeError(tuned, before) < 1e-5)
    }

    @Test func releasedModelRunsTheSameFromItsTransformsAlone() throws {
        let model = try PlannedForwardTests.model("training/yolov7-tiny", seed: 6)
        let x = PlannedForwardTests.input(batch: 1, size: 160)
        var context = ForwardContext()
        let before = model.forward(x, context: &context)
        let dense = model.convs.map { $0.weights.values() }
        let bytes = model.weightBytes
        model.releaseDenseWeights()
        let after = model.forward(x, context: &context)
        #expect(after.data == before.data)
        var released = 0
        for (conv, original) in zip(model.convs, dense) {
            if case .transformed = conv.weights { released += 1 } else { continue }
            #expect(Winograd.applies(conv.geometry))
            let back = conv.weights.values()
            let err = zip(original, back).map { abs($0 - $1) }.max() ?? .infinity
            let scale = original.map { abs($0) }.max() ?? 1
            #expect(err <= 1e-6 * scale, "\(conv.name): \(err) of \(scale)")
        }
        #expect(released == model.convs.filter { Winograd.applies($0.geometry) }.count && released > 0)
        let winogradBytes = model.convs.filter { Winograd.applies($0.geometry) }.reduce(0) { $0 + $1.geometry.weightCount * 4 }
        #expect(model.weightBytes == bytes - winogradBytes)
    }
}
