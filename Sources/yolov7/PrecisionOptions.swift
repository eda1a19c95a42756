import ArgumentParser
import Foundation
import YOLOModel
import YOLOQuant
import YOLOv7

/// `--precision fp32|int8` and its calibration flags, shared by detect, eval, bench and serve.
enum Precision: String, ExpressibleByArgument, CaseIterable {
    case fp32, int8

    var detectorPrecision: Detector.Precision {
        switch self {
        case .fp32: return .fp32
        case .int8: return .int8
        }
    }
}

struct PrecisionOptions: ParsableArguments {
    @Option(help: "Activations: fp32, or int8 (u8 activations per tensor x 8-bit or packed 4-bit weights; needs calibration images or weights that store activation ranges).")
    var precision: Precision = .fp32

    @Option(name: .customLong("calib"), help: "int8: calibration images for the activation ranges: a dataset (its train split) or a folder of images. Never the test split.")
    var calib: String?

    @Option(name: .customLong("calib-images"), help: "int8: calibration images used (spread evenly over the list).")
    var calibImages = 16

    @Option(name: .customLong("calib-range"), help: "int8: minmax (extremes over all calibration images) or mean (mean of each image's extremes).")
    var calibRange = "minmax"

    @Option(name: .customLong("int8-keep"), help: "int8: comma-separated conv names to keep in FP32 (e.g. model.0.conv).")
    var int8Keep: String?

    func validate() throws {
        guard calibImages >= 1 else { throw ValidationError("--calib-images must be at least 1") }
        guard RangeStatistic(rawValue: calibRange) != nil else { throw ValidationError("--calib-range must be minmax or mean") }
    }

    /// Where int8 takes its activation ranges (nil for fp32): the images of `calib` when it is
    /// given; else the ranges the weights file stores, and for a file without them the images
    /// of `fallback` (a dataset whose train split is used) when there is one.
    func calibration(fallback: String? = nil) throws -> Int8Calibration? {
        guard precision == .int8 else { return nil }
        let keep = Set((int8Keep ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        let statistic = RangeStatistic(rawValue: calibRange)!
        if let calib {
            let files = try QuantizeCommand.calibrationImages(calib, count: calibImages)
            return Int8Calibration(images: files.map { URL(fileURLWithPath: $0) }, statistic: statistic, keep: keep)
        }
        guard let fallback else { return .stored(keep: keep) }
        let files = try QuantizeCommand.calibrationImages(fallback, count: calibImages)
        return Int8Calibration(images: files.map { URL(fileURLWithPath: $0) }, statistic: statistic, keep: keep,
                               prefersStoredRanges: true)
    }

    /// One line on stderr about what int8 switched (nothing for fp32).
    func report(_ detector: Detector) {
        guard let report = detector.int8Report else { return }
        printError("yolov7: \(report.summary); \(report.rangesOrigin) " + String(format: "(%.1f s)", report.calibrationSeconds))
    }
}
