import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn sample`: generates text, streaming it character by character.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model.",
        discussion: "Without --model, $CHARRNN_MODEL is used when set, else the bundled models/default.safetensors.")

    @Option(
        help:
            "Model or checkpoint file, or a folder `train --out` wrote (default: $CHARRNN_MODEL, else the bundled model)."
    ) var model: String?
    @OptionGroup var keras: KerasVocabularyOptions
    @Option(help: "Text to start from; it is printed before the generated text.") var prime: String?
    @Option(parsing: .unconditional, help: "Characters to generate.") var length: Int = 500
    @Option(parsing: .unconditional, help: "Sampling temperature (> 0); 1 samples the model's own distribution.")
    var temperature: Float = 1
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Compute each character from the last N characters alone, run from a zero state (0 = carry the state).",
            discussion:
                "The Keras tutorials' loop, which models trained on windows expect. Default: the model's window (set by `train --objective window` and by imports whose input shape fixes it), else 0."
        ))
    var window: Int?
    @Option(parsing: .unconditional, help: "Keep only the K most probable characters (0 = all).") var topK: Int = 0
    @Option(parsing: .unconditional, help: "Keep the most probable characters up to this total probability, in (0, 1].")
    var topP: Float = 1
    @Flag(help: "Always take the most probable character.") var greedy = false
    @Option(parsing: .unconditional, help: "Random seed: the same seed gives the same text (default: random).")
    var seed: UInt64?
    @Flag(help: "Stop after the first generated newline.") var stopAtNewline = false
    @Flag(help: "Generate with 8-bit weights (faster; `charrnn eval --int8` reports the loss change).")
    var int8 = false
    @Option(help: "Prime characters outside the vocabulary: skip (with a warning) or error.")
    var unknown: UnknownPolicy = .skip
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Generate N texts at once, stepped together (faster per character than N runs).",
            discussion:
                "Text K is what `--seed S+K-1` alone would give (S: --seed, else random), printed after a line `--- stream K of N (seed S+K-1) ---`: the first as it is generated, the others once all are done."
        ))
    var streams: Int = 1

    func validate() throws {
        if length < 0 { throw ValidationError("--length must be >= 0") }
        if !(temperature > 0) || !temperature.isFinite {
            throw ValidationError("--temperature must be a finite number > 0")
        }
        if topK < 0 { throw ValidationError("--top-k must be >= 0") }
        if let window, window < 0 || window > ModelConfig.maxWindow {
            throw ValidationError("--window must be in 0...\(ModelConfig.maxWindow) (0 = carry the state)")
        }
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
        if streams < 1 || streams > Sample.maxStreams {
            throw ValidationError("--streams must be in 1...\(Sample.maxStreams)")
        }
    }

    /// The most texts one run generates together.
    static let maxStreams = 65536

    func run() throws {
        try CLI.guarded {
            let (model, file) = try CLI.loadModel(self.model, keras)
            try CLI.using(file) {
                let parameters = SamplingParameters(temperature: temperature, topK: topK, topP: topP, greedy: greedy)
                try parameters.validate()
                let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
                if streams > 1 { return try generateStreams(model, seed: seed, parameters) }
                let (session, echoed, _) = try start(model, seed: seed, warn: true)
                CLI.out(echoed)
                var last: Unicode.Scalar = echoed.unicodeScalars.last ?? "\n"
                var bytes = [UInt8](repeating: 0, count: 5)
                try session.generate(count: length, parameters) { c, _ in
                    var n = 0
                    UTF8.encode(c) {
                        bytes[n] = $0; n += 1
                    }
                    fwrite(bytes, 1, n, stdout)
                    last = c
                    // Output that cannot be written is lost: stop generating (the exit reports it).
                    return StandardOutput.flush() && !(stopAtNewline && c == "\n")
                }
                if CLI.stdoutIsTerminal && last != "\n" { CLI.out("\n") }
            }
        }
    }

    /// A session ready to generate: seeded, windowed, fed the prime (or a start character). Returns it
    /// with the text to print before the generated characters.
    /// `drewStart`: the start character was drawn from the seed's generator, so sessions of other seeds
    /// start elsewhere.
    private func start(_ model: Model, seed: UInt64, warn: Bool) throws -> (Session, String, drewStart: Bool) {
        let session = try Session.checked(model: model, seed: seed, precision: int8 ? .int8 : .float32)
        if let window { try session.setWindow(window) }
        var echoed = ""
        if let prime, !prime.isEmpty {
            let fed = try session.feed(prime, skipUnknown: unknown == .skip)
            if !fed.skipped.isEmpty && warn {
                CLI.warn(
                    "skipped \(fed.skippedCount) character(s) of the prime text not in the model's vocabulary: \(CLI.describe(fed.skipped))"
                )
            }
            echoed = prime
        }
        if !session.hasInput {
            let start = session.feedStart()
            if !echoed.isEmpty && warn {
                CLI.warn(
                    "no character of the prime text is in the vocabulary; starting from "
                        + (start.isNewline ? "a newline" : "\(CLI.describe([start.character])), drawn at random"))
            }
            if !start.isNewline {
                echoed.unicodeScalars.append(start.character)
                return (session, echoed, true)
            }
        }
        return (session, echoed, false)
    }

    /// `--streams N`: N sessions seeded seed, seed+1, …, stepped together (`Session.sampleMany`). The
    /// first text is printed as it is generated — so a reader that goes away (`| head`) stops the run — and
    /// the others once all are done. With --stop-at-newline a stream leaves the batch at its newline.
    private func generateStreams(_ model: Model, seed: UInt64, _ parameters: SamplingParameters) throws {
        let (first, echoed, drewStart) = try start(model, seed: seed, warn: true)
        var texts = [echoed], sessions = [first]
        // One memory question for all the other streams' buffers, not one each.
        let others = try Session.checked(
            model: model, seeds: (1..<streams).map { seed &+ UInt64($0) }, precision: first.precision)
        for session in others {
            if let window { try session.setWindow(window) }
            if drewStart {  // no prime character was known: each seed draws its own start
                var text = prime ?? ""
                text.unicodeScalars.append(session.feedStart().character)
                texts.append(text)
            } else {  // the same prime for every stream: fed once, its state copied
                try session.copyState(from: first)
                texts.append(echoed)
            }
            sessions.append(session)
        }
        func header(_ i: Int) -> String { "--- stream \(i + 1) of \(streams) (seed \(seed &+ UInt64(i))) ---\n" }
        CLI.out(header(0) + texts[0])
        var active = Array(0..<streams)
        for _ in 0..<length where !active.isEmpty {
            let drawn = try Session.sampleMany(active.map { sessions[$0] }, [parameters])
            for (i, next) in zip(active, drawn) { texts[i].unicodeScalars.append(next.character) }
            if active[0] == 0 {
                CLI.out(String(drawn[0].character))
                guard StandardOutput.flush() else { return }  // the exit reports the lost output
            }
            if stopAtNewline { active = zip(active, drawn).filter { $0.1.character != "\n" }.map(\.0) }
        }
        if !texts[0].hasSuffix("\n") { CLI.out("\n") }
        for i in 1..<streams {
            CLI.out(header(i) + texts[i])
            if !texts[i].hasSuffix("\n") { CLI.out("\n") }
        }
    }
}
