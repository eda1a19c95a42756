import Foundation
import YOLOTensor

/// Detect / IDetect / IAuxDetect at inference: one 1x1 conv per level (ImplicitA/M folded in,
/// IAuxDetect's auxiliary convs dropped), then the official grid + anchor decoding.
/// Output: `[batch, rows, 5 + nc]`, rows ordered level, anchor, y, x as the official `torch.cat(z, 1)`.
public final class DetectLayer: Layer {
    public let module: String
    public let levels: [ConvUnit]
    public let classCount: Int
    public let anchorsPerLevel: Int
    /// Anchor (w, h) in input pixels per level: the official `anchor_grid`.
    public let anchorGrid: [[(w: Float, h: Float)]]
    /// Input pixels per output cell per level, fixed when the model is built (as the official
    /// `Detect.stride`, measured on a 256x256 dry run).
    public internal(set) var strides: [Float]
    public var convs: [ConvUnit] { levels }
    public var outputsPerAnchor: Int { classCount + 5 }

    init(module: String, levels: [ConvUnit], classCount: Int, anchorGrid: [[(w: Float, h: Float)]]) {
        self.module = module
        self.levels = levels
        self.classCount = classCount
        self.anchorsPerLevel = anchorGrid.first?.count ?? 0
        self.anchorGrid = anchorGrid
        self.strides = []
    }

    /// Rows per image for these level inputs.
    public func rowCount(_ inputs: [FeatureShape]) -> Int {
        inputs.prefix(levels.count).reduce(0) { $0 + anchorsPerLevel * $1.height * $1.width }
    }

    /// The result is not a feature map: reported as `[batch, 5+nc, rows, 1]` for shape checks.
    public func outputShape(_ inputs: [FeatureShape]) throws -> FeatureShape {
        guard inputs.count >= levels.count else {
            throw shapeError(module, "needs \(levels.count) inputs, gets \(inputs.count)")
        }
        for (conv, x) in zip(levels, inputs) where conv.geometry.inChannels != x.channels {
            throw shapeError(module, "\(conv.name) expects \(conv.geometry.inChannels) channels, gets \(x.channels)")
        }
        return FeatureShape(batch: inputs[0].batch, channels: outputsPerAnchor, height: rowCount(inputs), width: 1)
    }

    public func forward(_ inputs: [Tensor], context: inout ForwardContext) -> Tensor {
        let batch = inputs[0].featureShape.batch
        let rows = rowCount(inputs.map(\.featureShape))
        var raw = [Tensor]()
        for (l, conv) in levels.enumerated() {
            var y = conv.forward(inputs[l], context: &context)
            for i in y.data.indices { y.data[i] = 1 / (1 + expf(-y.data[i])) }
            raw.append(y)
        }
        let out = FeatureOps.gridRows(raw, anchors: anchorGrid, strides: strides, width: outputsPerAnchor)
        return Tensor(shape: [batch, rows, outputsPerAnchor], data: out)
    }

    public func flops(_ inputs: [FeatureShape]) -> Double {
        zip(levels, inputs).reduce(0) { $0 + $1.0.geometry.flops($1.1) }
    }

    /// Every level's conv output, so that one parallel pass decodes them all.
    public func temporaryFloats(_ inputs: [FeatureShape]) -> Int {
        zip(levels, inputs).reduce(0) { $0 + TemporaryArena.aligned($1.0.geometry.outputShape($1.1).count) }
    }

    /// Planned pass: the prediction goes to `ws.result` (`[batch, rows, 5 + nc]`), not to an
    /// arena view. The sigmoid runs in the conv epilogue; the transpose to rows and the box
    /// decoding in one kernel over all levels (`FeatureOps.gridRows`).
    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        var maps = [FeatureOps.GridLevel]()
        var offset = temporary
        for (l, conv) in levels.enumerated() {
            let s = conv.geometry.outputShape(inputs[l].shape)
            let raw = FeatureView(offset: offset, shape: s)
            conv.forward(&ws, input: inputs[l], output: raw, activation: .sigmoid)
            maps.append(FeatureOps.GridLevel(map: raw, anchors: anchorGrid[l], stride: strides[l]))
            offset += TemporaryArena.aligned(s.count)
        }
        FeatureOps.gridRows(&ws, levels: maps, width: outputsPerAnchor)
    }
}
