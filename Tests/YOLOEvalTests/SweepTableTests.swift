import Foundation
import Testing
@testable import YOLOEval

struct SweepTableTests {
    static func row(_ scheme: String, _ bits: Int, _ g: String, _ m: Double) -> SweepRow {
        SweepRow(scheme: scheme, bits: bits, granularity: g, mAP50: m + 0.3, mAP50to95: m, delta50: m - 0.6,
                 delta50to95: m - 0.565, fileBytes: 3_122_416, savingVsFP32: 7.7065, savingVsFP16: 3.8603, seconds: 5.2)
    }

    /// The CSV is the resume file: what it writes, it reads back (to its printed precision).
    @Test func csvRoundTrip() throws {
        let table = SweepTable(baseline: SweepRow(scheme: "fp32", bits: 32, granularity: "-", mAP50: 0.886479, mAP50to95: 0.564799,
                                                  delta50: 0, delta50to95: 0, fileBytes: 24_062_696, savingVsFP32: 1,
                                                  savingVsFP16: 0.5009, seconds: 5),
                               rows: [Self.row("affine", 4, "filter", 0.475612), Self.row("pwlq", 3, "mixed", 0.25)])
        let again = try SweepTable.parse(csv: table.csv, path: "s.csv")
        // Numbers are written with 6 decimals (ratios 4, seconds 1): equal to that precision.
        for (a, b) in zip([again.baseline!] + again.rows, [table.baseline!] + table.rows) {
            #expect(a.key == b.key && a.fileBytes == b.fileBytes)
            for (x, y) in [(a.mAP50, b.mAP50), (a.mAP50to95, b.mAP50to95), (a.delta50, b.delta50),
                           (a.delta50to95, b.delta50to95), (a.savingVsFP32, b.savingVsFP32), (a.savingVsFP16, b.savingVsFP16)] {
                #expect(abs(x - y) < 1e-6)
            }
        }
        #expect(again.rows.count == table.rows.count)
        // Written again, the text is the same: resuming never drifts.
        #expect(again.csv == table.csv)
        #expect(again.rows.map(\.key) == ["affine/4/filter", "pwlq/3/mixed"])
    }

    @Test func malformedCSVIsRefused() {
        #expect(throws: EvalError.malformedSweep(path: "s.csv", reason: "unexpected header")) {
            try SweepTable.parse(csv: "a,b\n1,2\n", path: "s.csv")
        }
        #expect(throws: EvalError.self) {
            try SweepTable.parse(csv: SweepTable().csv + "affine,four,filter,0,0,0,0,0,0,0,0\n", path: "s.csv")
        }
    }

    @Test func markdownAndChartHoldEveryRow() {
        let table = SweepTable(rows: [Self.row("affine", 4, "filter", 0.47), Self.row("symmetric", 4, "filter", 0.46),
                                      Self.row("pwlq", 4, "filter", 0.5)])
        #expect(table.markdown.split(separator: "\n").count == 2 + 3)
        #expect(table.markdown.contains("| pwlq | 4 | filter | 0.8000 | 0.5000 |"))
        let svg = table.svg
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<circle").count - 1 == 3 + 3)  // points + legend marks
        for scheme in ["affine", "symmetric", "pwlq"] { #expect(svg.contains(">\(scheme)</text>")) }
    }
}

/// Fuzzing found that a deeply nested data YAML overflowed the stack inside Yams.
struct DataYAMLLimitTests {
    @Test func deeplyNestedDataYAMLIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("deep-\(getpid()).yaml").path
        try ("test: " + String(repeating: "[", count: 20_000) + String(repeating: "]", count: 20_000) + "\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: EvalError.self) { try DatasetSplit.load(data: path, split: "test") }
    }
}
