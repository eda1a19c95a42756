import Foundation

/// One setting of a quantization sweep and what it measured.
public struct SweepRow: Equatable, Sendable {
    public var scheme: String
    public var bits: Int
    public var granularity: String
    public var mAP50: Double
    public var mAP50to95: Double
    /// Against the FP32 baseline of the same sweep (negative = loss).
    public var delta50: Double
    public var delta50to95: Double
    public var fileBytes: Int
    public var savingVsFP32: Double
    public var savingVsFP16: Double
    public var seconds: Double

    public init(scheme: String, bits: Int, granularity: String, mAP50: Double, mAP50to95: Double,
                delta50: Double, delta50to95: Double, fileBytes: Int, savingVsFP32: Double,
                savingVsFP16: Double, seconds: Double) {
        self.scheme = scheme
        self.bits = bits
        self.granularity = granularity
        self.mAP50 = mAP50
        self.mAP50to95 = mAP50to95
        self.delta50 = delta50
        self.delta50to95 = delta50to95
        self.fileBytes = fileBytes
        self.savingVsFP32 = savingVsFP32
        self.savingVsFP16 = savingVsFP16
        self.seconds = seconds
    }

    /// Identifies a setting, for resuming.
    public var key: String { "\(scheme)/\(bits)/\(granularity)" }
}

/// The sweep's results as CSV (the resume file), Markdown and an SVG chart.
public struct SweepTable: Equatable, Sendable {
    public var baseline: SweepRow?
    public var rows: [SweepRow]

    public init(baseline: SweepRow? = nil, rows: [SweepRow] = []) {
        self.baseline = baseline
        self.rows = rows
    }

    static let header = "scheme,bits,granularity,mAP50,mAP50_95,delta_mAP50,delta_mAP50_95,file_bytes,saving_vs_fp32,saving_vs_fp16,seconds"

