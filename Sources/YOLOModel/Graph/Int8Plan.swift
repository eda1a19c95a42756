import Foundation
import YOLOTensor

/// The int8 pass for one input shape: the lowered graph (`Int8Graph`), every map's place in the
/// workspace arena (u8 maps in 4-byte words, FP32 maps in floats, one arena reused as
/// `ExecutionPlan` does), every u8 map's grid, and each int8 conv ready to run.
struct Int8Plan {
    enum View {
        case u8(U8View)
        case f32(FeatureView)
    }

    let model: ObjectIdentifier
    let generation: Int
    let input: FeatureShape
    let graph: Int8Graph
    let views: [View]
    /// Per u8 map, its grid (nil for FP32 maps).
    let grids: [ActivationQuantization?]
    /// Per step: its temporary's arena offset (0 when it has none), and its int8 conv.
    let temporaries: [Int]
    let convs: [Int8Conv?]
    /// Per int8 conv step, its k groups' word offsets (`Int8ConvKernel.columnOffsets`).
    let columnOffsets: [[Int]]
    /// Per step of a concat: the parts it copies, with their channel offsets (the others were
    /// written in place by their producers).
    let copies: [[(map: Int, channel: Int)]]
    let arenaFloats: Int

    init(model: YOLOModel, input: FeatureShape, ranges: [String: ActivationRange]) {
        self.model = ObjectIdentifier(model)
        generation = model.int8Generation
        self.input = input
        let graph = Int8Graph(model: model, input: input)
        self.graph = graph
        let maps = graph.maps, steps = graph.steps

        let grids = Self.grids(graph, ranges: ranges)
        self.grids = grids

        // Buffers: one per root map (its placed parts inside it), live from the first step that
        // writes any map in it to the last that reads any; then each step's temporary.
        let producer = graph.producers()
        var lastRead = producer.map { max($0, 0) }
        for (i, step) in steps.enumerated() {
            for m in Int8Graph.inputs(of: step.op) { lastRead[m] = max(lastRead[m], i) }
        }
        var buffers: [ArenaPlacement.Buffer] = []
        var bufferOfRoot = [Int](repeating: -1, count: maps.count)
        func size(_ m: Int) -> Int {
            let s = maps[m].shape
            return maps[m].storage == .u8 ? U8MapLayout(s).regionWords(batch: s.batch) : TemporaryArena.aligned(s.count)
        }
        for m in maps.indices where maps[m].parent == nil {
            bufferOfRoot[m] = buffers.count
            buffers.append(ArenaPlacement.Buffer(size: TemporaryArena.aligned(size(m)), first: max(producer[m], 0),
                                                 last: lastRead[m]))
        }
        for m in maps.indices where maps[m].parent != nil {
            let b = bufferOfRoot[graph.root(m).map]
            buffers[b].first = min(buffers[b].first, max(producer[m], 0))
            buffers[b].last = max(buffers[b].last, lastRead[m])
        }
        var temporaryBuffer = [Int](repeating: -1, count: steps.count)
        for (i, step) in steps.enumerated() {
            let words = Self.temporaryFloats(step.op, maps: maps)
            if words > 0 {
                temporaryBuffer[i] = buffers.count
                buffers.append(ArenaPlacement.Buffer(size: TemporaryArena.aligned(words), first: i, last: i))
            }
        }
        let (offsets, end) = ArenaPlacement.place(buffers)
        arenaFloats = end
        temporaries = temporaryBuffer.map { $0 < 0 ? 0 : offsets[$0] }

        views = maps.indices.map { m in
            let (r, channel) = graph.root(m)
            let base = offsets[bufferOfRoot[r]]
            let rootShape = maps[r].shape
            if maps[m].storage == .f32 {
                return .f32(FeatureView(offset: base, shape: rootShape).channels(channel, maps[m].shape.channels))
            }
            let whole = U8View(region: base, layout: U8MapLayout(rootShape), batch: rootShape.batch)
            return .u8(whole.channels(channel, maps[m].shape.channels))
        }

        var convs = [Int8Conv?](repeating: nil, count: steps.count)
        var columnOffsets = [[Int]](repeating: [], count: steps.count)
        var copies = [[(map: Int, channel: Int)]](repeating: [], count: steps.count)
        for (i, step) in steps.enumerated() {
            switch step.op {
            case .conv(let unit, let x, _, _):
                guard let weights = unit.int8, let grid = grids[x] else {
                    preconditionFailure("int8: \(unit.name) lowered as int8 without integer weights or an input grid")
                }
                convs[i] = Int8Conv(weights: weights, input: grid)
                columnOffsets[i] = Int8ConvKernel.columnOffsets(unit.geometry, input: U8MapLayout(maps[x].shape))
            case .concat(let parts, let out):
                var channel = 0
                for p in parts {
                    if let placed = maps[p].parent, placed.map == out, placed.channel == channel {} else {
                        copies[i].append((p, channel))
                    }
                    channel += maps[p].shape.channels
                }
            default: break
            }
        }
        self.convs = convs
        self.columnOffsets = columnOffsets
        self.copies = copies
    }

    /// Each u8 map's grid: its class (`Int8Graph.gridClasses`) takes the union of its members'
    /// ranges. Every u8 map but the input must have a range (`Int8Execution` checks that).
    static func grids(_ graph: Int8Graph, ranges: [String: ActivationRange]) -> [ActivationQuantization?] {
        let classes = graph.gridClasses()
        var classRange = [Int: ActivationRange]()
        for (m, c) in classes.enumerated() where c >= 0 {
            let name = graph.maps[m].name
            guard let r = name == Int8Graph.inputName ? Int8Graph.inputRange : ranges[name] else {
                preconditionFailure("int8: no activation range for \(name) (Int8Execution checks the ranges)")
            }
            classRange[c] = classRange[c].map { ActivationRange(min: Swift.min($0.min, r.min), max: Swift.max($0.max, r.max)) } ?? r
        }
        return classes.map { c in c < 0 ? nil : classRange[c].map { ActivationQuantization(min: $0.min, max: $0.max) } }
    }

