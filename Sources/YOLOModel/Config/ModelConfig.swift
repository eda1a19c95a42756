import CYaml
import Foundation
import Yams

/// One `[from, number, module, args]` row of an official YOLOv7 model config.
public struct LayerRow: Equatable, Sendable {
    /// Raw `from`: -1 is the previous layer, other negatives count back, non-negatives are absolute.
    public var from: [Int]
    /// True when `from` was written as a list (Concat, Detect), even of one element.
    public var fromIsList: Bool
    public var number: Int
    public var module: String
    public var args: [ConfigValue]

    public init(from: [Int], fromIsList: Bool, number: Int, module: String, args: [ConfigValue]) {
        self.from = from
        self.fromIsList = fromIsList
        self.number = number
        self.module = module
        self.args = args
    }
}

/// A YOLOv7 model description: the official `cfg/*.yaml` grammar.
public struct ModelConfig: Equatable, Sendable {
    public var nc: Int
    public var depthMultiple: Double
    public var widthMultiple: Double
    /// Anchors per detection level, as (w, h) pairs in input pixels: `[[10,13, 16,30, 33,23], ...]`.
    public var anchors: [[Float]]
    public var rows: [LayerRow]
    /// The parsed tree, kept so it can be stored again (safetensors metadata).
    public var source: ConfigValue
    /// Where it came from, for error messages.
    public var origin: String

    public var anchorsPerLevel: Int { anchors.first.map { $0.count / 2 } ?? 0 }

    /// Model YAML is a few kilobytes (the largest official config, yolov7-e6e, is under 10 KB);
    /// more is refused unread. The text may come from a weights file's metadata, untrusted.
    public static let maxYAMLBytes = 1 << 20
    /// Deepest nesting of YAML collections accepted (official configs nest 4 deep). Yams builds
    /// its node tree recursively and overflows the stack at a few thousand levels, so the depth
    /// is measured on libyaml's event stream, without recursion, before Yams runs.
    public static let maxYAMLDepth = 64
    /// Values the parsed tree may expand to (official configs hold up to 2,251): aliases can
    /// repeat a subtree at every level ("billion laughs"), so a small text could otherwise
    /// unfold into billions of values.
    public static let maxYAMLValues = 100_000

    /// Parses YAML text (a `cfg/*.yaml` file or the stored metadata copy).
    public static func parse(yaml text: String, origin: String) throws -> ModelConfig {
        func fail(_ reason: String) -> YOLOModelError { .invalidConfig(source: origin, reason: reason) }
        guard text.utf8.count <= maxYAMLBytes else {
            throw fail("YAML of \(text.utf8.count) bytes exceeds the \(maxYAMLBytes)-byte limit")
        }
        guard YAMLDepth.deepest(text, stoppingAbove: maxYAMLDepth) <= maxYAMLDepth else {
            throw fail("YAML nested more than \(maxYAMLDepth) deep")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw fail("not valid YAML (\(String(describing: error).split(separator: "\n").first ?? ""))")
        }
        guard let node else { throw fail("empty YAML") }
        var budget = maxYAMLValues
        return try ModelConfig(value: ConfigValue(yamlNode: node, depth: 0, budget: &budget, origin: origin), origin: origin)
    }

    public static func load(path: String) throws -> ModelConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw YOLOModelError.invalidFile(path: path, reason: "cannot read file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw YOLOModelError.invalidFile(path: path, reason: "not UTF-8 text")
        }
        return try parse(yaml: text, origin: path)
    }

    /// Builds from a parsed tree: the YAML's, or the `yaml` dict pickled inside a checkpoint
    /// (where the official code has already replaced some argument strings by values).
    public init(value: ConfigValue, origin: String) throws {
        func fail(_ reason: String) -> YOLOModelError { .invalidConfig(source: origin, reason: reason) }
        guard case .dict = value else { throw fail("top level is not a mapping") }
        self.source = value
        self.origin = origin
        guard let nc = value["nc"]?.intValue, nc > 0, nc < 100_000 else { throw fail("'nc' missing or not a positive integer") }
        self.nc = nc
        self.depthMultiple = value["depth_multiple"]?.doubleValue ?? 1
        self.widthMultiple = value["width_multiple"]?.doubleValue ?? 1
        guard depthMultiple > 0, depthMultiple <= 16, widthMultiple > 0, widthMultiple <= 16 else {
            throw fail("depth_multiple/width_multiple out of range")
        }
        guard let anchorList = value["anchors"]?.listValue, !anchorList.isEmpty else {
            throw fail("'anchors' missing (a list of per-level [w,h,...] lists is required)")
        }
        var anchors: [[Float]] = []
        for level in anchorList {
            guard let values = level.listValue, !values.isEmpty, values.count % 2 == 0 else {
                throw fail("each anchors row must hold w,h pairs")
            }
            let floats = values.compactMap { $0.doubleValue.map(Float.init) }
            guard floats.count == values.count else { throw fail("anchors must be numbers") }
            anchors.append(floats)
        }
        guard Set(anchors.map(\.count)).count == 1 else { throw fail("every level needs the same number of anchors") }
        self.anchors = anchors
        guard let backbone = value["backbone"]?.listValue, let head = value["head"]?.listValue else {
            throw fail("'backbone' and 'head' lists are required")
        }
        var rows: [LayerRow] = []
        for (i, row) in (backbone + head).enumerated() {
            guard let items = row.listValue, items.count == 4 else {
                throw fail("layer \(i): a row must be [from, number, module, args]")
            }
            var from: [Int]
            var fromIsList = false
            if let f = items[0].intValue {
                from = [f]
            } else if let list = items[0].listValue {
                let ints = list.compactMap(\.intValue)
                guard ints.count == list.count, !ints.isEmpty else { throw fail("layer \(i): 'from' must be integers") }
                from = ints
                fromIsList = true
            } else {
                throw fail("layer \(i): 'from' must be an integer or a list of integers")
            }
            guard let number = items[1].intValue, number >= 1, number <= 1000 else {
                throw fail("layer \(i): 'number' must be a positive integer")
            }
            guard let module = items[2].stringValue else { throw fail("layer \(i): module name must be a string") }
            guard let args = items[3].listValue else { throw fail("layer \(i): args must be a list") }
            from = from.map { $0 }
            rows.append(LayerRow(from: from, fromIsList: fromIsList, number: number, module: module, args: args))
        }
        guard !rows.isEmpty else { throw fail("no layers") }
        self.rows = rows
    }

    /// The YAML text to store in safetensors metadata (a flow-style dump of the parsed tree).
    public var yamlText: String { source.yamlFlowText }
}