    public var csv: String {
        var lines = [Self.header]
        for r in ([baseline].compactMap { $0 } + rows) {
            lines.append([r.scheme, String(r.bits), r.granularity, String(format: "%.6f", r.mAP50), String(format: "%.6f", r.mAP50to95),
                          String(format: "%.6f", r.delta50), String(format: "%.6f", r.delta50to95), String(r.fileBytes),
                          String(format: "%.4f", r.savingVsFP32), String(format: "%.4f", r.savingVsFP16),
                          String(format: "%.1f", r.seconds)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads a CSV written by `csv` (the FP32 row is the one with scheme "fp32").
    public static func parse(csv text: String, path: String) throws -> SweepTable {
        var table = SweepTable()
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if n == 0 {
                guard line == header else { throw EvalError.malformedSweep(path: path, reason: "unexpected header") }
                continue
            }
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 11, let bits = Int(f[1]), let m50 = Double(f[3]), let m = Double(f[4]), let d50 = Double(f[5]),
                  let d = Double(f[6]), let bytes = Int(f[7]), let s32 = Double(f[8]), let s16 = Double(f[9]), let sec = Double(f[10])
            else { throw EvalError.malformedSweep(path: path, reason: "line \(n + 1) is not a sweep row") }
            let row = SweepRow(scheme: f[0], bits: bits, granularity: f[2], mAP50: m50, mAP50to95: m, delta50: d50,
                               delta50to95: d, fileBytes: bytes, savingVsFP32: s32, savingVsFP16: s16, seconds: sec)
            if row.scheme == "fp32" { table.baseline = row } else { table.rows.append(row) }
        }
        return table
    }

    public var markdown: String {
        var out = "| scheme | bits | granularity | mAP@0.5 | mAP@0.5:0.95 | Δ mAP@0.5 | Δ mAP@0.5:0.95 | file bytes | saving vs FP32 | saving vs FP16 |\n"
        out += "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in ([baseline].compactMap { $0 } + rows) {
            out += "| \(r.scheme) | \(r.bits) | \(r.granularity) | " + String(format: "%.4f | %.4f | %+.4f | %+.4f | %d | %.2fx | %.2fx |\n",
                r.mAP50, r.mAP50to95, r.delta50, r.delta50to95, r.fileBytes, r.savingVsFP32, r.savingVsFP16)
        }
        return out
    }

    /// mAP@0.5:0.95 against memory saving (vs FP32), one series per scheme, the FP32 baseline
    /// as a dashed line. Plain SVG, no scripts.
    public var svg: String {
        let width = 760.0, height = 460.0, left = 70.0, right = 150.0, top = 30.0, bottom = 60.0
        let points = rows.map { ($0.savingVsFP32, $0.mAP50to95, $0.scheme) }
        let maxX = max(10, (points.map(\.0).max() ?? 8).rounded(.up) + 1)
        let maxY = max(baseline?.mAP50to95 ?? 0, points.map(\.1).max() ?? 0.6) * 1.1
        func px(_ x: Double) -> Double { left + (x / maxX) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y / max(maxY, 1e-9)) * (height - top - bottom) }
        let colours = ["affine": "#1f77b4", "symmetric": "#d62728", "pwlq": "#2ca02c"]
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        s += "<text x=\"\(Int(width / 2 - 60))\" y=\"18\" font-size=\"14\">mAP@0.5:0.95 vs memory saving</text>\n"
        // Axes and ticks.
        s += "<line x1=\"\(px(0))\" y1=\"\(py(0))\" x2=\"\(px(maxX))\" y2=\"\(py(0))\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(px(0))\" y1=\"\(py(0))\" x2=\"\(px(0))\" y2=\"\(py(maxY))\" stroke=\"black\"/>\n"
        for x in stride(from: 0.0, through: maxX, by: maxX > 12 ? 2 : 1) {
            s += "<text x=\"\(px(x) - 6)\" y=\"\(py(0) + 18)\">\(Int(x))x</text>\n"
        }
        for y in stride(from: 0.0, through: maxY, by: 0.1) {
            s += "<text x=\"\(left - 40)\" y=\"\(py(y) + 4)\">" + String(format: "%.1f", y) + "</text>\n"
            s += "<line x1=\"\(px(0))\" y1=\"\(py(y))\" x2=\"\(px(maxX))\" y2=\"\(py(y))\" stroke=\"#eee\"/>\n"
        }
        s += "<text x=\"\(Int(width / 2 - 80))\" y=\"\(Int(height - 15))\">memory saving vs FP32 (file bytes)</text>\n"
        s += "<text transform=\"translate(18,\(Int(height / 2 + 40))) rotate(-90)\">mAP@0.5:0.95</text>\n"
        if let b = baseline {
            s += "<line x1=\"\(px(0))\" y1=\"\(py(b.mAP50to95))\" x2=\"\(px(maxX))\" y2=\"\(py(b.mAP50to95))\" stroke=\"gray\" stroke-dasharray=\"5,4\"/>\n"
            s += "<text x=\"\(px(maxX) + 6)\" y=\"\(py(b.mAP50to95) + 4)\">FP32 " + String(format: "%.3f", b.mAP50to95) + "</text>\n"
        }
        var legendY = top + 20
        for scheme in ["affine", "symmetric", "pwlq"] where points.contains(where: { $0.2 == scheme }) {
            let c = colours[scheme] ?? "black"
            for p in points where p.2 == scheme {
                s += "<circle cx=\"\(px(p.0))\" cy=\"\(py(p.1))\" r=\"4\" fill=\"\(c)\" fill-opacity=\"0.75\"/>\n"
            }
            s += "<circle cx=\"\(px(maxX) + 12)\" cy=\"\(legendY + 40)\" r=\"5\" fill=\"\(c)\"/><text x=\"\(px(maxX) + 22)\" y=\"\(legendY + 44)\">\(scheme)</text>\n"
            legendY += 20
        }
        return s + "</svg>\n"
    }
}
