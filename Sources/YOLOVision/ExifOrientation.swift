/// The Exif orientation tag (0x0112) and how imread applies it.
enum ExifOrientation {
    /// Reads IFD0 of a TIFF-structured Exif block as OpenCV's ExifReader does: byte order from
    /// "II"/"MM", the 42 mark, then the orientation entry's first SHORT of its value field.
    /// Returns nil on any inconsistency (never traps on hostile bytes).
    static func parse(tiff block: ArraySlice<UInt8>) -> Int? {
        let data = Array(block)
        guard data.count >= 8, data[0] == data[1], data[0] == UInt8(ascii: "I") || data[0] == UInt8(ascii: "M")
        else { return nil }
        let little = data[0] == UInt8(ascii: "I")
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 1 < data.count else { return nil }
            return little ? Int(data[at]) | Int(data[at + 1]) << 8 : Int(data[at]) << 8 | Int(data[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<count {
            let offset = ifd + 2 + 12 * entry
            guard let tag = u16(offset) else { return nil }
            if tag == 0x0112 { return u16(offset + 8) }
        }
        return nil
    }
}

/// imread's ApplyExifOrientation: the flips and transposes that bring the stored pixels upright.
/// Values outside 2...8 leave the image as stored.
func applyExifOrientation(_ image: RGBImage, _ orientation: Int?) -> RGBImage {
    guard let orientation, (2...8).contains(orientation) else { return image }
    let w = image.width, h = image.height
    let transposed = orientation >= 5
    let outW = transposed ? h : w, outH = transposed ? w : h
    // Source pixel of output (x, y), per case of OpenCV's switch:
    // 2 flip x; 3 flip both; 4 flip y; 5 transpose; 6 transpose + flip x (90 degrees clockwise);
    // 7 transpose + flip both; 8 transpose + flip y (90 degrees counter-clockwise).
    func source(_ x: Int, _ y: Int) -> (Int, Int) {
        switch orientation {
        case 2: return (w - 1 - x, y)
        case 3: return (w - 1 - x, h - 1 - y)
        case 4: return (x, h - 1 - y)
        case 5: return (y, x)
        case 6: return (y, h - 1 - x)
        case 7: return (w - 1 - y, h - 1 - x)
        default: return (w - 1 - y, x)
        }
    }
    var out = [UInt8](repeating: 0, count: image.pixels.count)
    let src = image.pixels
    for y in 0..<outH {
        for x in 0..<outW {
            let (sx, sy) = source(x, y)
            let s = (sy * w + sx) * 3, d = (y * outW + x) * 3
            out[d] = src[s]
            out[d + 1] = src[s + 1]
            out[d + 2] = src[s + 2]
        }
    }
    return RGBImage(width: outW, height: outH, pixels: out)
}
