#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN
import CommandLineSupport

/// Output to stdout and stderr, with ANSI styling only when the stream is a terminal.
struct Output {
    let stdoutIsTerminal: Bool
    let stderrIsTerminal: Bool

    init() {
        stdoutIsTerminal = isatty(STDOUT_FILENO) != 0
        stderrIsTerminal = isatty(STDERR_FILENO) != 0
    }

    func write(_ s: String) { fputs(s, stdout) }
    /// False once a write to stdout has failed (the exit reports it).
    @discardableResult
    func flush() -> Bool { StandardOutput.flush() }
    /// Waits until the terminal has taken what was written to stdout (nothing when it is not a terminal).
    func drain() { if stdoutIsTerminal { _ = tcdrain(STDOUT_FILENO) } }

    /// A one-line note for the user (unknown characters, bad values): stderr, dim on a terminal.
    func note(_ s: String) {
        flush()
        fputs(stderrIsTerminal ? Style.dim + s + Style.reset + "\n" : s + "\n", stderr)
        fflush(stderr)
    }

    /// `s` in `style` when stdout is a terminal, plain otherwise.
    func styled(_ s: String, _ style: String) -> String { stdoutIsTerminal ? style + s + Style.reset : s }
}

/// ANSI sequences (256-colour palette).
enum Style {
    static let reset = "\u{1B}[0m"
    static let bold = "\u{1B}[1m"
    static let dim = "\u{1B}[2m"
    static let cyan = "\u{1B}[36m"
    static let magenta = "\u{1B}[35m"
    static let red = "\u{1B}[31m"

    /// The probability scale: five bands from red (the model found it unlikely) to green (near certain).
    /// Each band is a 256-colour background under black text, so spaces are coloured too.
    static let bands: [(upTo: Float, background: Int, label: String)] = [
        (0.1, 203, "<10%"),
        (0.3, 215, "10–30%"),
        (0.5, 227, "30–50%"),
        (0.8, 156, "50–80%"),
        (Float.infinity, 83, "≥80%")
    ]

    static func band(for p: Float) -> Int {
        for (i, b) in bands.enumerated() where p < b.upTo { return i }
        return bands.count - 1
    }

    static func probabilityColour(_ p: Float) -> String {
        "\u{1B}[48;5;\(bands[band(for: p)].background);38;5;16m"
    }

    /// The legend line: each band as a coloured swatch with its range.
    static var legend: String {
        bands.map { "\u{1B}[48;5;\($0.background);38;5;16m \($0.label) \(reset)" }.joined(separator: " ")
    }
}

/// How characters are shown where they must stay visible (tables, notes).
enum Visible {
    /// Whitespace and controls spelled out: ␣ for space, ⏎ for newline, \t, \r, U+XXXX for other controls.
    static func character(_ c: Unicode.Scalar) -> String {
        switch c {
        case " ": return "␣"
        case "\n": return "⏎"
        case "\t": return "\\t"
        case "\r": return "\\r"
        default:
            if c.value < 0x20 || c.properties.generalCategory == .control || c.properties.generalCategory == .format {
                let hex = String(c.value, radix: 16, uppercase: true)
                return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            }
            return String(c)
        }
    }

    /// A generated character as streamed to a terminal: controls other than tab become their
    /// Unicode "control picture" so they cannot move the cursor or corrupt the screen.
    static func onTerminal(_ c: Unicode.Scalar) -> String {
        if c == "\t" { return "\t" }
        if c.value < 0x20 { return String(Unicode.Scalar(0x2400 + c.value)!) }
        if c.value == 0x7F { return "␡" }
        if c.properties.generalCategory == .control { return Visible.character(c) }
        return String(c)
    }

    /// Display width for padding table columns (every visible form here is one column, except U+XXXX).
    static func width(_ s: String) -> Int { s.unicodeScalars.count }
}

/// Formats a probability in a fixed width: "0.412", "1.000", "3e-05".
func formatProbability(_ p: Float) -> String {
    guard p.isFinite, p > 0 else { return formatFixed(Double(p), digits: 3) }
    if p >= 0.001 { return formatFixed(Double(p), digits: 3) }
    var exponent = 0
    var m = Double(p)
    while m < 1 { m *= 10; exponent += 1 }
    return "\(Int(m.rounded()))e-\(exponent < 10 ? "0" : "")\(exponent)"
}

/// A fixed-point string without Foundation.
func formatFixed(_ x: Double, digits: Int) -> String {
    guard x.isFinite else { return x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf") }
    guard abs(x) < 1e15 else { return String(x) }  // beyond Int's exact range: let Swift spell it
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let negative = x < 0
    let scaled = (abs(x) * scale).rounded()
    let whole = Int(scaled / scale)
    var fraction = String(Int(scaled - Double(whole) * scale))
    fraction = String(repeating: "0", count: max(0, digits - fraction.count)) + fraction
    return (negative && scaled > 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + fraction : "")
}
