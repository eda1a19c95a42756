import CPNG

/// PNG through libpng, with the transforms of OpenCV's `PngDecoder` for IMREAD_COLOR.
enum PNGDecoder {
    static func decode(_ bytes: [UInt8], name: String, maxPixels: Int) throws -> RGBImage {
        // The IHDR chunk must come first (bytes 8..<33); its size is checked here, before libpng
        // sees the data, so a header claiming 50,000 x 50,000 is refused without allocating.
        guard bytes.count >= 33 else {
            throw VisionError.corrupt(path: name, format: .png, reason: "file is truncated")
        }
        guard bytes[12..<16].elementsEqual("IHDR".utf8) else {
            throw VisionError.corrupt(path: name, format: .png, reason: "IHDR chunk is not first")
        }
        let width = Int(bigEndian32(bytes, at: 16))
        let height = Int(bigEndian32(bytes, at: 20))
        try RGBImage.checkSize(width: width, height: height, maxPixels: maxPixels,
                               name: name, format: .png)

        return try bytes.withUnsafeBufferPointer { buffer -> RGBImage in
            guard let reader = yolo_png_reader_create(buffer.baseAddress, buffer.count) else {
                throw VisionError.corrupt(path: name, format: .png, reason: "out of memory")
            }
            defer { yolo_png_reader_destroy(reader) }
            func failure() -> VisionError {
                .corrupt(path: name, format: .png, reason: String(cString: yolo_png_reader_message(reader)))
            }
            guard yolo_png_read_info(reader) == 1 else { throw failure() }
            guard Int(png_get_image_width(yolo_png_reader_png(reader), yolo_png_reader_info(reader))) == width,
                  Int(png_get_image_height(yolo_png_reader_png(reader), yolo_png_reader_info(reader))) == height
            else {
                throw VisionError.corrupt(path: name, format: .png, reason: "inconsistent IHDR")
            }
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            let ok = pixels.withUnsafeMutableBufferPointer {
                yolo_png_read_rgb8(reader, $0.baseAddress, width * 3)
            }
            guard ok == 1 else { throw failure() }
            let image = RGBImage(width: width, height: height, pixels: pixels)
            return applyExifOrientation(image, exifOrientation(reader))
        }
    }

    static func bigEndian32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The eXIf chunk's orientation (the chunk before the image data, else the one after, as
    /// OpenCV looks). An eXIf chunk starts directly with the TIFF header.
    static func exifOrientation(_ reader: OpaquePointer) -> Int? {
        let png = yolo_png_reader_png(reader)
        for info in [yolo_png_reader_info(reader), yolo_png_reader_end_info(reader)] {
            guard png_get_valid(png, info, PNG_INFO_eXIf) != 0 else { continue }
            var count: png_uint_32 = 0
            var data: png_bytep? = nil
            guard png_get_eXIf_1(png, info, &count, &data) != 0, let data, count > 0 else { return nil }
            let chunk = Array(UnsafeBufferPointer(start: data, count: Int(count)))
            return ExifOrientation.parse(tiff: chunk[...])
        }
        return nil
    }
}
