#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CharRNN
import CommandLineSupport

/// How per-character probabilities are shown.
enum ProbsMode: String, CaseIterable, ExpressibleByArgument {
    /// Each generated character on a background coloured by its probability.
    case color
    /// After each answer, a row per character with its probability and the top alternatives.
    case table
    /// Just the text.
    case off
}

struct REPLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-repl",
        abstract: "Talk to a character-level RNN: each line you type is fed into the model's state and it answers.",
        discussion: """
            The state carries over from line to line until :reset. Type :help inside for the commands.
            Reads plain lines when stdin is not a terminal, e.g.  printf 'ROMEO:\\n' | charrnn-repl --probs table
            Without --model, $CHARRNN_MODEL is used when set, else the bundled models/default.safetensors.
            """,
        version: charrnnVersion)

    @Option(
        name: .shortAndLong,
        help: ArgumentHelp("A model file (.safetensors), or a folder holding one.", valueName: "path"))
    var model: String?

    @OptionGroup var keras: KerasVocabularyOptions

    @Option(
        name: [.customShort("t"), .long], parsing: .unconditional,
        help: ArgumentHelp(
            "Sampling temperature, > 0 (lower is more conservative).",
            discussion:
                "0.8 here, where a conversation reads better a little conservative; `charrnn sample` and the bindings default to 1, the model's own distribution."
        ))
    var temperature: Float = 0.8

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Predict each character from the last N alone, from a zero state (0: carry the state).",
            discussion:
                "The Keras tutorials' loop, which models trained on windows expect. Default: the model's window, else 0."
        ))
    var window: Int?

    @Option(
        name: .customLong("top-k"), parsing: .unconditional,
        help: "Sample only from the k most probable characters (0: all).")
    var topK: Int = 0

    @Option(
        name: .customLong("top-p"), parsing: .unconditional,
        help: "Sample only from the most probable characters totalling p, in (0, 1].")
    var topP: Float = 1

    @Flag(help: "Always take the most probable character.")
    var greedy = false

    @Option(
        parsing: .unconditional,
        help: "Random seed: the same seed and the same input give the same conversation (default: random).")
    var seed: UInt64?

    @Option(
        help: ArgumentHelp(
            "How to show each character's probability: color, table or off (default: color on a terminal, otherwise off).",
            valueName: "mode"))
    var probs: ProbsMode?

    @Flag(help: "Generate with 8-bit weights (faster; `charrnn eval --int8` reports the loss change).")
    var int8 = false

    @Option(name: .customLong("max-chars"), parsing: .unconditional, help: "The longest answer, in characters.")
    var maxChars: Int = 300

    @Option(
        name: .customLong("lines"), parsing: .unconditional,
        help: "An answer ends after this many lines (0: only --max-chars ends it).")
    var maxLines: Int = 1

    func validate() throws {
        guard temperature.isFinite, temperature > 0 else {
            throw ValidationError("--temperature must be a number > 0, got \(temperature)")
        }
        guard topK >= 0 else { throw ValidationError("--top-k must be >= 0 (0 keeps all characters), got \(topK)") }
        guard topP.isFinite, topP > 0, topP <= 1 else {
            throw ValidationError("--top-p must be in (0, 1], got \(topP)")
        }
        guard maxChars >= 1 else { throw ValidationError("--max-chars must be at least 1, got \(maxChars)") }
        if let window, window < 0 || window > ModelConfig.maxWindow {
            throw ValidationError(
                "--window must be in 0...\(ModelConfig.maxWindow) (0: carry the state), got \(window)")
        }
        guard maxLines >= 0 else { throw ValidationError("--lines must be >= 0, got \(maxLines)") }
    }

    func run() throws {
        let out = Output()
        let modelPath: String
        if let model {
            modelPath = model
        } else {
            let search: (path: String?, lookedIn: [String])
            do { search = try ModelLocation.findDefault() } catch {
                out.note("charrnn-repl: \(error)")
                throw ExitCode(1)
            }
            guard let found = search.path else {
                out.note(
                    """
                    charrnn-repl: no model found. Looked for:
                    \(search.lookedIn.map { "  " + $0 }.joined(separator: "\n"))
                    Get one by training:  charrnn train CORPUS.txt --out DIR   then   charrnn-repl --model DIR
                    (`make run` in the repository uses the bundled models/default.safetensors), or set CHARRNN_MODEL.
                    """)
                throw ExitCode(1)
            }
            modelPath = found
        }
        let loaded: (Model, String)
        do {
            loaded = try ModelLocation.load(modelPath, keras: keras.request, note: { out.note("charrnn-repl: \($0)") })
        } catch {
            out.note("charrnn-repl: cannot load the model \(modelPath): \(error)")
            throw ExitCode(1)
        }
        var mode = probs ?? (out.stdoutIsTerminal && getenv("NO_COLOR") == nil ? .color : .off)
        if mode == .color && !out.stdoutIsTerminal {
            out.note(
                "charrnn-repl: --probs color needs a terminal on stdout; showing no probabilities (try --probs table)")
            mode = .off
        }
        let repl = REPL(
            model: loaded.0, path: loaded.1, seed: seed ?? UInt64.random(in: 0...999_999),
            precision: int8 ? .int8 : .float32,
            parameters: SamplingParameters(temperature: temperature, topK: topK, topP: topP, greedy: greedy),
            maxChars: maxChars, maxLines: maxLines, probs: mode, output: out)
        repl.kerasImport = keras.request
        if let window {
            repl.window = window
            try? repl.session.setWindow(window)  // in range: validated above
        }
        let status = repl.run()
        if status != 0 { throw ExitCode(status) }
    }
}
