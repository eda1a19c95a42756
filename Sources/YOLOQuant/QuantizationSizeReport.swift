import Foundation
import YOLOModel

/// Sizes of a quantized model against the FP32 and FP16 models (DESIGN.md section 3):
/// `saving = size(baseline) / (bits x params + parameter overhead + unquantized tensors)`, in
/// file bytes and in resident bytes of the loaded model.
///
/// Baselines. File: `ModelFile.writeSafeTensors` of the same folded model, `half: false` (FP32)
/// and `half: true` (conv weights F16, biases and anchors F32), written to a temporary file and
/// measured, header included. Resident: conv weights at 4 (FP32) or 2 (FP16) bytes plus F32
/// biases, as `YOLOModel.weightBytes` counts a dense model.
public struct QuantizationSizeReport: Equatable, Sendable {
    public var totalParams: Int
    public var quantizedParams: Int
    /// What the quantized file holds, by kind.
    public var contents: QuantizedModelFile.Contents
    /// File size minus tensor bytes: the JSON header (config, names, quantization document).
    public var headerBytes: Int
    public var fileBytes: Int
    public var fp32FileBytes: Int
    public var fp16FileBytes: Int
    /// `YOLOModel.weightBytes` of the quantized file as loaded (packed codes stay packed).
    public var residentBytes: Int
    public var fp32ResidentBytes: Int
    public var fp16ResidentBytes: Int
    /// For a fake file: the size the same codes take as a packed file.
    public var packedEquivalentFileBytes: Int?

    public var fp32FileSaving: Double { ratio(fp32FileBytes, fileBytes) }
    public var fp16FileSaving: Double { ratio(fp16FileBytes, fileBytes) }
    public var fp32ResidentSaving: Double { ratio(fp32ResidentBytes, residentBytes) }
    public var fp16ResidentSaving: Double { ratio(fp16ResidentBytes, residentBytes) }
    /// Tensors not quantized: biases, kept convs' weights, anchors.
    public var unquantizedBytes: Int { contents.denseWeightBytes + contents.biasBytes + contents.otherBytes }

    /// Measures the written file at `path` and the loaded model `loaded`, against baselines
    /// made from `original` (the FP32 model the codes came from).
    public static func measure(file path: String, contents: QuantizedModelFile.Contents, loaded: YOLOModel,
                               original: YOLOModel, quantizedParams: Int,
                               packedEquivalentFileBytes: Int? = nil) throws -> QuantizationSizeReport {
        let fileBytes = try size(of: path)
        let weights = original.convs.reduce(0) { $0 + $1.geometry.weightCount }
        let biases = original.convs.reduce(0) { $0 + $1.bias.count }
        return QuantizationSizeReport(
            totalParams: weights, quantizedParams: quantizedParams, contents: contents,
            headerBytes: fileBytes - contents.tensorBytes, fileBytes: fileBytes,
            fp32FileBytes: try baselineFileBytes(original, half: false),
            fp16FileBytes: try baselineFileBytes(original, half: true),
            residentBytes: loaded.weightBytes,
            fp32ResidentBytes: 4 * weights + 4 * biases, fp16ResidentBytes: 2 * weights + 4 * biases,
            packedEquivalentFileBytes: packedEquivalentFileBytes)
    }

    /// Size of `ModelFile.writeSafeTensors(model, half:)`, written to a temporary file.
    public static func baselineFileBytes(_ model: YOLOModel, half: Bool) throws -> Int {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("yolov7-baseline-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max)).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelFile.writeSafeTensors(model, to: path, half: half, source: "size baseline")
        return try size(of: path)
    }

    static func size(of path: String) throws -> Int {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int else {
            throw YOLOModelError.invalidFile(path: path, reason: "cannot read the file size")
        }
        return size
    }

    private func ratio(_ baseline: Int, _ size: Int) -> Double { size == 0 ? 0 : Double(baseline) / Double(size) }

    /// The report as printed by `yolov7 quantize`.
    public var lines: [String] {
        func mb(_ bytes: Int) -> String { String(format: "%10d B (%7.3f MB)", bytes, Double(bytes) / 1e6) }
        let bitsPerWeight = quantizedParams == 0 ? 0
            : Double(8 * (contents.codeBytes + contents.parameterBytes)) / Double(quantizedParams)
        let storage = contents.codeBytes == 0 && quantizedParams > 0
            ? " (fake: stored as FP32 values on the quantization grid)"
            : String(format: " (%.3f stored bits/weight incl. parameters)", bitsPerWeight)
        var lines = [
            "params:             \(quantizedParams) of \(totalParams) conv weights quantized" + storage,
            "codes:              " + mb(contents.codeBytes),
            "quant parameters:   " + mb(contents.parameterBytes),
            (contents.codeBytes == 0 && quantizedParams > 0 ? "F32 tensors:        " : "unquantized:        ") + mb(unquantizedBytes)
                + "  (weights \(contents.denseWeightBytes) B, biases \(contents.biasBytes) B, anchors \(contents.otherBytes) B)",
            "header/metadata:    " + mb(headerBytes),
            "file:               " + mb(fileBytes),
            "FP32 file:          " + mb(fp32FileBytes) + String(format: "  saving x%.2f", fp32FileSaving),
            "FP16 file:          " + mb(fp16FileBytes) + String(format: "  saving x%.2f", fp16FileSaving),
            "resident (loaded):  " + mb(residentBytes) + "  (conv weights + biases)",
            "FP32 resident:      " + mb(fp32ResidentBytes) + String(format: "  saving x%.2f", fp32ResidentSaving),
            "FP16 resident:      " + mb(fp16ResidentBytes) + String(format: "  saving x%.2f", fp16ResidentSaving),
        ]
        if let packed = packedEquivalentFileBytes, packed > 0 {
            lines.append("packed equivalent:  " + mb(packed)
                         + String(format: "  saving x%.2f vs FP32, x%.2f vs FP16 file",
                                  Double(fp32FileBytes) / Double(packed), Double(fp16FileBytes) / Double(packed)))
        }
        return lines
    }
}
