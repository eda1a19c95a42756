/// A dense float32 tensor in row-major (NCHW for images) order.
///
/// A value type: copies are cheap until written (copy-on-write through the array).
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    public init(shape: [Int], repeating value: Float) {
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// The tensor with a new shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Largest absolute value (0 for an empty tensor).
    public var maxAbs: Float {
        data.reduce(0) { max($0, abs($1)) }
    }
}

/// Dimensions of an NCHW activation.
public struct FeatureShape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(batch: Int, channels: Int, height: Int, width: Int) {
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var dims: [Int] { [batch, channels, height, width] }
    public var count: Int { batch * channels * height * width }
    public var planeSize: Int { height * width }
    public var description: String { "\(batch)x\(channels)x\(height)x\(width)" }
}

extension Tensor {
    /// Interprets a rank-4 tensor as NCHW.
    public var featureShape: FeatureShape {
        precondition(shape.count == 4, "featureShape needs a rank-4 tensor, got \(shape)")
        return FeatureShape(batch: shape[0], channels: shape[1], height: shape[2], width: shape[3])
    }

    public init(zeros shape: FeatureShape) {
        self.init(zeros: shape.dims)
    }
}
