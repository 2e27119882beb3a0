import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn explain`: a self-contained web page of what a model sees in a text.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write a web page of what a model sees in a text: its surprise at each character, what it expected instead, and its cells.",
        discussion: "The page is one HTML file with everything inside (no network, no external scripts or fonts): "
            + "open it from disk. For a long text it holds the states of the first characters only (--cells).\n\n"
            + "Example:  charrnn explain --text \"ROMEO: But soft\" --html romeo.html")

    @Argument(help: "A UTF-8 text file to explain (or --text).") var file: String?
    @Option(help: "The text itself, instead of a file.") var text: String?
    @Option(
        help:
            "Model or checkpoint file, or a folder `train --out` wrote (default: $CHARRNN_MODEL, else the bundled model)."
    ) var model: String?
    @OptionGroup var keras: KerasVocabularyOptions
    @Option(help: ArgumentHelp("The page to write.", valueName: "file.html")) var html: String
    @Option(help: "Characters outside the vocabulary: skip (with a warning) or error.") var unknown: UnknownPolicy =
        .skip
    @Option(
        name: .customLong("cells"),
        help: ArgumentHelp(
            "How many characters' cell states the page holds (default: as many as 2^22 values allow, 2048 for a 2x512 LSTM).",
            valueName: "n"))
    var cells: Int?

    func validate() throws {
        guard (file == nil) != (text == nil) else {
            throw ValidationError("give the text as a FILE or with --text, not both and not neither")
        }
        if let cells, cells < 1 { throw ValidationError("--cells must be at least 1, got \(cells)") }
    }

    func run() throws {
        try CLI.guarded {
            let (model, path) = try CLI.loadModel(self.model, keras)
            try CLI.using(path) {
                let scalars = try file.map(CLI.readText) ?? Array((text ?? "").unicodeScalars)
                let source = file ?? "the text"
                let encoded = try model.vocabulary.encode(scalars, skipUnknown: unknown == .skip)
                if !encoded.skipped.isEmpty {
                    CLI.warn(
                        "skipped \(encoded.skippedCount) character(s) of \(source) not in the model's vocabulary: \(CLI.describe(encoded.skipped))"
                    )
                }
                let title = file.map { $0.split(separator: "/").last.map(String.init) ?? $0 } ?? "text"
                let modelName = path.split(separator: "/").last.map(String.init) ?? path
                let page = try ExplainPage(title: title, modelName: modelName, stateCharacters: cells)
                    .render(model: model, indices: encoded.indices, skipped: encoded.skippedCount)
                try FileIO.writeAtomically(page.bytes, to: html)
                let loss = page.result.meanLoss
                var line = "wrote \(html): \(page.characters) characters"
                if page.result.count > 0 {
                    line += ", loss \(CLI.fixed(loss, 4)) nats/char (\(CLI.fixed(loss / log(2.0), 3)) bits/char)"
                }
                if page.stateCharacters < page.characters {
                    line += "; cell states for the first \(page.stateCharacters) characters"
                }
                print(line)
            }
        }
    }
}
