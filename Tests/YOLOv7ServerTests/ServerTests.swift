import Foundation
import Logging
import Testing
import YOLOModel
import YOLOQuant
import YOLOv7
@testable import YOLOv7Server

/// A server started in this process on a free loopback port, for one suite.
final class RunningServer: Sendable {
    let server: DetectionServer
    let port: Int
    let client: RawHTTPClient
    private let task: Task<Void, Error>

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let weights = root.appendingPathComponent("weights/yolov7-tiny-bccd.pt").path
    static func image(_ name: String = "BloodImage_00178.jpg") throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent("images/\(name)")))
    }

    init(_ configure: (inout ServerConfiguration) -> Void, models: [ServerConfiguration.ModelSpec]? = nil) async throws {
        var configuration = ServerConfiguration(models: models ?? [.init(name: "tiny", path: Self.weights)])
        configuration.port = 0
        configuration.detector.imageSize = 320  // small passes: the tests are about HTTP
        configure(&configuration)
        var logger = Logger(label: "yolov7.serve.test")
        logger.logLevel = .critical
        server = try DetectionServer(configuration: configuration, logger: logger)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let server = server
        task = Task { try await server.run(signals: []) { portSink.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        port = try #require(await iterator.next())
        client = RawHTTPClient(port: port)
        // Ready once every model has loaded.
        for _ in 0..<600 {
            if try await client.get("/readyz").status == 200 { return }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        Issue.record("server not ready after 30 s")
    }

    func stop() async throws {
        await server.shutdown()
        try await task.value
    }
}

/// Issue 18, item 4 and 6 of the API (docs/SERVER.md): the happy paths, and each bad request
/// answered with a 4xx JSON error within 1 s, the next valid request still served.
@Suite(.serialized) struct ServerTests {
    /// The library's own answer for an image at the server's settings: what the API must return.
    static func expected(_ bytes: [UInt8], imageSize: Int = 320, path: String = RunningServer.weights) throws -> [[String: Any]] {
        let detector = try Detector(contentsOf: URL(fileURLWithPath: path), options: Detector.Options(imageSize: imageSize))
        let data = try JSONEncoder().encode(try detector.detect(encoded: Data(bytes)))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    static func detections(_ reply: RawHTTPClient.Reply) -> [[String: Any]] {
        reply.json["detections"] as? [[String: Any]] ?? []
    }

    static func same(_ a: [[String: Any]], _ b: [[String: Any]]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { NSDictionary(dictionary: $0).isEqual(to: $1) }
    }

    @Test func happyPaths() async throws {
        // An FP32 and a 4-bit model side by side (the 4-bit file made here, packed).
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("yolov7-serve-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fourBit = folder.appendingPathComponent("tiny-4bit.safetensors").path
        let quantized = try ModelQuantizer.quantize(try ModelLoader.load(path: RunningServer.weights),
                                                    settings: try QuantizationSettings(scheme: "affine", bits: 4, granularity: "filter"))
        _ = try QuantizedModelFile.write(quantized, to: fourBit, mode: .packed, source: "yolov7-tiny-bccd.pt")
        let running = try await RunningServer({ _ in }, models: [.init(name: "tiny", path: RunningServer.weights),
                                                                  .init(name: "tiny4", path: fourBit)])
        let client = running.client
        let jpeg = try RunningServer.image()

        let health = try await client.get("/healthz")
        #expect(health.status == 200 && health.json["status"] as? String == "ok")
        #expect(try await client.get("/readyz").json["status"] as? String == "ready")
        let models = try await client.get("/v1/models")
        let list = try #require(models.json["models"] as? [[String: Any]])
        #expect(list.map { $0["name"] as? String } == ["tiny", "tiny4"] && models.json["default"] as? String == "tiny")
        #expect(list[0]["classes"] as? [String] == ["RBC", "WBC", "Platelets"] && list[0]["img"] as? Int == 320)

        // A JPEG body: the library's answer, as the detection JSON of one image.
        let reply = try await client.post("/v1/detect", contentType: "image/jpeg", body: jpeg)
        #expect(reply.status == 200 && reply.headers["content-type"] == "application/json")
        #expect(reply.json["width"] as? Int == 640 && reply.json["height"] as? Int == 480 && reply.json["model"] as? String == "tiny")
        let expected = try Self.expected(jpeg)
        #expect(expected.count > 10 && Self.same(Self.detections(reply), expected))

        // The same picture as PNG, and as a multipart form upload.
        let png = try RGBImage(decoding: jpeg, name: "x").pngData()
        let fromPNG = try await client.post("/v1/detect", contentType: "image/png", body: png)
        #expect(fromPNG.status == 200 && Self.same(Self.detections(fromPNG), expected))
        let boundary = "----yolov7-test-boundary"
        let form = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"image\"; filename=\"cells.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".utf8)
            + jpeg + Array("\r\n--\(boundary)--\r\n".utf8)
        let fromForm = try await client.post("/v1/detect", contentType: "multipart/form-data; boundary=\(boundary)", body: form)
        #expect(fromForm.status == 200 && fromForm.json["image"] as? String == "cells.jpg")
        #expect(Self.same(Self.detections(fromForm), expected))

        // The 4-bit model, and per-request settings.
        let four = try await client.post("/v1/detect?model=tiny4", contentType: "image/jpeg", body: jpeg)
        #expect(four.status == 200 && four.json["model"] as? String == "tiny4")
        let expectedFour = try Self.expected(jpeg, path: fourBit)
        #expect(Self.same(Self.detections(four), expectedFour))
        let narrow = try await client.post("/v1/detect?conf=0.6&classes=0&max_det=3&iou=0.5", contentType: "image/jpeg", body: jpeg)
        let few = Self.detections(narrow)
        #expect(narrow.status == 200 && !few.isEmpty && few.count <= 3)
        #expect(few.allSatisfy { $0["class_id"] as? Int == 0 && ($0["confidence"] as? Double ?? 0) > 0.6 })
        let big = try await client.post("/v1/detect?img=416", contentType: "image/jpeg", body: jpeg)
        let expected416 = try Self.expected(jpeg, imageSize: 416)
        #expect(big.status == 200 && Self.same(Self.detections(big), expected416))

        // Prometheus text: requests by route and status, the latency histogram, the queue,
        // in-flight requests and the models' load times.
        let metrics = try await client.get("/metrics")
        #expect(metrics.status == 200 && metrics.headers["content-type"]?.hasPrefix("text/plain") == true)
        for line in [#"yolov7_http_requests_total{route="detect",status="200"} 6"#, #"yolov7_detect_duration_seconds_count{status="200"} 6"#,
                     #"yolov7_detect_duration_seconds_bucket{status="200",le="+Inf"} 6"#, "yolov7_queue_depth 0", "yolov7_inference_running 0",
                     "yolov7_http_requests_in_flight 1", #"yolov7_model_load_seconds{model="tiny4"}"#,
                     #"yolov7_http_requests_total{route="models",status="200"} 1"#] {
            #expect(metrics.text.contains(line), "\(line)")
        }
        try await running.stop()
    }

    /// Each refusal: its status, a JSON error, within a second; then a good request works.
    @Test func badRequestsGetAQuick4xx() async throws {
        let running = try await RunningServer { $0.maxBodyBytes = 1 << 20; $0.bodyTimeout = 0.5 }
        let client = running.client
        let jpeg = try RunningServer.image()
        let hugePNG = [UInt8](try Data(contentsOf: RunningServer.root.appendingPathComponent("Tests/Fixtures/hostile/png_claims_50000x50000.png")))
        let cases: [(String, Int, () async throws -> RawHTTPClient.Reply)] = [
            ("empty body", 400, { try await client.post("/v1/detect", contentType: "image/jpeg", body: []) }),
            ("truncated JPEG", 422, { try await client.post("/v1/detect", contentType: "image/jpeg", body: Array(jpeg.prefix(jpeg.count / 2))) }),
            ("PNG claiming 50,000 x 50,000", 422, { try await client.post("/v1/detect", contentType: "image/png", body: hugePNG) }),
            ("not an image", 422, { try await client.post("/v1/detect", contentType: "image/png", body: Array("hello".utf8)) }),
            ("body over the limit", 413, { try await client.post("/v1/detect", contentType: "image/jpeg", body: [UInt8](repeating: 0xFF, count: 3 << 20)) }),
            ("body over the limit, sent chunked (no length up front)", 413, {
                try await client.send("POST", "/v1/detect", headers: ["Content-Type": "image/jpeg"],
                                      body: [UInt8](repeating: 0xFF, count: 2 << 20), chunked: true) }),
            ("wrong content type", 415, { try await client.post("/v1/detect", contentType: "text/plain", body: jpeg) }),
            ("no content type", 415, { try await client.send("POST", "/v1/detect", body: jpeg) }),
            ("unknown model", 404, { try await client.post("/v1/detect?model=nope", contentType: "image/jpeg", body: jpeg) }),
            ("conf out of range", 400, { try await client.post("/v1/detect?conf=2", contentType: "image/jpeg", body: jpeg) }),
            ("img not a number", 400, { try await client.post("/v1/detect?img=big", contentType: "image/jpeg", body: jpeg) }),
            ("img too large", 400, { try await client.post("/v1/detect?img=100000", contentType: "image/jpeg", body: jpeg) }),
            ("class the model lacks", 400, { try await client.post("/v1/detect?classes=0,7", contentType: "image/jpeg", body: jpeg) }),
            ("unknown parameter", 400, { try await client.post("/v1/detect?confidence=0.5", contentType: "image/jpeg", body: jpeg) }),
            ("multipart without an image", 400, {
                try await client.post("/v1/detect", contentType: "multipart/form-data; boundary=b",
                                      body: Array("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n".utf8)) }),
            ("half a body, then silence", 408, {
                try await client.send("POST", "/v1/detect", headers: ["Content-Type": "image/jpeg"], body: jpeg, sendOnly: jpeg.count / 2) }),
            ("no such route", 404, { try await client.get("/v2/detect") }),
        ]
        for (name, status, request) in cases {
            let reply = try await request()
            #expect(reply.status == status, "\(name): \(reply.status) \(reply.text)")
            #expect(reply.headers["content-type"] == "application/json" && !(reply.json["error"] as? String ?? "").isEmpty,
                    "\(name): \(reply.text)")
            #expect(reply.seconds < 1, "\(name): \(reply.seconds) s")
            let next = try await client.post("/v1/detect", contentType: "image/jpeg", body: jpeg)
            #expect(next.status == 200, "after \(name): \(next.status) \(next.text)")
        }
        try await running.stop()
    }

    /// A full queue answers 503 with Retry-After at once; nothing times out, the rest succeed.
    @Test func fullQueueAnswers503AtOnce() async throws {
        let running = try await RunningServer { $0.workers = 1; $0.queue = 1; $0.detector.imageSize = 640 }
        let client = running.client
        let jpeg = try RunningServer.image()
        let replies = try await withThrowingTaskGroup(of: RawHTTPClient.Reply.self) { group in
            for _ in 0..<10 { group.addTask { try await client.post("/v1/detect", contentType: "image/jpeg", body: jpeg) } }
            var all: [RawHTTPClient.Reply] = []
            for try await r in group { all.append(r) }
            return all
        }
        let refused = replies.filter { $0.status == 503 }
        #expect(replies.allSatisfy { $0.status == 200 || $0.status == 503 }, "\(replies.map(\.status))")
        #expect(replies.filter { $0.status == 200 }.count >= 2 && refused.count >= 5, "\(replies.map(\.status))")
        #expect(refused.allSatisfy { $0.headers["retry-after"] == "1" && ($0.json["error"] as? String)?.contains("queue") == true })
        // Refused without waiting for a detection (one takes ~50-500 ms here).
        #expect(refused.map(\.seconds).max() ?? 0 < 1, "\(refused.map(\.seconds))")
        try await running.stop()
    }
}
