import Foundation
import YOLOModel
import YOLOTensor

/// Int8 activation ranges as a quantized file stores them: the JSON document under the
/// `activations` key of its `__metadata__` (docs/INT8.md, "Stored ranges"), written by
/// `quantize --calib` so that `--precision int8` needs no calibration images:
///
///     {"format": "yolov7-swift-activations", "version": 1, "img": 416, "images": 32,
///      "statistic": "minmax", "ranges": {"model.0": [-0.278, 4.81], "model.2": [...], ...}}
///
/// One `[min, max]` per u8 map of the int8 pass (`YOLOModel.int8MapNames`), measured in FP32
/// with the file's own (quantized) weights on `images` calibration images letterboxed to `img`.
/// Checked on load: format and version, two finite numbers with min <= max per map, exactly
/// the model's maps (`Int8Execution.validate`); anything else is a one-line error naming the file.
public struct ActivationRangesDocument: Codable, Equatable, Sendable {
    public static let formatName = "yolov7-swift-activations"
    public static let currentVersion = 1
    public static let metadataKey = "activations"

    public var format: String
    public var version: Int
    /// Calibration input size (the letterbox's long side) and image count.
    public var img: Int
    public var images: Int
    /// `RangeStatistic` name.
    public var statistic: String
    public var ranges: [String: [Float]]

    public init(ranges: [String: ActivationRange], img: Int, images: Int, statistic: RangeStatistic) {
        format = Self.formatName
        version = Self.currentVersion
        self.img = img
        self.images = images
        self.statistic = statistic.rawValue
        self.ranges = ranges.mapValues { [$0.min, $0.max] }
    }

    /// What a file will store before its ranges are measured (`quantize --budget` counts it):
    /// the model's maps with every bound 0. A measured bound's text (Swift's shortest Float:
    /// sign, at most 9 digits, point, exponent) is at most `longestBoundText` characters, so the
    /// real document is at most `maximumGrowth` bytes longer (its numbers need no escaping in the
    /// file's header).
    public static func placeholder(for model: YOLOModel, img: Int, images: Int, statistic: RangeStatistic = .minmax)
        -> ActivationRangesDocument {
        ActivationRangesDocument(ranges: Dictionary(uniqueKeysWithValues: model.int8MapNames.map { ($0, ActivationRange(min: 0, max: 0)) }),
                                 img: img, images: images, statistic: statistic)
    }

    static let longestBoundText = 15

    /// Bytes the text can grow by when the placeholder's zeros become measured bounds.
    public var maximumGrowth: Int { ranges.count * 2 * (Self.longestBoundText - 1) }

    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self), let text = String(data: data, encoding: .utf8) else { return "{}" }
        return text
    }

    /// The document in a file's metadata text, checked as far as it can be without the model.
    public static func parse(_ text: String, path: String) throws -> ActivationRangesDocument {
        func fail(_ reason: String) -> YOLOModelError { .invalidFile(path: path, reason: "'\(metadataKey)' metadata: \(reason)") }
        let doc: ActivationRangesDocument
        do {
            doc = try JSONDecoder().decode(ActivationRangesDocument.self, from: Data(text.utf8))
        } catch {
            throw fail("not a valid activation ranges document")
        }
        guard doc.format == formatName else { throw fail("format '\(doc.format)' is not '\(formatName)'") }
        guard doc.version == currentVersion else {
            throw fail("version \(doc.version) is not supported (this engine reads \(currentVersion))")
        }
        guard RangeStatistic(rawValue: doc.statistic) != nil, doc.img > 0, doc.images > 0 else {
            throw fail("statistic, img or images is not valid")
        }
        if let bad = doc.ranges.keys.sorted().first(where: { doc.ranges[$0]!.count != 2 }) {
            throw fail("range of \(bad) is not [min, max]")
        }
        return doc
    }

    /// The ranges, for the model (checked against its maps: `Int8Execution.validate`).
    public func activationRanges(for model: YOLOModel, path: String) throws -> [String: ActivationRange] {
        let ranges = self.ranges.mapValues { ActivationRange(min: $0[0], max: $0[1]) }
        if let reason = Int8Execution.problem(with: ranges, model: model) {
            throw YOLOModelError.invalidFile(path: path, reason: "'\(Self.metadataKey)' metadata: \(reason)")
        }
        return ranges
    }

    /// One line: where the ranges came from.
    public var summary: String { "activation ranges (\(statistic)) stored in the file, from \(images) images at \(img)" }
}
