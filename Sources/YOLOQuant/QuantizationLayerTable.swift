import Foundation

extension QuantizedModel {
    /// The per-layer table `yolov7 quantize` prints: name, shape, params, chosen format, groups,
    /// weight MSE, SQNR (dB) and stored bits per weight (parameters included). With `--budget`
    /// the plan's own table (`MixedPrecisionPlan.table`) says what was chosen and why.
    public var layerTable: [String] {
        let nameWidth = max(4, layers.map(\.name.count).max() ?? 0)
        func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
            let gap = String(repeating: " ", count: max(0, width - text.count))
            return left ? text + gap : gap + text
        }
        let header = pad("#", 3) + "  " + pad("name", nameWidth, left: true) + "  " + pad("shape", 17, left: true)
            + pad("params", 9) + "  " + pad("format", 26, left: true) + pad("groups", 7)
            + pad("MSE", 11) + pad("SQNR dB", 9) + pad("bits/w", 8)
        var lines = [header]
        for (i, layer) in layers.enumerated() {
            var line = pad("\(i)", 3) + "  " + pad(layer.name, nameWidth, left: true) + "  "
                + pad("[" + layer.shape.map(String.init).joined(separator: ",") + "]", 17, left: true)
                + pad("\(layer.params)", 9) + "  " + pad(layer.formatDescription, 26, left: true)
            if let tensor = layer.tensor, let error = layer.error {
                let sqnr = error.sqnrDB.isFinite ? String(format: "%.2f", error.sqnrDB) : "inf"
                line += pad("\(tensor.layout.groupCount)", 7) + pad(String(format: "%.3e", error.mse), 11)
                    + pad(sqnr, 9) + pad(String(format: "%.3f", tensor.size.bitsPerWeight), 8)
            } else {
                line += pad("-", 7) + pad("-", 11) + pad("-", 9) + pad("32.000", 8)
            }
            lines.append(line)
        }
        let quantized = quantizedLayers
        if !quantized.isEmpty {
            // Overall figures weight each layer by its parameter count.
            var noise = 0.0, signal = 0.0, count = 0
            for layer in quantized {
                guard let error = layer.error else { continue }
                let n = layer.params
                noise += error.mse * Double(n)
                if error.sqnrDB.isFinite { signal += error.mse * Double(n) * pow(10, error.sqnrDB / 10) }
                count += n
            }
            let sqnr = noise == 0 ? "inf" : String(format: "%.2f dB", 10 * log10(signal / noise))
            lines.append("overall: \(quantized.count) convs quantized, \(keptLayers.count) kept; weight MSE "
                         + String(format: "%.3e", noise / Double(max(count, 1))) + ", SQNR \(sqnr)")
        }
        return lines
    }
}
