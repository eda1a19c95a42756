import Foundation
import YOLOTensor

/// Reusable state across forward passes: the im2col scratch of the tensor path, and for the
/// planned path the workspace (arena, scratch) and the plan for the last input shape, so a
/// steady stream of same-sized inputs allocates nothing but each prediction. Its kernel options
/// and thread count apply to every pass run with it (both paths), so passes with different
/// settings can run side by side, each with its own context.
public struct ForwardContext {
    public var scratch: [Float] = []
    public var workspace = Workspace()
    var plan: ExecutionPlan?
    var int8Plan: Int8Plan?
    /// The node runs the last planned pass ran as one sibling pass (see
    /// `KernelOptions.siblingFusion`); the observer saw each run's time on its first node and 0
    /// on the others.
    public internal(set) var fusedSiblings: [[Int]] = []

    /// `threads`: the kernels' threads (nil: `Parallel.workers`, set by `ComputeThreads`).
    public init(options: KernelOptions = .default, threads: Int? = nil) {
        workspace.options = options
        workspace.workers = threads
    }

    /// Which fast paths the kernels take (the workspace's).
    public var options: KernelOptions {
        get { workspace.options }
        set { workspace.options = newValue }
    }

    /// Floats held by the workspace (arena + scratch), for memory reports.
    public var workspaceFloats: Int { workspace.arena.count + workspace.scratch.count }
}

/// One row of the model config, ready to run.
public protocol Layer: AnyObject {
    /// The official module name (`Conv`, `SPPCSPC`, `IDetect`...).
    var module: String { get }
    /// Every conv inside, in checkpoint order (for quantization and size reports).
    var convs: [ConvUnit] { get }
    func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape
    func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor
    /// Multiply-adds x 2 for these inputs (convs only), for GFLOP/s figures.
    func flops(_ inputs: [FeatureShape]) -> Double
    /// Arena floats the layer needs for its own temporaries in a planned pass.
    func temporaryFloats(_ inputs: [FeatureShape]) -> Int
    /// Planned pass: reads `inputs`, writes `output` (possibly a slice of a later concat), and
    /// may use `temporaryFloats` floats of the arena from offset `temporary`.
    func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace)
}

extension Layer {
    public func flops(_ inputs: [FeatureShape]) -> Double {
        guard let first = inputs.first else { return 0 }
        return convs.first.map { $0.geometry.flops(first) } ?? 0
    }

    public func temporaryFloats(_ inputs: [FeatureShape]) -> Int { 0 }

    /// Fallback for layers without a planned form: through tensors (allocates).
    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        var context = ForwardContext(options: ws.options, threads: ws.workers)
        let result = forward(inputs.map { ws.tensor($0) }, context: &context)
        ws.store(result, into: output)
    }
}

/// Hands out consecutive arena regions for a layer's temporaries.
struct TemporaryArena {
    var next: Int

    mutating func view(_ shape: FeatureShape) -> FeatureView {
        let v = FeatureView(offset: next, shape: shape)
        next += Self.aligned(shape.count)
        return v
    }

    /// Regions start on 64-byte boundaries (16 floats).
    static func aligned(_ floats: Int) -> Int { (floats + 15) / 16 * 16 }
}

func shapeError(_ module: String, _ reason: String) -> YOLOModelError {
    .invalidConfig(source: module, reason: reason)
}

/// Conv, RepConv (re-parameterised) and nn.Conv2d: one conv with fused bias and activation.
public final class ConvLayer: Layer {
    public let module: String
    public let conv: ConvUnit
    public var convs: [ConvUnit] { [conv] }

    init(module: String, conv: ConvUnit) {
        self.module = module
        self.conv = conv
    }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        let x = inputs[0]
        let g = conv.geometry
        guard x.channels == g.inChannels else {
            throw shapeError(module, "\(conv.name) expects \(g.inChannels) input channels, gets \(x.channels)")
        }
        let out = g.outputShape(x)
        guard out.height > 0, out.width > 0 else { throw shapeError(module, "\(conv.name): input \(x) too small") }
        return out
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        conv.forward(inputs[0], context: &context)
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        conv.forward(&ws, input: inputs[0], output: output)
    }
}

/// MP (k x k, stride k) and SP (stride 1, same padding) max pools.
public final class MaxPoolLayer: Layer {
    public let module: String
    public let kernel: Int, stride: Int, padding: Int
    public var convs: [ConvUnit] { [] }

