import Foundation
import YOLOVision

/// One detection in a COCO results file.
public struct COCOResult: Equatable, Sendable, Decodable {
    public var imageID: COCOImageID
    public var categoryID: Int
    /// x, y (top-left), width, height, in original-image pixels.
    public var bbox: [Double]
    public var score: Double

    public init(imageID: COCOImageID, categoryID: Int, bbox: [Double], score: Double) {
        self.imageID = imageID
        self.categoryID = categoryID
        self.bbox = bbox
        self.score = score
    }

    enum CodingKeys: String, CodingKey {
        case imageID = "image_id", categoryID = "category_id", bbox, score
    }
}

/// The COCO results JSON official `test.py --save-json` writes, made from the same detections
/// `eval` scores (conf 0.001, IoU 0.65, multi-label, at most 300 per image):
/// `[{"image_id": .., "category_id": .., "bbox": [x, y, w, h], "score": ..}, ...]`.
public enum COCOResults {
    /// How test.py numbers categories: the class index, or for the COCO dataset itself (a data
    /// YAML named `coco.yaml`) the 91-category id of `coco80_to_coco91_class`.
    public enum Categories: Equatable, Sendable {
        case classIndex
        case coco91

        /// test.py's rule: `is_coco = data.endswith('coco.yaml')`.
        public init(dataPath: String) {
            self = dataPath.hasSuffix("coco.yaml") ? .coco91 : .classIndex
        }

        public func id(forClass c: Int) -> Int {
            switch self {
            case .classIndex: return c
            case .coco91: return Self.coco91IDs.indices.contains(c) ? Self.coco91IDs[c] : c
            }
        }

        /// The ids of a model's `classCount` classes.
        public func ids(classCount: Int) -> [Int] { (0..<classCount).map(id(forClass:)) }

        static let coco91IDs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27,
                                28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53,
                                54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80,
                                81, 82, 84, 85, 86, 87, 88, 89, 90]
    }

    /// The records of `images`, in image order and NMS order within an image, as test.py makes
    /// them: `xyxy2xywh` then the centre moved to the top-left corner, in float32 like its
    /// tensors; then `round(x, 3)` for the box and `round(score, 5)`.
    public static func records(_ images: [ImageEvaluation], categories: Categories) -> [COCOResult] {
        images.flatMap { image in
            let id = COCOImageID(imagePath: image.path)
            return image.detections.map { d -> COCOResult in
                let w = d.x2 - d.x1, h = d.y2 - d.y1
                let x = (d.x1 + d.x2) / 2 - w / 2, y = (d.y1 + d.y2) / 2 - h / 2
                let box = [x, y, w, h].map { PythonJSON.round(Double($0), digits: 3) }
                return COCOResult(imageID: id, categoryID: categories.id(forClass: d.classID), bbox: box,
                                  score: PythonJSON.round(Double(d.confidence), digits: 5))
            }
        }
    }

    /// The file's text, as `json.dump(jdict, f)` writes it (one line, no newline at the end).
    public static func json(_ records: [COCOResult]) -> String {
        var out = "["
        for (i, r) in records.enumerated() {
            if i > 0 { out += ", " }
            out += "{\"image_id\": \(r.imageID), \"category_id\": \(r.categoryID), \"bbox\": ["
            out += r.bbox.map(PythonJSON.number).joined(separator: ", ")
            out += "], \"score\": \(PythonJSON.number(r.score))}"
        }
        return out + "]"
    }

    public static func write(_ records: [COCOResult], to path: String) throws {
        try JSONOutput.writeText(json(records), to: path)
    }

    /// Reads a results file (this engine's, test.py's or any other); boxes must be 4 numbers.
    public static func load(path: String) throws -> [COCOResult] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw EvalError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let records: [COCOResult]
        do {
            records = try JSONDecoder().decode([COCOResult].self, from: data)
        } catch {
            throw EvalError.notCOCO(path: path, reason: COCODecoding.describe(error))
        }
        if let bad = records.firstIndex(where: { $0.bbox.count != 4 || !$0.bbox.allSatisfy(\.isFinite) || !$0.score.isFinite }) {
            throw EvalError.notCOCO(path: path, reason: "result \(bad): 'bbox' is not 4 numbers or 'score' is not a number")
        }
        return records
    }
}
