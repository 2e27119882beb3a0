#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN
import CommandLineSupport

/// One generated character with what the model thought of it.
struct GeneratedCharacter {
    var character: Unicode.Scalar
    /// The model's own probability (before temperature, top-k, top-p).
    var modelProbability: Float
    /// The probability it was drawn with (after them; 1 when greedy).
    var drawnProbability: Float
    /// The model's most probable characters at this point.
    var alternatives: [(Unicode.Scalar, Float)]
}

/// The conversation: read a line, feed it (with its newline) into the session's recurrent state, stream
/// the model's answer up to a newline or `maxChars`, and carry the state over to the next line.
final class REPL {
    var model: Model
    var modelPath: String
    var session: Session
    var seed: UInt64
    /// What the session's state has read since the last reset, as vocabulary indices: the user's lines,
    /// their newlines and the answers (for :explain).
    var transcript: [Int32] = []
    /// The weights sessions multiply with (`--int8`).
    let precision: WeightPrecision
    var parameters: SamplingParameters
    var maxChars: Int
    /// An answer ends after this many newlines; 0: only `maxChars` ends it.
    var maxLines: Int
    var probs: ProbsMode
    let out: Output
    /// stdin is a terminal: line editing, prompt, Ctrl-C handling.
    let interactive: Bool
    /// (V) the pending distribution, copied out before each draw.
    var distribution: [Float]
    /// The window given with --window or :window, kept for the sessions of later models; nil: each
    /// model's own.
    var window: Int?
    /// The characters for a Keras model given to :model (--vocab-from, --vocab).
    var kerasImport: KerasImport.Request?

    init(
        model: Model, path: String, seed: UInt64, precision: WeightPrecision = .float32, parameters: SamplingParameters,
        maxChars: Int, maxLines: Int, probs: ProbsMode, output: Output
    ) {
        self.model = model
        modelPath = path
        self.seed = seed
        self.precision = precision
        self.parameters = parameters
        self.maxChars = maxChars
        self.maxLines = maxLines
        self.probs = probs
        out = output
        interactive = isatty(STDIN_FILENO) != 0
        session = Session(model: model, seed: seed, precision: precision)
        distribution = [Float](repeating: 0, count: model.vocabulary.count)
    }

    /// Terminal styling is used for everything on stdout only when stdout is a terminal.
    var decorated: Bool { out.stdoutIsTerminal }

    var prompt: String {
        guard interactive else { return "" }
        // \u{1}…\u{2} bracket the escapes so libedit does not count them as prompt width.
        return decorated ? "\u{1}\(Style.bold)\(Style.cyan)\u{2}you›\u{1}\(Style.reset)\u{2} " : "you> "
    }

    // MARK: the loop

    /// Runs until :quit or end of input; returns the exit status.
    func run() -> Int32 {
        var reader: LineReader
        if interactive {
            SignalFlag.install([SIGINT], secondExits: false)
            reader = EditLineReader()
            if decorated { banner() }
        } else {
            reader = PipeReader()
        }
        defer { TypeAhead.release() }  // nothing when the terminal was never held
        while true {
            switch reader.read(prompt: prompt) {
            case .end:
                reader.echo("\n")
                out.flush()
                return 0
            case .interrupted:
                if !decorated { reader.echo("\n") }
                continue
            case .invalidUTF8(let message):
                out.note("ignored the line: \(message)")
            case .text(let scalars):
                var view = String.UnicodeScalarView()
                view.append(contentsOf: scalars)
                let line = String(view)
                reader.remember(line)
                if scalars.first == ":" && (scalars.count < 2 || scalars[1] != ":") {
                    if !command(line) {
                        out.flush()
                        return 0
                    }
                } else {
                    // "::text" feeds ":text".
                    converse(scalars.first == ":" ? Array(scalars.dropFirst()) : scalars)
                }
            }
            // Answers that cannot be written are lost: stop reading (the exit says why).
            if !out.flush() { return 1 }
        }
    }

    func banner() {
        out.write(
            out.styled("charrnn-repl", Style.bold)
                + out.styled(" · \(modelPath) · \(ModelDescription.line(model)) · seed \(seed)", Style.dim) + "\n")
        out.write(
            out.styled(
                "Type a line and press Enter: the model continues the conversation. :help for commands, Ctrl-D to quit.",
                Style.dim) + "\n")
        if probs == .color { out.write(out.styled("probability ", Style.dim) + Style.legend + "\n") }
        out.flush()
    }

    // MARK: conversation

