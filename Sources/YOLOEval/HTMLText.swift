import Foundation

/// Small pieces of HTML for the reports: escaping, tables, number formats.
enum HTMLText {
    /// Text made safe for element content and quoted attribute values.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A table in a horizontally scrolling wrapper (wide tables never widen the page). `rows`
    /// hold HTML; columns in `numeric` are right-aligned, those in `wrap` wrap their text.
    static func table(_ header: [String], _ rows: [[String]], numeric: Set<Int> = [], wrap: Set<Int> = [],
                      rowClasses: [String?]? = nil, caption: String? = nil, compact: Bool = false) -> String {
        var s = compact ? "<div class=\"scroll\"><table class=\"compact\">" : "<div class=\"scroll\"><table>"
        if let caption { s += "<caption>\(caption)</caption>" }
        s += "<thead><tr>"
        for (i, h) in header.enumerated() { s += numeric.contains(i) ? "<th class=\"num\">\(h)</th>" : "<th>\(h)</th>" }
        s += "</tr></thead><tbody>\n"
        for (r, row) in rows.enumerated() {
            let cls = rowClasses?[r].map { " class=\"\($0)\"" } ?? ""
            s += "<tr\(cls)>"
            for (i, cell) in row.enumerated() {
                s += numeric.contains(i) ? "<td class=\"num\">\(cell)</td>" : (wrap.contains(i) ? "<td class=\"wrap\">\(cell)</td>" : "<td>\(cell)</td>")
            }
            s += "</tr>\n"
        }
        return s + "</tbody></table></div>\n"
    }

    static func fixed(_ v: Double?, _ digits: Int = 4) -> String {
        guard let v, v.isFinite else { return v == nil ? "&ndash;" : (v!.isNaN ? "&ndash;" : "&infin;") }
        return String(format: "%.\(digits)f", v)
    }

    /// A signed difference, classed `up`/`down` for colour when it is not zero at this precision.
    static func delta(_ v: Double?, _ digits: Int = 4, higherIsBetter: Bool = true) -> String {
        guard let v else { return "&ndash;" }
        let shown = (v * pow(10, Double(digits))).rounded()
        guard shown != 0 else { return "&plusmn;" + String(format: "%.\(digits)f", 0.0) }
        let text = String(format: "%+.\(digits)f", v).replacingOccurrences(of: "-", with: "&minus;")
        return "<span class=\"\((shown > 0) == higherIsBetter ? "up" : "down")\">\(text)</span>"
    }

    static func percent(_ v: Double?) -> String {
        guard let v else { return "&ndash;" }
        return String(format: "%.2f%%", v * 100)
    }

    /// Bytes as B, KB, MB (powers of 1000, as file managers show them).
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KB", "MB", "GB"]
        var v = Double(n), u = 0
        while v >= 1000 && u < units.count - 1 {
            v /= 1000
            u += 1
        }
        return u == 0 ? "\(n) B" : String(format: "%.1f", v) + " " + units[u]
    }
}
