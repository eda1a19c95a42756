import Foundation

/// Agreement of the two models against the confidence threshold both are cut at: at each
/// threshold, the share of baseline boxes the quantized model also finds (matched / baseline)
/// and the share of quantized boxes the baseline also finds (matched / quantized).
public struct AgreementCurve: Sendable {
    public struct Point: Sendable {
        public var threshold: Float
        public var baselineBoxes: Int
        public var quantizedBoxes: Int
        public var matched: Int
        public var baselineFound: Double? { baselineBoxes == 0 ? nil : Double(matched) / Double(baselineBoxes) }
        public var quantizedFound: Double? { quantizedBoxes == 0 ? nil : Double(matched) / Double(quantizedBoxes) }
    }

    public var points: [Point]
    /// The threshold the report's figures use (drawn as a line).
    public var marked: Float

    /// `all` holds the detections down to the lowest of `thresholds`.
    public init(_ all: ComparisonSummary, thresholds: [Float], marked: Float) {
        points = thresholds.sorted().map { t in
            let s = all.keeping(confidenceAbove: t)
            return Point(threshold: t, baselineBoxes: s.baselineCount, quantizedBoxes: s.quantizedCount, matched: s.matched)
        }
        self.marked = marked
    }

    /// Thresholds 0.05, 0.10, ..., 0.95 from `lowest` up, and `marked`.
    public static func thresholds(from lowest: Float, marked: Float) -> [Float] {
        var values = (1...19).map { Float($0) * 0.05 }.filter { $0 >= lowest - 1e-6 }
        if !values.contains(where: { abs($0 - marked) < 1e-6 }) { values.append(marked) }
        return values.sorted()
    }

    /// An inline SVG line chart (scales with its container; no script).
    public var svg: String {
        let width = 560.0, height = 300.0, left = 52.0, right = 16.0, top = 40.0, bottom = 44.0
        let values = points.flatMap { [$0.baselineFound, $0.quantizedFound].compactMap { $0 } }
        // The y axis starts at the lowest tenth below the data, so high agreement stays readable.
        let lowY = max(0, min(0.9, ((values.min() ?? 0) * 10).rounded(.down) / 10))
        let lowX = 0.0, highX = 1.0
        func px(_ x: Double) -> Double { left + (x - lowX) / (highX - lowX) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y - lowY) / (1 - lowY) * (height - top - bottom) }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<svg class=\"chart\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"chart-title\">"
        s += "<title id=\"chart-title\">Agreement against the confidence threshold</title>\n"
        // Grid, ticks and axis titles.
        var y = lowY
        while y <= 1.0001 {
            s += "<line class=\"grid\" x1=\"\(f(px(lowX)))\" y1=\"\(f(py(y)))\" x2=\"\(f(px(highX)))\" y2=\"\(f(py(y)))\"/>"
            s += "<text class=\"tick\" x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(Int((y * 100).rounded()))%</text>\n"
            y += (1 - lowY) > 0.5 ? 0.2 : ((1 - lowY) > 0.25 ? 0.1 : 0.05)
        }
        for x in stride(from: 0.0, through: 1.0001, by: 0.2) {
            s += "<text class=\"tick\" x=\"\(f(px(x)))\" y=\"\(f(height - bottom + 16))\" text-anchor=\"middle\">\(String(format: "%.1f", x))</text>"
        }
        s += "<line class=\"axis\" x1=\"\(f(px(lowX)))\" y1=\"\(f(py(lowY)))\" x2=\"\(f(px(highX)))\" y2=\"\(f(py(lowY)))\"/>"
        s += "<text class=\"tick\" x=\"\(f((left + width - right) / 2))\" y=\"\(f(height - 8))\" text-anchor=\"middle\">confidence threshold</text>\n"
        // The compared threshold.
        let mx = px(Double(marked))
        s += "<line class=\"marker\" x1=\"\(f(mx))\" y1=\"\(f(py(1)))\" x2=\"\(f(mx))\" y2=\"\(f(py(lowY)))\"/>"
        s += "<text class=\"tick\" x=\"\(f(mx + 4))\" y=\"\(f(py(lowY) - 6))\">conf \(String(format: "%g", Double(marked)))</text>\n"
        // The two series, with a tooltip on every point.
        let series: [(String, String, (Point) -> Double?)] = [
            ("baseline", "baseline boxes found by the quantized model", { $0.baselineFound }),
            ("quantized", "quantized boxes found by the baseline", { $0.quantizedFound }),
        ]
        for (i, (cls, label, value)) in series.enumerated() {
            let pts = points.compactMap { p in value(p).map { (p, $0) } }
            s += "<polyline class=\"line \(cls)\" points=\"" + pts.map { "\(f(px(Double($0.0.threshold)))),\(f(py($0.1)))" }.joined(separator: " ") + "\"/>"
            for (p, v) in pts {
                s += "<circle class=\"dot \(cls)\" cx=\"\(f(px(Double(p.threshold))))\" cy=\"\(f(py(v)))\" r=\"3.5\"><title>"
                s += "conf > \(String(format: "%g", Double(p.threshold))): \(String(format: "%.2f", v * 100))% of \(label) (\(p.matched) of \(cls == "baseline" ? p.baselineBoxes : p.quantizedBoxes))</title></circle>"
            }
            let ly = 14.0 + Double(i) * 16
            s += "<line class=\"line \(cls)\" x1=\"\(f(left))\" y1=\"\(f(ly - 4))\" x2=\"\(f(left + 22))\" y2=\"\(f(ly - 4))\"/>"
            s += "<text class=\"tick\" x=\"\(f(left + 28))\" y=\"\(f(ly))\">\(label)</text>\n"
        }
        return s + "</svg>\n"
    }
}
