import Foundation
import YOLOModel
import YOLOVision

/// `compare --report DIR`: one self-contained HTML page (`index.html`, inline CSS and SVG, no
/// script, no external asset) with the pictures beside it in `images/`. It shows the two
/// models (files, sizes, quantization settings, per-layer weight error), both mAPs per class
/// (with a dataset), agreement overall and per class, a chart of agreement against the
/// confidence threshold, and every image ranked by disagreement with its boxes drawn over the
/// photo: matched, missed (baseline only) and extra (quantized only) styled apart, with the
/// confidence changes and why each unmatched box has no partner.
public struct ComparisonHTMLReport {
    /// Detections are kept down to this confidence (or the compared one, if lower): the chart
    /// starts there, and an unmatched box looks there for its partner.
    public static let lowestThreshold: Float = 0.05
    /// A matched box whose confidence moved at least this much is listed with the disagreements.
    static let notableChange: Float = 0.05
    /// Pictures are scaled down to this long side.
    static let maxPictureSide = 1280

    public var report: ComparisonReport
    /// The per-image comparison down to `lowest`.
    public var all: ComparisonSummary
    public var baseline: ModelDescription
    public var quantized: ModelDescription
    public var layers: [LayerComparison]
    public var classNames: [String]
    /// What was compared, in words ("../shared/datasets/bccd, test split").
    public var inputs: String
    public var imgSize: Int
    /// Pictures for this many images, the most disagreeing first (all are listed in a table).
    public var maxPictures: Int

    var threshold: Float { Float(report.confThreshold) }
    var lowest: Float { min(Self.lowestThreshold, threshold) }

    /// `all` must hold detections down to `lowestThreshold` (or the compared threshold when it
    /// is lower): `compare` runs NMS there when asked for a report (see
    /// `ComparisonSummary.keeping(confidenceAbove:)`).
    public init(report: ComparisonReport, all: ComparisonSummary, baseline: YOLOModel, quantized: YOLOModel,
                classNames: [String], inputs: String, imgSize: Int, maxPictures: Int = 100) throws {
        self.report = report
        self.all = all
        self.baseline = try ModelDescription(path: report.baseline, model: baseline)
        self.quantized = try ModelDescription(path: report.quantized, model: quantized)
        layers = LayerComparison.compare(baseline: baseline, quantized: quantized, metadata: self.quantized.quantization)
        self.classNames = classNames
        self.inputs = inputs
        self.imgSize = imgSize
        self.maxPictures = maxPictures
    }

    /// A picture written beside the page.
    struct Picture {
        var file: String
        /// The original image's size: the boxes' coordinates.
        var width: Int
        var height: Int
        /// The written JPEG's size.
        var shownWidth: Int
        var shownHeight: Int
    }

    /// The images' order in the report: most unmatched boxes first, then the largest sum of
    /// confidence changes and IoU shortfalls of the matched ones, then by name.
    static func ranking(_ shown: ComparisonSummary) -> [Int] {
        func change(_ c: ImageComparison) -> Double {
            c.matches.reduce(0) { $0 + Double(abs($1.confidenceChange)) + Double(1 - $1.iou) }
        }
        return shown.images.indices.sorted { a, b in
            let x = shown.images[a], y = shown.images[b]
            if x.missed + x.extra != y.missed + y.extra { return x.missed + x.extra > y.missed + y.extra }
            if change(x) != change(y) { return change(x) > change(y) }
            return x.image.unicodeScalars.lexicographicallyPrecedes(y.image.unicodeScalars)
        }
    }

