import Foundation
import YOLOModel
import YOLOQuant
import YOLOVision

/// Where int8 precision takes its activation ranges from: the ranges a quantized file stores
/// (`yolov7 quantize --calib` writes them), or calibration images run through the model in FP32
/// when the detector is made (training images, never the ones it is judged on).
public struct Int8Calibration: Sendable {
    /// The images (JPEG or PNG files); empty with ``stored(keep:)``.
    public var images: [URL]
    /// How each map's range is summarised over the images.
    public var statistic: RangeStatistic
    /// Convs kept in FP32 by name (e.g. `model.0.conv`).
    public var keep: Set<String>
    /// Whether ranges stored in the weights file win over `images` (which are then measured only
    /// for a file that stores none).
    public var prefersStoredRanges: Bool

    public init(images: [URL], statistic: RangeStatistic = .minmax, keep: Set<String> = [],
                prefersStoredRanges: Bool = false) {
        self.images = images
        self.statistic = statistic
        self.keep = keep
        self.prefersStoredRanges = prefersStoredRanges
    }

    /// The ranges the weights file stores; a file without them is refused
    /// (``DetectorError/int8NeedsCalibration``).
    public static func stored(keep: Set<String> = []) -> Int8Calibration {
        Int8Calibration(images: [], keep: keep, prefersStoredRanges: true)
    }
}

extension Int8Calibration {
    /// Switches `model` to the int8 pass with the stored ranges or ranges measured on the images
    /// letterboxed as detect.py does at `size` (whatever the detector's own pre-processing).
    /// `progress` gets (done, total). Returns the summary of what was switched and where the
    /// ranges came from.
    func apply(to model: YOLOModel, size: Int, progress: ((Int, Int) -> Void)?) throws -> (summary: String, origin: String, images: Int) {
        if prefersStoredRanges, let stored = model.storedInt8Ranges {
            return (try Int8Execution.enable(model: model, ranges: stored.ranges, keep: keep, source: stored.summary).description,
                    stored.summary, 0)
        }
        guard !images.isEmpty else {
            throw prefersStoredRanges ? DetectorError.int8NeedsCalibration : DetectorError.noCalibrationImages
        }
        let files = images
        let ranges = try ActivationCalibration.collect(model: model, count: files.count, statistic: statistic, input: { i in
            Letterbox(detect: try RGBImage(contentsOf: files[i]), size: size, stride: model.maxStride).tensor()
        }, progress: progress)
        let summary = try Int8Execution.enable(model: model, ranges: ranges, keep: keep).description
        return (summary, "activation ranges (\(statistic.rawValue)) from \(files.count) images at \(size)", files.count)
    }
}
