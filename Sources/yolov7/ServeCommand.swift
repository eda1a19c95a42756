import ArgumentParser
import Foundation
import Logging
import YOLOv7
import YOLOv7Server

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve detections over HTTP (docs/SERVER.md): POST /v1/detect, /v1/models, /healthz, /readyz, /metrics.",
        discussion: """
            Every --weights model is loaded at start (/readyz answers 503 until then). Detections run on \
            --workers inference threads, each with --threads kernel threads, behind a queue of --queue \
            requests; a request that finds the queue full gets 503 with Retry-After at once. SIGTERM or \
            SIGINT stops accepting connections, finishes the requests in flight and exits 0.
            """)

    @Option(name: .customLong("weights"), help: "A model to serve, [NAME=]PATH (repeatable; NAME defaults to the file's stem; the first is the default model).")
    var weights: [String]

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port, printed at start).")
    var port = 8080

    @Option(help: "Kernel threads of each detection.")
    var threads = 1

    @Option(help: "Detections that run at once (default: cores / --threads).")
    var workers: Int?

    @Option(name: .customLong("max-body-mb"), help: "Largest request body in MiB.")
    var maxBodyMB = 20.0

    @Option(help: "Requests that may wait for a free worker; more get 503 at once.")
    var queue = 64

    @Option(help: "Seconds a detect request may take, queue wait included (then 503).")
    var timeout = 30.0

    @Option(name: .customLong("body-timeout"), help: "Seconds a client may pause in the middle of its body (then 408).")
    var bodyTimeout = 0.5

    @Option(name: .customLong("idle-timeout"), help: "Seconds an idle keep-alive connection stays open.")
    var idleTimeout = 60.0

    @Option(help: "Default inference size (a request may ask for another with img=).")
    var img = 640

    @Option(name: .customLong("max-img"), help: "Largest img= a request may ask for.")
    var maxImg = 1280

    @Option(help: "Default confidence threshold (conf=).")
    var conf: Float = 0.25

    @Option(help: "Default NMS IoU threshold (iou=).")
    var iou: Float = 0.45

    @Option(name: .customLong("max-det"), help: "Default maximum detections per image (max_det=).")
    var maxDet = 300

    @Option(name: .customLong("max-megapixels"), help: "Images whose header declares more pixels are refused before decoding.")
    var maxMegapixels = 40.0

    @OptionGroup var precision: PrecisionOptions

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        guard maxBodyMB > 0, maxMegapixels > 0 else { throw ValidationError("--max-body-mb and --max-megapixels must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
    }

    func run() async throws {
        setvbuf(stdout, nil, _IOLBF, 0)
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "yolov7.serve")
        do {
            var configuration = ServerConfiguration(models: try weights.map(ServerConfiguration.ModelSpec.init(parsing:)))
            configuration.host = host
            configuration.port = port
            configuration.workers = workers ?? max(1, ProcessInfo.processInfo.activeProcessorCount / threads)
            configuration.queue = queue
            configuration.timeout = timeout
            configuration.bodyTimeout = bodyTimeout
            configuration.idleTimeout = idleTimeout
            configuration.maxBodyBytes = Int(maxBodyMB * 1_048_576)
            configuration.maxImageSize = maxImg
            configuration.detector = Detector.Options(
                imageSize: img, confidenceThreshold: conf, iouThreshold: iou, maxDetections: maxDet,
                precision: precision.precision.detectorPrecision, threads: threads,
                maxConcurrentCalls: configuration.workers, maxPixels: Int(maxMegapixels * 1e6))
            configuration.calibration = try precision.calibration()
            let server = try DetectionServer(configuration: configuration, logger: logger)
            try await server.run { port in
                print("listening on http://\(host):\(port)")
            }
        } catch {
            FileHandle.standardError.write(Data("yolov7: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
