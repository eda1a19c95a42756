import Foundation

/// JSON text as Python's `json.dump` writes it with its defaults (`", "` and `": "` separators,
/// `ensure_ascii`), and the numbers as `round(x, n)` leaves them, so that a file the engine writes
/// for Python tools equals, byte for byte, the one the official script writes from the same
/// values.
enum PythonJSON {
    /// Python's `round(x, digits)`: the decimal nearest to the exact binary value (ties to even),
    /// read back as a double. glibc's `printf` rounds the exact value the same way.
    static func round(_ x: Double, digits: Int) -> Double {
        guard x.isFinite else { return x }
        return Double(String(format: "%.\(digits)f", x)) ?? x
    }

    /// `repr(float)`: the shortest text that reads back as the same double, as Swift's
    /// `description` gives it (both switch to an exponent below 1e-4 and from 1e16 on).
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "NaN" : (x < 0 ? "-Infinity" : "Infinity") }
        return x.description
    }

    /// A string literal with `ensure_ascii`: quotes, backslashes and control characters escaped,
    /// everything outside ASCII as `\uXXXX` (UTF-16 units, so surrogate pairs above U+FFFF).
    static func string(_ s: String) -> String {
        var out = "\""
        for unit in s.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(unit)))
            default: out += String(format: "\\u%04x", unit)
            }
        }
        return out + "\""
    }
}
