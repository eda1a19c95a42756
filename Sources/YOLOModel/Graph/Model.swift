import Foundation
import YOLOTensor

/// One layer of the graph and where its inputs come from.
public struct GraphNode {
    public let index: Int
    /// Absolute layer indices; -1 is the input image.
    public let inputs: [Int]
    public let layer: Layer
    /// Output channels (for Detect: 5 + nc).
    public let channels: Int
}

/// A built YOLOv7 model: the config's rows as runnable layers with folded weights.
public final class YOLOModel {
    public let config: ModelConfig
    public let nodes: [GraphNode]
    public var classNames: [String]
    /// Largest stride (32 or 64): inputs must be multiples of it.
    public var maxStride: Int { Int(detect.strides.max() ?? 32) }
    public var detect: DetectLayer { nodes.last!.layer as! DetectLayer }
    /// For each node, the last node that reads its output (so it can be freed after).
    let lastUse: [Int]

    /// Activation ranges of the int8 pass, by map name (`Int8Graph`): when set, `forward` runs
    /// the int8 pass (u8 maps end to end, convs with integer weights through the u8 product);
    /// nil: the FP32 pass. Set by YOLOQuant's `Int8Execution`, which checks them.
    public var int8Ranges: [String: ActivationRange]? {
        didSet { int8Generation += 1 }
    }
    /// Bumped when the int8 settings change, so passes planned before are re-planned.
    public internal(set) var int8Generation = 0

    /// Int8 activation ranges that came with the weights file (a quantized file made with
    /// calibration images stores them), checked against this model's maps on load, with one
    /// line saying where they came from; what `--precision int8` uses without `--calib`.
    public var storedInt8Ranges: (ranges: [String: ActivationRange], summary: String)?

    init(config: ModelConfig, nodes: [GraphNode], classNames: [String]) {
        self.config = config
        self.nodes = nodes
        self.classNames = classNames
        var last = [Int](repeating: -1, count: nodes.count)
        for node in nodes {
            for j in node.inputs where j >= 0 { last[j] = max(last[j], node.index) }
        }
        self.lastUse = last
    }

    /// Every conv in checkpoint order.
    public var convs: [ConvUnit] { nodes.flatMap(\.layer.convs) }

    public var parameterCount: Int { convs.reduce(0) { $0 + $1.geometry.weightCount + $1.bias.count } }

    /// Shapes of every node's output for an input, checking the graph fits together.
    public func shapes(for input: FeatureShape) throws -> [FeatureShape] {
        var shapes: [FeatureShape] = []
        for node in nodes {
            let ins = node.inputs.map { $0 < 0 ? input : shapes[$0] }
            shapes.append(try node.layer.outputShape(ins))
        }
        return shapes
    }

    /// Raw predictions `[batch, rows, 5 + nc]` for an NCHW input in [0, 1].
    /// `observe` is called after each node with its index and wall time (for `--profile`).
    public func forward(_ input: Tensor, observe: ((Int, Double) -> Void)? = nil) -> Tensor {
        var context = ForwardContext()
        return forward(input, context: &context, observe: observe)
    }

    /// The planned pass (see `ExecutionPlan`): activations in one reused arena, concat parts
    /// written in place, kernels split over the context's threads with its kernel options.
    public func forward(_ input: Tensor, context: inout ForwardContext, observe: ((Int, Double) -> Void)? = nil) -> Tensor {
        Parallel.withSpinningPool(context.options.spinningPool) {
            plannedForward(input, context: &context, observe: observe)
        }
    }

