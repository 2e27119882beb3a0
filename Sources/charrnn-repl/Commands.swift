#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN
import CommandLineSupport

extension REPL {
    /// Runs a `:command` line. A bad command or value gets a one-line explanation; returns false to quit.
    func command(_ line: String) -> Bool {
        let body = line.dropFirst()  // the ':'
        let name = String(body.prefix { $0 != " " && $0 != "\t" }).lowercased()
        let argument = String(body.dropFirst(name.count).drop { $0 == " " || $0 == "\t" })
            .trimmingTrailingWhitespace()
        switch name {
        case "help", "h", "?":
            out.write(help())
        case "quit", "q", "exit":
            return false
        case "temp", "temperature":
            guard let value = number(argument, "temp", "a temperature > 0, e.g. :temp 0.7") else { break }
            var p = parameters
            p.temperature = value
            apply(p, "temperature \(formatSetting(value))")
        case "topk", "top-k", "top_k":
            guard !argument.isEmpty else {
                return show("top-k \(parameters.topK)\(parameters.topK == 0 ? " (off)" : "")")
            }
            guard let k = Int(argument), k >= 0 else {
                out.note(":topk needs a whole number >= 0 (0 keeps all characters), got \"\(argument)\"")
                break
            }
            var p = parameters
            p.topK = k
            apply(p, k == 0 ? "top-k off" : "top-k \(k)")
        case "topp", "top-p", "top_p":
            guard let value = number(argument, "topp", "a number in (0, 1], e.g. :topp 0.9 (1 is off)") else { break }
            var p = parameters
            p.topP = value
            apply(p, value == 1 ? "top-p off" : "top-p \(formatSetting(value))")
        case "greedy":
            var p = parameters
            switch argument.lowercased() {
            case "": p.greedy.toggle()
            case "on", "yes", "true", "1": p.greedy = true
            case "off", "no", "false", "0": p.greedy = false
            default:
                out.note(":greedy takes on, off or nothing (toggle), got \"\(argument)\"")
                return true
            }
            apply(p, p.greedy ? "greedy on: always the most probable character" : "greedy off: sampling")
        case "seed":
            guard !argument.isEmpty else { return show("seed \(seed)") }
            guard let value = UInt64(argument) else {
                out.note(":seed needs a whole number >= 0, got \"\(argument)\"")
                break
            }
            seed = value
            session.rng = RandomGenerator(seed: value)
            info("seed \(value) (the random generator restarts now; the conversation is kept)")
        case "window":
            guard !argument.isEmpty else {
                return show(
                    session.window == 0
                        ? "window off: the state carries the whole conversation"
                        : "window \(session.window): each character from the last \(session.window) alone")
            }
            guard let n = Int(argument), n >= 0 else {
                out.note(":window needs a whole number >= 0 (0: carry the state), got \(argument)")
                break
            }
            do {
                try session.setWindow(n)
                window = n
                info(
                    n == 0
                        ? "window off: the state carries the whole conversation"
                        : "window \(n): each character is predicted from the last \(n) alone, from a zero state (the Keras tutorials' loop)"
                )
            } catch {
                out.note("cannot set the window: \(error)")
            }
        case "len", "max-chars", "maxchars":
            guard !argument.isEmpty else { return show("answers up to \(maxChars) characters") }
            guard let n = Int(argument), n >= 1 else {
                out.note(":len needs a whole number >= 1, got \"\(argument)\"")
                break
            }
            maxChars = n
            info("answers up to \(n) characters")
        case "lines":
            guard !argument.isEmpty else {
                return show(
                    maxLines == 0
                        ? "answers end only at the length limit"
                        : "answers end after \(maxLines) line\(maxLines == 1 ? "" : "s")")
            }
            guard let n = Int(argument), n >= 0 else {
                out.note(":lines needs a whole number >= 0 (0: only :len ends an answer), got \"\(argument)\"")
                break
            }
            maxLines = n
            info(
                n == 0
                    ? "answers end only at the length limit (\(maxChars) characters)"
                    : "answers end after \(n) line\(n == 1 ? "" : "s")")
        case "probs":
            guard !argument.isEmpty else { return show("probs \(probs.rawValue)") }
            guard let mode = ProbsMode(rawValue: argument.lowercased()) else {
                out.note(":probs takes color, table or off, got \"\(argument)\"")
                break
            }
            if mode == .color && !out.stdoutIsTerminal {
                out.note(":probs color needs a terminal on stdout; use table or off")
                break
            }
            probs = mode
            info("probs \(mode.rawValue)" + (mode == .color ? "  " + Style.legend : ""))
        case "explain":
            explain(argument)
        case "reset":
            resetConversation()
            info("conversation reset (state cleared, generator back to seed \(seed))")
        case "save":
            guard !argument.isEmpty else { out.note(":save needs a file name, e.g. :save chat.state"); break }
            do {
                try FileIO.writeAtomically(session.stateBytes(), to: argument)
                info("saved the conversation state to \(argument)")
            } catch {
                out.note("cannot save: \(error)")
            }
        case "load":
            guard !argument.isEmpty else { out.note(":load needs a file name, e.g. :load chat.state"); break }
            do {
                // A state has a known size: read at most one byte more, so a huge file costs nothing.
                let size = Session.stateSize(for: model)
                let bytes = try FileIO.read(argument, prefix: size + 1)
                guard bytes.count <= size else {
                    throw CharRNNError.format(
                        "\(argument) is larger than a conversation state of this model (\(size) bytes)")
                }
                try bytes.withUnsafeBytes { try session.setState($0) }
                transcript.removeAll()  // what led to the loaded state is not known
                info("loaded the conversation state from \(argument)")
            } catch {
                out.note("cannot load \(argument): \(error)")
            }
        case "model":
            guard !argument.isEmpty else { return show("model \(modelPath): \(ModelDescription.line(model))") }
            do {
                let (loaded, file) = try ModelLocation.load(argument, keras: kerasImport, note: { out.note($0) })
                let fresh = try Session.checked(model: loaded, seed: seed, precision: precision)
                if let window { try fresh.setWindow(window) }
                (model, modelPath, session) = (loaded, file, fresh)
                distribution = [Float](repeating: 0, count: loaded.vocabulary.count)
                transcript.removeAll()
                info("model \(file): \(ModelDescription.line(loaded)); conversation reset")
            } catch {
                out.note("cannot load the model \(argument): \(error) (keeping \(modelPath))")
            }
        case "":
            out.note(
                "a command name is missing after ':' — :help lists the commands (start a line with :: to send ':')")
        default:
            out.note("unknown command :\(name) — :help lists the commands (start a line with :: to send ':')")
        }
        return true
    }

