import YOLOTensor

/// Where every activation of a forward pass lives, worked out once per input shape.
///
/// All activations share one arena. A concat's parts are written by their producers straight
/// into the concat's channel slices (so Concat copies nothing), and buffers whose lifetimes
/// (first write to last read, in node order) do not overlap share addresses: the arena is
/// about the widest cut of the graph, not the sum of its layers.
struct ExecutionPlan {
    let model: ObjectIdentifier
    let input: FeatureShape
    /// Per node: where its output goes (the Detect head's is empty: it writes the result).
    let outputs: [FeatureView]
    let inputs: [[FeatureView]]
    /// Per node: arena offset of its temporaries (0 when it has none).
    let temporaries: [Int]
    let arenaFloats: Int
    /// Concat parts written in place, and the floats that saves over copying, for reports.
    let inPlaceParts: Int
    /// Runs of consecutive nodes that are plain 1x1 stride-1 convs reading the same map (an
    /// ELAN block's first two): the pass may run each run as one sibling pass
    /// (`ConvUnit.forwardSiblings`), so their outputs are kept apart from each other and from
    /// the input over the whole run. Keyed by the first node.
    let siblings: [Int: [Int]]

    init(model: YOLOModel, input: FeatureShape) {
        self.model = ObjectIdentifier(model)
        self.input = input
        let nodes = model.nodes
        let count = nodes.count
        let shapes: [FeatureShape]
        do {
            shapes = try model.shapes(for: input)
        } catch {
            preconditionFailure("forward: input \(input) does not fit the model: \(error)")
        }
        let head = count - 1

        // 1. Concat parts placed in their slice: a node's output goes into the one concat that
        //    reads it once, when the node is not the head. (A part read by other layers too is
        //    fine: they read it from the slice.)
        var parent = [(node: Int, channel: Int)?](repeating: nil, count: count)
        var parts = 0
        for node in nodes where node.layer is ConcatLayer {
            var channel = 0
            for j in node.inputs {
                defer { channel += j < 0 ? input.channels : shapes[j].channels }
                guard j >= 0, j != head, parent[j] == nil,
                      node.inputs.filter({ $0 == j }).count == 1 else { continue }
                parent[j] = (node.index, channel)
                parts += 1
            }
        }
        inPlaceParts = parts
        siblings = Self.siblingRuns(nodes)

        // 2. Buffers: each root (a node not placed in a concat) owns one, live from the first
        //    write of any node placed in it to the last read of any of them.
        var lastRead = Array(0..<count)
        for node in nodes { for j in node.inputs where j >= 0 { lastRead[j] = max(lastRead[j], node.index) } }
        func root(_ i: Int) -> (node: Int, channel: Int) {
            var (r, c) = (i, 0)
            while let p = parent[r] { c += p.channel; r = p.node }
            return (r, c)
        }
        typealias Buffer = ArenaPlacement.Buffer
        var buffers: [Buffer] = []
        var bufferOfRoot = [Int](repeating: -1, count: count)
        for i in 0..<count where parent[i] == nil && i != head {
            bufferOfRoot[i] = buffers.count
            buffers.append(Buffer(size: TemporaryArena.aligned(shapes[i].count), first: i, last: lastRead[i]))
        }
        for i in 0..<count where parent[i] != nil {
            let b = bufferOfRoot[root(i).node]
            buffers[b].first = min(buffers[b].first, i)
            buffers[b].last = max(buffers[b].last, lastRead[i])
        }
        // Siblings write their outputs at the same time, all while reading the input (which is
        // live to the last of them anyway): each output's buffer is live over the whole run, so
        // no two of them share an address. (Outputs in one concat are disjoint slices.)
        for run in siblings.values {
            for i in run {
                let b = bufferOfRoot[root(i).node]
                buffers[b].first = min(buffers[b].first, run.first!)
                buffers[b].last = max(buffers[b].last, run.last!)
            }
        }
        var temporaryBuffer = [Int](repeating: -1, count: count)
        for node in nodes {
            let ins = node.inputs.map { $0 < 0 ? input : shapes[$0] }
            let floats = node.layer.temporaryFloats(ins)
            if floats > 0 {
                temporaryBuffer[node.index] = buffers.count
                buffers.append(Buffer(size: TemporaryArena.aligned(floats), first: node.index, last: node.index))
            }
        }

        // 3. Addresses (inclusive lifetimes: a node's inputs, output and temporaries never share
        //    memory).
        let (offsets, end) = ArenaPlacement.place(buffers)
        for b in buffers.indices { buffers[b].offset = offsets[b] }
        arenaFloats = end

        // 4. Views.
        var outputs = [FeatureView](repeating: FeatureView(offset: 0, shape: FeatureShape(batch: 0, channels: 0, height: 0, width: 0)),
                                    count: count)
        for i in 0..<count where i != head {
            let (r, channel) = root(i)
            let rootShape = shapes[r]
            outputs[i] = FeatureView(offset: buffers[bufferOfRoot[r]].offset, shape: rootShape)
                .channels(channel, shapes[i].channels)
        }
        self.outputs = outputs
        let inputView = FeatureView(storage: .input, offset: 0, shape: input)
        inputs = nodes.map { node in node.inputs.map { $0 < 0 ? inputView : outputs[$0] } }
        temporaries = temporaryBuffer.map { $0 < 0 ? 0 : buffers[$0].offset }
    }

    /// Runs of two or more consecutive conv nodes that could be siblings by their shape alone:
    /// 1x1 stride-1 ungrouped convs with the same single input. (Whether they run together is
    /// decided per pass, by their weights: see `ConvUnit.runsAsSibling`.)
    static func siblingRuns(_ nodes: [GraphNode]) -> [Int: [Int]] {
        func candidate(_ node: GraphNode) -> Bool {
            node.inputs.count == 1 && (node.layer as? ConvLayer)?.conv.geometry.isPointwise == true
        }
        var runs: [Int: [Int]] = [:]
        var i = 0
        while i < nodes.count {
            var run = [i]
            if candidate(nodes[i]) {
                // Inputs are earlier nodes, so a member never reads another's output.
                while let next = run.last.map({ $0 + 1 }), next < nodes.count, candidate(nodes[next]),
                      nodes[next].inputs == nodes[i].inputs {
                    run.append(next)
                }
            }
            if run.count > 1 { runs[i] = run }
            i = run.last! + 1
        }
        return runs
    }
}