/// How deep a YAML text's collections nest, read from libyaml's events (a loop, no recursion).
/// Check it before handing untrusted text to Yams, which recurses once per level.
public enum YAMLDepth {
    /// The deepest nesting, or the first depth above `limit` (the scan stops there). Syntax
    /// errors end the scan with the depth so far: Yams reports them when it parses.
    public static func deepest(_ text: String, stoppingAbove limit: Int) -> Int {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return 0 }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> Int in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var depth = 0
            var deepest = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return deepest }
                let type = event.type
                yaml_event_delete(&event)
                switch type {
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    depth += 1
                    deepest = max(deepest, depth)
                    if deepest > limit { return deepest }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    depth -= 1
                case YAML_STREAM_END_EVENT, YAML_NO_EVENT:
                    return deepest
                default:
                    break
                }
            }
        }
    }
}

extension ConfigValue {
    /// Converts a Yams node tree, keeping mapping order. Aliases are already resolved into
    /// shared subtrees, so depth and size are checked here again, on the expanded tree.
    init(yamlNode node: Node, depth: Int, budget: inout Int, origin: String) throws {
        budget -= 1
        guard budget >= 0 else {
            throw YOLOModelError.invalidConfig(source: origin, reason: "YAML expands to more than \(ModelConfig.maxYAMLValues) values (aliases)")
        }
        guard depth <= ModelConfig.maxYAMLDepth else {
            throw YOLOModelError.invalidConfig(source: origin, reason: "YAML nested more than \(ModelConfig.maxYAMLDepth) deep (aliases)")
        }
        switch node {
        case .scalar(let scalar):
            // Quoted scalars stay strings; plain ones are resolved as YAML 1.1 core types.
            if scalar.style == .plain {
                if let i = node.int { self = .int(i); return }
                if let d = node.float { self = .double(d); return }
                if let b = node.bool { self = .bool(b); return }
                if node.null != nil { self = .null; return }
            }
            self = .string(scalar.string)
        case .sequence(let seq):
            var items: [ConfigValue] = []
            for item in seq { items.append(try ConfigValue(yamlNode: item, depth: depth + 1, budget: &budget, origin: origin)) }
            self = .list(items)
        case .mapping(let map):
            var entries: [(key: String, value: ConfigValue)] = []
            for pair in map {
                entries.append((key: pair.key.string ?? "",
                                value: try ConfigValue(yamlNode: pair.value, depth: depth + 1, budget: &budget, origin: origin)))
            }
            self = .dict(entries)
        }
    }

    /// YAML flow text that `ModelConfig.parse` reads back to the same tree.
    var yamlFlowText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : String(d)
        case .string(let s):
            // Plain when it reads back as the same string (module names, nn.LeakyReLU(0.1), nc).
            let plainSafe = !s.isEmpty && s.range(of: #"^[A-Za-z_][A-Za-z0-9_.()]*$"#, options: .regularExpression) != nil
                && !["null", "true", "false", "yes", "no", "on", "off", "Null", "True", "False", "NULL", "TRUE", "FALSE", "Yes", "No", "On", "Off", "YES", "NO", "ON", "OFF", "y", "n", "Y", "N", "~"].contains(s)
            if plainSafe { return s }
            return "'" + s.replacingOccurrences(of: "'", with: "''") + "'"
        case .list(let l): return "[" + l.map(\.yamlFlowText).joined(separator: ", ") + "]"
        case .dict(let d):
            return "{" + d.map { ConfigValue.string($0.key).yamlFlowText + ": " + $0.value.yamlFlowText }
                .joined(separator: ", ") + "}"
        }
    }
}
