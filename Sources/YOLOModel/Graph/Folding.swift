import Foundation
import YOLOTensor

/// Load-time algebra that turns the training-form modules into plain convs.
enum Folding {
    /// BatchNorm after a conv: w' = w * g/sqrt(v+eps), b' = beta + (b - mean) * g/sqrt(v+eps).
    static func foldBatchNorm(weight: [Float], bias: [Float]?, gamma: [Float], beta: [Float],
                              mean: [Float], variance: [Float], eps: Double) -> (weight: [Float], bias: [Float]) {
        let filters = gamma.count
        let perFilter = weight.count / filters
        var w = weight
        var b = [Float](repeating: 0, count: filters)
        for f in 0..<filters {
            // Double for the scale: the official fold runs in FP32 on FP16 values; this keeps our
            // error below theirs rather than adding to it.
            let scale = Double(gamma[f]) / (Double(variance[f]) + eps).squareRoot()
            for i in 0..<perFilter { w[f * perFilter + i] = Float(Double(weight[f * perFilter + i]) * scale) }
            b[f] = Float(Double(beta[f]) + (Double(bias?[f] ?? 0) - Double(mean[f])) * scale)
        }
        return (w, b)
    }

    /// Places a 1x1 kernel at the centre of a k x k one.
    static func padPointwise(_ w1: [Float], filters: Int, channels: Int, kernel: Int) -> [Float] {
        var out = [Float](repeating: 0, count: filters * channels * kernel * kernel)
        let centre = (kernel / 2) * kernel + kernel / 2
        for f in 0..<filters {
            for c in 0..<channels {
                out[(f * channels + c) * kernel * kernel + centre] = w1[f * channels + c]
            }
        }
        return out
    }

    /// The identity as a k x k conv (RepConv's BatchNorm-only branch), groups = 1.
    static func identityKernel(channels: Int, kernel: Int) -> [Float] {
        var out = [Float](repeating: 0, count: channels * channels * kernel * kernel)
        let centre = (kernel / 2) * kernel + kernel / 2
        for c in 0..<channels { out[(c * channels + c) * kernel * kernel + centre] = 1 }
        return out
    }

    /// IDetect: conv(x + a) * m  ==  (m*W) x + m*(b + W a).
    static func foldImplicit(weight: [Float], bias: [Float], add a: [Float]?, multiply m: [Float]?) -> (weight: [Float], bias: [Float]) {
        let filters = bias.count
        let channels = weight.count / filters
        var w = weight
        var b = bias
        if let a {
            for f in 0..<filters {
                var s = Double(b[f])
                for c in 0..<channels { s += Double(weight[f * channels + c]) * Double(a[c]) }
                b[f] = Float(s)
            }
        }
        if let m {
            for f in 0..<filters {
                b[f] *= m[f]
                for c in 0..<channels { w[f * channels + c] *= m[f] }
            }
        }
        return (w, b)
    }
}
