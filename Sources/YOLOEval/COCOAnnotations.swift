import Foundation

/// A COCO annotation file (`instances_val2017.json` and the files `tools/yolo_to_coco.py`
/// writes), read and checked: `images` (`id`), `categories` (`id`, `name`), `annotations`
/// (`id`, `image_id`, `category_id`, `bbox` [x, y, w, h] in pixels, `area`, `iscrowd`), the
/// fields pycocotools' box evaluation reads. Other fields are ignored.
///
/// Checked on reading, each failure one line naming the file: it is JSON with the three lists;
/// every annotation has its fields with the right types, a box of non-negative size, an
/// `image_id` among `images` and a `category_id` among `categories`; ids are not repeated;
/// image ids are all numbers or all strings (pycocotools cannot evaluate a mix).
public struct COCOAnnotations: Sendable {
    public struct Image: Sendable {
        public var id: COCOImageID
    }

    public struct Category: Sendable {
        public var id: Int
        public var name: String
    }

    public struct Annotation: Sendable {
        public var id: Int
        public var imageID: COCOImageID
        public var categoryID: Int
        /// x, y (top-left), width, height.
        public var bbox: [Double]
        /// What pycocotools compares with the area ranges (not the box's w*h).
        public var area: Double
        public var isCrowd: Bool
    }

    public var path: String
    public var images: [Image]
    public var categories: [Category]
    /// In file order (pycocotools keeps it within an image and category).
    public var annotations: [Annotation]

    public init(path: String, images: [Image], categories: [Category], annotations: [Annotation]) throws {
        self.path = path
        self.images = images
        self.categories = categories
        self.annotations = annotations
        try validate()
    }

    /// Reads and checks the file at `path`.
    public static func load(path: String) throws -> COCOAnnotations {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw EvalError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        return try parse(data, path: path)
    }

    static func parse(_ data: Data, path: String) throws -> COCOAnnotations {
        guard (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) is [String: Any] else {
            throw EvalError.notCOCO(path: path, reason: "not a JSON object")
        }
        let file: FileLayout
        do {
            file = try JSONDecoder().decode(FileLayout.self, from: data)
        } catch {
            throw EvalError.notCOCO(path: path, reason: COCODecoding.describe(error))
        }
        return try COCOAnnotations(path: path, images: file.images.map { Image(id: $0.id) },
                                   categories: file.categories.map { Category(id: $0.id, name: $0.name ?? "\($0.id)") },
                                   annotations: file.annotations.map {
                                       Annotation(id: $0.id, imageID: $0.image_id, categoryID: $0.category_id, bbox: $0.bbox,
                                                  area: $0.area, isCrowd: $0.iscrowd.value)
                                   })
    }

    func validate() throws {
        func fail(_ reason: String) -> EvalError { .notCOCO(path: path, reason: reason) }
        var imageIDs = Set<COCOImageID>()
        for image in images where !imageIDs.insert(image.id).inserted {
            throw fail("image id \(image.id) is listed twice")
        }
        if images.contains(where: \.id.isNumber) && images.contains(where: { !$0.id.isNumber }) {
            throw fail("image ids mix numbers and strings, which pycocotools cannot evaluate")
        }
        var categoryIDs = Set<Int>()
        for category in categories where !categoryIDs.insert(category.id).inserted {
            throw fail("category id \(category.id) is listed twice")
        }
        var annotationIDs = Set<Int>()
        for a in annotations {
            guard annotationIDs.insert(a.id).inserted else { throw fail("annotation id \(a.id) is used twice") }
            guard a.bbox.count == 4, a.bbox.allSatisfy(\.isFinite), a.bbox[2] >= 0, a.bbox[3] >= 0 else {
                throw fail("annotation \(a.id): 'bbox' is not [x, y, width, height] with a non-negative size")
            }
            guard a.area.isFinite else { throw fail("annotation \(a.id): 'area' is not a number") }
            guard imageIDs.contains(a.imageID) else {
                throw EvalError.cocoMismatch(path: path, reason: "annotation \(a.id) has image_id \(a.imageID), which is not among its images")
            }
            guard categoryIDs.contains(a.categoryID) else {
                throw EvalError.cocoMismatch(path: path, reason: "annotation \(a.id) has category_id \(a.categoryID), which is not among its categories")
            }
        }
    }

    /// Checks that the annotations describe exactly `imagePaths` (by test.py's image id) of the
    /// split named `source`.
    public func checkImages(_ imagePaths: [String], source: String) throws {
        var evalIDs: [COCOImageID: String] = [:]
        for image in imagePaths {
            let id = COCOImageID(imagePath: image)
            if let other = evalIDs[id] {
                throw EvalError.cocoMismatch(path: path, reason: "\(other) and \(image) of \(source) have the same image_id \(id)")
            }
            evalIDs[id] = image
        }
        let annotated = Set(images.map(\.id))
        if let missing = imagePaths.first(where: { !annotated.contains(COCOImageID(imagePath: $0)) }) {
            throw EvalError.cocoMismatch(path: path, reason: "no image with id \(COCOImageID(imagePath: missing)) (\(missing) of \(source))")
        }
        if let unknown = images.map(\.id).sorted().first(where: { evalIDs[$0] == nil }) {
            throw EvalError.cocoMismatch(path: path, reason: "image \(unknown) is not one of the \(imagePaths.count) images of \(source)")
        }
    }

    /// Checks that every category is one of the detector's: `categoryIDs` are the ids its
    /// results use (the class indices, or COCO's 91-class ids).
    public func checkCategories(_ categoryIDs: [Int], modelDescription: String) throws {
        let known = Set(categoryIDs)
        if let unknown = categories.first(where: { !known.contains($0.id) }) {
            throw EvalError.cocoMismatch(path: path, reason: "category \(unknown.id) ('\(unknown.name)') is not one of \(modelDescription)")
        }
    }

    /// The file as pycocotools reads it; only the fields it uses.
    private struct FileLayout: Decodable {
        struct Image: Decodable { var id: COCOImageID }
        struct Category: Decodable {
            var id: Int
            var name: String?
        }
        struct Annotation: Decodable {
            var id: Int
            var image_id: COCOImageID
            var category_id: Int
            var bbox: [Double]
            var area: Double
            var iscrowd: CrowdFlag
        }
        var images: [Image]
        var annotations: [Annotation]
        var categories: [Category]
    }

    /// `iscrowd` as 0/1 or false/true (pycocotools takes its truth value).
    private struct CrowdFlag: Decodable {
        var value: Bool
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                value = b
            } else {
                value = try c.decode(Int.self) != 0
            }
        }
    }
}

/// Decoding errors of the COCO files as a short reason with the JSON path of the culprit.
enum COCODecoding {
    static func describe(_ error: Error) -> String {
        func path(_ context: DecodingError.Context, _ key: CodingKey? = nil) -> String {
            var text = ""
            for k in context.codingPath + (key.map { [$0] } ?? []) {
                if let i = k.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + k.stringValue }
            }
            return text.isEmpty ? "the top level" : "'\(text)'"
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "\(path(context, key)) is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(path(context)) has the wrong type"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not valid JSON" : "\(path(context)) has a bad value"
        default:
            return "\(error)"
        }
    }
}
