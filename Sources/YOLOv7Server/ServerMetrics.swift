import Prometheus

/// What `GET /metrics` reports, in the Prometheus text format: requests by route and status,
/// latency of detections, the queue, and how long each model took to load.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let queueDepth: Gauge
    private let running: Gauge
    private let inFlight: Gauge
    private let timeouts: Counter

    init() {
        let registry = self.registry
        func name(_ metric: String, unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "yolov7", metricName: metric, unitName: unit, helpText: help)
        }
        queueDepth = registry.makeGauge(descriptor: name("queue_depth", "Detect requests waiting for an inference thread."))
        running = registry.makeGauge(descriptor: name("inference_running", "Detect requests running on an inference thread."))
        inFlight = registry.makeGauge(descriptor: name("http_requests_in_flight", "HTTP requests being handled (any route)."))
        timeouts = registry.makeCounter(descriptor: name("detect_timeouts", unit: "total",
                                                         "Detect requests answered 503 because --timeout passed first."))
    }

    /// Buckets from 1 ms to 10 s: a refusal takes well under a millisecond, a tiny model's
    /// answer tens of ms, a queued one seconds.
    static let latencyBuckets = [1, 2, 5, 10, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10000]
        .map { Duration.milliseconds($0) }

    /// One finished request.
    func record(route: String, status: Int) {
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "yolov7", metricName: "http_requests", unitName: "total",
            helpText: "HTTP requests answered, by route and status."),
            labels: [("route", route), ("status", String(status))]).increment()
    }

    /// A detect request's latency (from its handler's start to its answer), by status.
    func recordDetect(_ duration: Duration, status: Int) {
        registry.makeDurationHistogram(descriptor: MetricNameDescriptor(
            namespace: "yolov7", metricName: "detect_duration", unitName: "seconds",
            helpText: "POST /v1/detect latency, handler start to answer, by status."),
            labels: [("status", String(status))], buckets: Self.latencyBuckets).record(duration)
    }

    func timedOut() { timeouts.increment() }

    func queue(waiting: Int, running count: Int) {
        queueDepth.set(Double(waiting))
        running.set(Double(count))
    }

    func requestStarted() { inFlight.increment() }
    func requestFinished() { inFlight.decrement() }

    func modelLoaded(name: String, seconds: Double) {
        registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "yolov7", metricName: "model_load", unitName: "seconds",
            helpText: "Time each model took to load (and calibrate, for int8)."),
            labels: [("model", name)]).set(seconds)
    }

    /// The text exposition.
    func text() -> String { registry.emitToString() }
}
