import Foundation
import YOLOModel
import YOLOQuant
import YOLOVision

/// Where int8 precision takes its activation ranges from: calibration images run through the
/// model in FP32 when the detector is made (training images, never the ones it is judged on).
public struct Int8Calibration: Sendable {
    /// The images (JPEG or PNG files).
    public var images: [URL]
    /// How each conv's input range is summarised over the images.
    public var statistic: RangeStatistic
    /// Convs kept in FP32 by name (e.g. `model.0.conv`).
    public var keep: Set<String>

    public init(images: [URL], statistic: RangeStatistic = .minmax, keep: Set<String> = []) {
        self.images = images
        self.statistic = statistic
        self.keep = keep
    }
}

extension Int8Calibration {
    /// Switches `model`'s convs to int8 with ranges measured on the images letterboxed as
    /// detect.py does at `size` (whatever the detector's own pre-processing). `progress` gets
    /// (done, total). Returns the one-line summary of what was switched.
    func apply(to model: YOLOModel, size: Int, progress: ((Int, Int) -> Void)?) throws -> String {
        guard Int8Execution.available else { throw DetectorError.int8Unavailable }
        guard !images.isEmpty else { throw DetectorError.noCalibrationImages }
        let files = images
        let ranges = try ActivationCalibration.collect(model: model, count: files.count, statistic: statistic, input: { i in
            Letterbox(detect: try RGBImage(contentsOf: files[i]), size: size, stride: model.maxStride).tensor()
        }, progress: progress)
        return Int8Execution.enable(model: model, ranges: ranges, keep: keep).description
    }
}
