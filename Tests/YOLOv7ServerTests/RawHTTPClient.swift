import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A bare HTTP/1.1 client on a blocking loopback socket, so a test controls every byte and
/// pause (half a body, then silence) and times the answer itself. Every call runs on a thread
/// of its own, never on Swift concurrency's few cooperative threads, which the server's own
/// request handlers need.
struct RawHTTPClient {
    let port: Int

    struct Reply {
        let status: Int
        let headers: [String: String]
        let body: Data
        /// From the first byte sent to the whole reply read.
        let seconds: Double

        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    enum Failure: Error { case connect(Int32), closedEarly(String) }

    /// Sends the request head and `body` (only its first `sendOnly` bytes, when given, after
    /// which the client goes silent; `chunked`: in 64 KiB chunks with no length declared) and
    /// reads the reply.
    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = [],
              sendOnly: Int? = nil, chunked: Bool = false) async throws -> Reply {
        try await Self.offThread {
            try self.exchange(method, path, headers: headers, body: body, sendOnly: sendOnly, chunked: chunked)
        }
    }

    func get(_ path: String) async throws -> Reply { try await send("GET", path) }

    func post(_ path: String, contentType: String, body: [UInt8]) async throws -> Reply {
        try await send("POST", path, headers: ["Content-Type": contentType], body: body)
    }

    static func offThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    private func exchange(_ method: String, _ path: String, headers: [String: String], body: [UInt8],
                          sendOnly: Int?, chunked: Bool) throws -> Reply {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure.connect(errno) }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { head += "\(k): \(v)\r\n" }
        var payload = Array(body.prefix(sendOnly ?? body.count))
        if chunked {
            head += "Transfer-Encoding: chunked\r\n"
            payload = stride(from: 0, to: payload.count, by: 65536).flatMap { i -> [UInt8] in
                let piece = payload[i..<min(payload.count, i + 65536)]
                return Array(String(piece.count, radix: 16).utf8) + [13, 10] + piece + [13, 10]
            } + Array("0\r\n\r\n".utf8)
        } else if method == "POST" {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "\r\n"
        let start = DispatchTime.now().uptimeNanoseconds
        let bytes = Array(head.utf8) + payload
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }  // the server may answer (413) and close before reading it all
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let reply = Self.parse(received, start: start) { return reply }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        guard let reply = Self.parse(received, start: start) else {
            throw Failure.closedEarly(String(decoding: received.prefix(200), as: UTF8.self))
        }
        return reply
    }

    /// A complete reply (head and Content-Length bytes of body), or nil for not yet.
    private static func parse(_ bytes: [UInt8], start: UInt64) -> Reply? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<($0 + 4)]) == separator }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            return nil
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1)
            if pair.count == 2 { headers[pair[0].lowercased()] = pair[1].trimmingCharacters(in: .whitespaces) }
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        return Reply(status: status, headers: headers, body: Data(bytes[(end + 4)..<(end + 4 + length)]),
                     seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
