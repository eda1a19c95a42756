import Foundation

/// The parts of a `multipart/form-data` body (RFC 7578): enough to take an uploaded image out of
/// a browser's or curl's form post.
struct MultipartForm {
    struct Part {
        /// The part's header lines, names lowercased.
        var headers: [String: String]
        var body: ArraySlice<UInt8>

        /// The `name` parameter of its Content-Disposition.
        var name: String? { parameter("name") }
        var filename: String? { parameter("filename") }

        private func parameter(_ key: String) -> String? {
            guard let disposition = headers["content-disposition"] else { return nil }
            for item in disposition.split(separator: ";").dropFirst() {
                let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2, pair[0].lowercased() == key {
                    return pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2
                        ? String(pair[1].dropFirst().dropLast()) : pair[1]
                }
            }
            return nil
        }
    }

    enum ParseError: Error, Equatable, CustomStringConvertible {
        case noBoundary
        case malformed(String)

        var description: String {
            switch self {
            case .noBoundary: return "multipart/form-data without a boundary parameter"
            case .malformed(let why): return "malformed multipart body: \(why)"
            }
        }
    }

    var parts: [Part]

    /// The boundary of a `Content-Type: multipart/form-data; boundary=...` value.
    static func boundary(contentType: String) throws -> String {
        for item in contentType.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].hasPrefix("\"") && pair[1].hasSuffix("\"") && pair[1].count >= 2
                    ? String(pair[1].dropFirst().dropLast()) : pair[1]
                if !value.isEmpty && value.utf8.count <= 70 { return value }
            }
        }
        throw ParseError.noBoundary
    }

    init(body: [UInt8], boundary: String) throws {
        let delimiter = Array("--\(boundary)".utf8)
        guard var position = Self.find(delimiter, in: body, from: 0) else {
            throw ParseError.malformed("no boundary line")
        }
        parts = []
        while true {
            position += delimiter.count
            // "--" after a delimiter closes the body.
            if body.count >= position + 2 && body[position] == UInt8(ascii: "-") && body[position + 1] == UInt8(ascii: "-") {
                return
            }
            guard let lineEnd = Self.find(Self.crlf, in: body, from: position) else { throw ParseError.malformed("truncated") }
            let headerStart = lineEnd + 2
            guard let headerEnd = Self.find(Self.crlf + Self.crlf, in: body, from: headerStart) else {
                throw ParseError.malformed("a part without the blank line after its headers")
            }
            var headers: [String: String] = [:]
            for line in String(decoding: body[headerStart..<headerEnd], as: UTF8.self).split(separator: "\r\n") {
                let pair = line.split(separator: ":", maxSplits: 1)
                guard pair.count == 2 else { throw ParseError.malformed("header line '\(line.prefix(60))'") }
                headers[pair[0].trimmingCharacters(in: .whitespaces).lowercased()] = pair[1].trimmingCharacters(in: .whitespaces)
            }
            let contentStart = headerEnd + 4
            guard let next = Self.find(Self.crlf + delimiter, in: body, from: contentStart) else {
                throw ParseError.malformed("a part without its closing boundary")
            }
            parts.append(Part(headers: headers, body: body[contentStart..<next]))
            position = next + 2
        }
    }

    /// The uploaded image: the part named `image`, else the first part that is a file.
    var image: Part? {
        parts.first { $0.name == "image" } ?? parts.first { $0.filename != nil }
    }

    private static let crlf: [UInt8] = [13, 10]

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var i = start
        let last = haystack.count - needle.count
        while i <= last {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
