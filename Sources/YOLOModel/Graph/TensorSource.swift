import YOLOTensor

/// Where a model's tensors come from: a checkpoint's state dict, a safetensors file, or random
/// values for building a config without weights. Names follow the official state dict
/// (`model.0.conv.weight`, `model.77.m.0.bias`).
public protocol TensorSource {
    /// For error messages: the file (or "random").
    var origin: String { get }
    func contains(_ name: String) -> Bool
    /// The tensor, checked against the shape the model expects (element count must agree;
    /// a differently arranged shape of the same count is accepted only if `shape` is empty).
    func tensor(_ name: String, shape: [Int]) throws -> Tensor
    /// A plain module attribute (e.g. BatchNorm `eps` of "model.0.bn"), when the source knows it.
    func attribute(_ name: String, of module: String) -> Double?
}

extension TensorSource {
    public func attribute(_ name: String, of module: String) -> Double? { nil }
}

/// A name -> tensor dictionary, e.g. a loaded checkpoint's state dict.
public struct DictionaryTensorSource: TensorSource {
    public let origin: String
    public var tensors: [String: Tensor]
    public var attributes: [String: [String: Double]]

    public init(origin: String, tensors: [String: Tensor], attributes: [String: [String: Double]] = [:]) {
        self.origin = origin
        self.tensors = tensors
        self.attributes = attributes
    }

    public func contains(_ name: String) -> Bool { tensors[name] != nil }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        guard let t = tensors[name] else { throw YOLOModelError.missingTensor(name: name, source: origin) }
        if shape.isEmpty { return t }
        // Official checkpoints store e.g. ImplicitA as [1,C,1,1] and the model may ask for [C]:
        // compare element counts, and full shapes only when ranks agree.
        if t.shape.count == shape.count ? t.shape != shape : t.count != shape.reduce(1, *) {
            throw YOLOModelError.shapeMismatch(name: name, expected: shape, actual: t.shape, source: origin)
        }
        return t.shape == shape ? t : t.reshaped(shape)
    }

    public func attribute(_ name: String, of module: String) -> Double? { attributes[module]?[name] }
}

/// Deterministic random weights in the training layout (BatchNorm and RepConv branches present,
/// ImplicitA/M present), so that folding is exercised when a config is built without weights.
public struct RandomTensorSource: TensorSource {
    public let origin = "random"
    public let seed: UInt64

    public init(seed: UInt64 = 0) { self.seed = seed }

    public func contains(_ name: String) -> Bool {
        // The unfused layout has no conv bias inside Conv and no re-parameterised RepConv.
        !(name.hasSuffix(".conv.bias") || name.contains("rbr_reparam") || name.hasSuffix("anchor_grid"))
    }

    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        var rng = SplitMix64(seed: seed ^ UInt64(truncatingIfNeeded: name.hashValueStable))
        let n = shape.reduce(1, *)
        let leaf = name.split(separator: ".").last.map(String.init) ?? name
        func uniform(_ lo: Float, _ hi: Float) -> [Float] { (0..<n).map { _ in lo + (hi - lo) * rng.nextUnitFloat() } }
        let values: [Float]
        if name.contains(".ia.") {
            values = uniform(-0.1, 0.1)
        } else if name.contains(".im.") {
            values = uniform(0.9, 1.1)
        } else if leaf == "running_var" {
            values = uniform(0.5, 2)
        } else if leaf == "running_mean" || (leaf == "bias") {
            values = uniform(-0.1, 0.1)
        } else if leaf == "weight" && shape.count == 1 {
            values = uniform(0.5, 1.5)  // BatchNorm gamma
        } else {
            // Conv weights scaled by fan-in so activations neither vanish nor explode.
            let fanIn = Float(shape.dropFirst().reduce(1, *))
            let bound = (3 / max(fanIn, 1)).squareRoot()
            values = uniform(-bound, bound)
        }
        return Tensor(shape: shape, data: values)
    }
}

/// Small deterministic generator (SplitMix64, Steele et al. 2014), so random models (and
/// `quantize --calib-seed` subsets) are the same on every machine and Swift version.
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnitFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}

extension String {
    /// FNV-1a: Swift's `hashValue` is seeded per process, this is not.
    var hashValueStable: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