    /// Parses a Float argument, explaining what is expected when it is missing or bad.
    private func number(_ argument: String, _ command: String, _ expected: String) -> Float? {
        guard !argument.isEmpty else {
            _ = show(
                command == "temp"
                    ? "temperature \(formatSetting(parameters.temperature))"
                    : "top-p \(formatSetting(parameters.topP))")
            return nil
        }
        guard let value = Float(argument), value.isFinite else {
            out.note(":\(command) needs \(expected), got \"\(argument)\"")
            return nil
        }
        return value
    }

    private func apply(_ candidate: SamplingParameters, _ message: String) {
        do {
            try candidate.validate()
            parameters = candidate
            info(message)
        } catch {
            out.note("\("\(error)".replacingUnderscoreNames) — unchanged")
        }
    }

    /// Shows a current value and keeps going.
    private func show(_ message: String) -> Bool {
        info(message)
        return true
    }

    /// A confirmation: stdout (dim) on a terminal; stderr in a pipe, so stdout holds only answers.
    func info(_ message: String) {
        if out.stdoutIsTerminal {
            out.write(out.styled(message, Style.dim) + "\n")
        } else {
            out.flush()
            fputs(message + "\n", stderr)
        }
    }

    func help() -> String {
        let b = { (s: String) in self.out.styled(s, Style.bold) }
        let p = parameters
        var text = """
            Type a line and press Enter: it is fed, with its newline, into the model's recurrent state, and the
            model answers until it writes a newline (:lines) or reaches the answer length (:len). The state carries over from
            line to line (a conversation) until :reset. Blank lines at the start of an answer are skipped. Start a line with :: to send a line beginning with ':'.

            \(b("Commands"))
              :help             this text
              :temp X           sampling temperature, > 0 (now \(formatSetting(p.temperature)))
              :topk K           sample from the K most probable characters; 0 is off (now \(p.topK))
              :topp P           sample from the most probable characters totalling P, in (0, 1]; 1 is off (now \(formatSetting(p.topP)))
              :greedy [on|off]  always take the most probable character; no value toggles (now \(p.greedy ? "on" : "off"))
              :seed N           restart the random generator from seed N (now \(seed))
              :window N         predict each character from the last N alone, from a zero state, as the Keras
                                tutorials do; 0 carries the state (now \(session.window)\(session.window == model.config.window ? ", the model's" : ""))
              :len N            the longest answer, in characters (now \(maxChars))
              :lines N          an answer ends after N lines; 0: only :len ends it (now \(maxLines))
              :probs MODE       color, table or off (now \(probs.rawValue))
              :reset            forget the conversation; the generator goes back to the seed
              :save FILE        save the conversation state (recurrent state and generator)
              :load FILE        restore a state saved with :save (same model only)
              :model PATH       switch to another model file or folder; the conversation resets
              :explain FILE     write a web page of what the model sees in the conversation so far (FILE.html)
              :quit             leave (Ctrl-D too). Ctrl-C stops a long answer.

            \(b("Probabilities"))
              color: each answer character on a background coloured by the probability the model itself gave it
                     (its softmax output, before temperature, top-k and top-p):

            """
        text +=
            "       " + (out.stdoutIsTerminal ? Style.legend : Style.bands.map(\.label).joined(separator: " | ")) + "\n"
        text += """
              table: after each answer, one row per character: p(model) as above, p(drawn) the probability under
                     the adjusted distribution it was sampled from (1 when greedy), and the model's top 5 choices
                     (␣ space, ⏎ newline, \\t tab).
              Under your line: how surprising the model found it, in bits per character (the mean of −log2 p of
              each character given everything before it; lower means more expected).

            """
        return text
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return String(s)
    }

    /// Core messages name parameters like the C API (top_k); the REPL's commands are :topk and :topp.
    var replacingUnderscoreNames: String {
        var s = self
        if s.hasPrefix("top_k") { s = ":topk" + s.dropFirst(5) }
        if s.hasPrefix("top_p") { s = ":topp" + s.dropFirst(5) }
        if s.hasPrefix("temperature") { s = ":temp" + s.dropFirst(11) }
        return s
    }
}

/// A setting for display: "0.8", "1", "0.95".
func formatSetting(_ x: Float) -> String {
    var s = formatFixed(Double(x), digits: 4)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}
