import Foundation
import YOLOModel

/// The JSON document stored under the `quantization` key of a quantized file's `__metadata__`
/// (DESIGN.md section 4). Global settings as asked, then one entry per quantized conv with what
/// was actually used (with `mixed` each layer has its own granularity and bits), which is all a
/// loader needs besides the tensors:
///
///     {"format": "yolov7-swift-quant", "version": 1, "mode": "packed",
///      "scheme": "affine", "bits": 4, "granularity": "filter", "keep": ["first"],
///      "kept": ["model.0.conv"],
///      "layers": [{"name": "model.1.conv", "scheme": "affine", "bits": 4,
///                  "granularity": "filter", "shape": [64, 32, 3, 3], "groups": 64}, ...]}
///
/// `budget_bits_per_weight` is present only when `--budget` chose the formats: the budget as
/// file bits per conv weight. Names, schemes and
/// granularities are kept as strings here and checked by `validated(path:)`, so a bad file gets
/// an error that names the layer rather than a decoding failure.
///
/// Version 2 (docs/FORMAT.md) adds the integer-grid formats (sub-filter groups, codebook):
/// their layers carry an `integer_grid` object with the sizes of their stored integers. A file
/// is written as version 1 when no layer uses them (so it stays readable by version-1 readers),
/// else as version 2; this engine reads both.
public struct QuantizationMetadata: Codable, Equatable, Sendable {
    public static let formatName = "yolov7-swift-quant"
    public static let currentVersion = 2
    /// The version that introduced the integer-grid formats.
    public static let integerGridVersion = 2

    /// How an integer-grid layer's integers are sized (`IntegerGrid`): stored so that a reader
    /// can check it reads them as they were written.
    public struct IntegerGridInfo: Codable, Equatable, Sendable {
        /// Sub-filter groups: weights per group.
        public var groupSize: Int?
        /// Sub-filter groups: bits of each stored group scale (`X.group_scale`).
        public var scaleBits: Int?
        /// Affine sub-filter groups: bits of each stored group min (`X.group_min`).
        public var minBits: Int?
        /// Codebook: levels per group, 2^bits.
        public var levels: Int?
        /// Signed bits an integer weight needs at most (bits + 4 for sub-filter groups, 8 for
        /// the codebook): int8 execution runs them as they are.
        public var integerBits: Int

        enum CodingKeys: String, CodingKey {
            case groupSize = "group_size", scaleBits = "scale_bits", minBits = "min_bits", levels
            case integerBits = "integer_bits"
        }

        /// The sizes this engine uses for `format` (nil when it is not an integer grid).
        public init?(format: QuantFormat) {
            guard format.usesIntegerGrid else { return nil }
            if let size = format.granularity.subFilterGroupSize {
                groupSize = size
                scaleBits = IntegerGrid.scaleBits(format)
                minBits = format.scheme == .affine ? IntegerGrid.minBits(format) : nil
                integerBits = format.bits + 4
            } else {
                levels = 1 << format.bits
                integerBits = 8
            }
        }
    }

    public struct Layer: Codable, Equatable, Sendable {
        public var name: String
        public var scheme: String
        public var bits: Int
        public var granularity: String
        public var shape: [Int]
        public var groups: Int
        /// Integer-grid formats only (version 2).
        public var integerGrid: IntegerGridInfo?

        enum CodingKeys: String, CodingKey {
            case name, scheme, bits, granularity, shape, groups
            case integerGrid = "integer_grid"
        }

        public init(name: String, format: QuantFormat, shape: [Int], groups: Int) {
            self.name = name
            self.scheme = format.scheme.rawValue
            self.bits = format.bits
            self.granularity = format.granularity.rawValue
            self.shape = shape
            self.groups = groups
            self.integerGrid = IntegerGridInfo(format: format)
        }
    }

    public var format: String
    public var version: Int
    public var mode: String
    public var scheme: String
    public var bits: Int
    public var granularity: String
    public var budgetBitsPerWeight: Double?
    public var keep: [String]
    /// Convs stored at full precision (`X.weight` F32).
    public var kept: [String]
    public var layers: [Layer]

    enum CodingKeys: String, CodingKey {
        case format, version, mode, scheme, bits, granularity, keep, kept, layers
        case budgetBitsPerWeight = "budget_bits_per_weight"
    }