    init(module: String, kernel: Int, stride: Int, padding: Int) {
        self.module = module
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        var s = inputs[0]
        s.height = (s.height + 2 * padding - kernel) / stride + 1
        s.width = (s.width + 2 * padding - kernel) / stride + 1
        guard s.height > 0, s.width > 0 else { throw shapeError(module, "input \(inputs[0]) too small to pool") }
        return s
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        FeatureOps.maxPool(inputs[0], kernel: kernel, stride: stride, padding: padding)
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        FeatureOps.maxPool(&ws, input: inputs[0], output: output, kernel: kernel, stride: stride, padding: padding)
    }
}

public final class UpsampleLayer: Layer {
    public let module = "nn.Upsample"
    public let scale: Int
    public var convs: [ConvUnit] { [] }
    init(scale: Int) { self.scale = scale }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        var s = inputs[0]
        // A config can chain upsamples: bound the side before multiplying, so a hostile one is
        // refused instead of overflowing.
        guard s.height <= ModelBuilder.maxFeatureSide / scale, s.width <= ModelBuilder.maxFeatureSide / scale else {
            throw shapeError(module, "upsampling \(s) by \(scale) exceeds \(ModelBuilder.maxFeatureSide) pixels a side")
        }
        s.height *= scale
        s.width *= scale
        return s
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        FeatureOps.upsampleNearest(inputs[0], scale: scale)
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        FeatureOps.upsampleNearest(&ws, input: inputs[0], output: output, scale: scale)
    }
}

public final class ConcatLayer: Layer {
    public let module = "Concat"
    public var convs: [ConvUnit] { [] }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        var s = inputs[0]
        for x in inputs.dropFirst() {
            guard x.height == s.height, x.width == s.width, x.batch == s.batch else {
                throw shapeError(module, "cannot concatenate \(inputs[0]) and \(x): spatial sizes differ")
            }
            s.channels += x.channels
        }
        return s
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        FeatureOps.concatChannels(inputs)
    }

    /// Parts the plan placed in their slice were written there by their producers: only the
    /// others (the network input, a part used twice) are copied.
    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        var offset = 0
        for x in inputs {
            FeatureOps.copy(&ws, from: x, to: output.channels(offset, x.shape.channels))
            offset += x.shape.channels
        }
    }
}

public final class ShortcutLayer: Layer {
    public let module = "Shortcut"
    public var convs: [ConvUnit] { [] }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        guard inputs.count >= 2, inputs[0] == inputs[1] else {
            throw shapeError(module, "needs two inputs of the same shape, got \(inputs)")
        }
        return inputs[0]
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        FeatureOps.add(inputs[0], inputs[1])
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        FeatureOps.add(&ws, inputs[0], inputs[1], into: output)
    }
}

public final class ReOrgLayer: Layer {
    public let module = "ReOrg"
    public var convs: [ConvUnit] { [] }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        var s = inputs[0]
        guard s.height % 2 == 0, s.width % 2 == 0 else {
            throw shapeError(module, "needs even height and width, got \(s)")
        }
        s.channels *= 4
        s.height /= 2
        s.width /= 2
        return s
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        FeatureOps.reorg(inputs[0])
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        FeatureOps.reorg(&ws, input: inputs[0], output: output)
    }
}

/// DownC: cat(cv2(cv1(x)), cv3(maxpool_k(x))).
public final class DownCLayer: Layer {
    public let module = "DownC"
    let cv1: ConvUnit, cv2: ConvUnit, cv3: ConvUnit
    let kernel: Int
    public var convs: [ConvUnit] { [cv1, cv2, cv3] }

