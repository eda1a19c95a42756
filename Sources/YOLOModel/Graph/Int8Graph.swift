import YOLOTensor

/// A model lowered for the int8 pass: its layers as steps on named maps, every map u8 in the
/// one layout of the int8 kernels (`U8MapLayout`) except the detection head's outputs.
///
/// - Composite layers (SPPCSPC, DownC, repeated rows) are lowered to their convs, pools and
///   concats, so every conv reads and writes u8 maps; layers with no u8 form (Shortcut, ReOrg,
///   odd pools) become FP32 islands: their inputs dequantized, the layer run in FP32, its
///   output quantized. Convs without integer weights (kept in FP32) are islands of one conv.
/// - A concat's parts are written by their producers straight into its channel slices (whole
///   groups of 4 channels), so concat copies nothing; a part that cannot be placed is copied.
/// - Maps that must share a grid do: a concat and its parts (they are one buffer), a max pool
///   or an upsample and its input (codes are monotone, so those ops copy codes). Each such
///   class of maps takes the union of its members' calibrated ranges (`gridClasses`).
///
/// Map names are what calibration records and a quantized file stores ranges under: a node's
/// output is `model.N`, an inner map `model.N.cv1` (the conv that writes it) or `model.N.cat1`.
struct Int8Graph {
    enum Storage: Equatable { case u8, f32 }

    struct Map {
        let name: String
        let shape: FeatureShape
        let storage: Storage
        /// Placed as channels `channel...` of a concat's map.
        var parent: (map: Int, channel: Int)?
    }

    enum Op {
        /// The network input (FP32 in [0, 1]) into its u8 map.
        case quantizeInput(output: Int)
        case conv(ConvUnit, input: Int, output: Int, activation: Activation)
        /// A conv run in FP32 (no integer weights, or a geometry the u8 product lacks).
        case floatConv(ConvUnit, input: Int, output: Int, activation: Activation)
        case pool(U8MapKernels.Pool, input: Int, output: Int)
        case upsample(input: Int, output: Int)
        /// Copies the parts that are not placed in the output's slices.
        case concat(parts: [Int], output: Int)
        /// A layer with no u8 form, run in FP32 on its dequantized inputs.
        case island(Layer, inputs: [Int], output: Int)
        /// The detection head's decode of its FP32 level maps into the prediction rows.
        case gridRows(DetectLayer, levels: [Int])
    }

    struct Step {
        /// The model node the step belongs to (for per-layer profiles).
        let node: Int
        let op: Op
    }

    var maps: [Map] = []
    var steps: [Step] = []
    /// The network input's map.
    private(set) var input = -1

    static let inputName = "input"
    /// The network input's range: [0, 1] exactly, so its grid is 1/255 with zero point 0 and
    /// every pixel value k/255 is its own code.
    static let inputRange = ActivationRange(min: 0, max: 1)

    init(model: YOLOModel, input shape: FeatureShape) {
        input = addMap(Self.inputName, shape)
        steps.append(Step(node: 0, op: .quantizeInput(output: input)))
        var outputs = [Int](repeating: -1, count: model.nodes.count)
        for node in model.nodes {
            let ins = node.inputs.map { $0 < 0 ? input : outputs[$0] }
            outputs[node.index] = lower(node.layer, inputs: ins, name: "model.\(node.index)", node: node.index)
        }
        placeConcatParts()
    }

    // MARK: lowering

    private mutating func addMap(_ name: String, _ shape: FeatureShape, _ storage: Storage = .u8) -> Int {
        maps.append(Map(name: name, shape: shape, storage: storage))
        return maps.count - 1
    }

    private mutating func add(_ op: Op, node: Int) { steps.append(Step(node: node, op: op)) }

    /// The map a conv writes: u8 through the product where it has integer weights and a u8
    /// geometry, else an FP32 conv island.
    private mutating func conv(_ unit: ConvUnit, input: Int, name: String, node: Int, activation: Activation? = nil,
                               storage: Storage = .u8) -> Int {
        let out = addMap(name, unit.geometry.outputShape(maps[input].shape), storage)
        let act = activation ?? unit.activation
        if unit.int8 != nil && Int8ConvKernel.applies(unit.geometry) {
            add(.conv(unit, input: input, output: out, activation: act), node: node)
        } else {
            add(.floatConv(unit, input: input, output: out, activation: act), node: node)
        }
        return out
    }

