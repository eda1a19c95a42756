import Foundation
import Testing
@testable import YOLOEval

@Suite struct ReportTests {
    func metrics() -> DetectionMetrics {
        let s = ImageStatistics(correct: [0x3FF, 0], confidence: [0.9, 0.8], predictedClass: [0, 1], labelClasses: [0, 1, 1])
        return DetectionMetrics(statistics: [s], images: 1)
    }

    @Test func evalJSONHasTheDesignKeys() throws {
        let report = EvalReport(metrics(), names: ["RBC", "WBC"])
        let object = try JSONSerialization.jsonObject(with: try JSONOutput.encode(report)) as? [String: Any]
        let json = try #require(object)
        for key in ["mAP50", "mAP50_95", "precision", "recall", "images", "labels", "per_class"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let perClass = try #require(json["per_class"] as? [[String: Any]])
        #expect(perClass.count == 2)
        #expect(perClass[1]["class"] as? String == "WBC")
        #expect(perClass[1]["labels"] as? Int == 2)
        for key in ["class", "labels", "AP50", "AP50_95"] { #expect(perClass[0][key] != nil) }
        #expect(try JSONDecoder().decode(EvalReport.self, from: try JSONOutput.encode(report)) == report)
    }

    @Test func tableIsTheOfficialLayout() {
        let lines = EvalReport(metrics(), names: ["RBC", "WBC"]).table.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == "               Class      Images      Labels           P           R      mAP@.5  mAP@.5:.95")
        #expect(lines[1].hasPrefix("                 all           1           3"))
        #expect(lines[2].hasPrefix("                 RBC           1           1           1           1           1           1"))
    }

    @Test func jsonIsWrittenAtomicallyOrNotAtAll() throws {
        let dir = try Paths.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("m.json").path
        try JSONOutput.write(EvalReport(metrics(), names: []), to: file)
        #expect(FileManager.default.fileExists(atPath: file))
        let bad = dir.appendingPathComponent("missing/m.json").path
        #expect(throws: EvalError.self) { try JSONOutput.write(EvalReport(metrics(), names: []), to: bad) }
        #expect(!FileManager.default.fileExists(atPath: bad))
    }
}
