/// Every failure of the image library: one case per kind of problem, each naming the file.
/// `description` is one line, ready for the CLI to print.
public enum VisionError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be read from disk (missing, permissions, a directory...).
    case unreadable(path: String, reason: String)
    /// The file holds no bytes.
    case empty(path: String)
    /// The bytes start with neither the JPEG nor the PNG signature.
    case unknownFormat(path: String)
    /// The header declares more pixels than the decoder accepts; refused before allocating.
    case tooLarge(path: String, width: Int, height: Int, maxPixels: Int)
    /// The JPEG or PNG data is corrupt or truncated; `reason` is libjpeg's or libpng's message.
    case corrupt(path: String, format: ImageFormat, reason: String)
    /// Encoding or writing an output image failed.
    case writeFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read file (\(Self.oneLine(reason)))"
        case let .empty(path):
            return "\(path): empty file"
        case let .unknownFormat(path):
            return "\(path): not a JPEG or PNG image (unrecognised file signature)"
        case let .tooLarge(path, width, height, maxPixels):
            return "\(path): image of \(width)x\(height) pixels exceeds the limit of \(maxPixels) pixels"
        case let .corrupt(path, format, reason):
            return "\(path): corrupt or truncated \(format.rawValue.uppercased()) data (\(Self.oneLine(reason)))"
        case let .writeFailed(path, reason):
            return "\(path): cannot write image (\(Self.oneLine(reason)))"
        }
    }

    /// Library messages may carry newlines; the CLI contract is one line per error.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

/// The encoded formats the library reads and writes.
public enum ImageFormat: String, Sendable {
    case jpeg
    case png

    /// Detects the format from the first bytes (file extensions are not trusted).
    public init?(signature bytes: some Collection<UInt8>) {
        let head = Array(bytes.prefix(8))
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF {
            self = .jpeg
        } else if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] {
            self = .png
        } else {
            return nil
        }
    }
}
