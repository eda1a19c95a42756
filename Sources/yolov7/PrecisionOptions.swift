import ArgumentParser
import Foundation
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision

/// `--precision fp32|int8` and its calibration flags, shared by detect, eval and bench.
enum Precision: String, ExpressibleByArgument, CaseIterable {
    case fp32, int8
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

    /// Switches the model to int8 (nothing for fp32) with activation ranges calibrated on
    /// `calib` at `size` when it is given, else those the weights file stores, else calibrated
    /// on `fallback` (a dataset whose train split is used). Prints one summary line on stderr.
    func apply(to model: YOLOModel, size: Int, fallback: String? = nil) throws {
        guard precision == .int8 else { return }
        let start = Date()
        let ranges: [String: ActivationRange], origin: String
        if calib == nil, let stored = model.storedInt8Ranges {
            (ranges, origin) = (stored.ranges, stored.summary)
        } else if let source = calib ?? fallback {
            let files = try QuantizeCommand.calibrationImages(source, count: calibImages)
            ranges = try ActivationCalibration.collect(
                model: model, count: files.count, statistic: RangeStatistic(rawValue: calibRange)!, input: { i in
                    let image = try RGBImage(contentsOf: URL(fileURLWithPath: files[i]))
                    return Letterbox(detect: image, size: size, stride: model.maxStride).tensor()
                }, progress: ProgressLine.reporter("calibration"))
            origin = "activation ranges (\(calibRange)) from \(files.count) images at \(size)"
        } else {
            throw ValidationError("--precision int8 needs activation ranges: give --calib (a dataset or a folder of train images), "
                                  + "or weights quantized with --calib (they store ranges)")
        }
        let keep = Set((int8Keep ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        let summary = try Int8Execution.enable(model: model, ranges: ranges, keep: keep)
        printError("yolov7: \(summary); \(origin) " + String(format: "(%.1f s)", Date().timeIntervalSince(start)))
    }
}
