import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals
import YOLOv7

/// `yolov7 serve`: the detection HTTP API of docs/SERVER.md on Hummingbird. Models load in the
/// background while the server already answers `/healthz` (and `/readyz` with 503); detections
/// run on a fixed set of inference threads behind a bounded queue; SIGTERM (or `shutdown()`)
/// stops accepting connections, lets every request in flight finish, and `run` returns.
public final class DetectionServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger
    let metrics = ServerMetrics()
    let registry: ModelRegistry
    let queue: InferenceQueue
    private let state = Locked(State())

    struct State {
        var draining = false
        var group: ServiceGroup?
        var shutdownRequested = false
    }

    public init(configuration: ServerConfiguration, logger: Logger) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        registry = ModelRegistry(specs: configuration.models)
        let metrics = self.metrics
        queue = InferenceQueue(workers: configuration.workers, capacity: configuration.queue) { waiting, running in
            metrics.queue(waiting: waiting, running: running)
        }
    }

    /// Serves until a signal in `signals` or `shutdown()`, then drains and returns. Throws when a
    /// model cannot be loaded (after stopping the server) or the address cannot be bound.
    /// `onListening` gets the bound port (the one chosen, for port 0).
    public func run(signals: [UnixSignal] = [.sigterm, .sigint],
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = Application(
            router: makeRouter(),
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ExpectContinueHandler(maxBodyBytes: self.configuration.maxBodyBytes)],
                idleTimeout: .milliseconds(Int64(configuration.idleTimeout * 1000)))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "yolov7"),
            onServerRunning: { [logger] channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("listening", metadata: ["host": "\(self.configuration.host)", "port": "\(port)"])
                await onListening(port)
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: DrainingService(app: app, server: self))],
            gracefulShutdownSignals: signals, logger: logger))
        let stopNow = state.withLock { s -> Bool in
            s.group = group
            return s.shutdownRequested
        }
        if stopNow { await group.triggerGracefulShutdown() }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                do {
                    try await self.loadModels()
                } catch {
                    self.logger.error("model failed to load", metadata: ["error": "\(error)"])
                    await group.triggerGracefulShutdown()
                    throw error
                }
            }
            try await tasks.waitForAll()
        }
        logger.info("stopped")
    }

    /// Stops accepting, drains, and makes `run` return (as SIGTERM does).
    public func shutdown() async {
        let group = state.withLock { s -> ServiceGroup? in
            s.shutdownRequested = true
            return s.group
        }
        await group?.triggerGracefulShutdown()
    }

    var isDraining: Bool { state.withLock { $0.draining } }

    func startDraining() {
        state.withLock { $0.draining = true }
        logger.info("draining: finishing requests in flight")
    }

    /// Loads the models on a dispatch thread (seconds of work that must not hold a task thread).
    private func loadModels() async throws {
        let configuration = configuration
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try self.registry.loadAll(options: configuration.detector, calibration: configuration.calibration) { info in
                        self.metrics.modelLoaded(name: info.name, seconds: info.load_seconds)
                        self.logger.info("model loaded", metadata: [
                            "model": "\(info.name)", "path": "\(info.path)", "img": "\(info.img)",
                            "precision": "\(info.precision)", "seconds": "\(String(format: "%.2f", info.load_seconds))"])
                    }
                })
            }
        }
        logger.info("ready", metadata: ["models": "\(registry.names.joined(separator: ","))",
                                        "workers": "\(configuration.workers)", "queue": "\(configuration.queue)"])
    }
}

/// Runs the application and marks the server draining the moment graceful shutdown starts
/// (so `/readyz` answers 503 while requests in flight finish).
private struct DrainingService<App: ApplicationProtocol>: Service {
    let app: App
    let server: DetectionServer

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            server.startDraining()
        }
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