    /// The conv's map name: its checkpoint name less the `.conv` of a Conv module.
    private static func mapName(_ unit: ConvUnit) -> String {
        unit.name.hasSuffix(".conv") ? String(unit.name.dropLast(5)) : unit.name
    }

    private mutating func concat(_ parts: [Int], name: String, node: Int) -> Int {
        var shape = maps[parts[0]].shape
        shape.channels = parts.reduce(0) { $0 + maps[$1].shape.channels }
        let out = addMap(name, shape)
        add(.concat(parts: parts, output: out), node: node)
        return out
    }

    private mutating func pool(kernel: Int, stride: Int, padding: Int, input: Int, name: String, node: Int,
                               layer: Layer) -> Int {
        var shape = maps[input].shape
        shape.height = (shape.height + 2 * padding - kernel) / stride + 1
        shape.width = (shape.width + 2 * padding - kernel) / stride + 1
        let out = addMap(name, shape)
        if kernel == 2 && stride == 2 && padding == 0 {
            add(.pool(.halve, input: input, output: out), node: node)
        } else if stride == 1 && kernel == 2 * padding + 1 {
            add(.pool(.same(radius: padding), input: input, output: out), node: node)
        } else {
            add(.island(layer, inputs: [input], output: out), node: node)
        }
        return out
    }

    /// Lowers one layer reading `inputs`; returns its output map (none for the head).
    private mutating func lower(_ layer: Layer, inputs: [Int], name: String, node: Int) -> Int {
        let x = inputs.first ?? -1
        switch layer {
        case let c as ConvLayer:
            return conv(c.conv, input: x, name: name, node: node)
        case let p as MaxPoolLayer:
            return pool(kernel: p.kernel, stride: p.stride, padding: p.padding, input: x, name: name, node: node, layer: p)
        case let u as UpsampleLayer where u.scale == 2:
            var shape = maps[x].shape
            shape.height *= 2
            shape.width *= 2
            let out = addMap(name, shape)
            add(.upsample(input: x, output: out), node: node)
            return out
        case is ConcatLayer:
            return concat(inputs, name: name, node: node)
        case let s as SPPCSPCLayer:
            // cv7(cat(cv6(cv5(cat(x1, pools(x1)))), cv2(x))), x1 = cv4(cv3(cv1(x))).
            let t1 = conv(s.cv1, input: x, name: Self.mapName(s.cv1), node: node)
            let y2 = conv(s.cv2, input: x, name: Self.mapName(s.cv2), node: node)
            let t3 = conv(s.cv3, input: t1, name: Self.mapName(s.cv3), node: node)
            let x1 = conv(s.cv4, input: t3, name: Self.mapName(s.cv4), node: node)
            var parts = [x1]
            for (i, k) in s.pools.enumerated() {
                parts.append(pool(kernel: k, stride: 1, padding: k / 2, input: x1, name: "\(name).pool\(i)", node: node,
                                  layer: MaxPoolLayer(module: "SP", kernel: k, stride: 1, padding: k / 2)))
            }
            let cat1 = concat(parts, name: "\(name).cat1", node: node)
            let t5 = conv(s.cv5, input: cat1, name: Self.mapName(s.cv5), node: node)
            let y1 = conv(s.cv6, input: t5, name: Self.mapName(s.cv6), node: node)
            let cat2 = concat([y1, y2], name: "\(name).cat2", node: node)
            return conv(s.cv7, input: cat2, name: name, node: node)
        case let d as DownCLayer:
            // cat(cv2(cv1(x)), cv3(maxpool_k(x))).
            let a = conv(d.cv1, input: x, name: Self.mapName(d.cv1), node: node)
            let b = conv(d.cv2, input: a, name: Self.mapName(d.cv2), node: node)
            let pooled = pool(kernel: d.kernel, stride: d.kernel, padding: 0, input: x, name: "\(name).pool", node: node,
                              layer: MaxPoolLayer(module: "MP", kernel: d.kernel, stride: d.kernel, padding: 0))
            let c = conv(d.cv3, input: pooled, name: Self.mapName(d.cv3), node: node)
            return concat([b, c], name: name, node: node)
        case let r as RepeatLayer:
            var current = inputs
            for (i, stage) in r.stages.enumerated() {
                current = [lower(stage, inputs: current, name: i == r.stages.count - 1 ? name : "\(name).\(i)", node: node)]
            }
            return current[0]
        case let d as DetectLayer:
            // The level convs write FP32 with the sigmoid fused, as the FP32 pass does.
            let levels = d.levels.enumerated().map { l, unit in
                conv(unit, input: inputs[l], name: Self.mapName(unit), node: node, activation: .sigmoid, storage: .f32)
            }
            add(.gridRows(d, levels: levels), node: node)
            return -1
        default:
            var shape: FeatureShape
            do {
                shape = try layer.outputShape(inputs.map { maps[$0].shape })
            } catch {
                preconditionFailure("int8 graph: \(name) does not fit its inputs: \(error)")
            }
            let out = addMap(name, shape)
            add(.island(layer, inputs: inputs, output: out), node: node)
            return out
        }
    }

