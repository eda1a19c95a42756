import Foundation
import Synchronization
import Testing

/// `yolov7 serve` as a deployment runs it (issue 18, acceptance 5): SIGTERM while requests are
/// running and queued lets every one of them finish with its detections, and the process exits
/// 0. Runs the built executable (beside this test bundle), since the signal is the point.
struct DrainTests {
    static var executable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("yolov7").path) && dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("yolov7")
    }

    /// Waiting and running detections, from the server's own gauges.
    static func held(_ client: RawHTTPClient) async throws -> Int {
        let text = try await client.get("/metrics").text
        return ["yolov7_queue_depth ", "yolov7_inference_running "].reduce(0) { sum, name in
            let line = text.split(separator: "\n").first { $0.hasPrefix(name) }
            return sum + (line.flatMap { Double($0.split(separator: " ")[1]) }.map { Int($0) } ?? 0)
        }
    }

    @Test func sigtermDrainsRequestsInFlightAndExitsZero() async throws {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = ["serve", "--weights", "weights/yolov7-tiny-bccd.pt", "--port", "0", "--img", "640",
                             "--workers", "1", "--threads", "1", "--queue", "16"]
        process.currentDirectoryURL = RunningServer.root
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // "listening on http://127.0.0.1:PORT" once bound.
        let line = try await RawHTTPClient.offThread {
            var printed = ""
            while !printed.contains("\n") {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                printed += String(decoding: chunk, as: UTF8.self)
            }
            return printed
        }
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        let client = RawHTTPClient(port: port)
        var ready = false
        for _ in 0..<300 where !ready {
            ready = (try? await client.get("/readyz").status) == 200
            if !ready { try await Task.sleep(nanoseconds: 100_000_000) }
        }
        #expect(ready)

        let jpeg = try RunningServer.image()
        let replies = Mutex([Int]())
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    let status = (try? await client.post("/v1/detect", contentType: "image/jpeg", body: jpeg).status) ?? -1
                    replies.withLock { $0.append(status) }
                }
            }
            // The signal comes when the server holds all six: one detection running, five queued.
            var held = 0
            for _ in 0..<200 where held < 6 {
                held = try await Self.held(client)
                if held < 6 { try await Task.sleep(nanoseconds: 20_000_000) }
            }
            #expect(held == 6)
            kill(process.processIdentifier, SIGTERM)
            try await group.waitForAll()
        }
        let exited = try await RawHTTPClient.offThread {
            process.waitUntilExit()
            return (process.terminationReason == .exit, process.terminationStatus)
        }
        #expect(replies.withLock { $0 } == [200, 200, 200, 200, 200, 200])
        #expect(exited.0 && exited.1 == 0)
    }
}
