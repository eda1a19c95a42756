import Foundation

/// Writes JSON atomically (a temporary file renamed into place): a failed run leaves no
/// partial file behind.
public enum JSONOutput {
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func write<T: Encodable>(_ value: T, to path: String) throws {
        do {
            var data = try encode(value)
            data.append(0x0A)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EvalError.writeFailed(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// Binary files (pictures), atomically too.
    public static func writeData(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EvalError.writeFailed(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    /// Text files (CSV, Markdown, SVG), atomically too.
    public static func writeText(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw EvalError.writeFailed(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}
