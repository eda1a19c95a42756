import Foundation
import YOLOTensor

/// Something that holds a conv's weights in another form and decodes them on demand: the packed
/// quantized formats live in YOLOQuant and conform to this, so the model runs from codes without
/// knowing them. A conv decodes one filter block at a time into its workspace (`WeightDecoder`).
public protocol ConvWeightProvider: WeightDecoder {
    /// Number of weights, `F * C/groups * kh * kw`.
    var weightCount: Int { get }
    /// Filters F.
    var filterCount: Int { get }
    /// Bytes this storage keeps resident (codes + parameters).
    var residentBytes: Int { get }
    /// One line for `inspect`, e.g. "affine 4-bit filter".
    var summary: String { get }
}

extension ConvWeightProvider {
    /// All weights, `[F, C/groups, kh, kw]` row-major, as one FP32 array.
    public func denseWeights() -> [Float] {
        [Float](unsafeUninitializedCapacity: weightCount) { buffer, initialized in
            decode(filters: 0..<filterCount, order: .filterMajor, into: buffer.baseAddress!)
            initialized = weightCount
        }
    }
}

/// How a conv's weights are held.
public enum ConvWeights {
    case dense([Float])
    case provided(ConvWeightProvider)
    /// Only the Winograd form is kept (`ConvUnit.releaseDenseWeights`, for inference): the
    /// dense weights would be a second, unused copy.
    case transformed(PreparedWeights)

    /// The dense weights. For `transformed` they are recomputed from the transform, equal to
    /// the originals up to float rounding (`Winograd.untransformWeights`).
    public func values() -> [Float] {
        switch self {
        case .dense(let w): return w
        case .provided(let p): return p.denseWeights()
        case .transformed(let p): return p.untransformed()!
        }
    }

    public var residentBytes: Int {
        switch self {
        case .dense(let w): return w.count * MemoryLayout<Float>.size
        case .provided(let p): return p.residentBytes
        case .transformed: return 0  // counted as prepared weights
        }
    }
}

/// One runnable convolution with everything folded in: BatchNorm, RepConv branches, ImplicitA/M.
/// `name` is the checkpoint path of the conv it replaces (`model.0.conv`, `model.102.rbr_reparam`,
/// `model.105.m.0`), which is also its name in the engine's safetensors files.
public final class ConvUnit {
    public let name: String
    public let geometry: ConvGeometry
    public let activation: Activation
    public var weights: ConvWeights {
        didSet {
            preparedLock.withLock {
                preparedCache = nil
                strideTwoCache = nil
            }
            int8 = nil
        }
    }
    /// This conv's weights as integers for the int8 pass (`Int8Plan`, `Int8ConvKernel`), made
    /// by YOLOQuant's `Int8Execution`; nil: it runs in FP32 there too. Dropped when the weights
    /// change.
    public var int8: Int8ConvWeights?
    public var bias: [Float]
    /// Called with every input this conv runs on, before it runs (calibration collects layer
    /// input statistics this way); nil in normal runs.
    public var inputObserver: ((Tensor) -> Void)?
    /// The Winograd tile this conv runs, for 3x3 stride-1 convs; nil: the pass's
    /// `KernelOptions.preferredWinogradTile`.
    /// Set by `tuneWinograd` (or by hand); changing it drops the prepared weights.
    public var winogradTile: Winograd.Tile? {
        didSet { if winogradTile != oldValue { preparedLock.withLock { preparedCache = nil } } }
    }
    /// When set, the next planned run times every Winograd tile this CPU has on the conv's real
    /// input and keeps the fastest in `winogradTile` (see `YOLOModel.tuneWinograd`).
    public var tunesWinograd = false
    /// What that tuning measured: each tile's best time in ms.
    public private(set) var winogradTimings: [Winograd.Tile: Double] = [:]
    /// Dense weights in the fast path's form (Winograd), made on first use; dropped when the
    /// weights change. Quantized (provided) weights are transformed per pass instead, so a
    /// packed model keeps only its codes resident.
    private var preparedCache: PreparedWeights?
    /// A 3x3 stride-2 conv's `StrideTwoWinograd` weights, made on its first run on a plane that
    /// path takes (9x the weights, so never for convs that do not run it); dropped with the weights.
    private var strideTwoCache: [Float]?
    private let preparedLock = NSLock()

    public init(name: String, geometry: ConvGeometry, activation: Activation, weights: [Float], bias: [Float]) {
        precondition(weights.count == geometry.weightCount && bias.count == geometry.outChannels)
        self.name = name
        self.geometry = geometry
        self.activation = activation
        self.weights = .dense(weights)
        self.bias = bias
    }

