import YOLOVision

/// One detected object: its class, confidence and box in pixels of the original image.
///
/// Encodes as the detection JSON of the design notes:
/// `{"class_id": 0, "class": "RBC", "confidence": 0.93, "box": [x1, y1, x2, y2]}`.
public struct Detection: Codable, Equatable, Hashable, Sendable {
    /// Index into the model's class names.
    public var classID: Int
    /// The class's name (the model's `names`; `"class N"` for a model without names).
    public var className: String
    /// Objectness times class probability, in (0, 1].
    public var confidence: Float
    /// Top-left corner, in original-image pixels.
    public var x1: Float
    public var y1: Float
    /// Bottom-right corner, in original-image pixels.
    public var x2: Float
    public var y2: Float

    public init(classID: Int, className: String, confidence: Float, x1: Float, y1: Float, x2: Float, y2: Float) {
        self.classID = classID
        self.className = className
        self.confidence = confidence
        self.x1 = x1
        self.y1 = y1
        self.x2 = x2
        self.y2 = y2
    }

    /// `[x1, y1, x2, y2]`.
    public var box: [Float] { [x1, y1, x2, y2] }
    public var width: Float { x2 - x1 }
    public var height: Float { y2 - y1 }

    init(_ d: YOLOVision.Detection, names: [String]) {
        self.init(classID: d.classID, className: d.classID < names.count ? names[d.classID] : "class \(d.classID)",
                  confidence: d.confidence, x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2)
    }

    enum CodingKeys: String, CodingKey {
        case classID = "class_id", className = "class", confidence, box
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let box = try c.decode([Float].self, forKey: .box)
        guard box.count == 4 else {
            throw DecodingError.dataCorruptedError(forKey: .box, in: c, debugDescription: "box has \(box.count) values, not 4")
        }
        self.init(classID: try c.decode(Int.self, forKey: .classID), className: try c.decode(String.self, forKey: .className),
                  confidence: try c.decode(Float.self, forKey: .confidence), x1: box[0], y1: box[1], x2: box[2], y2: box[3])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(classID, forKey: .classID)
        try c.encode(className, forKey: .className)
        try c.encode(confidence, forKey: .confidence)
        try c.encode(box, forKey: .box)
    }
}

/// One image's detections with the image's name and size: an element of the detection JSON,
/// `{"image": PATH, "width": W, "height": H, "detections": [...]}`.
public struct ImageDetections: Codable, Equatable, Sendable {
    /// The image's path (as given) or another name for it.
    public var image: String
    /// The original image's size in pixels.
    public var width: Int
    public var height: Int
    public var detections: [Detection]

    public init(image: String, width: Int, height: Int, detections: [Detection]) {
        self.image = image
        self.width = width
        self.height = height
        self.detections = detections
    }
}

extension RGBImage {
    /// A copy with `detections` drawn as official detect.py draws them: a box in its class's
    /// colour and a "name confidence" label.
    public func annotated(with detections: [Detection]) -> RGBImage {
        var names: [String] = []
        for d in detections {
            if names.count <= d.classID { names += (names.count...d.classID).map { "class \($0)" } }
            names[d.classID] = d.className
        }
        return annotated(with: detections.map {
            YOLOVision.Detection(classID: $0.classID, confidence: $0.confidence, x1: $0.x1, y1: $0.y1, x2: $0.x2, y2: $0.y2)
        }, names: names)
    }
}
