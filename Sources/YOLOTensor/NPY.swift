import Foundation

/// NumPy `.npy` (format 1.0/2.0) reading and writing for float32, float16, float64 and uint8
/// arrays: the parity hook with the PyTorch tools.
public enum NPY {
    public struct Error: Swift.Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// Writes a float32 little-endian C-order array.
    public static func write(_ tensor: Tensor, to url: URL) throws {
        let shapeText = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)"
            : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + '\n' must be a multiple of 64.
        let pad = 64 - (10 + header.utf8.count + 1) % 64
        header += String(repeating: " ", count: pad % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        data.append(contentsOf: Array(header.utf8))
        tensor.data.withUnsafeBytes { data.append(contentsOf: $0) }
        try data.write(to: url, options: .atomic)
    }

    /// Reads an array as float32 (uint8/float16/float64 are converted).
    public static func read(_ url: URL) throws -> Tensor {
        let (descr, shape, body) = try parse(url)
        let count = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: count)
        body.withUnsafeBytes { raw in
            switch descr {
            case "<f4": for i in 0..<count { values[i] = raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self) }
            case "<f2": for i in 0..<count { values[i] = Float(raw.loadUnaligned(fromByteOffset: i * 2, as: Float16.self)) }
            case "<f8": for i in 0..<count { values[i] = Float(raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self)) }
            default: for i in 0..<count { values[i] = Float(raw[i]) }
            }
        }
        return Tensor(shape: shape, data: values)
    }

    /// Reads a float64 array at full precision (second moments and other reference statistics).
    public static func readFloat64(_ url: URL) throws -> [Double] {
        let (descr, shape, body) = try parse(url)
        guard descr == "<f8" else { throw Error(path: url.path, reason: "expected float64, found \(descr)") }
        let count = shape.reduce(1, *)
        return body.withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self) }
        }
    }

    /// The dtype, shape and data bytes of a .npy file (data checked to hold the whole array).
    static func parse(_ url: URL) throws -> (descr: String, shape: [Int], body: Data) {
        let path = url.path
        let bytes = try Data(contentsOf: url)
        guard bytes.count >= 10, bytes.prefix(6) == Data([0x93] + Array("NUMPY".utf8)) else {
            throw Error(path: path, reason: "not a .npy file")
        }
        let major = bytes[bytes.startIndex + 6]
        let headerLength: Int
        let start: Int
        if major == 1 {
            headerLength = Int(bytes[bytes.startIndex + 8]) | Int(bytes[bytes.startIndex + 9]) << 8
            start = 10
        } else {
            guard bytes.count >= 12 else { throw Error(path: path, reason: "truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[bytes.startIndex + 8 + $1]) << (8 * $1) }
            start = 12
        }
        guard start + headerLength <= bytes.count,
              let header = String(data: bytes.subdata(in: start..<(start + headerLength)), encoding: .ascii)
        else { throw Error(path: path, reason: "truncated header") }
        guard !header.contains("'fortran_order': True") else {
            throw Error(path: path, reason: "Fortran-order arrays are not supported")
        }
        guard let descrRange = header.range(of: "'descr': '"),
              let descrEnd = header[descrRange.upperBound...].firstIndex(of: "'"),
              let shapeOpen = header.range(of: "'shape': ("),
              let shapeClose = header[shapeOpen.upperBound...].firstIndex(of: ")")
        else { throw Error(path: path, reason: "unreadable header") }
        let descr = String(header[descrRange.upperBound..<descrEnd])
        let shape = header[shapeOpen.upperBound..<shapeClose].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.compactMap { Int($0) }
        let count = shape.reduce(1, *)
        let body = bytes.subdata(in: (start + headerLength)..<bytes.count)
        let width: Int
        switch descr {
        case "<f4": width = 4
        case "<f2": width = 2
        case "<f8": width = 8
        case "|u1", "<u1": width = 1
        default: throw Error(path: path, reason: "unsupported dtype \(descr)")
        }
        guard body.count >= count * width else {
            throw Error(path: path, reason: "data holds \(body.count) bytes, shape \(shape) needs \(count * width)")
        }
        return (descr, shape, body)
    }
}
