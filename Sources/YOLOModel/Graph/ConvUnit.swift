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

    public func values() -> [Float] {
        switch self {
        case .dense(let w): return w
        case .provided(let p): return p.denseWeights()
        }
    }

    public var residentBytes: Int {
        switch self {
        case .dense(let w): return w.count * MemoryLayout<Float>.size
        case .provided(let p): return p.residentBytes
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
            preparedLock.withLock { preparedCache = nil }
            int8 = nil
        }
    }
    /// When set, the planned pass runs this conv in int8 (`Int8ConvKernel`): its weights as
    /// integers and its input's quantization grid, made by YOLOQuant's `Int8Execution`.
    /// Dropped when the weights change.
    public var int8: Int8Conv?
    public var bias: [Float]
    /// Called with every input this conv runs on, before it runs (calibration collects layer
    /// input statistics this way); nil in normal runs.
    public var inputObserver: ((Tensor) -> Void)?
    /// Dense weights in the fast path's form (Winograd), made on first use; dropped when the
    /// weights change. Quantized (provided) weights are transformed per pass instead, so a
    /// packed model keeps only its codes resident.
    private var preparedCache: PreparedWeights?
    private let preparedLock = NSLock()

    public init(name: String, geometry: ConvGeometry, activation: Activation, weights: [Float], bias: [Float]) {
        precondition(weights.count == geometry.weightCount && bias.count == geometry.outChannels)
        self.name = name
        self.geometry = geometry
        self.activation = activation
        self.weights = .dense(weights)
        self.bias = bias
    }

    public func forward(_ x: Tensor, into output: inout Tensor, channelOffset: Int = 0, scratch: inout [Float]) {
        inputObserver?(x)
        let w = weights.values()
        ConvKernel.forward(input: x, weight: w, bias: bias, geometry: geometry, activation: activation,
                           into: &output, channelOffset: channelOffset, scratch: &scratch, prepared: prepared)
    }

    public func forward(_ x: Tensor, scratch: inout [Float]) -> Tensor {
        var out = Tensor(zeros: geometry.outputShape(x.featureShape))
        forward(x, into: &out, scratch: &scratch)
        return out
    }

    /// The dense FP32 weights as a tensor `[F, C/g, kh, kw]`.
    public var weightTensor: Tensor { Tensor(shape: geometry.weightShape, data: weights.values()) }
}

extension ConvUnit {
    /// Planned pass: from one workspace view into another (a slice of a concat, or a temporary).
    public func forward(_ ws: inout Workspace, input: FeatureView, output: FeatureView, activation act: Activation? = nil) {
        if let inputObserver { inputObserver(ws.tensor(input)) }
        if let int8, Int8ConvKernel.available {
            Int8ConvKernel.forward(&ws, input: input, output: output, conv: int8, bias: bias,
                                   activation: act ?? activation)
            return
        }
        // The FP32 kernels use the scratch that holds an int8 conv's quantized input.
        ws.quantizedInput = nil
        switch weights {
        case .dense(let w):
            ConvKernel.forward(&ws, input: input, output: output, weight: w, bias: bias,
                               geometry: geometry, activation: act ?? activation, prepared: prepared)
        case .provided(let p):
            ConvKernel.forward(&ws, input: input, output: output, decoder: p, bias: bias,
                               geometry: geometry, activation: act ?? activation)
        }
    }

    /// The prepared form of dense weights (nil for quantized ones, or when there is none).
    public var prepared: PreparedWeights? {
        guard Winograd.applies(geometry), case .dense(let w) = weights else { return nil }
        return preparedLock.withLock {
            if let p = preparedCache { return p }
            let p = PreparedWeights(weight: w, geometry: geometry)
            preparedCache = p
            return p
        }
    }

    /// Bytes of prepared weights made so far.
    public var preparedBytes: Int { preparedLock.withLock { preparedCache?.bytes ?? 0 } }
}
