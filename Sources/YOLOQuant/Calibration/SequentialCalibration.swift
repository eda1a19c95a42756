import Foundation
import YOLOModel
import YOLOTensor

/// Calibration images as network inputs: image i letterboxed to `[1, 3, H, W]` in [0, 1]
/// (the caller decodes and letterboxes; YOLOQuant knows no image files).
public struct CalibrationImages {
    public let count: Int
    public let input: (Int) throws -> Tensor

    public init(count: Int, input: @escaping (Int) throws -> Tensor) {
        self.count = count
        self.input = input
    }
}

/// Runs a model layer by layer over the calibration images in two streams at once: the FP32
/// model, and the model whose convs so far carry their quantized weights. Each conv to quantize
/// is handed the moments of its input in both (`PairedInputStatistics`) and returns its new
/// weights and bias, which the second stream runs from then on: so every conv is fitted to the
/// inputs it will really see, errors of the convs before it included, and asked to reproduce
/// the FP32 model's output, not its own FP32 output on those perturbed inputs (AdaRound's
/// "asymmetric" reconstruction).
///
/// A layer with several convs inside (SPPCSPC, Detect...) runs once more per conv, so each sees
/// the convs before it in the layer already quantized. Activations of every image are held
/// until their last reader has run. The model's own weights and biases are restored at the end.
enum SequentialCalibration {
    /// `quantize(conv, statistics)` is called once per conv in `names` (grouped convs are left
    /// out), in the order the model runs them; `progress` after each with (done, total). The
    /// statistics keep about `poolColumns` columns in all for objectives that need them.
    static func run(model: YOLOModel, convs names: Set<String>, images: CalibrationImages, maxColumns: Int,
                    poolColumns: Int = 0,
                    quantize: (ConvUnit, PairedInputStatistics) throws -> (weights: [Float], bias: [Float]),
                    progress: ((Int, Int) -> Void)? = nil) throws {
        let nodes = model.nodes
        let targets = model.convs.filter { names.contains($0.name) && $0.geometry.groups == 1 }
        let targetNames = Set(targets.map(\.name))
        let saved = targets.map { ($0.weights, $0.bias) }
        defer {
            for (conv, (weights, bias)) in zip(targets, saved) {
                conv.weights = weights
                conv.bias = bias
                conv.inputObserver = nil
            }
        }
        var lastUse = [Int](repeating: -1, count: nodes.count)
        for node in nodes { for j in node.inputs where j >= 0 { lastUse[j] = max(lastUse[j], node.index) } }

        let inputs = try (0..<images.count).map { try images.input($0) }
        var fp32 = [[Tensor?]](repeating: [Tensor?](repeating: nil, count: nodes.count), count: inputs.count)
        var quantized = fp32
        // Whether a node's output differs between the streams (some conv at or before it changed).
        var differs = [Bool](repeating: false, count: nodes.count)
        var context = ForwardContext()
        var done = 0

        for node in nodes {
            func ins(_ stream: [[Tensor?]], _ i: Int) -> [Tensor] {
                node.inputs.map { $0 < 0 ? inputs[i] : stream[i][$0]! }
            }
            let convs = node.layer.convs.filter { targetNames.contains($0.name) }
            let needed = lastUse[node.index] >= 0
            var fp32Inputs: [String: [Tensor]] = [:]  // inner convs' FP32 inputs, per image
            // The FP32 stream (recording the inputs of inner convs of a composite layer).
            let composite = !(node.layer is ConvLayer)
            if composite {
                for conv in convs {
                    let name = conv.name
                    conv.inputObserver = { fp32Inputs[name, default: []].append($0) }
                }
            }
            for i in inputs.indices {
                let y = node.layer.forward(ins(fp32, i), context: &context)
                if needed { fp32[i][node.index] = y }
            }
            for conv in convs { conv.inputObserver = nil }

            let inputsDiffer = node.inputs.contains { $0 >= 0 && differs[$0] }
            for conv in convs {
                let statistics = PairedInputStatistics(geometry: conv.geometry,
                                                       poolPerImage: poolColumns / max(inputs.count, 1))
                if composite {
                    var k = 0
                    let reference = fp32Inputs[conv.name] ?? []
                    conv.inputObserver = { x in
                        statistics.add(fp32: reference[k], quantized: x, maxColumns: maxColumns)
                        k += 1
                    }
                    for i in inputs.indices { _ = node.layer.forward(ins(quantized, i), context: &context) }
                    conv.inputObserver = nil
                    precondition(k == inputs.count, "\(conv.name): seen \(k) times for \(inputs.count) images")
                } else {
                    for i in inputs.indices {
                        statistics.add(fp32: ins(fp32, i)[0], quantized: ins(quantized, i)[0], maxColumns: maxColumns)
                    }
                }
                let (weights, bias) = try quantize(conv, statistics)
                conv.weights = .dense(weights)
                conv.bias = bias
                done += 1
                progress?(done, targets.count)
            }
            differs[node.index] = inputsDiffer || !convs.isEmpty
            if needed {
                for i in inputs.indices {
                    quantized[i][node.index] = differs[node.index]
                        ? node.layer.forward(ins(quantized, i), context: &context) : fp32[i][node.index]
                }
            }
            for j in node.inputs where j >= 0 && lastUse[j] == node.index {
                for i in inputs.indices {
                    fp32[i][j] = nil
                    quantized[i][j] = nil
                }
            }
        }
    }
}
