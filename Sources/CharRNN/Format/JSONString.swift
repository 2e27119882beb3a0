/// JSON string literals for the JSON charrnn writes by hand (file headers, metrics lines, `--json`
/// output), escaped as Rust's `serde_json` and Python's `json.dumps(…, ensure_ascii=False)` escape
/// them, so that what charrnn writes compares equal byte for byte with theirs.
package enum JSONString {
    /// `s` as a JSON string literal, quotes included: `"`, `\` and the control characters escaped (the
    /// short forms where JSON has them, `\u00xx` otherwise), everything else as it is.
    package static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}
