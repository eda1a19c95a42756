import CJPEG

/// JPEG through libjpeg(-turbo), configured as OpenCV's `JpegDecoder` configures it.
enum JPEGDecoder {
    static func decode(_ bytes: [UInt8], name: String, maxPixels: Int) throws -> RGBImage {
        guard let error = yolo_jpeg_error_create() else {
            throw VisionError.corrupt(path: name, format: .jpeg, reason: "out of memory")
        }
        defer { yolo_jpeg_error_destroy(error) }
        // Zeroed so that destroying is safe even if creation failed inside libjpeg.
        let cinfo = UnsafeMutablePointer<jpeg_decompress_struct>.allocate(capacity: 1)
        cinfo.initialize(to: jpeg_decompress_struct())
        defer {
            jpeg_destroy_decompress(cinfo)
            cinfo.deinitialize(count: 1)
            cinfo.deallocate()
        }
        func failure() -> VisionError {
            .corrupt(path: name, format: .jpeg, reason: String(cString: yolo_jpeg_error_message(error)))
        }

        return try bytes.withUnsafeBufferPointer { buffer -> RGBImage in
            guard yolo_jpeg_read_header(cinfo, error, buffer.baseAddress, UInt(buffer.count)) == 1 else {
                throw failure()
            }
            let width = Int(cinfo.pointee.image_width)
            let height = Int(cinfo.pointee.image_height)
            try RGBImage.checkSize(width: width, height: height, maxPixels: maxPixels,
                                   name: name, format: .jpeg)
            let orientation = exifOrientation(cinfo)
            // OpenCV asks libjpeg for (B)GR output except for 4-component files, which it reads
            // as CMYK (libjpeg turns YCCK into CMYK) and converts itself.
            let isCMYK = cinfo.pointee.num_components == 4
            cinfo.pointee.out_color_space = isCMYK ? JCS_CMYK : JCS_RGB
            let channels = isCMYK ? 4 : 3
            var raw = [UInt8](repeating: 0, count: width * height * channels)
            let ok = raw.withUnsafeMutableBufferPointer {
                yolo_jpeg_read_image(cinfo, $0.baseAddress, width * channels)
            }
            guard ok == 1 else { throw failure() }
            let rgb = isCMYK ? cmykToRGB(raw) : raw
            return applyExifOrientation(RGBImage(width: width, height: height, pixels: rgb),
                                        orientation)
        }
    }

    /// OpenCV's `icvCvt_CMYK2BGR_8u_C4C3R`: it treats the samples as Adobe's inverted CMYK
    /// (what Photoshop writes) and computes each channel as `k - ((255 - c) * k >> 8)`.
    static func cmykToRGB(_ cmyk: [UInt8]) -> [UInt8] {
        let count = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            let k = Int(cmyk[4 * i + 3])
            for c in 0..<3 {
                rgb[3 * i + c] = UInt8(k - (((255 - Int(cmyk[4 * i + c])) * k) >> 8))
            }
        }
        return rgb
    }

    /// The orientation tag of the first Exif APP1 segment, as OpenCV's ExifReader finds it.
    static func exifOrientation(_ cinfo: UnsafeMutablePointer<jpeg_decompress_struct>) -> Int? {
        var marker = cinfo.pointee.marker_list
        while let m = marker {
            if Int32(m.pointee.marker) == JPEG_APP0 + 1, let data = m.pointee.data {
                let segment = Array(UnsafeBufferPointer(start: data, count: Int(m.pointee.data_length)))
                if segment.starts(with: Array("Exif".utf8) + [0, 0]) {
                    return ExifOrientation.parse(tiff: segment.dropFirst(6))
                }
            }
            marker = m.pointee.next
        }
        return nil
    }
}
