/// Everything that can go wrong reading or building a model. Each case names the file, config
/// or tensor at fault; `description` is the one line the CLI prints.
public enum YOLOModelError: Error, Equatable, CustomStringConvertible {
    /// A weights or data file that cannot be read or is malformed (truncated zip, bad pickle...).
    case invalidFile(path: String, reason: String)
    /// A pickle that asks for something outside the allow-list (never executed).
    case forbidden(path: String, reason: String)
    /// A model config (YAML or checkpoint dict) that cannot be built.
    case invalidConfig(source: String, reason: String)
    /// A tensor the model needs is absent.
    case missingTensor(name: String, source: String)
    /// A tensor is present with the wrong shape or size.
    case shapeMismatch(name: String, expected: [Int], actual: [Int], source: String)

    public var description: String {
        switch self {
        case let .invalidFile(path, reason): return "\(path): \(reason)"
        case let .forbidden(path, reason): return "\(path): refused: \(reason)"
        case let .invalidConfig(source, reason): return "\(source): invalid model config: \(reason)"
        case let .missingTensor(name, source): return "\(source): missing tensor '\(name)'"
        case let .shapeMismatch(name, expected, actual, source):
            return "\(source): tensor '\(name)' has shape \(actual), the model config needs \(expected)"
        }
    }
}