    public func forward(_ x: Tensor, into output: inout Tensor, channelOffset: Int = 0, scratch: inout [Float],
                        options: KernelOptions = .default) {
        inputObserver?(x)
        var w: [Float] = []  // a transformed conv runs from its prepared form alone
        if case .transformed = weights {} else { w = weights.values() }
        ConvKernel.forward(input: x, weight: w, bias: bias, geometry: geometry, activation: activation,
                           into: &output, channelOffset: channelOffset, scratch: &scratch,
                           prepared: prepared(tile: winogradTile ?? options.preferredWinogradTile), options: options)
    }

    public func forward(_ x: Tensor, scratch: inout [Float], options: KernelOptions = .default) -> Tensor {
        var out = Tensor(zeros: geometry.outputShape(x.featureShape))
        forward(x, into: &out, scratch: &scratch, options: options)
        return out
    }

    /// The tensor path with a context's scratch and kernel options.
    public func forward(_ x: Tensor, into output: inout Tensor, channelOffset: Int = 0, context: inout ForwardContext) {
        forward(x, into: &output, channelOffset: channelOffset, scratch: &context.scratch, options: context.options)
    }

    public func forward(_ x: Tensor, context: inout ForwardContext) -> Tensor {
        forward(x, scratch: &context.scratch, options: context.options)
    }

    /// The dense FP32 weights as a tensor `[F, C/g, kh, kw]`.
    public var weightTensor: Tensor { Tensor(shape: geometry.weightShape, data: weights.values()) }
}

extension ConvUnit {
    /// Planned pass: from one workspace view into another (a slice of a concat, or a temporary).
    public func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, activation act: Activation? = nil) {
        if let inputObserver { inputObserver(ws.tensor(input)) }
        if tunesWinograd { tuneWinograd(&ws, input: input, output: output, activation: act ?? activation) }
        run(&ws, input: input, output: output, activation: act ?? activation,
            tile: winogradTile ?? ws.options.preferredWinogradTile)
    }

    private func run(_ ws: inout Workspace, input: FeatureView, output: FeatureView, activation: Activation,
                     tile: Winograd.Tile, prepared given: PreparedWeights? = nil) {
        switch weights {
        case .dense(let w):
            if StrideTwoWinograd.applies(geometry, input: input.shape, options: ws.options) {
                StrideTwoWinograd.forward(&ws, input: input, output: output, transformed: strideTwoWeights(w), bias: bias,
                                          geometry: geometry, activation: activation, workers: ws.threadCount)
                return
            }
            ConvKernel.forward(&ws, input: input, output: output, weight: w, bias: bias,
                               geometry: geometry, activation: activation, prepared: given ?? prepared(tile: tile))
        case .transformed(let p):
            ConvKernel.forward(&ws, input: input, output: output, weight: [], bias: bias,
                               geometry: geometry, activation: activation, prepared: p)
        case .provided(let p):
            ConvKernel.forward(&ws, input: input, output: output, decoder: p, bias: bias,
                               geometry: geometry, activation: activation, tile: tile)
        }
    }

    /// Times each available Winograd tile on this input, alternating (so drift in the machine's
    /// speed hits all alike), and keeps the fastest. Packed weights are timed with their
    /// per-pass decoding and transform, as they run. No-op for convs Winograd does not apply to.
    private func tuneWinograd(_ ws: inout Workspace, input: FeatureView, output: FeatureView, activation: Activation) {
        tunesWinograd = false
        let tiles = Winograd.Tile.allCases.filter(\.available)
        guard ws.options.winograd, Winograd.applies(geometry), tiles.count > 1 else { return }
        if case .transformed = weights { return }  // one transform left: nothing to choose
        var prepared: [Winograd.Tile: PreparedWeights] = [:]
        if case .dense(let w) = weights {
            for t in tiles { prepared[t] = PreparedWeights(weight: w, geometry: geometry, tile: t) }
        }
        var best = [Winograd.Tile: Double]()
        for _ in 0..<Self.tuningRounds {
            for t in tiles {
                let start = DispatchTime.now().uptimeNanoseconds
                run(&ws, input: input, output: output, activation: activation, tile: t, prepared: prepared[t])
                let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                best[t] = min(best[t] ?? .infinity, ms)
            }
        }
        winogradTimings = best
        let fastest = tiles.min { best[$0]! < best[$1]! }!
        winogradTile = fastest
        if let p = prepared[fastest] { preparedLock.withLock { preparedCache = p } }
    }

    /// Timed runs of each tile when tuning (the minimum counts).
    static let tuningRounds = 3

    /// Drops the dense weights of a Winograd conv, keeping only their prepared form (made now if
    /// it was not): what inference needs, without a second copy resident. Convs Winograd does
    /// not apply to, and packed ones, keep their weights. `values()` recomputes the dense
    /// weights from the transform (to float rounding) for whoever still asks. `options`: those
    /// the model will run with (nothing is released when they switch Winograd off).
    public func releaseDenseWeights(options: KernelOptions = .default) {
        // An int8 conv runs from its integer weights (changing `weights` would drop them).
        guard int8 == nil else { return }
        guard options.winograd, case .dense = weights,
              let p = prepared(tile: winogradTile ?? options.preferredWinogradTile), p.winograd != nil else { return }
        weights = .transformed(p)
    }

    /// The prepared form of dense weights for a tile (nil for quantized ones, or when there is
    /// none). One form is cached: asking for another tile replaces it. A transformed conv has
    /// only the form it was released with.
    public func prepared(tile: Winograd.Tile) -> PreparedWeights? {
        if case .transformed(let p) = weights { return p }
        guard Winograd.applies(geometry), case .dense(let w) = weights else { return nil }
        return preparedLock.withLock {
            if let p = preparedCache, p.winogradTile == tile { return p }
            let p = PreparedWeights(weight: w, geometry: geometry, tile: tile)
            preparedCache = p
            return p
        }
    }

    private func strideTwoWeights(_ w: [Float]) -> [Float] {
        preparedLock.withLock {
            if let u = strideTwoCache { return u }
            let u = StrideTwoWinograd.transformWeights(w, filters: geometry.outChannels, channels: geometry.inChannels)
            strideTwoCache = u
            return u
        }
    }

    /// Bytes of prepared weights made so far.
    public var preparedBytes: Int {
        if case .transformed(let p) = weights { return p.bytes }
        return preparedLock.withLock {
            (preparedCache?.bytes ?? 0) + (strideTwoCache?.count ?? 0) * MemoryLayout<Float>.size
        }
    }
}

