import ArgumentParser
import Foundation
import YOLOEval
import YOLOModel
import YOLOQuant
import YOLOv7

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Evaluate every scheme x bits x granularity: CSV and Markdown table, SVG chart of mAP against memory saving.")

    @Option(help: "FP32 weights to quantize: .pt checkpoint or FP32/FP16 .safetensors.")
    var weights: String

    @Option(help: "Dataset folder or data YAML.")
    var data: String

    @Option(help: "Split to evaluate.")
    var split = "test"

    @Option(help: "Inference size (eval protocol).")
    var img = 640

    @Option(help: "Comma-separated schemes (affine, symmetric, pwlq, codebook).")
    var schemes = "affine,symmetric,pwlq"

    @Option(help: "Comma-separated bit widths (2...8).")
    var bits = "2,3,4,5,6,8"

    @Option(help: "Comma-separated granularities (layer, filter, channel, fshape, cshape, group16, group32, group64); combinations that are not formats are skipped (per-conv choices under a size budget are quantize --budget's).")
    var granularities = "layer,filter,channel,fshape,cshape"

    @Option(help: "Convs kept at full precision in every setting: first, detect (comma-separated).")
    var keep: String?

    @Option(name: .customLong("cfg"), help: "Model YAML (needed for a bare state dict).")
    var cfg: String?

    @Option(help: "Folder for sweep.csv (also the resume file), sweep.md and sweep.svg.")
    var out = "runs/sweep"

    func run() throws {
        try runReportingErrors {
            let schemeList = try schemes.split(separator: ",").map { try QuantScheme(parsing: String($0)) }
            let bitList = try bits.split(separator: ",").map { word -> Int in
                guard let b = Int(word) else { throw ValidationError("--bits: '\(word)' is not a number") }
                try QuantFormat.validate(bits: b)
                return b
            }
            let granularityList = try granularities.split(separator: ",").map { name -> GranularityChoice in
                if name.lowercased() == "mixed" {
                    throw ValidationError("mixed is chosen per conv by quantize --budget on calibration images; the sweep runs fixed granularities")
                }
                return .fixed(try Granularity(parsing: String(name)))
            }
            let splitData = try DatasetSplit.load(data: data, split: split)
            let model = try ModelLoader.load(path: weights, configPath: cfg)
            guard ModelLoader.quantizationSummary(path: weights) == nil else {
                throw ValidationError("\(weights): already quantized; sweep the FP32 model")
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let csvPath = (out as NSString).appendingPathComponent("sweep.csv")
            var table = SweepTable()
            if let text = try? String(contentsOfFile: csvPath, encoding: .utf8) {
                table = try SweepTable.parse(csv: text, path: csvPath)
                print("resuming \(csvPath): \(table.rows.count) settings done")
            }
            let settings = EvalSettings(imgSize: img)
            // The detector runs the model as it is at each call: the weights are swapped between
            // evaluations below, never during one.
            let evaluator = Evaluator(pipeline: try Detector(model: model, options: .evaluation(settings)))
            let source = URL(fileURLWithPath: weights).lastPathComponent
            let fp32Bytes = try QuantizationSizeReport.baselineFileBytes(model, half: false)
            let fp16Bytes = try QuantizationSizeReport.baselineFileBytes(model, half: true)
            func save() throws {
                try JSONOutput.writeText(table.csv, to: csvPath)
                try JSONOutput.writeText(table.markdown, to: (out as NSString).appendingPathComponent("sweep.md"))
                try JSONOutput.writeText(table.svg, to: (out as NSString).appendingPathComponent("sweep.svg"))
            }
            if table.baseline == nil {
                let start = Date()
                let r = try evaluator.evaluate(splitData, progress: ProgressLine.reporter("FP32"))
                table.baseline = SweepRow(scheme: "fp32", bits: 32, granularity: "-", mAP50: r.metrics.mAP50,
                                          mAP50to95: r.metrics.mAP50to95, delta50: 0, delta50to95: 0, fileBytes: fp32Bytes,
                                          savingVsFP32: 1, savingVsFP16: Double(fp16Bytes) / Double(fp32Bytes),
                                          seconds: Date().timeIntervalSince(start))
                try save()
            }
            let base = table.baseline!
            print(String(format: "FP32: mAP@0.5 %.4f  mAP@0.5:0.95 %.4f  %d bytes", base.mAP50, base.mAP50to95, base.fileBytes))
            let done = Set(table.rows.map(\.key))
            // Combinations that are not formats (e.g. pwlq x group32) are left out of the grid.
            let grid = schemeList.flatMap { s in bitList.flatMap { b in granularityList.map { (s, b, $0) } } }
                .filter { scheme, bitWidth, choice in
                    guard case let .fixed(granularity) = choice else { return true }
                    return QuantFormat.supports(scheme: scheme, bits: bitWidth, granularity: granularity)
                }
            let originals = model.convs.map(\.weights)
            for (n, (scheme, bitWidth, granularity)) in grid.enumerated() {
                let name = granularityName(granularity)
                let key = "\(scheme.rawValue)/\(bitWidth)/\(name)"
                if done.contains(key) { continue }
                let start = Date()
                let quantSettings = try QuantizationSettings(
                    scheme: scheme, bits: bitWidth, granularity: granularity,
                    keep: try keep.map(KeptConvs.parseList) ?? [])
                let quantized = try ModelQuantizer.quantize(model, settings: quantSettings)
                let fileBytes = try QuantizedModelFile.fileSize(of: quantized, mode: .packed, source: source)
                // Fake mode runs the very values the packed file decodes to (tested bit-identical).
                ModelQuantizer.apply(quantized, mode: .fake)
                defer { for (conv, w) in zip(model.convs, originals) { conv.weights = w } }
                let r = try evaluator.evaluate(splitData, progress: ProgressLine.reporter(key))
                let row = SweepRow(scheme: scheme.rawValue, bits: bitWidth, granularity: name, mAP50: r.metrics.mAP50,
                                   mAP50to95: r.metrics.mAP50to95, delta50: r.metrics.mAP50 - base.mAP50,
                                   delta50to95: r.metrics.mAP50to95 - base.mAP50to95, fileBytes: fileBytes,
                                   savingVsFP32: Double(fp32Bytes) / Double(fileBytes),
                                   savingVsFP16: Double(fp16Bytes) / Double(fileBytes), seconds: Date().timeIntervalSince(start))
                table.rows.append(row)
                try save()
                print(String(format: "[%d/%d] %@: mAP@0.5 %.4f (%+.4f)  mAP@0.5:0.95 %.4f (%+.4f)  %d bytes  %.2fx vs FP32  %.1f s",
                             n + 1, grid.count, key as NSString, row.mAP50, row.delta50, row.mAP50to95, row.delta50to95,
                             row.fileBytes, row.savingVsFP32, row.seconds))
            }
            print("wrote \(csvPath), sweep.md and sweep.svg in \(out)")
        }
    }

    func granularityName(_ g: GranularityChoice) -> String {
        switch g {
        case .fixed(let f): return f.rawValue
        case .mixed: return "mixed"
        }
    }
}
