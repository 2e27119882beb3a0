import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(Glibc)
import Glibc
#endif

/// Shared helpers of the subcommands: messages, model lookup, text input, JSON output.
enum CLI {
    static let name = "charrnn"

    // MARK: messages

    static func printError(_ message: String) {
        writeStderr("\(name): error: \(message)\n")
    }

    static func warn(_ message: String) {
        writeStderr("\(name): warning: \(message)\n")
    }

    static func note(_ message: String) {
        writeStderr("\(name): \(message)\n")
    }

    static func writeStderr(_ s: String) {
        fputs(s, stderr)
        fflush(stderr)
    }

    /// Writes to stdout without a newline and flushes.
    static func out(_ s: String) {
        fputs(s, stdout)
        StandardOutput.flush()
    }

    static var stdoutIsTerminal: Bool { isatty(1) == 1 }

    /// Reports `error` and returns the exit code to leave with (1 for library errors).
    static func fail(_ error: Error) -> ExitCode {
        if let e = error as? CharRNNError {
            printError(e.description)
        } else {
            printError("\(error)")
        }
        return ExitCode(1)
    }

    /// Runs `body`, turning library errors into a message on stderr and exit status 1.
    static func guarded(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let exit as ExitCode {
            throw exit
        } catch let error as CharRNNError {
            throw fail(error)
        }
    }

    // MARK: models

    /// The model `--model` names (a file, or a folder `train --out` wrote), else `$CHARRNN_MODEL`, else
    /// the bundled one: see `ModelLocation`, which charrnn-repl uses too.
    static func loadModel(_ given: String?, _ keras: KerasVocabularyOptions? = nil) throws -> (Model, String) {
        let located = try ModelLocation.load(given, keras: keras?.request, note: note)
        return (located.model, located.file)
    }

    /// Runs `body` with a loaded model, naming the model's file when its numbers overflow: that is a
    /// property of the file (its weights), not of the command.
    static func using<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch CharRNNError.notFinite(let message) {
            throw CharRNNError.notFinite("\(file): \(message)")
        }
    }

    // MARK: text

    /// Reads a UTF-8 text file, naming the byte offset of invalid UTF-8.
    static func readText(_ path: String) throws -> [Unicode.Scalar] {
        let bytes = try FileIO.read(path, memoryPerByte: 9)  // the bytes, 4 per scalar, 4 per index
        do { return try UTF8Text.decode(bytes) } catch CharRNNError.invalidUTF8(let offset, _) {
            throw CharRNNError.invalidUTF8(offset: offset, "\(path): invalid UTF-8 at byte offset \(offset)")
        }
    }

    static func describe(_ chars: [Unicode.Scalar]) -> String {
        chars.prefix(20).map(Vocabulary.describe).joined(separator: ", ")
            + (chars.count > 20 ? " and \(chars.count - 20) more" : "")
    }

    // MARK: numbers

    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "n/a" : (x > 0 ? "inf" : "-inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let negative = x < 0
        let scaled = (abs(x) * scale).rounded()
        guard scaled < 9e15 else { return String(x) }
        let n = Int64(scaled)
        let p = Int64(scale)
        var s = String(n / p)
        if digits > 0 {
            let f = String(n % p)
            s += "." + String(repeating: "0", count: digits - f.count) + f
        }
        return negative && scaled != 0 ? "-" + s : s
    }

    /// 12345 → "12.3k".
    static func compact(_ x: Double) -> String {
        if !x.isFinite { return "n/a" }
        if x >= 1e6 { return fixed(x / 1e6, 2) + "M" }
        if x >= 1e4 { return fixed(x / 1e3, 1) + "k" }
        return fixed(x, 0)
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "--" }
        // Past a million hours minutes mean nothing, and a huge value would not convert to Int.
        guard s < 3.6e9 else { return fixed(s / 3600, 0) + "h" }
        let t = Int(s.rounded())
        if t >= 3600 { return "\(t / 3600)h\(pad2((t % 3600) / 60))m" }
        if t >= 60 { return "\(t / 60)m\(pad2(t % 60))s" }
        return "\(t)s"
    }

    static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}

/// A JSON object written in insertion order; non-finite numbers become null.
struct JSONObject {
    private var fields: [(String, String)] = []

    mutating func set(_ key: String, _ value: Double?) {
        guard let value, value.isFinite else { fields.append((key, "null")); return }
        fields.append((key, "\(value)"))
    }

    mutating func set(_ key: String, _ value: Int) { fields.append((key, "\(value)")) }
    mutating func set(_ key: String, _ value: Bool) { fields.append((key, value ? "true" : "false")) }

    mutating func set(_ key: String, _ value: String?) {
        guard let value else { fields.append((key, "null")); return }
        fields.append((key, JSONString.quoted(value)))
    }

    var text: String { "{" + fields.map { "\(JSONString.quoted($0.0)): \($0.1)" }.joined(separator: ", ") + "}" }

}

/// What to do with characters the model's vocabulary lacks.
enum UnknownPolicy: String, ExpressibleByArgument, CaseIterable {
    case skip, error
}
