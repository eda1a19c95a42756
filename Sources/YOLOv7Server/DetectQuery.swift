import Hummingbird
import HummingbirdCore
import YOLOv7

/// The query of `POST /v1/detect`: which model, and the settings one request may change
/// (`conf`, `iou`, `classes`, `max_det`, `img`). Unknown keys are refused, so a typo is never
/// silently ignored.
struct DetectQuery: Equatable {
    var model: String?
    var confidence: Float?
    var iou: Float?
    var classes: [Int]?
    var maxDetections: Int?
    var imageSize: Int?

    static let keys: Set<Substring> = ["model", "conf", "iou", "classes", "max_det", "img"]

    init(_ parameters: FlatDictionary<Substring, Substring>, maxImageSize: Int) throws {
        for (key, _) in parameters where !Self.keys.contains(key) {
            throw APIError.badRequest("unknown query parameter '\(key)' (known: model, conf, iou, classes, max_det, img)")
        }
        func single(_ key: Substring) throws -> Substring? {
            let values = parameters[values: key]
            guard values.count <= 1 else { throw APIError.badRequest("query parameter '\(key)' given \(values.count) times") }
            return values.first
        }
        func unit(_ key: Substring) throws -> Float? {
            guard let text = try single(key) else { return nil }
            guard let v = Float(text), v.isFinite, (0...1).contains(v) else {
                throw APIError.badRequest("\(key)=\(text.prefix(40)): expected a number in [0, 1]")
            }
            return v
        }
        func integer(_ key: Substring, _ range: ClosedRange<Int>) throws -> Int? {
            guard let text = try single(key) else { return nil }
            guard let v = Int(text), range.contains(v) else {
                throw APIError.badRequest("\(key)=\(text.prefix(40)): expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
        model = try single("model").map(String.init)
        confidence = try unit("conf")
        iou = try unit("iou")
        maxDetections = try integer("max_det", 1...10_000)
        imageSize = try integer("img", 32...maxImageSize)
        if let text = try single("classes") {
            classes = try text.split(separator: ",", omittingEmptySubsequences: false).map { item in
                guard let c = Int(item), c >= 0 else {
                    throw APIError.badRequest("classes=\(text.prefix(40)): expected comma-separated class ids")
                }
                return c
            }
        }
    }

    /// The detector's options with this request's changes; a class id the model does not have
    /// is refused.
    func options(for detector: Detector) throws -> Detector.Options {
        var o = detector.options
        if let confidence { o.confidenceThreshold = confidence }
        if let iou { o.iouThreshold = iou }
        if let classes {
            if let bad = classes.first(where: { $0 >= detector.classCount }) {
                throw APIError.badRequest("classes: \(bad) is not a class of this model (0..<\(detector.classCount))")
            }
            o.classes = classes
        }
        if let maxDetections { o.maxDetections = maxDetections }
        if let imageSize { o.imageSize = imageSize }
        return o
    }
}
