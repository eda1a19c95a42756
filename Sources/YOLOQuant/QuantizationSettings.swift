import Foundation

/// Convs left at full precision by `--keep`.
public enum KeptConvs: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// The first conv of the model (`model.0.conv`): it sees raw pixels, and its few weights
    /// cost little to keep.
    case first
    /// The Detect head's output convs (`model.N.m.*`): their outputs are the boxes and scores.
    case detect

    /// Parses `first,detect` (comma separated, case-insensitive; `none` or empty for no convs).
    public static func parseList(_ text: String) throws -> Set<KeptConvs> {
        var result = Set<KeptConvs>()
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
            where !item.isEmpty && item != "none" {
            guard let value = KeptConvs(rawValue: item) else {
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
/// `mixed` chooses per layer among the five granularities the one with the least weight MSE.
/// With a budget (stored bits per weight, parameters included) it also chooses the bits, among
/// 2...`bits`, again by least MSE among the formats that fit; `bits` is then the widest allowed.
public struct QuantizationSettings: Equatable, Sendable, CustomStringConvertible {
    public let scheme: QuantScheme
    public let bits: Int
    public let granularity: GranularityChoice
    public let keep: Set<KeptConvs>
    /// Bits per weight allowed per layer; only with `mixed`.
    public let budgetBitsPerWeight: Double?

    public init(scheme: QuantScheme, bits: Int, granularity: GranularityChoice, keep: Set<KeptConvs> = [],
                budgetBitsPerWeight: Double? = nil) throws {
        try QuantFormat.validate(bits: bits)
        if case let .fixed(fixed) = granularity {
            _ = try QuantFormat(scheme: scheme, bits: bits, granularity: fixed)
        }
        if let budget = budgetBitsPerWeight {
            guard granularity == .mixed else {
                throw QuantError.invalidSetting("a size budget needs --granularity mixed")
            }
            guard budget.isFinite, budget > 0, budget <= 64 else {
                throw QuantError.invalidSetting("budget must be a positive number of bits per weight, got \(budget)")
            }
        }
        self.scheme = scheme
        self.bits = bits
        self.granularity = granularity
        self.keep = keep
        self.budgetBitsPerWeight = budgetBitsPerWeight
    }

    /// From CLI words: `--scheme`, `--bits`, `--granularity`, `--keep`, `--budget`.
    public init(scheme: String, bits: Int, granularity: String, keep: String? = nil,
                budgetBitsPerWeight: Double? = nil) throws {
        try self.init(scheme: try QuantScheme(parsing: scheme), bits: bits,
                      granularity: try GranularityChoice(parsing: granularity),
                      keep: try keep.map(KeptConvs.parseList) ?? [], budgetBitsPerWeight: budgetBitsPerWeight)
    }

    /// Kept items in a stable order.
    public var keptList: [KeptConvs] { KeptConvs.allCases.filter(keep.contains) }

    /// Candidate bit widths for `mixed`.
    var mixedBits: [Int] { budgetBitsPerWeight == nil ? [bits] : Array(QuantFormat.bitRange.lowerBound...bits) }

    var mixedBudget: SizeBudget { budgetBitsPerWeight.map { .bitsPerWeight($0) } ?? .unlimited }

    public var description: String {
        var text = "\(scheme) \(bits)-bit \(granularity)"
        if let budget = budgetBitsPerWeight { text += " (budget \(budget) bits/weight)" }
        if !keep.isEmpty { text += ", keep \(keptList.map(\.rawValue).joined(separator: ","))" }
        return text
    }
}
