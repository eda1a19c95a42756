import Foundation
import Hummingbird
import NIOCore

/// Reads a request body into memory with two limits: its size (refused as soon as the
/// declared length or the bytes received pass it, so nothing larger is ever held) and how long
/// a client may go silent in the middle of it (a client that sends half a body and stalls gets
/// 408 after `stallTimeout`, whatever the connection's own idle timeout).
struct BodyReader {
    var limit: Int
    var stallTimeout: Double

    func read(_ request: Request) async throws -> [UInt8] {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        let limit = self.limit, stallTimeout = self.stallTimeout
        let progress = Progress()
        let body = request.body
        return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask {
                var bytes: [UInt8] = []
                for try await chunk in body {
                    progress.touch()
                    guard bytes.count + chunk.readableBytes <= limit else { throw APIError.bodyTooLarge(limit: limit) }
                    bytes.append(contentsOf: chunk.readableBytesView)
                }
                return bytes
            }
            // The watch: wakes a few times per timeout and gives up once nothing came for a
            // whole one; cancelling the reader then ends its wait for the next chunk.
            group.addTask {
                while true {
                    try await Task.sleep(nanoseconds: UInt64(stallTimeout / 4 * 1e9))
                    if progress.secondsSinceLast() >= stallTimeout { throw APIError.bodyStalled }
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let bytes = result { return bytes }
            }
            throw APIError.bodyStalled
        }
    }
}

/// When the last chunk of a body arrived.
private final class Progress: @unchecked Sendable {
    private let lock = NSLock()
    private var last = DispatchTime.now().uptimeNanoseconds

    func touch() { lock.withLock { last = DispatchTime.now().uptimeNanoseconds } }

    func secondsSinceLast() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - lock.withLock { last }) / 1e9
    }
}