    init(cv1: ConvUnit, cv2: ConvUnit, cv3: ConvUnit, kernel: Int) {
        self.cv1 = cv1
        self.cv2 = cv2
        self.cv3 = cv3
        self.kernel = kernel
    }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        let x = inputs[0]
        guard x.channels == cv1.geometry.inChannels else {
            throw shapeError(module, "\(cv1.name) expects \(cv1.geometry.inChannels) channels, gets \(x.channels)")
        }
        let a = cv2.geometry.outputShape(cv1.geometry.outputShape(x))
        var b = x
        b.height /= kernel
        b.width /= kernel
        guard a.height == b.height, a.width == b.width, a.height > 0 else {
            throw shapeError(module, "branch sizes \(a) and \(b) differ")
        }
        return FeatureShape(batch: x.batch, channels: a.channels + cv3.geometry.outChannels, height: a.height, width: a.width)
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        let x = inputs[0]
        let a = cv1.forward(x, context: &context)
        let pooled = FeatureOps.maxPool(x, kernel: kernel, stride: kernel, padding: 0)
        let s = cv2.geometry.outputShape(a.featureShape)
        var out = Tensor(zeros: FeatureShape(batch: s.batch, channels: s.channels + cv3.geometry.outChannels,
                                             height: s.height, width: s.width))
        cv2.forward(a, into: &out, channelOffset: 0, context: &context)
        cv3.forward(pooled, into: &out, channelOffset: s.channels, context: &context)
        return out
    }

    public func flops(_ inputs: [FeatureShape]) -> Double {
        let x = inputs[0]
        let a = cv1.geometry.outputShape(x)
        var p = x
        p.height /= kernel
        p.width /= kernel
        return cv1.geometry.flops(x) + cv2.geometry.flops(a) + cv3.geometry.flops(p)
    }

    func temporaryShapes(_ x: FeatureShape) -> (a: FeatureShape, pooled: FeatureShape) {
        var p = x
        p.height = (x.height - kernel) / kernel + 1
        p.width = (x.width - kernel) / kernel + 1
        return (cv1.geometry.outputShape(x), p)
    }

    public func temporaryFloats(_ inputs: [FeatureShape]) -> Int {
        let t = temporaryShapes(inputs[0])
        return TemporaryArena.aligned(t.a.count) + TemporaryArena.aligned(t.pooled.count)
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        let x = inputs[0]
        let shapes = temporaryShapes(x.shape)
        var arena = TemporaryArena(next: temporary)
        let a = arena.view(shapes.a), pooled = arena.view(shapes.pooled)
        cv1.forward(&ws, input: x, output: a)
        FeatureOps.maxPool(&ws, input: x, output: pooled, kernel: kernel, stride: kernel, padding: 0)
        let c2 = cv2.geometry.outChannels
        cv2.forward(&ws, input: a, output: output.channels(0, c2))
        cv3.forward(&ws, input: pooled, output: output.channels(c2, cv3.geometry.outChannels))
    }
}

/// SPPCSPC: cv7(cat(cv6(cv5(cat(x1, pools(x1)))), cv2(x))) with x1 = cv4(cv3(cv1(x))).
public final class SPPCSPCLayer: Layer {
    public let module = "SPPCSPC"
    let cv1, cv2, cv3, cv4, cv5, cv6, cv7: ConvUnit
    let pools: [Int]
    public var convs: [ConvUnit] { [cv1, cv2, cv3, cv4, cv5, cv6, cv7] }

