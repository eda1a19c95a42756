import ArgumentParser
import Dispatch
import Foundation
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision
import YOLOv7

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in JPEG/PNG images: annotated images, JSON and label files.")

    @Option(help: "Weights: .pt checkpoint or .safetensors (FP32, FP16, quantized).")
    var weights: String

    @OptionGroup var precision: PrecisionOptions

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "Inference size in pixels (rounded up to a multiple of the model stride).")
    var img = 640

    @Option(help: "Confidence threshold (objectness x class probability).")
    var conf: Float = 0.25

    @Option(help: "IoU threshold for NMS.")
    var iou: Float = 0.45

    @Option(parsing: .upToNextOption, help: "Keep only these class ids.")
    var classes: [Int] = []

    @Flag(help: "Class-agnostic NMS.")
    var agnostic = false

    @Option(name: .customLong("max-det"), help: "At most this many detections per image.")
    var maxDet = 300

    @Option(help: "Write all detections as JSON to this file.")
    var json: String?

    @Option(name: .customLong("save-txt"), help: "Write YOLO label files (class cx cy w h conf, normalised) into this folder.")
    var saveTxt: String?

    @Option(help: "Write annotated images into this folder.")
    var out: String?

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Argument(help: "Image files, folders or globs (JPEG, PNG).")
    var sources: [String]

    func validate() throws {
        guard (32...8192).contains(img) else { throw ValidationError("--img must be between 32 and 8192") }
        guard (0...1).contains(conf), (0...1).contains(iou) else { throw ValidationError("--conf and --iou must be in [0, 1]") }
        guard maxDet >= 1 else { throw ValidationError("--max-det must be positive") }
    }

    func run() throws {
        var failures = 0
        try runReportingErrors {
            let paths = try ImageSources.expand(sources)
            let options = Detector.Options(imageSize: img, confidenceThreshold: conf, iouThreshold: iou,
                                           classes: classes.isEmpty ? nil : classes, maxDetections: maxDet,
                                           agnosticNMS: agnostic, precision: precision.precision.detectorPrecision)
            let detector = try Detector(contentsOf: URL(fileURLWithPath: weights), configURL: cfg.map { URL(fileURLWithPath: $0) },
                                        options: options, calibration: try precision.calibration(),
                                        calibrationProgress: ProgressLine.reporter("calibration"))
            if detector.inputSize != img {
                printError("yolov7: --img \(img) must be a multiple of \(detector.stride), using \(detector.inputSize)")
            }
            precision.report(detector)
            for folder in [out, saveTxt].compactMap({ $0 }) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }

            // Both cores: with several images, one image per core and single-threaded kernels
            // (decode, letterbox, NMS and drawing run in parallel too); one image gets all
            // cores inside the conv kernels instead.
            let cores = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let workers = max(1, min(cores, paths.count))
            ComputeThreads.set(workers > 1 ? 1 : cores)

            var results = [Result<(ImageDetections, Double), Error>?](repeating: nil, count: paths.count)
            let lock = NSLock()
            var printed = 0
            let start = DispatchTime.now().uptimeNanoseconds
            detector.detect(contentsOf: paths.map { URL(fileURLWithPath: $0) }, concurrency: workers) { file in
                let result = Result { () throws -> (ImageDetections, Double) in
                    let found = try file.result.get()
                    if let image = file.image { try writeOutputs(found, image: image) }
                    return (found, file.seconds * 1000)
                }
                lock.withLock {
                    results[file.index] = result
                    // Report in input order as soon as the prefix is complete.
                    while printed < paths.count, let r = results[printed] {
                        report(r, path: paths[printed], index: printed, count: paths.count, names: detector.classNames)
                        printed += 1
                    }
                }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var all: [ImageDetections] = []
            for case .success(let (d, _))? in results { all.append(d) }
            failures = paths.count - all.count
            if let json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                try encoder.encode(all).write(to: URL(fileURLWithPath: json), options: .atomic)
            }
            let boxes = all.reduce(0) { $0 + $1.detections.count }
            print(String(format: "Done: %d images, %d detections, %d failed, %.1f ms/image (%.2f s, %d threads",
                         all.count, boxes, failures, seconds * 1000 / Double(max(paths.count, 1)), seconds, cores)
                  + ", kernels \(KernelISA.summary(int8: precision.precision == .int8)))")
        }
        if failures > 0 { throw ExitCode(2) }
    }

    /// The per-image outputs: the annotated copy (`--out`) and the label file (`--save-txt`).
    func writeOutputs(_ found: ImageDetections, image: RGBImage) throws {
        let name = (found.image as NSString).lastPathComponent
        if let out {
            try image.annotated(with: found.detections)
                .write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent(name)))
        }
        if let saveTxt {
            let w = Float(image.width), h = Float(image.height)
            let lines = found.detections.map { d in
                String(format: "%d %.6f %.6f %.6f %.6f %.6f", d.classID, (d.x1 + d.x2) / 2 / w, (d.y1 + d.y2) / 2 / h,
                       (d.x2 - d.x1) / w, (d.y2 - d.y1) / h, d.confidence)
            }
            let stem = (name as NSString).deletingPathExtension
            try (lines.map { $0 + "\n" }.joined()).write(toFile: (saveTxt as NSString).appendingPathComponent(stem + ".txt"),
                                                        atomically: true, encoding: .utf8)
        }
    }

    func report(_ result: Result<(ImageDetections, Double), Error>, path: String, index: Int, count: Int, names: [String]) {
        switch result {
        case .success(let (d, ms)):
            var counts = [Int](repeating: 0, count: names.count)
            for b in d.detections { counts[b.classID] += 1 }
            let summary = counts.enumerated().filter { $0.element > 0 }.map { "\($0.element) \(names[$0.offset])" }
            print("image \(index + 1)/\(count) \(path): \(d.width)x\(d.height), "
                  + (summary.isEmpty ? "no detections" : summary.joined(separator: ", "))
                  + String(format: ", %.1f ms", ms))
        case .failure(let error):
            printError("yolov7: \(error)")
        }
    }
}
