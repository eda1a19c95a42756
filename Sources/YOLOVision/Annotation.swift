import Foundation

/// Drawing detections onto images, in the manner of the official `plot_one_box`
/// (utils/plots.py): a box outline whose thickness grows with the image, and a filled label
/// "name conf" above its top-left corner.
public enum Annotation {
    /// Official line thickness: `round(0.002 * (h + w) / 2) + 1` (Python rounds half to even).
    public static func lineThickness(width: Int, height: Int) -> Int {
        Int((0.002 * Double(height + width) / 2).rounded(.toNearestOrEven)) + 1
    }

    /// A distinct, deterministic colour per class: hues spaced by the golden ratio so that
    /// neighbouring ids differ strongly; saturated and bright enough to read on photographs.
    public static func color(forClass classID: Int) -> RGB {
        let golden = 0.618_033_988_749_895
        var hue = (0.08 + Double(max(classID, 0)) * golden).truncatingRemainder(dividingBy: 1)
        hue *= 6
        let sector = Int(hue), f = hue - Double(sector)
        let v = 0.95, s = 0.8
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        let (r, g, b): (Double, Double, Double)
        switch sector {
        case 0: (r, g, b) = (v, t, p)
        case 1: (r, g, b) = (q, v, p)
        case 2: (r, g, b) = (p, v, t)
        case 3: (r, g, b) = (p, q, v)
        case 4: (r, g, b) = (t, p, v)
        default: (r, g, b) = (v, p, q)
        }
        return RGB(UInt8((r * 255).rounded()), UInt8((g * 255).rounded()), UInt8((b * 255).rounded()))
    }

    /// Black or white, whichever contrasts more with `background` (Rec. 601 luma).
    public static func textColor(on background: RGB) -> RGB {
        let luma = 0.299 * Double(background.r) + 0.587 * Double(background.g) + 0.114 * Double(background.b)
        return luma > 150 ? RGB(0, 0, 0) : RGB(255, 255, 255)
    }

    /// Official label text: `f'{name} {conf:.2f}'`; ids without a name print as numbers.
    public static func label(for detection: Detection, names: [String]) -> String {
        let name = names.indices.contains(detection.classID) ? names[detection.classID] : "\(detection.classID)"
        return "\(name) \(String(format: "%.2f", detection.confidence))"
    }
}

extension RGBImage {
    /// A copy with every detection drawn (boxes in this image's pixels).
    public func annotated(with detections: [Detection], names: [String]) -> RGBImage {
        var copy = self
        copy.draw(detections, names: names)
        return copy
    }

    /// Draws each detection: its box, then a filled label with "name conf". The text is the
    /// bitmap font scaled by the line thickness (7 px tall per unit: 14 px at 640, 28 px at
    /// 1280), in black or white for contrast with the class colour.
    public mutating func draw(_ detections: [Detection], names: [String]) {
        let thickness = Annotation.lineThickness(width: width, height: height)
        let scale = thickness
        // Far enough outside any image that clipping handles it, small enough for Int().
        let limit = Float(1 << 24)
        for d in detections where d.box.allSatisfy(\.isFinite) {
            let color = Annotation.color(forClass: d.classID)
            // Official corners: int() truncation of the float box.
            let corner = { (v: Float) in Int(min(max(v, -limit), limit)) }
            let x1 = corner(d.x1), y1 = corner(d.y1), x2 = corner(d.x2), y2 = corner(d.y2)
            strokeRectangle(x1: x1, y1: y1, x2: x2, y2: y2, thickness: thickness, color: color)

            let text = Annotation.label(for: d, names: names)
            let margin = scale
            let textW = text.count * BitmapFont.advance * scale - scale
            let textH = BitmapFont.glyphHeight * scale
            let boxW = textW + 2 * margin, boxH = textH + 2 * margin
            // Above the box as officially; inside it when there is no room at the top; shifted
            // left when it would run off the right edge.
            var left = x1 - (thickness - 1) / 2
            left = max(0, min(left, width - boxW))
            var top = y1 - (thickness - 1) / 2 - boxH
            if top < 0 { top = max(0, y1 + thickness / 2 + 1) }
            fillRectangle(x: left, y: top, width: boxW, height: boxH, color: color)
            drawText(text, x: left + margin, y: top + margin, scale: scale,
                     color: Annotation.textColor(on: color))
        }
    }

    /// A rectangle outline whose strokes of `thickness` pixels are centred on the edges, as
    /// cv2.rectangle draws them.
    public mutating func strokeRectangle(x1: Int, y1: Int, x2: Int, y2: Int, thickness: Int, color: RGB) {
        let t = max(1, thickness), before = (t - 1) / 2
        let left = min(x1, x2), right = max(x1, x2), top = min(y1, y2), bottom = max(y1, y2)
        let outerW = right - left + t, outerH = bottom - top + t
        fillRectangle(x: left - before, y: top - before, width: outerW, height: t, color: color)
        fillRectangle(x: left - before, y: bottom - before, width: outerW, height: t, color: color)
        fillRectangle(x: left - before, y: top - before, width: t, height: outerH, color: color)
        fillRectangle(x: right - before, y: top - before, width: t, height: outerH, color: color)
    }

    /// Fills the part of the rectangle that lies inside the image.
    public mutating func fillRectangle(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(width, x + w), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        for row in y0..<y1 {
            var i = (row * width + x0) * 3
            for _ in x0..<x1 {
                pixels[i] = color.r
                pixels[i + 1] = color.g
                pixels[i + 2] = color.b
                i += 3
            }
        }
    }

    /// Draws ASCII text with the built-in 5x7 font, each font pixel a `scale` x `scale` square,
    /// top-left corner at (x, y). Pixels outside the image are skipped.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int, color: RGB) {
        let s = max(1, scale)
        for (index, character) in text.enumerated() {
            let originX = x + index * BitmapFont.advance * s
            for (row, bits) in BitmapFont.rows(character).enumerated() {
                for column in 0..<BitmapFont.glyphWidth where bits & (0x10 >> column) != 0 {
                    fillRectangle(x: originX + column * s, y: y + row * s, width: s, height: s, color: color)
                }
            }
        }
    }
}