    private func plannedForward(_ input: Tensor, context: inout ForwardContext, observe: ((Int, Double) -> Void)?) -> Tensor {
        if let ranges = int8Ranges { return forwardInt8(input, ranges: ranges, context: &context, observe: observe) }
        let shape = input.featureShape
        if context.plan?.input != shape || context.plan?.model != ObjectIdentifier(self) {
            context.plan = ExecutionPlan(model: self, input: shape)
        }
        let plan = context.plan!
        if context.workspace.arena.count < plan.arenaFloats {
            context.workspace.arena = []
            context.workspace.arena = [Float](repeating: 0, count: plan.arenaFloats)
        }
        context.workspace.input = input.data
        context.fusedSiblings.removeAll(keepingCapacity: true)
        var skip = 0  // nodes already run in a sibling pass
        for node in nodes {
            if skip > 0 {
                skip -= 1
                observe?(node.index, 0)  // its time is on the first node of its sibling pass
                continue
            }
            let start = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            if let run = plan.siblings[node.index],
               ConvUnit.forwardSiblings(run.map { (nodes[$0].layer as! ConvLayer).conv }, &context.workspace,
                                        input: plan.inputs[node.index][0], outputs: run.map { plan.outputs[$0] }) {
                context.fusedSiblings.append(run)
                skip = run.count - 1
                if let observe {
                    observe(node.index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                }
                continue
            }
            node.layer.run(plan.inputs[node.index], output: plan.outputs[node.index],
                           temporary: plan.temporaries[node.index], workspace: &context.workspace)
            if let observe {
                observe(node.index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
        }
        context.workspace.input = []
        var result: [Float] = []
        swap(&result, &context.workspace.result)
        let rows = result.count / (shape.batch * detect.outputsPerAnchor)
        return Tensor(shape: [shape.batch, rows, detect.outputsPerAnchor], data: result)
    }

    /// The int8 pass (`Int8Plan`), planned once per input shape and int8 setting.
    func forwardInt8(_ input: Tensor, ranges: [String: ActivationRange], context: inout ForwardContext,
                     observe: ((Int, Double) -> Void)?) -> Tensor {
        let shape = input.featureShape
        if context.int8Plan?.input != shape || context.int8Plan?.model != ObjectIdentifier(self)
            || context.int8Plan?.generation != int8Generation {
            context.int8Plan = Int8Plan(model: self, input: shape, ranges: ranges)
        }
        let plan = context.int8Plan!
        if context.workspace.arena.count < plan.arenaFloats {
            context.workspace.arena = []
            context.workspace.arena = [Float](repeating: 0, count: plan.arenaFloats)
        }
        context.workspace.input = input.data
        plan.run(&context.workspace, observe: observe)
        context.workspace.input = []
        var result: [Float] = []
        swap(&result, &context.workspace.result)
        let rows = result.count / (shape.batch * detect.outputsPerAnchor)
        return Tensor(shape: [shape.batch, rows, detect.outputsPerAnchor], data: result)
    }

    /// The u8 maps of the int8 pass, by name, in graph order: what calibration measures and a
    /// quantized file stores ranges for (the network input's grid is fixed: not among them).
    public var int8MapNames: [String] {
        Int8Graph(model: self, input: FeatureShape(batch: 1, channels: 3, height: 8 * maxStride, width: 8 * maxStride))
            .u8MapNames.filter { $0 != Int8Graph.inputName }
    }

    /// The plain pass: each layer's tensor form, each output a fresh tensor, freed after its
    /// last reader. The reference the planned pass is tested against.
    public func forwardReference(_ input: Tensor, context: inout ForwardContext,
                                 observe: ((Int, Double) -> Void)? = nil) -> Tensor {
        Parallel.withSpinningPool(context.options.spinningPool) {
            referenceForward(input, context: &context, observe: observe)
        }
    }

    private func referenceForward(_ input: Tensor, context: inout ForwardContext, observe: ((Int, Double) -> Void)?) -> Tensor {
        var outputs = [Tensor?](repeating: nil, count: nodes.count)
        for node in nodes {
            let start = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            let ins = node.inputs.map { $0 < 0 ? input : outputs[$0]! }
            outputs[node.index] = node.layer.forward(ins, context: &context)
            // Free inputs nobody reads later: keeps peak memory near the widest cut of the graph.
            for j in node.inputs where j >= 0 && lastUse[j] == node.index { outputs[j] = nil }
            if let observe {
                observe(node.index, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
        }
        return outputs[nodes.count - 1]!
    }

    /// Arena floats a planned pass on this input shape uses (activations and temporaries).
    public func arenaFloats(for input: FeatureShape) -> Int {
        ExecutionPlan(model: self, input: input).arenaFloats
    }

    /// Makes every Winograd conv time the tiles this CPU has on its first planned run and keep
    /// the fastest (see `ConvUnit.tunesWinograd`): run one pass after this to tune.
    public func tuneWinograd() {
        for conv in convs where Winograd.applies(conv.geometry) { conv.tunesWinograd = true }
    }

    /// Keeps only the prepared (Winograd) form of the convs that have one: for inference, where
    /// the dense copy would sit unused (see `ConvUnit.releaseDenseWeights`). Tune first;
    /// `options`: those the model will run with.
    public func releaseDenseWeights(options: KernelOptions = .default) {
        for conv in convs { conv.releaseDenseWeights(options: options) }
    }

    /// Bytes of weights prepared for the fast path so far (Winograd transforms, made on first
    /// use; integer weights of convs switched to int8).
    public var preparedWeightBytes: Int { convs.reduce(0) { $0 + $1.preparedBytes + ($1.int8?.bytes ?? 0) } }

    /// Bytes held by conv weights and biases as loaded (packed weights count their packed size).
    public var weightBytes: Int {
        convs.reduce(0) { $0 + $1.weights.residentBytes + $1.bias.count * 4 }
    }
}
