import YOLOTensor

/// The lowered int8 graph run step by step on plain tensors: in FP32 for calibration (what
/// every u8 map's values are before quantization), and as the int8 pass's reference for tests
/// (every map on its grid, every conv through `Int8ConvKernel.reference`): the planned pass
/// must give exactly its codes and prediction.
struct Int8Interpreter {
    enum Mode {
        /// FP32 throughout (the model's FP32 kernels).
        case float
        /// Each u8 map rounded to its grid, convs with integer weights in integer arithmetic.
        case reference(grids: [ActivationQuantization?])
    }

    let graph: Int8Graph
    let mode: Mode

    /// Runs the graph on `input`; `observe` sees every u8 map once it is complete. Returns the
    /// prediction `[batch, rows, 5 + nc]` (empty in `float` mode when `predict` is false).
    func run(_ input: Tensor, predict: Bool = true, observe: ((Int, Tensor) -> Void)? = nil) -> Tensor {
        var values = [Tensor?](repeating: nil, count: graph.maps.count)
        var context = ForwardContext()
        var result = Tensor(zeros: [0])
        func onGrid(_ t: Tensor, _ m: Int) -> Tensor {
            guard case .reference(let grids) = mode, let q = grids[m] else { return t }
            return Tensor(shape: t.shape, data: t.data.map { q.scale * Float(q.quantize($0) - q.zero) })
        }
        for step in graph.steps {
            switch step.op {
            case .quantizeInput(let o):
                values[o] = onGrid(input, o)
            case .conv(let unit, let x, let o, let act):
                if case .reference(let grids) = mode, let weights = unit.int8 {
                    let conv = Int8Conv(weights: weights, input: grids[x]!)
                    let y = Int8ConvKernel.reference(values[x]!, conv: conv, bias: unit.bias, activation: act,
                                                     outputGrid: grids[o])
                    values[o] = grids[o].map { q in Tensor(shape: y.shape, data: y.data.map { q.scale * ($0 - Float(q.zero)) }) } ?? y
                } else {
                    values[o] = Self.floatConv(unit, values[x]!, activation: act, context: &context)
                }
            case .floatConv(let unit, let x, let o, let act):
                if graph.maps[o].storage == .f32 && !predict { continue }
                values[o] = onGrid(Self.floatConv(unit, values[x]!, activation: act, context: &context), o)
            case .pool(let pool, let x, let o):
                switch pool {
                case .halve: values[o] = FeatureOps.maxPool(values[x]!, kernel: 2, stride: 2, padding: 0)
                case .same(let r): values[o] = FeatureOps.maxPool(values[x]!, kernel: 2 * r + 1, stride: 1, padding: r)
                }
            case .upsample(let x, let o):
                values[o] = FeatureOps.upsampleNearest(values[x]!, scale: 2)
            case .concat(let parts, let o):
                values[o] = FeatureOps.concatChannels(parts.map { values[$0]! })
            case .island(let layer, let inputs, let o):
                values[o] = onGrid(layer.forward(inputs.map { values[$0]! }, context: &context), o)
            case .gridRows(let detect, let levels):
                guard predict else { continue }
                let raw = levels.map { values[$0]! }
                let rows = FeatureOps.gridRows(raw, anchors: detect.anchorGrid, strides: detect.strides,
                                               width: detect.outputsPerAnchor)
                let batch = input.featureShape.batch
                result = Tensor(shape: [batch, rows.count / (batch * detect.outputsPerAnchor), detect.outputsPerAnchor],
                                data: rows)
            }
            if let observe {
                for m in Self.outputs(of: step.op) where graph.maps[m].storage == .u8 { observe(m, values[m]!) }
            }
        }
        return result
    }

    /// A conv in FP32 with the given activation (the head's convs run with the sigmoid fused).
    static func floatConv(_ unit: ConvUnit, _ x: Tensor, activation: Activation, context: inout ForwardContext) -> Tensor {
        if activation == unit.activation { return unit.forward(x, scratch: &context.scratch) }
        return ConvKernel.forward(input: x, weight: unit.weights.values(), bias: unit.bias, geometry: unit.geometry,
                                  activation: activation)
    }

    static func outputs(of op: Int8Graph.Op) -> [Int] {
        switch op {
        case .quantizeInput(let o), .conv(_, _, let o, _), .floatConv(_, _, let o, _), .pool(_, _, let o),
             .upsample(_, let o), .concat(_, let o), .island(_, _, let o):
            return [o]
        case .gridRows: return []
        }
    }
}

extension YOLOModel {
    /// Runs the int8 graph in FP32 on `input` and hands every u8 map's values to `observe` by
    /// map name (`int8MapNames`, plus the input): what int8 calibration measures.
    public func int8CalibrationPass(_ input: Tensor, observe: @escaping (String, Tensor) -> Void) {
        let graph = Int8Graph(model: self, input: input.featureShape)
        _ = Int8Interpreter(graph: graph, mode: .float).run(input, predict: false) { m, t in observe(graph.maps[m].name, t) }
    }

    /// The int8 pass written for clarity (`Int8Interpreter` in reference mode) with the model's
    /// int8 ranges: the planned pass must give exactly its prediction.
    public func int8ReferencePass(_ input: Tensor) -> Tensor {
        guard let ranges = int8Ranges else { preconditionFailure("int8ReferencePass: int8 is not enabled") }
        let graph = Int8Graph(model: self, input: input.featureShape)
        return Int8Interpreter(graph: graph, mode: .reference(grids: Int8Plan.grids(graph, ranges: ranges))).run(input)
    }

    /// Every u8 map's codes in the reference pass (its values on their grids), by name.
    public func int8ReferenceCodes(_ input: Tensor) -> [String: [UInt8]] {
        guard let ranges = int8Ranges else { preconditionFailure("int8ReferenceCodes: int8 is not enabled") }
        let graph = Int8Graph(model: self, input: input.featureShape)
        let grids = Int8Plan.grids(graph, ranges: ranges)
        var out = [String: [UInt8]]()
        _ = Int8Interpreter(graph: graph, mode: .reference(grids: grids)).run(input) { m, t in
            let q = grids[m]!
            out[graph.maps[m].name] = t.data.map { UInt8(q.quantize($0)) }
        }
        return out
    }

    /// The planned int8 pass on `input`, with every u8 map's codes (border dropped) taken right
    /// after the step that completes it, by name: for tests against `int8ReferencePass`.
    public func int8PassCodes(_ input: Tensor) -> (prediction: Tensor, codes: [String: [UInt8]]) {
        guard let ranges = int8Ranges else { preconditionFailure("int8PassCodes: int8 is not enabled") }
        let plan = Int8Plan(model: self, input: input.featureShape, ranges: ranges)
        var ws = Workspace(arenaFloats: plan.arenaFloats)
        ws.input = input.data
        var codes = [String: [UInt8]]()
        plan.run(&ws, observe: nil) { step, ws in
            for m in Int8Interpreter.outputs(of: plan.graph.steps[step].op) where plan.graph.maps[m].storage == .u8 {
                codes[plan.graph.maps[m].name] = U8MapKernels.codes(ws, plan.u8(m))
            }
        }
        let rows = ws.result.count / (input.featureShape.batch * detect.outputsPerAnchor)
        return (Tensor(shape: [input.featureShape.batch, rows, detect.outputsPerAnchor], data: ws.result), codes)
    }
}
