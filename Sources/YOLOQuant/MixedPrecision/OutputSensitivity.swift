import Foundation
import YOLOModel
import YOLOTensor

/// How far a change of the model moves its detection output on a few calibration images, the
/// measured proxy `--budget` minimises. Every node's FP32 output is kept for each image, so a
/// model in which some convs changed is re-run only from the first changed conv on, and only
/// through the nodes that read a changed output.
///
/// The error is that of the values NMS and the box decoding read: the sigmoid of every Detect
/// output, against the FP32 model's. Objectness counts everywhere (a background anchor turned
/// confident is a false detection); the box and class outputs of an anchor count in proportion
/// to its FP32 objectness, since where there is no object nobody reads them. Per image the sum
/// over anchors is divided by the anchor count; images are averaged.
final class OutputSensitivity {
    let model: YOLOModel
    private let inputs: [Tensor]
    /// FP32 output of every node, per image (the Detect node's: nothing, see `logits`).
    private var outputs: [[Tensor]] = []
    /// FP32 raw output of each Detect level conv, per image.
    private var logits: [[Tensor]] = []
    /// Node index of every conv.
    private let nodeOf: [ObjectIdentifier: Int]
    private var context = ForwardContext()

    init(model: YOLOModel, inputs: [Tensor]) {
        self.model = model
        self.inputs = inputs
        var nodeOf: [ObjectIdentifier: Int] = [:]
        for node in model.nodes { for conv in node.layer.convs { nodeOf[ObjectIdentifier(conv)] = node.index } }
        self.nodeOf = nodeOf
        let detectIndex = model.nodes.count - 1
        for x in inputs {
            var results: [Tensor] = []
            for node in model.nodes where node.index < detectIndex {
                let ins = node.inputs.map { $0 < 0 ? x : results[$0] }
                results.append(node.layer.forward(ins, context: &context))
            }
            let head = model.nodes[detectIndex]
            logits.append(zip(model.detect.levels, head.inputs).map { conv, j in
                conv.forward(j < 0 ? x : results[j], scratch: &context.scratch)
            })
            outputs.append(results)
        }
    }

    var imageCount: Int { inputs.count }

    /// The output error of the model as it is now, where only `changed` convs differ from the
    /// model this was made from (the others must still hold the weights they had then).
    func error(changed: [ConvUnit]) -> Double {
        let first = changed.compactMap { nodeOf[ObjectIdentifier($0)] }.min() ?? model.nodes.count
        let changedNodes = Set(changed.compactMap { nodeOf[ObjectIdentifier($0)] })
        let detectIndex = model.nodes.count - 1
        var total = 0.0
        for (i, x) in inputs.enumerated() {
            var fresh: [Int: Tensor] = [:]
            func output(_ j: Int) -> Tensor { j < 0 ? x : fresh[j] ?? outputs[i][j] }
            for node in model.nodes[min(first, detectIndex)..<detectIndex]
                where changedNodes.contains(node.index) || node.inputs.contains(where: { fresh[$0] != nil }) {
                fresh[node.index] = node.layer.forward(node.inputs.map(output), context: &context)
            }
            let head = model.nodes[detectIndex]
            var levels: [Tensor] = []
            for (l, (conv, j)) in zip(model.detect.levels, head.inputs).enumerated() {
                let changedConv = changed.contains { $0 === conv }
                levels.append(changedConv || fresh[j] != nil
                              ? conv.forward(output(j), scratch: &context.scratch) : logits[i][l])
            }
            total += Self.error(levels, reference: logits[i], outputsPerAnchor: model.detect.outputsPerAnchor)
        }
        return total / Double(max(inputs.count, 1))
    }

    /// The error of one image's Detect outputs (`[1, A*(5+nc), h, w]` per level) against the FP32 ones.
    static func error(_ levels: [Tensor], reference: [Tensor], outputsPerAnchor width: Int) -> Double {
        var sum = 0.0, anchors = 0
        for (y, r) in zip(levels, reference) {
            let shape = r.featureShape
            let plane = shape.planeSize
            for a in 0..<(shape.channels / width) {
                let base = a * width * plane
                for p in 0..<plane {
                    let objectness = FastMath.sigmoid(r.data[base + 4 * plane + p])
                    var boxAndClass = 0.0
                    var d = 0.0
                    for k in 0..<width {
                        let e = Double(FastMath.sigmoid(y.data[base + k * plane + p]) - FastMath.sigmoid(r.data[base + k * plane + p]))
                        if k == 4 { d += e * e } else { boxAndClass += e * e }
                    }
                    sum += d + Double(objectness) * boxAndClass
                }
                anchors += plane
            }
        }
        return anchors > 0 ? sum / Double(anchors) : 0
    }
}
