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
        let no = outputsPerAnchor
        let na = anchorsPerLevel
        let batch = inputs[0].featureShape.batch
        let rows = rowCount(inputs.map(\.featureShape))
        var out = [Float](repeating: 0, count: batch * rows * no)
        var rowBase = 0
        for (l, conv) in levels.enumerated() {
            let raw = conv.forward(inputs[l], scratch: &context.scratch)
            let s = raw.featureShape
            let plane = s.height * s.width
            let stride = strides[l]
            for n in 0..<batch {
                for a in 0..<na {
                    let (aw, ah) = anchorGrid[l][a]
                    for y in 0..<s.height {
                        for x in 0..<s.width {
                            let row = n * rows + rowBase + (a * s.height + y) * s.width + x
                            let src = (n * s.channels + a * no) * plane + y * s.width + x
                            for k in 0..<no {
                                let v = 1 / (1 + expf(-raw.data[src + k * plane]))
                                let value: Float
                                switch k {
                                case 0: value = (v * 2 - 0.5 + Float(x)) * stride
                                case 1: value = (v * 2 - 0.5 + Float(y)) * stride
                                case 2: value = (v * 2) * (v * 2) * aw
                                case 3: value = (v * 2) * (v * 2) * ah
                                default: value = v
                                }
                                out[row * no + k] = value
                            }
                        }
                    }
                }
            }
            rowBase += na * plane
        }
        return Tensor(shape: [batch, rows, no], data: out)
    }

    public func flops(_ inputs: [FeatureShape]) -> Double {
        zip(levels, inputs).reduce(0) { $0 + $1.0.geometry.flops($1.1) }
    }

    /// One level's raw conv output at a time.
    public func temporaryFloats(_ inputs: [FeatureShape]) -> Int {
        zip(levels, inputs).map { TemporaryArena.aligned($0.geometry.outputShape($1).count) }.max() ?? 0
    }

    /// Planned pass: the prediction goes to `ws.result` (`[batch, rows, 5 + nc]`), not to an
    /// arena view. The sigmoid runs in the conv epilogue, the transpose to rows in a kernel, and
    /// only the four box columns are decoded here.
    public func run(_ inputs: [FeatureView], output: FeatureView, temporary: Int, workspace ws: inout Workspace) {
        let no = outputsPerAnchor
        let na = anchorsPerLevel
        let batch = inputs[0].shape.batch
        let rows = rowCount(inputs.map(\.shape))
        ws.result = [Float](repeating: 0, count: batch * rows * no)
        var rowBase = 0
        for (l, conv) in levels.enumerated() {
            let s = conv.geometry.outputShape(inputs[l].shape)
            let raw = FeatureView(offset: temporary, shape: s)
            conv.forward(&ws, input: inputs[l], output: raw, activation: .sigmoid)
            FeatureOps.planesToRows(&ws, input: raw, width: no, rowOffset: rowBase, rowsPerItem: rows)
            let stride = strides[l]
            for n in 0..<batch {
                for a in 0..<na {
                    let (aw, ah) = anchorGrid[l][a]
                    for y in 0..<s.height {
                        var r = (n * rows + rowBase + (a * s.height + y) * s.width) * no
                        for x in 0..<s.width {
                            // As the official decode: y = sigmoid(raw), then xy and wh from y.
                            let vx = ws.result[r], vy = ws.result[r + 1], vw = ws.result[r + 2], vh = ws.result[r + 3]
                            ws.result[r] = (vx * 2 - 0.5 + Float(x)) * stride
                            ws.result[r + 1] = (vy * 2 - 0.5 + Float(y)) * stride
                            ws.result[r + 2] = (vw * 2) * (vw * 2) * aw
                            ws.result[r + 3] = (vh * 2) * (vh * 2) * ah
                            r += no
                        }
                    }
                }
            }
            rowBase += na * s.planeSize
        }
    }
}