    /// Arena elements a step needs besides its maps: a stride-2 conv's phase planes; an FP32
    /// island's dequantized inputs, FP32 output and the layer's own temporaries.
    static func temporaryFloats(_ op: Int8Graph.Op, maps: [Int8Graph.Map]) -> Int {
        func floats(_ m: Int) -> Int { TemporaryArena.aligned(maps[m].shape.count) }
        switch op {
        case .conv(let unit, let x, _, _):
            return Int8ConvKernel.temporaryWords(unit.geometry, input: U8MapLayout(maps[x].shape))
        case .floatConv(_, let x, let o, _):
            return floats(x) + (maps[o].storage == .u8 ? floats(o) : 0)
        case .island(let layer, let inputs, let o):
            return inputs.reduce(0) { $0 + floats($1) } + floats(o)
                + TemporaryArena.aligned(layer.temporaryFloats(inputs.map { maps[$0].shape }))
        default:
            return 0
        }
    }

    func u8(_ m: Int) -> U8View {
        guard case .u8(let v) = views[m] else { preconditionFailure("int8: map \(graph.maps[m].name) is not u8") }
        return v
    }

    func f32(_ m: Int) -> FeatureView {
        guard case .f32(let v) = views[m] else { preconditionFailure("int8: map \(graph.maps[m].name) is not FP32") }
        return v
    }

    // MARK: running

    /// One pass: the input (in `ws.input`) through every step; the prediction ends in
    /// `ws.result`. `observe` gets each node's wall time once its last step ran; `inspect` is
    /// called after every step (tests read the maps there).
    func run(_ ws: inout Workspace, observe: ((Int, Double) -> Void)?, inspect: ((Int, Workspace) -> Void)? = nil) {
        let steps = graph.steps
        var nodeStart = observe == nil ? 0 : DispatchTime.now().uptimeNanoseconds
        for (i, step) in steps.enumerated() {
            run(i, step.op, &ws)
            inspect?(i, ws)
            if let observe, i == steps.count - 1 || steps[i + 1].node != step.node {
                let now = DispatchTime.now().uptimeNanoseconds
                observe(step.node, Double(now - nodeStart) / 1e6)
                nodeStart = now
            }
        }
    }

    private func run(_ i: Int, _ op: Int8Graph.Op, _ ws: inout Workspace) {
        switch op {
        case .quantizeInput(let o):
            U8MapKernels.quantize(&ws, input: FeatureView(storage: .input, offset: 0, shape: input), output: u8(o),
                                  grid: grids[o]!)
        case .conv(let unit, let x, let o, let act):
            let output: Int8ConvKernel.Output = graph.maps[o].storage == .u8 ? .codes(u8(o), grids[o]!) : .floats(f32(o))
            Int8ConvKernel.forward(&ws, input: u8(x), output: output, conv: convs[i]!, bias: unit.bias, activation: act,
                                   temporary: temporaries[i], offsets: columnOffsets[i])
        case .floatConv(let unit, let x, let o, let act):
            var arena = TemporaryArena(next: temporaries[i])
            let xf = arena.view(graph.maps[x].shape)
            U8MapKernels.dequantize(&ws, input: u8(x), grid: grids[x]!, output: xf, workers: ws.threadCount)
            if graph.maps[o].storage == .f32 {
                unit.forward(&ws, input: xf, output: f32(o), activation: act)
            } else {
                let yf = arena.view(graph.maps[o].shape)
                unit.forward(&ws, input: xf, output: yf, activation: act)
                U8MapKernels.quantize(&ws, input: yf, output: u8(o), grid: grids[o]!)
            }
        case .pool(let pool, let x, let o):
            U8MapKernels.maxPool(&ws, input: u8(x), output: u8(o), pool: pool, zeroWord: grids[o]!.zeroWord)
        case .upsample(let x, let o):
            U8MapKernels.upsample2x(&ws, input: u8(x), output: u8(o), zeroWord: grids[o]!.zeroWord)
        case .concat(_, let o):
            let whole = u8(o)
            for (p, channel) in copies[i] {
                U8MapKernels.copy(&ws, from: u8(p), to: whole.channels(channel, graph.maps[p].shape.channels))
            }
        case .island(let layer, let inputs, let o):
            var arena = TemporaryArena(next: temporaries[i])
            let xs = inputs.map { m -> FeatureView in
                let v = arena.view(graph.maps[m].shape)
                U8MapKernels.dequantize(&ws, input: u8(m), grid: grids[m]!, output: v, workers: ws.threadCount)
                return v
            }
            let yf = arena.view(graph.maps[o].shape)
            layer.run(xs, output: yf, temporary: arena.next, workspace: &ws)
            U8MapKernels.quantize(&ws, input: yf, output: u8(o), grid: grids[o]!)
        case .gridRows(let detect, let levels):
            let maps = levels.enumerated().map { l, m in
                FeatureOps.GridLevel(map: f32(m), anchors: detect.anchorGrid[l], stride: detect.strides[l])
            }
            FeatureOps.gridRows(&ws, levels: maps, width: detect.outputsPerAnchor)
        }
    }
}
