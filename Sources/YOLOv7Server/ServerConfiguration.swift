import Foundation
import YOLOv7

/// Everything `yolov7 serve` is told (docs/SERVER.md).
public struct ServerConfiguration: Sendable {
    /// A model to serve and the name requests pick it by.
    public struct ModelSpec: Sendable, Equatable {
        public var name: String
        public var path: String

        public init(name: String, path: String) {
            self.name = name
            self.path = path
        }

        /// `NAME=PATH`, or `PATH` (named by the file's stem).
        public init(parsing text: String) throws {
            if let eq = text.firstIndex(of: "="), !text[..<eq].contains("/") {
                name = String(text[..<eq])
                path = String(text[text.index(after: eq)...])
            } else {
                path = text
                name = URL(fileURLWithPath: text).deletingPathExtension().lastPathComponent
            }
            guard !name.isEmpty, !path.isEmpty else { throw ServerError.invalidConfiguration("--weights '\(text)': expected NAME=PATH or PATH") }
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ServerError.invalidConfiguration("--weights '\(text)': a model name is letters, digits, '-', '_' and '.'")
            }
        }
    }

    public var models: [ModelSpec]
    public var host: String = "127.0.0.1"
    /// 0: any free port (the one chosen is logged and given to `onListening`).
    public var port: Int = 8080
    /// How every model runs (image size, NMS defaults, precision, threads per call).
    public var detector = Detector.Options()
    /// int8's calibration images, when `detector.precision` is int8.
    public var calibration: Int8Calibration?
    /// Inference threads: detections that run at once, each with `detector.threads` kernel threads.
    public var workers: Int = 1
    /// Requests that may wait for an inference thread; more get 503 at once.
    public var queue: Int = 64
    /// Seconds a detect request may take, queue wait included; then 503.
    public var timeout: Double = 30
    /// Largest body accepted, in bytes.
    public var maxBodyBytes: Int = 20 << 20
    /// Seconds a client may pause in the middle of sending a body; then 408.
    public var bodyTimeout: Double = 0.5
    /// Seconds a connection may sit idle between requests before it is closed.
    public var idleTimeout: Double = 60
    /// Largest `img=` a request may ask for.
    public var maxImageSize: Int = 1280

    public init(models: [ModelSpec]) {
        self.models = models
    }

    func validate() throws {
        func fail(_ why: String) -> ServerError { .invalidConfiguration(why) }
        guard !models.isEmpty else { throw fail("no model: give --weights [NAME=]PATH") }
        var seen = Set<String>()
        for m in models where !seen.insert(m.name).inserted { throw fail("two models named '\(m.name)'") }
        guard (0...65535).contains(port) else { throw fail("--port \(port) is not a TCP port") }
        guard workers >= 1 else { throw fail("--workers must be at least 1") }
        guard queue >= 0 else { throw fail("--queue must not be negative") }
        guard timeout > 0, bodyTimeout > 0, idleTimeout > 0 else { throw fail("timeouts must be positive") }
        guard maxBodyBytes >= 1 else { throw fail("--max-body-mb must be positive") }
        guard maxImageSize >= 32 else { throw fail("--max-img must be at least 32") }
    }
}

/// Why the server could not start.
public enum ServerError: Error, CustomStringConvertible {
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return why
        }
    }
}
