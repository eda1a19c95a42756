import Foundation
import YOLOTensor

/// Reusable state for one forward pass: the im2col scratch buffer.
public struct ForwardContext {
    public var scratch: [Float] = []
    public init() {}
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
}

extension Layer {
    public func flops(_ inputs: [FeatureShape]) -> Double {
        guard let first = inputs.first else { return 0 }
        return convs.first.map { $0.geometry.flops(first) } ?? 0
    }
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
        conv.forward(inputs[0], scratch: &context.scratch)
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
}

public final class UpsampleLayer: Layer {
    public let module = "nn.Upsample"
    public let scale: Int
    public var convs: [ConvUnit] { [] }
    init(scale: Int) { self.scale = scale }

    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        var s = inputs[0]
        s.height *= scale
        s.width *= scale
        return s
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        FeatureOps.upsampleNearest(inputs[0], scale: scale)
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
        let a = cv1.forward(x, scratch: &context.scratch)
        let pooled = FeatureOps.maxPool(x, kernel: kernel, stride: kernel, padding: 0)
        let s = cv2.geometry.outputShape(a.featureShape)
        var out = Tensor(zeros: FeatureShape(batch: s.batch, channels: s.channels + cv3.geometry.outChannels,
                                             height: s.height, width: s.width))
        cv2.forward(a, into: &out, channelOffset: 0, scratch: &context.scratch)
        cv3.forward(pooled, into: &out, channelOffset: s.channels, scratch: &context.scratch)
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
        let x1 = cv4.forward(cv3.forward(cv1.forward(x, scratch: &context.scratch), scratch: &context.scratch),
                             scratch: &context.scratch)
        var parts = [x1]
        for k in pools { parts.append(FeatureOps.maxPool(x1, kernel: k, stride: 1, padding: k / 2)) }
        let y1 = cv6.forward(cv5.forward(FeatureOps.concatChannels(parts), scratch: &context.scratch),
                             scratch: &context.scratch)
        let y2 = cv2.forward(x, scratch: &context.scratch)
        return cv7.forward(FeatureOps.concatChannels([y1, y2]), scratch: &context.scratch)
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
}
