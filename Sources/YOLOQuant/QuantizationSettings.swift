import Foundation

/// Convs left at full precision by `--keep`.
public enum KeptConvs: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// The first conv of the model (`model.0.conv`): it sees raw pixels, and its few weights
    /// cost little to keep.
    case first
    /// The Detect head's output convs (`model.N.m.*`): their outputs are the boxes and scores.
    case detect
    /// Left at full precision by `--budget`'s choice (not a `--keep` item).
    case budget

    /// Parses `first,detect` (comma separated, case-insensitive; `none` or empty for no convs).
    public static func parseList(_ text: String) throws -> Set<KeptConvs> {
        var result = Set<KeptConvs>()
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
            where !item.isEmpty && item != "none" {
            guard let value = KeptConvs(rawValue: item), value != .budget else {
                throw QuantError.invalidSetting("unknown --keep item '\(item)' (expected first, detect or none)")
            }
            result.insert(value)
        }
        return result
    }

    public var description: String { rawValue }
}

/// How a quantized model is stored: `packed` codes + per-group parameters, or `fake` FP32
/// weights equal to the dequantized values (for accuracy studies).
public enum QuantizationMode: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case packed
    case fake

    public init(parsing name: String) throws {
        guard let mode = QuantizationMode(rawValue: name.lowercased()) else {
            throw QuantError.invalidSetting("unknown mode '\(name)' (expected packed or fake)")
        }
        self = mode
    }

    public var description: String { rawValue }
}

/// Everything `yolov7 quantize` asks for, validated.
///
/// With a size `budget` the formats are chosen per conv (`MixedPrecisionSelector`): bits among
/// `BudgetCandidates.bitWidths` up to `bits` (or FP32), granularity among
/// `BudgetCandidates.granularities` (`mixed`) or the one fixed granularity given; `mixed`
/// needs a budget.
public struct QuantizationSettings: Equatable, Sendable, CustomStringConvertible {
    public let scheme: QuantScheme
    public let bits: Int
    public let granularity: GranularityChoice
    public let keep: Set<KeptConvs>
    /// The file size to fit, when formats are chosen per conv.
    public let budget: SizeBudget?

    public init(scheme: QuantScheme, bits: Int, granularity: GranularityChoice, keep: Set<KeptConvs> = [],
                budget: SizeBudget? = nil) throws {
        try QuantFormat.validate(bits: bits)
        if granularity == .mixed && budget == nil {
            throw QuantError.invalidSetting("--granularity mixed chooses formats to fit a size: give --budget")
        }
        if case let .fixed(fixed) = granularity {
            if budget == nil {
                _ = try QuantFormat(scheme: scheme, bits: bits, granularity: fixed)
            } else if try BudgetCandidates.formats(scheme: scheme, maxBits: bits, granularity: granularity).isEmpty {
                throw QuantError.invalidSetting("--budget has no format to choose: \(scheme) \(fixed) up to \(bits) bits is none")
            }
        }
        self.scheme = scheme
        self.bits = bits
        self.granularity = granularity
        self.keep = keep
        self.budget = budget
    }

    /// From CLI words: `--scheme`, `--bits`, `--granularity`, `--keep`, `--budget`.
    public init(scheme: String, bits: Int, granularity: String, keep: String? = nil, budget: String? = nil) throws {
        try self.init(scheme: try QuantScheme(parsing: scheme), bits: bits,
                      granularity: try GranularityChoice(parsing: granularity),
                      keep: try keep.map(KeptConvs.parseList) ?? [], budget: try budget.map(SizeBudget.init(parsing:)))
    }

    /// Kept items in a stable order.
    public var keptList: [KeptConvs] { KeptConvs.allCases.filter(keep.contains) }

    public var description: String {
        var text = "\(scheme) \(bits)-bit \(granularity)"
        if let budget { text += " (budget \(budget))" }
        if !keep.isEmpty { text += ", keep \(keptList.map(\.rawValue).joined(separator: ","))" }
        return text
    }
}