    /// Feeds the user's line and its newline, then answers.
    func converse(_ text: [Unicode.Scalar]) {
        let vocabulary = model.vocabulary
        let line: (indices: [Int32], skipped: [Unicode.Scalar], skippedCount: Int)
        let newline: (indices: [Int32], skipped: [Unicode.Scalar], skippedCount: Int)
        do {
            line = try vocabulary.encode(text, skipUnknown: true)
            newline = try vocabulary.encode(["\n"], skipUnknown: true)
        } catch {
            out.note("\(error)")
            return
        }
        if !line.skipped.isEmpty {
            let names = line.skipped.prefix(8).map(Vocabulary.describe).joined(separator: ", ")
            let more = line.skipped.count > 8 ? " and \(line.skipped.count - 8) more" : ""
            out.note(
                "skipped \(line.skippedCount) character\(line.skippedCount == 1 ? "" : "s") not in the model's vocabulary: \(names)\(more)"
            )
        }

        // Feed, measuring how surprising the line is: −log2 p(char) under the distribution pending before
        // each character (none is pending before the very first character of a conversation).
        var bits = 0.0
        var counted = 0
        var fed = 0
        do {
            try distribution.withUnsafeMutableBufferPointer { buffer in
                for index in line.indices {
                    if SignalFlag.isSet { break }
                    if session.hasInput {
                        try session.probabilities(into: buffer.baseAddress!)
                        bits -= log2(Double(max(buffer[Int(index)], Float.leastNonzeroMagnitude)))
                        counted += 1
                    }
                    session.step(index)
                    transcript.append(index)
                    fed += 1
                }
            }
        } catch {
            out.note("\(error)")
            return
        }
        if SignalFlag.take() {
            out.note("interrupted: fed \(fed) of \(line.indices.count) characters; no answer")
            return
        }
        for index in newline.indices {
            session.step(index)
            transcript.append(index)
        }

        if probs != .off && counted > 0 {
            let value = formatFixed(bits / Double(counted), digits: 2)
            if decorated {
                out.write(out.styled("     ↳ your line: \(value) bits/char", Style.dim) + "\n")
            } else {
                out.write("surprise: \(value) bits/char over \(counted) characters\n")
            }
        }
        answer()
    }

    /// Streams the continuation until `maxLines` newlines, `maxChars` characters, or Ctrl-C.
    func answer() {
        guard session.hasInput else {
            out.note("nothing to answer: the model has no input yet (its vocabulary lacks these characters)")
            return
        }
        let colour = probs == .color && decorated
        let wantTable = probs == .table
        var rows: [GeneratedCharacter] = []
        var produced = 0
        var interrupted = false
        var lines = 0
        var started = false
        var endedLine = false
        if decorated { out.write(out.styled("rnn›", Style.bold + Style.magenta) + " ") }
        do {
            while produced < maxChars {
                if SignalFlag.take() { interrupted = true; break }
                try distribution.withUnsafeMutableBufferPointer { try session.probabilities(into: $0.baseAddress!) }
                let drawn = try session.sample(parameters)
                transcript.append(drawn.index)
                produced += 1
                let p = distribution[Int(drawn.index)]
                if wantTable {
                    rows.append(
                        GeneratedCharacter(
                            character: drawn.character, modelProbability: p,
                            drawnProbability: drawn.probability,
                            alternatives: topAlternatives(5)))
                }
                if drawn.character == "\n" {
                    // Newlines before the first visible character (a blank line, as between speeches) are
                    // fed but neither shown nor counted, so an answer is never empty.
                    if !started { continue }
                    lines += 1
                    if lines == maxLines { endedLine = true; break }
                    out.write(decorated ? "\n     " : "\n")  // continuation lines align under the answer
                    continue
                }
                started = true
                if decorated {
                    let shown = Visible.onTerminal(drawn.character)
                    out.write(colour ? Style.probabilityColour(p) + shown + Style.reset : shown)
                    out.flush()
                    // Keep pace with the screen: a character is drawn only once the last one is shown, so
                    // Ctrl-C stops with the screen and the state holding the same characters.
                    out.drain()
                } else {
                    out.write(String(drawn.character))
                }
            }
        } catch {
            out.write("\n")
            out.note("\(error)")
            return
        }
        if decorated && interrupted {
            out.write(out.styled(" ^C", Style.dim))
        } else if decorated && !endedLine {
            out.write(out.styled(" … (\(maxChars) characters; :len changes it)", Style.dim))
        }
        out.write("\n")
        if interrupted { out.note("interrupted after \(produced) characters") }
        if wantTable { out.write(table(rows)) }
        out.flush()
    }

    /// The `count` most probable characters of `distribution`, most probable first.
    func topAlternatives(_ count: Int) -> [(Unicode.Scalar, Float)] {
        var best: [(Int, Float)] = []
        for (i, p) in distribution.enumerated() {
            if best.count < count {
                best.append((i, p))
                best.sort { $0.1 > $1.1 }
            } else if p > best[count - 1].1 {
                best[count - 1] = (i, p)
                best.sort { $0.1 > $1.1 }
            }
        }
        return best.map { (model.vocabulary.characters[$0.0], $0.1) }
    }

    /// One row per generated character: its probability under the model, the probability it was drawn
    /// with, and the model's top alternatives.
    func table(_ rows: [GeneratedCharacter]) -> String {
        func pad(_ s: String, _ width: Int) -> String {
            s + String(repeating: " ", count: max(0, width - Visible.width(s)))
        }
        func left(_ s: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - Visible.width(s))) + s
        }
        var text = out.styled("    #  char  p(model)  p(drawn)  top alternatives (model)", Style.dim) + "\n"
        for (i, row) in rows.enumerated() {
            var charCell = pad(Visible.character(row.character), 6)
            if decorated { charCell = Style.probabilityColour(row.modelProbability) + charCell + Style.reset }
            let alternatives = row.alternatives.map { alt -> String in
                let entry = "\(Visible.character(alt.0)) \(formatProbability(alt.1))"
                return alt.0 == row.character ? out.styled(entry, Style.bold) : entry
            }.joined(separator: "  ")
            text +=
                left("\(i + 1)", 5) + "  " + charCell + pad(formatProbability(row.modelProbability), 10)
                + pad(formatProbability(row.drawnProbability), 10) + alternatives + "\n"
        }
        return text
    }

    /// Starts over: zero state, generator back to the seed.
    func resetConversation() {
        session.reset()
        session.rng = RandomGenerator(seed: seed)
        transcript.removeAll()
    }
}