extension ConvUnit {
    /// Whether this conv can run in a sibling pass now: 1x1 stride 1 ungrouped, dense FP32 or
    /// packed weights (decoded for the pass), on the blocked kernel, and nothing per conv in the
    /// way (an int8 form, an input observer).
    func runsAsSibling(_ options: KernelOptions) -> Bool {
        guard geometry.isPointwise, inputObserver == nil, !tunesWinograd else { return false }
        switch weights {
        case .dense, .provided: return options.pointwise && PointwiseKernel.available
        case .transformed: return false
        }
    }

    /// Planned pass: runs `units`, which all read `input`, in one sibling pass over their input
    /// (`PointwiseKernel.forward(_:input:siblings:)`), each into its own output view (views that
    /// overlap neither the input nor each other): convs that read the same map one after the
    /// other, an ELAN block's first two, SPPCSPC's cv1 and cv2. Packed units' weights are decoded
    /// first, all in one parallel loop into the workspace's staging buffer. Returns false, having
    /// run nothing, when the workspace's `KernelOptions.siblingFusion` is off (to measure the
    /// difference: the outputs are the same bit for bit) or any of them cannot run that way;
    /// the caller then runs them one by one.
    static func forwardSiblings(_ units: [ConvUnit], _ ws: inout Workspace, input: FeatureView,
                                outputs: [FeatureView]) -> Bool {
        let options = ws.options
        guard options.siblingFusion, units.count > 1, units.allSatisfy({ $0.runsAsSibling(options) }) else { return false }
        precondition(outputs.count == units.count)
        for (unit, output) in zip(units, outputs) {
            precondition(input.shape.channels == unit.geometry.inChannels && output.shape == unit.geometry.outputShape(input.shape),
                         "\(unit.name): sibling views do not fit")
        }
        var packed: [(decoder: WeightDecoder, geometry: ConvGeometry)] = []
        for unit in units {
            if case .provided(let p) = unit.weights { packed.append((p, unit.geometry)) }
        }
        let offsets = packed.isEmpty ? [] : ws.stage(packed, workers: ws.threadCount)
        var staged: [Float] = []
        swap(&staged, &ws.stagedWeights)
        runSiblings(units, &ws, input: input, outputs: outputs, staged: staged, offsets: offsets)
        // The siblings that referred to the staging buffer are gone: it goes back unshared.
        swap(&staged, &ws.stagedWeights)
        return true
    }

    /// The pass itself, in its own scope so that the `Sibling` values (which hold `staged`) are
    /// released when it returns.
    private static func runSiblings(_ units: [ConvUnit], _ ws: inout Workspace, input: FeatureView, outputs: [FeatureView],
                                    staged: [Float], offsets: [Int]) {
        var next = 0
        let siblings = zip(units, outputs).map { unit, output in
            switch unit.weights {
            case .dense(let w):
                return PointwiseKernel.Sibling(output: output, weight: w, bias: unit.bias, activation: unit.activation)
            case .provided:
                next += 1
                return PointwiseKernel.Sibling(output: output, weight: staged, weightOffset: offsets[next - 1],
                                               bias: unit.bias, activation: unit.activation)
            case .transformed:
                preconditionFailure("checked by runsAsSibling")
            }
        }
        PointwiseKernel.forward(&ws, input: input, siblings: siblings)
    }
}
