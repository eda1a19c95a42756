import ArgumentParser
import Dispatch
import Foundation
import YOLOModel
import YOLOQuant
import YOLOTensor
import YOLOVision

/// One image's result, in the detection JSON of DESIGN section 2.
struct ImageDetections: Codable {
    struct Box: Codable {
        let class_id: Int
        let `class`: String
        let confidence: Float
        let box: [Float]
    }
    let image: String
    let width: Int
    let height: Int
    let detections: [Box]
}

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
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            for c in classes where c < 0 || c >= model.config.nc {
                throw ValidationError("--classes: \(c) is not a class of this model (0..<\(model.config.nc))")
            }
            let stride = model.maxStride
            let size = (img + stride - 1) / stride * stride
            if size != img { printError("yolov7: --img \(img) must be a multiple of \(stride), using \(size)") }
            try precision.apply(to: model, size: size)
            model.releaseDenseWeights()  // inference only: keep the Winograd form alone (int8 convs: their integers)
            for folder in [out, saveTxt].compactMap({ $0 }) {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            let options = NMSOptions(confThreshold: conf, iouThreshold: iou, classes: classes.isEmpty ? nil : classes,
                                     agnostic: agnostic, multiLabel: false, maxDetections: maxDet)

            // Both cores: with several images, one image per core and single-threaded kernels
            // (decode, letterbox, NMS and drawing run in parallel too); one image gets all
            // cores inside the conv kernels instead.
            let cores = threads ?? ProcessInfo.processInfo.activeProcessorCount
            let workers = max(1, min(cores, paths.count))
            ComputeThreads.set(workers > 1 ? 1 : cores)

            var results = [Result<(ImageDetections, Double), Error>?](repeating: nil, count: paths.count)
            let lock = NSLock()
            var next = 0
            var printed = 0
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                var context = ForwardContext()
                while true {
                    lock.lock()
                    let i = next
                    next += 1
                    lock.unlock()
                    guard i < paths.count else { return }
                    let result = Result { try detect(paths[i], model: model, size: size, options: options, context: &context) }
                    lock.lock()
                    results[i] = result
                    // Report in input order as soon as the prefix is complete.
                    while printed < paths.count, let r = results[printed] {
                        report(r, path: paths[printed], index: printed, count: paths.count, names: model.classNames)
                        printed += 1
                    }
                    lock.unlock()
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

    /// Decode, letterbox, forward, NMS, scale back; then the per-image outputs.
    func detect(_ path: String, model: YOLOModel, size: Int, options: NMSOptions,
                context: inout ForwardContext) throws -> (ImageDetections, Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let image = try RGBImage(contentsOf: URL(fileURLWithPath: path))
        let letterbox = Letterbox(detect: image, size: size, stride: model.maxStride)
        let prediction = model.forward(letterbox.tensor(), context: &context)
        let detections = letterbox.boxTransform.apply(nonMaxSuppression(prediction, options: options))
        let names = model.classNames
        let name = (path as NSString).lastPathComponent
        if let out {
            try image.annotated(with: detections, names: names)
                .write(to: URL(fileURLWithPath: (out as NSString).appendingPathComponent(name)))
        }
        if let saveTxt {
            let w = Float(image.width), h = Float(image.height)
            let lines = detections.map { d in
                String(format: "%d %.6f %.6f %.6f %.6f %.6f", d.classID, (d.x1 + d.x2) / 2 / w, (d.y1 + d.y2) / 2 / h,
                       (d.x2 - d.x1) / w, (d.y2 - d.y1) / h, d.confidence)
            }
            let stem = (name as NSString).deletingPathExtension
            try (lines.map { $0 + "\n" }.joined()).write(toFile: (saveTxt as NSString).appendingPathComponent(stem + ".txt"),
                                                        atomically: true, encoding: .utf8)
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        let boxes = detections.map {
            ImageDetections.Box(class_id: $0.classID, class: names[$0.classID], confidence: $0.confidence, box: $0.box)
        }
        return (ImageDetections(image: path, width: image.width, height: image.height, detections: boxes), ms)
    }

    func report(_ result: Result<(ImageDetections, Double), Error>, path: String, index: Int, count: Int, names: [String]) {
        switch result {
        case .success(let (d, ms)):
            var counts = [Int](repeating: 0, count: names.count)
            for b in d.detections { counts[b.class_id] += 1 }
            let summary = counts.enumerated().filter { $0.element > 0 }.map { "\($0.element) \(names[$0.offset])" }
            print("image \(index + 1)/\(count) \(path): \(d.width)x\(d.height), "
                  + (summary.isEmpty ? "no detections" : summary.joined(separator: ", "))
                  + String(format: ", %.1f ms", ms))
        case .failure(let error):
            printError("yolov7: \(error)")
        }
    }
}
