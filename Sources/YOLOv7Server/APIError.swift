import Foundation
import HTTPTypes
import Hummingbird

/// A request the server refuses or cannot finish: an HTTP status and a one-line reason,
/// answered as `{"error": "..."}` (docs/SERVER.md lists every case).
struct APIError: Error, Equatable, CustomStringConvertible {
    let status: HTTPResponse.Status
    let message: String
    /// Seconds a client should wait before trying again (503).
    var retryAfter: Int?

    var description: String { "\(status.code) \(message)" }

    static func badRequest(_ message: String) -> APIError { APIError(status: .badRequest, message: message) }
    static func notFound(_ message: String) -> APIError { APIError(status: .notFound, message: message) }
    static let emptyBody = APIError(status: .badRequest, message: "empty body: send a JPEG or PNG image")
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, message: "body larger than the limit of \(limit) bytes")
    }
    static let bodyStalled = APIError(status: .requestTimeout, message: "the body stopped arriving before it was complete")
    static func unsupportedMediaType(_ type: String) -> APIError {
        APIError(status: .unsupportedMediaType,
                 message: "content type '\(type)' is not image/jpeg, image/png or multipart/form-data")
    }
    static func unprocessable(_ message: String) -> APIError { APIError(status: .unprocessableContent, message: message) }
    static func overloaded(retryAfter: Int) -> APIError {
        APIError(status: .serviceUnavailable, message: "server busy: the request queue is full", retryAfter: retryAfter)
    }
    static func timedOut(seconds: Double) -> APIError {
        APIError(status: .serviceUnavailable, message: String(format: "no result within the %.3g s timeout", seconds), retryAfter: 1)
    }
    static let notReady = APIError(status: .serviceUnavailable, message: "models are still loading", retryAfter: 1)
    static let draining = APIError(status: .serviceUnavailable, message: "server is shutting down", retryAfter: 1)

    /// The JSON response.
    var response: Response {
        var headers = HTTPFields()
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return JSONBody.response(["error": message], status: status, headers: headers)
    }
}

/// JSON bodies, encoded as the CLI writes its files (sorted keys).
enum JSONBody {
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok,
                                       headers: HTTPFields = HTTPFields()) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Our own values always encode; the fallback keeps the contract (a JSON error) anyway.
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response could not be encoded"}"#.utf8)
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
