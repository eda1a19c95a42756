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
    @Option(help: "Activations: fp32, or int8 (u8 activations per tensor x 8-bit or packed 4-bit weights, AVX-512 VNNI; needs calibration images).")
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

    /// The int8 calibration the flags ask for: the images of `calib` (else of `fallback`, a
    /// dataset whose train split is used); nil for fp32.
    func calibration(fallback: String? = nil) throws -> Int8Calibration? {
        guard precision == .int8 else { return nil }
        guard Int8Execution.available else {
            throw ValidationError("--precision int8 needs a CPU with AVX-512 VNNI")
        }
        guard let source = calib ?? fallback else {
            throw ValidationError("--precision int8 needs calibration images: give --calib (a dataset or a folder of train images)")
        }
        let files = try QuantizeCommand.calibrationImages(source, count: calibImages)
        let keep = Set((int8Keep ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        return Int8Calibration(images: files.map { URL(fileURLWithPath: $0) }, statistic: RangeStatistic(rawValue: calibRange)!,
                               keep: keep)
    }

    /// One line on stderr about what int8 switched (nothing for fp32).
    func report(_ detector: Detector) {
        guard let report = detector.int8Report else { return }
        printError("yolov7: \(report.summary); activation ranges (\(calibRange)) from \(report.calibrationImages) images at "
                   + "\(detector.inputSize) " + String(format: "(%.1f s)", report.calibrationSeconds))
    }
}
