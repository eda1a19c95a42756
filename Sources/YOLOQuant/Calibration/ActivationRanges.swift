import Foundation
import YOLOModel
import YOLOTensor

/// The range of values a conv's input takes on calibration images: what its int8 grid covers.
public struct ActivationRange: Codable, Equatable, Sendable {
    public var min: Float
    public var max: Float

    public init(min: Float, max: Float) {
        self.min = min
        self.max = max
    }
}

/// How per-image ranges become one range per conv.
public enum RangeStatistic: String, CaseIterable, Sendable {
    /// The extremes over all images: nothing calibrated is ever clipped.
    case minmax
    /// The mean of each image's extremes: rare outliers clip, the grid is finer for the rest.
    case mean
}

/// Runs a model in FP32 over calibration images and records every conv's input range.
public enum ActivationCalibration {
    public static func collect(model: YOLOModel, count: Int, statistic: RangeStatistic = .minmax,
                               input: (Int) throws -> Tensor,
                               progress: ((Int, Int) -> Void)? = nil) rethrows -> [String: ActivationRange] {
        var perImage: [String: [ActivationRange]] = [:]
        let convs = model.convs
        let lock = NSLock()
        for conv in convs {
            let name = conv.name
            conv.inputObserver = { x in
                var lo = Float.infinity, hi = -Float.infinity
                for v in x.data {
                    lo = Swift.min(lo, v)
                    hi = Swift.max(hi, v)
                }
                lock.withLock { perImage[name, default: []].append(ActivationRange(min: lo, max: hi)) }
            }
        }
        // FP32 inputs: calibrating a model that already runs in int8 would measure its own errors.
        let saved = convs.map(\.int8)
        for conv in convs { conv.int8 = nil }
        defer {
            for (conv, int8) in zip(convs, saved) {
                conv.inputObserver = nil
                conv.int8 = int8
            }
        }
        var context = ForwardContext()
        for i in 0..<count {
            _ = model.forward(try input(i), context: &context)
            progress?(i + 1, count)
        }
        return perImage.mapValues { ranges in
            switch statistic {
            case .minmax:
                return ActivationRange(min: ranges.map(\.min).min()!, max: ranges.map(\.max).max()!)
            case .mean:
                let n = Float(ranges.count)
                return ActivationRange(min: ranges.map(\.min).reduce(0, +) / n, max: ranges.map(\.max).reduce(0, +) / n)
            }
        }
    }
}