    /// Writes `index.html` and `images/` into `folder` (all at once: see `ReportFolder`).
    public func write(to folder: ReportFolder, progress: ((Int, Int) -> Void)? = nil) throws {
        let shown = all.keeping(confidenceAbove: threshold)
        let order = Self.ranking(shown)
        let pictured = Array(order.prefix(maxPictures))
        try folder.write { dir in
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("images"), withIntermediateDirectories: false)
            var pictures: [Int: Picture] = [:]
            for (rank, i) in pictured.enumerated() {
                let image = try RGBImage(contentsOf: URL(fileURLWithPath: shown.images[i].image))
                let scale = min(1, Double(Self.maxPictureSide) / Double(max(image.width, image.height)))
                let small = scale < 1
                    ? image.resized(width: max(1, Int((Double(image.width) * scale).rounded())),
                                    height: max(1, Int((Double(image.height) * scale).rounded())), interpolation: .area)
                    : image
                let file = String(format: "images/%03d.jpg", rank + 1)
                let path = dir.appendingPathComponent(file).path
                try JSONOutput.writeData(Data(try small.jpegData(quality: 85, name: path)), to: path)
                pictures[i] = Picture(file: file, width: image.width, height: image.height,
                                      shownWidth: small.width, shownHeight: small.height)
                progress?(rank + 1, pictured.count)
            }
            let page = html(shown: shown, order: order, pictures: pictures)
            try JSONOutput.writeText(page, to: dir.appendingPathComponent("index.html").path)
        }
    }

    /// A class's name as plain text.
    func plainName(_ classID: Int) -> String {
        classNames.indices.contains(classID) ? classNames[classID] : "class \(classID)"
    }

    func name(_ classID: Int) -> String { HTMLText.escape(plainName(classID)) }

    func file(_ path: String) -> String { HTMLText.escape((path as NSString).lastPathComponent) }

    // MARK: - The page

    func html(shown: ComparisonSummary, order: [Int], pictures: [Int: Picture]) -> String {
        let title = "\(file(report.quantized)) against \(file(report.baseline))"
        var s = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src 'self'; style-src 'unsafe-inline'">
        <title>yolov7 compare: \(title)</title>
        <style>
        \(ReportStyle.css)
        </style>
        </head>
        <body>
        <main>
        <header>
        <h1>Quantized model against its baseline</h1>
        <p class="sub">\(title) &middot; \(HTMLText.escape(inputs)) &middot; img \(imgSize) &middot; boxes compared above conf \(String(format: "%g", report.confThreshold)) (NMS IoU \(String(format: "%g", report.iouThreshold))), matched one to one at IoU &ge; \(String(format: "%g", report.iouMatch)) within a class</p>
        <nav><a href="#models">Models</a>\(report.eval == nil ? "" : "<a href=\"#accuracy\">mAP</a>")<a href="#agreement">Agreement</a><a href="#threshold">Against the threshold</a><a href="#images">Images</a></nav>
        </header>

        """
        s += summaryCards(shown)
        s += modelsSection()
        if let eval = report.eval { s += accuracySection(eval) }
        s += agreementSection(shown)
        s += thresholdSection()
        s += imagesSection(shown: shown, order: order, pictures: pictures)
        s += """
        <footer>Made by <code>yolov7 compare --report</code>. Detections of both models are cut at the threshold above and matched greedily: baseline boxes in descending confidence each take the unmatched quantized box of the same class with the highest IoU &ge; \(String(format: "%g", report.iouMatch)). Missed: baseline boxes without a match; extra: quantized boxes without one. Causes are found among the other model's detections down to conf \(String(format: "%g", Double(lowest))).</footer>
        </main>
        </body>
        </html>

        """
        return s
    }

    func card(_ label: String, _ value: String, _ detail: String = "") -> String {
        "<div class=\"card\"><div class=\"label\">\(label)</div><div class=\"value\">\(value)</div>"
            + (detail.isEmpty ? "" : "<div class=\"detail\">\(detail)</div>") + "</div>\n"
    }

    func summaryCards(_ shown: ComparisonSummary) -> String {
        let o = report.overall
        var s = "<section id=\"summary\" class=\"cards\">\n"
        s += card("Baseline boxes found", "\(o.matched) / \(o.baselineBoxes)", HTMLText.percent(o.matchRate) + " by the quantized model")
        s += card("Missed / extra", "\(o.missed) / \(o.extra)", "baseline only / quantized only")
        s += card("Mean IoU of matches", HTMLText.fixed(o.meanIoU))
        s += card("|&Delta;conf| of matches", HTMLText.fixed(o.meanAbsConfidenceChange, 3),
                  "mean; max " + HTMLText.fixed(o.maxAbsConfidenceChange, 3))
        if let eval = report.eval {
            s += card("mAP@0.5:0.95", HTMLText.fixed(eval.quantized.mAP50to95),
                      "baseline \(HTMLText.fixed(eval.baseline.mAP50to95)), \(HTMLText.delta(eval.deltaMAP50to95))")
            s += card("mAP@0.5", HTMLText.fixed(eval.quantized.mAP50),
                      "baseline \(HTMLText.fixed(eval.baseline.mAP50)), \(HTMLText.delta(eval.deltaMAP50))")
        }
        if baseline.fileBytes > 0 && quantized.fileBytes > 0 {
            s += card("File size", HTMLText.bytes(quantized.fileBytes),
                      "baseline \(HTMLText.bytes(baseline.fileBytes)): " + String(format: "%.2fx smaller", Double(baseline.fileBytes) / Double(quantized.fileBytes)))
        }
        let disagreeing = shown.images.filter { $0.missed + $0.extra > 0 }.count
        s += card("Images", "\(shown.images.count)", "\(disagreeing) with missed or extra boxes")
        return s + "</section>\n"
    }

    // MARK: Models

    func modelsSection() -> String {
        var s = "<section id=\"models\"><h2>The two models</h2>\n"
        func row(_ label: String, _ f: (ModelDescription) -> String) -> [String] { [label, f(baseline), f(quantized)] }
        var rows = [
            row("file") { "<code>\(HTMLText.escape($0.path))</code>" },
            row("kind") { HTMLText.escape($0.kind) },
            row("size") { "\(HTMLText.bytes($0.fileBytes)) (\($0.fileBytes) bytes)" },
            row("parameters") { "\($0.parameters)" },
            row("classes") { $0.classNames.isEmpty ? "&ndash;" : HTMLText.escape($0.classNames.joined(separator: ", ")) },
        ]
        rows.append(row("quantization") { $0.quantization.map { HTMLText.escape($0.summary) } ?? "none (full precision)" })
        // Long paths and summaries wrap rather than widen the table.
        s += HTMLText.table(["", "baseline", "quantized"], rows, wrap: [1, 2])
        if let q = quantized.quantization {
            var settings = [["mode", q.mode], ["scheme", q.scheme], ["bits", "\(q.bits)"], ["granularity", q.granularity],
                            ["kept at full precision", q.kept.isEmpty ? "none" : q.kept.joined(separator: ", ")]]
            if let budget = q.budgetBitsPerWeight { settings.append(["budget", "\(budget) bits per weight"]) }
            settings.append(["format", "\(q.format) version \(q.version)"])
            s += "<h3>Quantization settings</h3>\n" + HTMLText.table(["setting", "value"], settings.map { [$0[0], HTMLText.escape($0[1])] },
                                                                         wrap: [1], compact: true)
        }
        s += layerTable()
        return s + "</section>\n"
    }

    func layerTable() -> String {
        let compared = layers.filter { $0.error != nil }
        guard !compared.isEmpty else {
            return "<p class=\"note\">The two models have no convs in common, so there is no per-layer error.</p>\n"
        }
        // Overall figures weight each conv by its weights, as `quantize` reports them.
        var noise = 0.0, signal = 0.0, count = 0
        for l in compared {
            let e = l.error!, n = Double(l.parameters)
            noise += e.mse * n
            if e.sqnrDB.isFinite { signal += e.mse * n * pow(10, e.sqnrDB / 10) }
            count += l.parameters
        }
        let overall = noise == 0 ? "exact" : String(format: "%.2f dB", 10 * log10(signal / noise))
        let worst = Set(layers.indices.filter { layers[$0].isQuantized && layers[$0].error != nil }
            .sorted { layers[$0].error!.sqnrDB < layers[$1].error!.sqnrDB }.prefix(3))
        let quantizedCount = layers.filter(\.isQuantized).count
        var s = "<details><summary>Per-layer weight error: \(layers.count) convs, \(quantizedCount) quantized; overall SQNR \(overall), MSE "
        s += String(format: "%.3e", noise / Double(max(count, 1))) + " (the three lowest SQNR highlighted)</summary>\n"
        let rows = layers.enumerated().map { i, l -> [String] in
            let e = l.error
            let sqnr = e.map { $0.sqnrDB.isFinite ? String(format: "%.2f", $0.sqnrDB) : "exact" } ?? "&ndash;"
            return ["\(i)", "<code>\(HTMLText.escape(l.name))</code>", "[" + l.shape.map(String.init).joined(separator: ", ") + "]",
                    "\(l.parameters)", HTMLText.escape(l.format), e.map { String(format: "%.3e", $0.mse) } ?? "&ndash;", sqnr,
                    e.map { String(format: "%.4f", Double($0.maxAbsError)) } ?? "&ndash;"]
        }
        s += HTMLText.table(["#", "conv", "shape", "weights", "format", "MSE", "SQNR dB", "max |error|"], rows,
                            numeric: [0, 3, 5, 6, 7], rowClasses: layers.indices.map { worst.contains($0) ? "worst" : nil })
        s += "<p class=\"note\">Error of the quantized file's weights against the baseline's, per conv after BatchNorm folding.</p>"
        return s + "</details>\n"
    }

    // MARK: mAP

    func accuracySection(_ eval: ComparisonReport.EvalPair) -> String {
        var s = "<section id=\"accuracy\"><h2>Accuracy on \(HTMLText.escape(eval.baseline.data ?? "the dataset"))"
        s += eval.baseline.split.map { ", \(HTMLText.escape($0)) split" } ?? ""
        s += "</h2>\n<p class=\"note\">As official test.py: conf 0.001, NMS IoU 0.65, \(eval.baseline.images) images, \(eval.baseline.labels) labels.</p>\n"
        let b = eval.baseline, q = eval.quantized
        let overall: [[String]] = [
            ["mAP@0.5:0.95", HTMLText.fixed(b.mAP50to95), HTMLText.fixed(q.mAP50to95), HTMLText.delta(q.mAP50to95 - b.mAP50to95)],
            ["mAP@0.5", HTMLText.fixed(b.mAP50), HTMLText.fixed(q.mAP50), HTMLText.delta(q.mAP50 - b.mAP50)],
            ["precision", HTMLText.fixed(b.precision), HTMLText.fixed(q.precision), HTMLText.delta(q.precision - b.precision)],
            ["recall", HTMLText.fixed(b.recall), HTMLText.fixed(q.recall), HTMLText.delta(q.recall - b.recall)],
        ]
        s += HTMLText.table(["all classes", "baseline", "quantized", "difference"], overall, numeric: [1, 2, 3])
        let byID = Dictionary(q.perClass.map { ($0.classID, $0) }, uniquingKeysWith: { a, _ in a })
        let rows = b.perClass.map { c -> [String] in
            let o = byID[c.classID]
            return [HTMLText.escape(c.name), "\(c.labels)", HTMLText.fixed(c.ap50to95), HTMLText.fixed(o?.ap50to95),
                    HTMLText.delta(o.map { $0.ap50to95 - c.ap50to95 }), HTMLText.fixed(c.ap50), HTMLText.fixed(o?.ap50),
                    HTMLText.delta(o.map { $0.ap50 - c.ap50 })]
        }
        s += HTMLText.table(["class", "labels", "AP@0.5:0.95 baseline", "quantized", "difference", "AP@0.5 baseline", "quantized",
                             "difference"], rows, numeric: [1, 2, 3, 4, 5, 6, 7])
        return s + "</section>\n"
    }

    // MARK: Agreement

    func agreementSection(_ shown: ComparisonSummary) -> String {
        var s = "<section id=\"agreement\"><h2>Agreement of the detections</h2>\n"
        let o = report.overall
        func row(_ label: String, _ a: ClassAgreement) -> [String] {
            [label, "\(a.baselineBoxes)", "\(a.quantizedBoxes)", "\(a.matched)", "\(a.missed)", "\(a.extra)", HTMLText.percent(a.matchRate),
             HTMLText.fixed(a.meanIoU), HTMLText.fixed(a.meanAbsConfidenceChange, 3), HTMLText.fixed(a.maxAbsConfidenceChange, 3)]
        }
        var total = ClassAgreement(classID: -1)
        total.baselineBoxes = o.baselineBoxes
        total.quantizedBoxes = o.quantizedBoxes
        total.matched = o.matched
        total.iouSum = (o.meanIoU ?? 0) * Double(o.matched)
        total.absConfidenceChangeSum = (o.meanAbsConfidenceChange ?? 0) * Double(o.matched)
        total.maxAbsConfidenceChange = o.maxAbsConfidenceChange
        let rows = [row("all classes", total)] + ClassAgreement.perClass(shown).map { row(name($0.classID), $0) }
        s += HTMLText.table(["class", "baseline boxes", "quantized boxes", "matched", "missed", "extra", "matched / baseline",
                             "mean IoU", "mean |&Delta;conf|", "max |&Delta;conf|"], rows, numeric: Set(1...9))
        return s + "</section>\n"
    }

    func thresholdSection() -> String {
        let curve = AgreementCurve(all, thresholds: AgreementCurve.thresholds(from: lowest, marked: threshold), marked: threshold)
        var s = "<section id=\"threshold\"><h2>Agreement against the confidence threshold</h2>\n"
        s += "<p class=\"note\">Both models' detections cut at each threshold and matched again. A gap between the lines at low thresholds is uncertain boxes; where they stay high, the quantized model keeps the baseline's decisions.</p>\n"
        s += curve.svg
        let rows = curve.points.map { p -> [String] in
            [String(format: "%g", Double(p.threshold)), "\(p.baselineBoxes)", "\(p.quantizedBoxes)", "\(p.matched)",
             HTMLText.percent(p.baselineFound), HTMLText.percent(p.quantizedFound)]
        }
        s += "<details><summary>The figures</summary>\n"
        s += HTMLText.table(["conf &gt;", "baseline boxes", "quantized boxes", "matched", "of baseline", "of quantized"], rows,
                            numeric: Set(0...5), rowClasses: curve.points.map { abs($0.threshold - threshold) < 1e-6 ? "worst" : nil })
        return s + "</details></section>\n"
    }

    // MARK: Images

    func imagesSection(shown: ComparisonSummary, order: [Int], pictures: [Int: Picture]) -> String {
        var s = "<section id=\"images\"><h2>Images, most disagreement first</h2>\n"
        s += "<div class=\"legend\">"
        for (kind, text) in [("matched", "matched (baseline box)"), ("missed", "missed: baseline only"), ("extra", "extra: quantized only")] {
            s += "<span><svg viewBox=\"0 0 34 14\" aria-hidden=\"true\"><rect class=\"halo \(kind)\" x=\"3\" y=\"3\" width=\"28\" height=\"8\"/><rect class=\"box \(kind)\" x=\"3\" y=\"3\" width=\"28\" height=\"8\"/></svg>\(text)</span>"
        }
        s += "</div>\n"
        let pictured = order.filter { pictures[$0] != nil }.count
        s += "<p class=\"note\">\(shown.images.count) images; pictures of the \(pictured) with the most disagreement. Numbers on the pictures are the rows of each image's table; hover a box for its figures.</p>\n"
        let rows = order.enumerated().map { rank, i -> [String] in
            let c = shown.images[i]
            let label = pictures[i] != nil ? "<a href=\"#image-\(rank + 1)\">\(file(c.image))</a>" : file(c.image)
            return ["\(rank + 1)", label, "\(c.baselineCount)", "\(c.quantizedCount)", "\(c.matches.count)", "\(c.missed)", "\(c.extra)",
                    HTMLText.fixed(c.meanIoU), HTMLText.fixed(c.maxAbsConfidenceChange, 3)]
        }
        s += "<details><summary>All \(shown.images.count) images</summary>\n"
        s += HTMLText.table(["#", "image", "baseline", "quantized", "matched", "missed", "extra", "mean IoU", "max |&Delta;conf|"], rows,
                            numeric: [0, 2, 3, 4, 5, 6, 7, 8])
        s += "</details>\n"
        for (rank, i) in order.enumerated() {
            guard let picture = pictures[i] else { continue }
            s += imageCard(rank: rank + 1, shown: shown.images[i], all: all.images[i], picture: picture)
        }
        return s + "</section>\n"
    }

    func imageCard(rank: Int, shown c: ImageComparison, all: ImageComparison, picture p: Picture) -> String {
        let why = ImageDisagreements(shown: c, all: all, threshold: threshold)
        /// One box of the picture and of the list under it.
        struct Row {
            var kind: String
            var detection: Detection
            /// The list entry (HTML) and the tooltip (plain text).
            var entry: String
            var tip: String
            /// Listed and numbered with the disagreements (else folded away with the other matches).
            var notable: Bool
        }
        func conf(_ v: Float) -> String { String(format: "%.3f", Double(v)) }
        var rows: [Row] = []
        for (i, cause) in why.missed {
            let d = c.baseline[i], note = describe(cause, missed: true)
            rows.append(Row(kind: "missed", detection: d,
                            entry: "<b>missed</b> \(name(d.classID)), baseline \(conf(d.confidence))<span class=\"why\">\(HTMLText.escape(note))</span>",
                            tip: "missed \(plainName(d.classID)), baseline \(conf(d.confidence)): \(note)", notable: true))
        }
        for (i, cause) in why.extra {
            let d = c.quantized[i], note = describe(cause, missed: false)
            rows.append(Row(kind: "extra", detection: d,
                            entry: "<b>extra</b> \(name(d.classID)), quantized \(conf(d.confidence))<span class=\"why\">\(HTMLText.escape(note))</span>",
                            tip: "extra \(plainName(d.classID)), quantized \(conf(d.confidence)): \(note)", notable: true))
        }
        for m in c.matches.sorted(by: { abs($0.confidenceChange) > abs($1.confidenceChange) }) {
            let d = c.baseline[m.baseline], q = c.quantized[m.quantized]
            let figures = "\(conf(d.confidence)) &rarr; \(conf(q.confidence)) (\(HTMLText.delta(Double(m.confidenceChange), 3))), IoU \(String(format: "%.3f", Double(m.iou)))"
            rows.append(Row(kind: "matched", detection: d, entry: "<b>matched</b> \(name(d.classID)) \(figures)",
                            tip: "matched \(plainName(d.classID)), confidence \(conf(d.confidence)) -> \(conf(q.confidence)), IoU \(String(format: "%.3f", Double(m.iou)))",
                            notable: abs(m.confidenceChange) >= Self.notableChange))
        }
        let listed = rows.indices.filter { rows[$0].notable }
        let number = Dictionary(uniqueKeysWithValues: listed.enumerated().map { ($1, $0 + 1) })

        var s = "<article class=\"image\" id=\"image-\(rank)\">\n<h3>\(rank). \(file(c.image))</h3>\n"
        s += "<p class=\"figures\">baseline <b>\(c.baselineCount)</b> &middot; quantized <b>\(c.quantizedCount)</b> &middot; matched <b>\(c.matches.count)</b>"
        s += " &middot; missed <b>\(c.missed)</b> &middot; extra <b>\(c.extra)</b> &middot; mean IoU <b>\(HTMLText.fixed(c.meanIoU, 3))</b>"
        s += " &middot; max |&Delta;conf| <b>\(HTMLText.fixed(c.maxAbsConfidenceChange, 3))</b></p>\n"
        s += "<div class=\"pair\">\n<figure class=\"photo\"><img src=\"\(p.file)\" width=\"\(p.shownWidth)\" height=\"\(p.shownHeight)\" alt=\"\(file(c.image)) with both models' boxes\">"
        s += "<svg viewBox=\"0 0 \(p.width) \(p.height)\" preserveAspectRatio=\"none\">"
        let font = max(12, Double(max(p.width, p.height)) / 36)
        // Matched boxes first, so the disagreements are drawn on top.
        for r in rows.indices.sorted(by: { (rows[$0].kind == "matched" ? 0 : 1, $0) < (rows[$1].kind == "matched" ? 0 : 1, $1) }) {
            let row = rows[r], d = row.detection
            let rect = String(format: "x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"", Double(d.x1), Double(d.y1),
                              Double(max(0, d.x2 - d.x1)), Double(max(0, d.y2 - d.y1)))
            s += "<rect class=\"halo \(row.kind)\" \(rect)/><rect class=\"box \(row.kind)\" \(rect)><title>\(HTMLText.escape(row.tip))</title></rect>"
            if let n = number[r] {
                s += String(format: "<text class=\"tag\" x=\"%.1f\" y=\"%.1f\" font-size=\"%.0f\">%d</text>", Double(d.x1) + font * 0.2,
                            Double(d.y1) + font * 0.95, font, n)
            }
        }
        s += "</svg></figure>\n<div>"
        if listed.isEmpty {
            s += "<p class=\"note\">Every box matched; no confidence moved by \(String(format: "%g", Double(Self.notableChange))) or more.</p>"
        } else {
            s += "<ol class=\"boxes\">" + listed.map { "<li><span class=\"n\">\(number[$0]!)</span><span class=\"kind \(rows[$0].kind)\"></span>\(rows[$0].entry)</li>" }.joined(separator: "\n") + "</ol>"
        }
        let rest = rows.indices.filter { !rows[$0].notable }
        if !rest.isEmpty {
            s += "<details><summary>\(rest.count) \(listed.isEmpty ? "" : "more ")matched boxes</summary><ol class=\"boxes\">"
            s += rest.map { "<li><span class=\"n\"></span><span class=\"kind matched\"></span>\(rows[$0].entry)</li>" }.joined(separator: "\n") + "</ol></details>"
        }
        return s + "</div>\n</div>\n</article>\n"
    }

    /// Why a box has no partner, in words (plain text). `missed`: a baseline box the quantized
    /// model lacks.
    func describe(_ cause: DisagreementCause, missed: Bool) -> String {
        let other = missed ? "the quantized model" : "the baseline"
        let t = String(format: "%g", report.confThreshold)
        switch cause {
        case let .belowThreshold(confidence, iou):
            return "\(other) has it at \(String(format: "%.3f", Double(confidence))), not above \(t) (IoU \(String(format: "%.2f", Double(iou))))"
        case let .merged(iou):
            return missed
                ? "the quantized box here (IoU \(String(format: "%.2f", Double(iou)))) matched a neighbouring baseline box: one box where the baseline has two"
                : "a second box where the baseline has one (its box here, IoU \(String(format: "%.2f", Double(iou))), matched another)"
        case let .relabelled(classID, confidence, iou):
            return "\(other) calls it \(plainName(classID)) (\(String(format: "%.3f", Double(confidence))), IoU \(String(format: "%.2f", Double(iou))))"
        case let .moved(iou):
            return "the nearest box of \(other) overlaps only IoU \(String(format: "%.2f", Double(iou)))"
        case .absent:
            return "nothing from \(other) here, even down to conf \(String(format: "%g", Double(lowest)))"
        }
    }
}
