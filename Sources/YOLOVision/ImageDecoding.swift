import Foundation

extension RGBImage {
    /// Largest image the decoders accept: 2^28 pixels (768 MiB of RGB). The limit is checked
    /// against the header's dimensions before any pixel memory is allocated, so a hostile
    /// header cannot make the process allocate gigabytes. (OpenCV's own limit is 2^30.)
    public static let defaultMaxPixels = 1 << 28

    /// Decodes a JPEG or PNG file to 8-bit RGB with the pixels of OpenCV's
    /// `cv2.imread(path, cv2.IMREAD_COLOR)` followed by BGR->RGB, EXIF orientation applied as
    /// imread applies it. The format comes from the file's signature, not its extension.
    public init(contentsOf url: URL, maxPixels: Int = RGBImage.defaultMaxPixels) throws {
        let path = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw VisionError.unreadable(path: path, reason: Self.ioReason(error))
        }
        try self.init(decoding: [UInt8](data), name: path, maxPixels: maxPixels)
    }

    /// Decodes JPEG or PNG bytes; `name` is what errors report as the file.
    public init(decoding bytes: [UInt8], name: String, maxPixels: Int = RGBImage.defaultMaxPixels) throws {
        guard !bytes.isEmpty else { throw VisionError.empty(path: name) }
        switch ImageFormat(signature: bytes) {
        case .jpeg?:
            self = try JPEGDecoder.decode(bytes, name: name, maxPixels: maxPixels)
        case .png?:
            self = try PNGDecoder.decode(bytes, name: name, maxPixels: maxPixels)
        case nil:
            throw VisionError.unknownFormat(path: name)
        }
    }

    static func ioReason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain,
           let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription
    }

    /// Refuses dimensions that are zero or above the pixel limit (no allocation happens here).
    static func checkSize(width: Int, height: Int, maxPixels: Int, name: String,
                          format: ImageFormat) throws {
        guard width > 0, height > 0 else {
            throw VisionError.corrupt(path: name, format: format,
                                      reason: "header declares a \(width)x\(height) image")
        }
        // Compare by division: width * height can overflow for hostile headers on 32-bit Int.
        guard width <= maxPixels / height else {
            throw VisionError.tooLarge(path: name, width: width, height: height, maxPixels: maxPixels)
        }
    }
}