    init(convs c: [ConvUnit], pools: [Int]) {
        (cv1, cv2, cv3, cv4, cv5, cv6, cv7) = (c[0], c[1], c[2], c[3], c[4], c[5], c[6])
        self.pools = pools
    }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        let x = inputs[0]
        guard x.channels == cv1.geometry.inChannels else {
            throw shapeError(module, "\(cv1.name) expects \(cv1.geometry.inChannels) channels, gets \(x.channels)")
        }
        var s = x
        s.channels = cv7.geometry.outChannels
        return s
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        let x = inputs[0]
        let x1 = cv4.forward(cv3.forward(cv1.forward(x, context: &context), context: &context),
                             context: &context)
        var parts = [x1]
        for k in pools { parts.append(FeatureOps.maxPool(x1, kernel: k, stride: 1, padding: k / 2)) }
        let y1 = cv6.forward(cv5.forward(FeatureOps.concatChannels(parts), context: &context),
                             context: &context)
        let y2 = cv2.forward(x, context: &context)
        return cv7.forward(FeatureOps.concatChannels([y1, y2]), context: &context)
    }

    public func flops(_ inputs: [FeatureShape]) -> Double {
        let x = inputs[0]
        let h = cv1.geometry.outputShape(x)
        var cat = h
        cat.channels = cv5.geometry.inChannels
        var cat2 = h
        cat2.channels = cv7.geometry.inChannels
        return cv1.geometry.flops(x) + cv2.geometry.flops(x) + cv3.geometry.flops(h) + cv4.geometry.flops(h)
            + cv5.geometry.flops(cat) + cv6.geometry.flops(h) + cv7.geometry.flops(cat2)
    }

    /// cv1 out, cv3 out, cat(x1, pools), cv5 out, cat(cv6 out, cv2 out).
    func temporaryShapes(_ x: FeatureShape) -> [FeatureShape] {
        let h = cv1.geometry.outputShape(x)
        func with(_ c: Int) -> FeatureShape { var s = h; s.channels = c; return s }
        return [h, cv3.geometry.outputShape(h), with(cv5.geometry.inChannels), cv5.geometry.outputShape(with(cv5.geometry.inChannels)),
                with(cv7.geometry.inChannels)]
    }

    public func temporaryFloats(_ inputs: [FeatureShape]) -> Int {
        temporaryShapes(inputs[0]).reduce(0) { $0 + TemporaryArena.aligned($1.count) }
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        let x = inputs[0]
        var arena = TemporaryArena(next: temporary)
        let t = temporaryShapes(x.shape).map { arena.view($0) }
        let (t1, t3, cat1, t5, cat2) = (t[0], t[1], t[2], t[3], t[4])
        // cv1 and cv2 both read x: one sibling pass where they can (cv2's slice of cat2 and t1
        // are separate temporaries), else cv2 runs in its place below.
        let c6 = cv6.geometry.outChannels
        let y2 = cat2.channels(c6, cv2.geometry.outChannels)
        let fused = ConvUnit.forwardSiblings([cv1, cv2], &ws, input: x, outputs: [t1, y2])
        if !fused { cv1.forward(&ws, input: x, output: t1) }
        cv3.forward(&ws, input: t1, output: t3)
        let c = cv4.geometry.outChannels
        let x1 = cat1.channels(0, c)
        cv4.forward(&ws, input: t3, output: x1)
        for (i, k) in pools.enumerated() {
            FeatureOps.maxPool(&ws, input: x1, output: cat1.channels((i + 1) * c, c), kernel: k, stride: 1, padding: k / 2)
        }
        cv5.forward(&ws, input: cat1, output: t5)
        cv6.forward(&ws, input: t5, output: cat2.channels(0, c6))
        if !fused { cv2.forward(&ws, input: x, output: y2) }
        cv7.forward(&ws, input: cat2, output: output)
    }
}

/// A row with number > 1: the same module repeated in sequence (`nn.Sequential`).
public final class RepeatLayer: Layer {
    public let module: String
    let stages: [Layer]
    public var convs: [ConvUnit] { stages.flatMap(\.convs) }

    init(module: String, stages: [Layer]) {
        self.module = module
        self.stages = stages
    }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        var s = inputs
        for stage in stages { s = [try stage.outputShape(s)] }
        return s[0]
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        var x = inputs
        for stage in stages { x = [stage.forward(x, context: &context)] }
        return x[0]
    }

    public func flops(_ inputs: [FeatureShape]) -> Double {
        var total = 0.0
        var s = inputs
        for stage in stages {
            total += stage.flops(s)
            guard let next = try? stage.outputShape(s) else { break }
            s = [next]
        }
        return total
    }

    /// Shapes in and out of each stage.
    func stageShapes(_ inputs: [FeatureShape]) -> [[FeatureShape]] {
        var s = inputs
        var all: [[FeatureShape]] = []
        for stage in stages {
            all.append(s)
            s = [(try? stage.outputShape(s)) ?? s[0]]
        }
        all.append(s)
        return all
    }

    /// Two ping-pong regions for the intermediate results, plus the stages' own temporaries.
    public func temporaryFloats(_ inputs: [FeatureShape]) -> Int {
        let shapes = stageShapes(inputs)
        let middle = shapes.dropFirst().dropLast().map { TemporaryArena.aligned($0[0].count) }.max() ?? 0
        let own = zip(stages, shapes).map { $0.temporaryFloats($1) }.max() ?? 0
        return 2 * middle + own
    }

    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        let shapes = stageShapes(inputs.map(\.shape))
        let middle = shapes.dropFirst().dropLast().map { TemporaryArena.aligned($0[0].count) }.max() ?? 0
        var current = inputs
        for (i, stage) in stages.enumerated() {
            let out = i == stages.count - 1 ? output
                : FeatureView(offset: temporary + (i % 2) * middle, shape: shapes[i + 1][0])
            stage.run(current, output: out, temporary: temporary + 2 * middle, workspace: &ws)
            current = [out]
        }
    }
}