    // MARK: concat placement and grids

    /// Which step writes each map (-1: none, the input's map is written by its quantize step).
    func producers() -> [Int] {
        var producer = [Int](repeating: -1, count: maps.count)
        for (i, step) in steps.enumerated() {
            switch step.op {
            case .quantizeInput(let o), .conv(_, _, let o, _), .floatConv(_, _, let o, _), .pool(_, _, let o),
                 .upsample(_, let o), .concat(_, let o), .island(_, _, let o):
                producer[o] = i
            case .gridRows: break
            }
        }
        return producer
    }

    /// The maps each step reads.
    static func inputs(of op: Op) -> [Int] {
        switch op {
        case .quantizeInput: return []
        case .conv(_, let i, _, _), .floatConv(_, let i, _, _), .pool(_, let i, _), .upsample(let i, _): return [i]
        case .concat(let parts, _): return parts
        case .island(_, let inputs, _): return inputs
        case .gridRows(_, let levels): return levels
        }
    }

    /// Places each concat's parts in its slices where their producer can write there: a u8
    /// part whose channels start on a whole group, written by a step of this graph (not the
    /// input), read once by this concat and not placed in another concat already.
    private mutating func placeConcatParts() {
        let producer = producers()
        for step in steps {
            guard case .concat(let parts, let out) = step.op else { continue }
            var channel = 0
            for p in parts {
                defer { channel += maps[p].shape.channels }
                guard channel % 4 == 0, maps[p].storage == .u8, p != input, producer[p] >= 0, maps[p].parent == nil,
                      parts.filter({ $0 == p }).count == 1 else { continue }
                maps[p].parent = (out, channel)
            }
        }
    }

    /// The map and channel offset at the root of `m`'s placement.
    func root(_ m: Int) -> (map: Int, channel: Int) {
        var (r, c) = (m, 0)
        while let p = maps[r].parent {
            c += p.channel
            r = p.map
        }
        return (r, c)
    }

    /// Classes of maps that share one grid (a concat and its parts, a pool's or upsample's
    /// input and output), as a class index per u8 map (-1 for FP32 maps).
    func gridClasses() -> [Int] {
        var parent = Array(maps.indices)
        func find(_ x: Int) -> Int {
            var x = x
            while parent[x] != x {
                parent[x] = parent[parent[x]]
                x = parent[x]
            }
            return x
        }
        func union(_ a: Int, _ b: Int) { parent[find(a)] = find(b) }
        for step in steps {
            switch step.op {
            case .concat(let parts, let out): for p in parts { union(p, out) }
            case .pool(_, let i, let o), .upsample(let i, let o): union(i, o)
            default: break
            }
        }
        return maps.indices.map { maps[$0].storage == .u8 ? find($0) : -1 }
    }

    /// Every u8 map's name, in graph order: what calibration records and a file stores.
    var u8MapNames: [String] { maps.filter { $0.storage == .u8 }.map(\.name) }
}
