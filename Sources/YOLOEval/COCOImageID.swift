import Foundation

/// A COCO `image_id`: an integer (the COCO dataset's own ids) or a string. Official test.py
/// names a dataset image by its file stem, as an integer when the stem is all digits
/// (`int(path.stem) if path.stem.isnumeric() else path.stem`), so `000000000139.jpg` is 139 and
/// `BloodImage_00007.jpg` is "BloodImage_00007".
public enum COCOImageID: Hashable, Sendable, Comparable, Decodable, CustomStringConvertible {
    case number(Int)
    case name(String)

    /// test.py's id of an image file. Only ASCII digits count as a number here (Python's
    /// `isnumeric` also takes other scripts' digits, which no dataset we know uses).
    public init(imagePath: String) {
        let stem = ((imagePath as NSString).lastPathComponent as NSString).deletingPathExtension
        if !stem.isEmpty, stem.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let value = Int(stem) {
            self = .number(value)
        } else {
            self = .name(stem)
        }
    }

    /// pycocotools' order (`np.unique` of the ids): numbers by value, strings by code point.
    /// The two kinds never meet in one evaluation (`COCOAnnotations` refuses a mix).
    public static func < (a: COCOImageID, b: COCOImageID) -> Bool {
        switch (a, b) {
        case let (.number(x), .number(y)): return x < y
        case let (.name(x), .name(y)): return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
        case (.number, .name): return true
        case (.name, .number): return false
        }
    }

    public var isNumber: Bool {
        if case .number = self { return true }
        return false
    }

    /// As JSON writes it: a bare number, or a quoted string.
    public var description: String {
        switch self {
        case .number(let n): return "\(n)"
        case .name(let s): return PythonJSON.string(s)
        }
    }

    /// A JSON integer or string (pycocotools accepts both; a number with a fraction is refused).
    public init(from decoder: Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let n = try? value.decode(Int.self) {
            self = .number(n)
        } else {
            self = .name(try value.decode(String.self))
        }
    }
}
