import Foundation
import YOLOModel
import YOLOTensor

/// How per-image ranges become one range per map.
public enum RangeStatistic: String, CaseIterable, Sendable {
    /// The extremes over all images: nothing calibrated is ever clipped.
    case minmax
    /// The mean of each image's extremes: rare outliers clip, the grid is finer for the rest.
    case mean
}

/// Runs a model's int8 graph in FP32 over calibration images (`YOLOModel.int8CalibrationPass`,
/// with the weights it will run with, packed or not) and records the range of every u8 map.
public enum ActivationCalibration {
    public static func collect(model: YOLOModel, count: Int, statistic: RangeStatistic = .minmax,
                               input: (Int) throws -> Tensor,
                               progress: ((Int, Int) -> Void)? = nil) rethrows -> [String: ActivationRange] {
        let names = Set(model.int8MapNames)
        let perImage = PerImageRanges()
        for i in 0..<count {
            let x = try input(i)
            model.int8CalibrationPass(x) { name, t in
                guard names.contains(name) else { return }
                var lo = Float.infinity, hi = -Float.infinity
                for v in t.data {
                    lo = Swift.min(lo, v)
                    hi = Swift.max(hi, v)
                }
                perImage.ranges[name, default: []].append(ActivationRange(min: lo, max: hi))
            }
            progress?(i + 1, count)
        }
        return perImage.ranges.mapValues { ranges in
            switch statistic {
            case .minmax:
                return ActivationRange(min: ranges.map(\.min).min()!, max: ranges.map(\.max).max()!)
            case .mean:
                let n = Float(ranges.count)
                return ActivationRange(min: ranges.map(\.min).reduce(0, +) / n, max: ranges.map(\.max).reduce(0, +) / n)
            }
        }
    }

    /// Ranges gathered image by image (a class: the pass's observer is an escaping closure).
    private final class PerImageRanges {
        var ranges: [String: [ActivationRange]] = [:]
    }
}
