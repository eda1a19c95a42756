/// Every failure of the evaluation library, each naming the file and what is wrong.
/// `description` is one line, ready for the CLI to print.
public enum EvalError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `--data` names nothing on disk.
    case dataNotFound(path: String)
    /// The data YAML cannot be read or parsed, or a key has the wrong type.
    case badDataFile(path: String, reason: String)
    /// The data YAML has no key for the split, or the dataset folder no `images/<split>`.
    case missingSplit(data: String, split: String)
    /// A path the split lists does not exist.
    case missingSplitPath(data: String, path: String)
    /// The split resolves to no image files.
    case noImages(data: String, split: String)
    /// Every image of the split was skipped (undecodable, or labels refused).
    case noUsableImages(data: String, split: String, skipped: Int)
    /// A label file line that cannot be read as `class cx cy w h` (or a polygon).
    case malformedLabel(path: String, line: Int, reason: String)
    /// A label file the official loader would refuse (negative or non-normalised values,
    /// duplicate rows): the official test.py ignores such an image, and so does the runner,
    /// with a warning.
    case rejectedLabels(path: String, reason: String)
    /// A label's class id is not one of the model's classes.
    case classOutOfRange(path: String, line: Int, classID: Int, classCount: Int)
    /// The dataset declares a different number of classes than the model has.
    case classCountMismatch(data: String, dataClasses: Int, modelClasses: Int)
    /// A file cannot be read.
    case unreadable(path: String, reason: String)
    /// An output file cannot be written.
    case writeFailed(path: String, reason: String)
    /// A sweep CSV to resume from that is not one the sweep wrote.
    case malformedSweep(path: String, reason: String)
    /// A file that should be COCO JSON (annotations or results) and is not.
    case notCOCO(path: String, reason: String)
    /// COCO annotations or results that do not fit the images or classes evaluated.
    case cocoMismatch(path: String, reason: String)
    /// A report folder that exists and is not empty, or cannot be written.
    case reportFolder(path: String, reason: String)

    public var description: String {
        switch self {
        case let .dataNotFound(path):
            return "\(path): no such dataset folder or data YAML"
        case let .badDataFile(path, reason):
            return "\(path): bad data YAML (\(reason))"
        case let .missingSplit(data, split):
            return "\(data): no '\(split)' split"
        case let .missingSplitPath(data, path):
            return "\(data): split path \(path) does not exist"
        case let .noImages(data, split):
            return "\(data): no images in the '\(split)' split"
        case let .noUsableImages(data, split, skipped):
            return "\(data): none of the \(skipped) images of the '\(split)' split could be evaluated"
        case let .malformedLabel(path, line, reason):
            return "\(path):\(line): malformed label (\(reason))"
        case let .rejectedLabels(path, reason):
            return "\(path): labels refused as by the official loader (\(reason))"
        case let .classOutOfRange(path, line, classID, classCount):
            return "\(path):\(line): class \(classID) is outside the model's \(classCount) classes (0...\(classCount - 1))"
        case let .classCountMismatch(data, dataClasses, modelClasses):
            return "\(data): nc is \(dataClasses) but the model has \(modelClasses) classes"
        case let .unreadable(path, reason):
            return "\(path): cannot read file (\(reason))"
        case let .writeFailed(path, reason):
            return "\(path): cannot write file (\(reason))"
        case let .malformedSweep(path, reason):
            return "\(path): not a sweep CSV to resume from (\(reason))"
        case let .notCOCO(path, reason):
            return "\(path): not COCO JSON (\(reason))"
        case let .cocoMismatch(path, reason):
            return "\(path): \(reason)"
        case let .reportFolder(path, reason):
            return "\(path): \(reason)"
        }
    }
}
