import CJPEG
import CPNG
import Foundation

extension RGBImage {
    /// The image as a baseline JPEG (4:2:0, libjpeg's standard tables scaled to `quality`).
    public func jpegData(quality: Int = 90, name: String = "<memory>") throws -> [UInt8] {
        guard width > 0, height > 0 else { throw VisionError.writeFailed(path: name, reason: "empty image") }
        guard let error = yolo_jpeg_error_create() else {
            throw VisionError.writeFailed(path: name, reason: "out of memory")
        }
        defer { yolo_jpeg_error_destroy(error) }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let ok = pixels.withUnsafeBufferPointer {
            yolo_jpeg_encode_rgb($0.baseAddress, UInt32(width), UInt32(height),
                                 Int32(max(1, min(100, quality))), &out, &size, error)
        }
        guard ok == 1, let out else {
            throw VisionError.writeFailed(path: name, reason: String(cString: yolo_jpeg_error_message(error)))
        }
        defer { yolo_jpeg_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    /// The image as an 8-bit RGB, non-interlaced PNG.
    public func pngData(name: String = "<memory>") throws -> [UInt8] {
        guard width > 0, height > 0 else { throw VisionError.writeFailed(path: name, reason: "empty image") }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let ok = pixels.withUnsafeBufferPointer { rgb in
            message.withUnsafeMutableBufferPointer {
                yolo_png_encode_rgb(rgb.baseAddress, UInt32(width), UInt32(height), &out, &size,
                                    $0.baseAddress, $0.count)
            }
        }
        guard ok == 1, let out else {
            throw VisionError.writeFailed(path: name, reason: String(cString: message))
        }
        defer { yolo_png_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes the image as PNG (`.png`) or JPEG (`.jpg`, `.jpeg`, anything else) to `url`.
    /// The bytes go to a temporary file in the same folder that is then renamed over `url`, so
    /// a failure never leaves a partial file behind.
    public func write(to url: URL, jpegQuality: Int = 90) throws {
        let path = url.path
        let ext = url.pathExtension.lowercased()
        let bytes = ext == "png" ? try pngData(name: path) : try jpegData(quality: jpegQuality, name: path)
        do {
            try Data(bytes).write(to: url, options: .atomic)
        } catch {
            throw VisionError.writeFailed(path: path, reason: Self.ioReason(error))
        }
    }
}
