import ArgumentParser
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn eval FILE`: loss, perplexity and accuracy of a model on a text, from a fresh state.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model on a UTF-8 text: loss (nats/char), perplexity, accuracy.")

    @Argument(help: "The text to evaluate on.") var file: String
    @Option(help: "Model or checkpoint file (default: the bundled model).") var model: String?
    @Option(help: "Characters outside the vocabulary: skip (with a warning) or error.") var unknown: UnknownPolicy = .skip
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        try CLI.guarded {
            let (model, path) = try CLI.loadModel(self.model)
            let text = try CLI.readText(file)
            let encoded = try model.vocabulary.encode(text, skipUnknown: unknown == .skip)
            if !encoded.skipped.isEmpty {
                CLI.warn("skipped \(encoded.skippedCount) character(s) of \(file) not in the model's vocabulary: \(CLI.describe(encoded.skipped))")
            }
            let result = try model.evaluate(text, skipUnknown: true)
            let loss = result.meanLoss
            let accuracy = result.count > 0 ? Double(result.correct) / Double(result.count) : .nan
            if json {
                var o = JSONObject()
                o.set("loss", loss)
                o.set("perplexity", exp(loss))
                o.set("bits_per_char", loss / log(2.0))
                o.set("accuracy", accuracy)
                o.set("chars", encoded.indices.count)
                o.set("predictions", result.count)
                o.set("skipped", encoded.skippedCount)
                o.set("model", path)
                print(o.text)
            } else {
                print("model \(path) on \(file): \(encoded.indices.count) characters")
                print("loss \(CLI.fixed(loss, 4)) nats/char (\(CLI.fixed(loss / log(2.0), 4)) bits/char)")
                print("perplexity \(CLI.fixed(exp(loss), 4))")
                print("accuracy \(CLI.fixed(100 * accuracy, 2))%")
            }
        }
    }
}
