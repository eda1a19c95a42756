/// Why a ``Detector`` could not be made. Problems with a weights file or an image are the
/// loaders' errors (their `description` names the file); these are the rest.
public enum DetectorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A value of ``Detector/Options`` is out of range (the reason says which).
    case invalidOptions(String)
    /// int8 precision asked for without calibration images, and the file stores no activation ranges.
    case int8NeedsCalibration
    /// The calibration list holds no image.
    case noCalibrationImages

    public var description: String {
        switch self {
        case .invalidOptions(let why): return "invalid detector options: \(why)"
        case .int8NeedsCalibration:
            return "int8 precision needs activation ranges: calibration images, or weights quantized with --calib (they store ranges)"
        case .noCalibrationImages: return "int8 calibration: no images given"
        }
    }
}