    public init(settings: QuantizationSettings, mode: QuantizationMode, kept: [String], layers: [Layer],
                budgetBitsPerWeight: Double? = nil) {
        format = Self.formatName
        version = layers.contains { $0.integerGrid != nil } ? Self.integerGridVersion : 1
        self.mode = mode.rawValue
        scheme = settings.scheme.rawValue
        bits = settings.bits
        granularity = settings.granularity.description
        self.budgetBitsPerWeight = budgetBitsPerWeight
        keep = settings.keptList.map(\.rawValue)
        self.kept = kept
        self.layers = layers
    }

    /// Compact JSON with sorted keys (deterministic files).
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and arrays cannot fail.
        guard let data = try? encoder.encode(self), let text = String(data: data, encoding: .utf8) else { return "{}" }
        return text
    }

    /// Parses the metadata text of the file at `path`.
    public static func parse(_ text: String, path: String) throws -> QuantizationMetadata {
        do {
            return try JSONDecoder().decode(QuantizationMetadata.self, from: Data(text.utf8))
        } catch {
            throw YOLOModelError.invalidFile(path: path, reason: "'\(ModelFile.Key.quantization)' metadata is not a valid quantization document (\(Self.describe(error)))")
        }
    }

    /// The storage mode, checked.
    public func storageMode(path: String) throws -> QuantizationMode {
        guard format == Self.formatName else {
            throw YOLOModelError.invalidFile(path: path, reason: "quantization metadata format '\(format)' is not '\(Self.formatName)'")
        }
        guard (1...Self.currentVersion).contains(version) else {
            throw YOLOModelError.invalidFile(path: path, reason: "quantization metadata version \(version) is not supported (this engine reads 1 to \(Self.currentVersion))")
        }
        guard let mode = QuantizationMode(rawValue: mode) else {
            throw YOLOModelError.invalidFile(path: path, reason: "quantization mode '\(mode)' is not packed or fake")
        }
        return mode
    }

    /// Every layer's format, checked: known scheme and granularity, bits 2...8, a 4-D shape,
    /// the group count that shape and granularity give, no name twice.
    public func validatedLayers(path: String) throws -> [(layer: Layer, format: QuantFormat)] {
        var seen = Set<String>()
        return try layers.map { layer in
            func fail(_ reason: String) -> YOLOModelError {
                .invalidFile(path: path, reason: "quantization metadata, layer '\(layer.name)': \(reason)")
            }
            guard seen.insert(layer.name).inserted else { throw fail("listed twice") }
            do {
                let format = try QuantFormat(scheme: try QuantScheme(parsing: layer.scheme), bits: layer.bits,
                                             granularity: try Granularity(parsing: layer.granularity))
                let groups = try GroupLayout(granularity: format.granularity, shape: layer.shape).groupCount
                guard groups == layer.groups else { throw fail("\(layer.groups) groups, but \(format.granularity) on \(layer.shape) has \(groups)") }
                let expected = IntegerGridInfo(format: format)
                if expected != nil, version < Self.integerGridVersion {
                    throw fail("\(format) needs metadata version \(Self.integerGridVersion), the file says \(version)")
                }
                guard layer.integerGrid == expected else {
                    throw fail(expected == nil
                               ? "integer_grid given, but \(format) has no integer grid"
                               : "integer_grid \(Self.describe(layer.integerGrid)) is not what \(format) stores (\(Self.describe(expected)))")
                }
                return (layer, format)
            } catch let error as QuantError {
                throw fail(error.description)
            }
        }
    }

    /// One line for `inspect`: mode, settings, and with a budget what the layers use.
    public var summary: String {
        var text = "\(mode) \(scheme) "
        if granularity == GranularityChoice.mixed.description || budgetBitsPerWeight != nil {
            text += granularity
            if let budget = budgetBitsPerWeight {
                text += String(format: " (budget %.3f bits/weight, up to %d-bit)", budget, bits)
            } else {
                text += " \(bits)-bit"
            }
            var counts: [String: Int] = [:]
            for layer in layers { counts["\(layer.bits)-bit \(layer.granularity)", default: 0] += 1 }
            text += ": " + counts.sorted { $0.key < $1.key }.map { "\($0.value) x \($0.key)" }.joined(separator: ", ")
        } else {
            text += "\(bits)-bit \(granularity)"
        }
        text += "; \(layers.count) convs quantized, \(kept.count) kept full precision"
        if !kept.isEmpty { text += " (\(kept.joined(separator: ", ")))" }
        return text
    }

    private static func describe(_ info: IntegerGridInfo?) -> String {
        guard let info else { return "missing" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(info)).flatMap { String(data: $0, encoding: .utf8) } ?? "?"
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "bad value at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        default:
            return "\(error)"
        }
    }
}
