import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn eval FILE`: loss, perplexity and accuracy of a model on a text, from a fresh state.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model on a UTF-8 text: loss (nats/char), perplexity, accuracy.")

    @Argument(help: "The text to evaluate on.") var file: String
    @Option(
        help:
            "Model or checkpoint file, or a folder `train --out` wrote (default: $CHARRNN_MODEL, else the bundled model)."
    ) var model: String?
    @OptionGroup var keras: KerasVocabularyOptions
    @Option(help: "Characters outside the vocabulary: skip (with a warning) or error.") var unknown: UnknownPolicy =
        .skip
    @Flag(help: "Also evaluate with 8-bit weights through the generation path and report the loss change.")
    var int8 = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        try CLI.guarded {
            let (model, path) = try CLI.loadModel(self.model, keras)
            try CLI.using(path) {
                let text = try CLI.readText(file)
                let encoded = try model.vocabulary.encode(text, skipUnknown: unknown == .skip)
                if !encoded.skipped.isEmpty {
                    CLI.warn(
                        "skipped \(encoded.skippedCount) character(s) of \(file) not in the model's vocabulary: \(CLI.describe(encoded.skipped))"
                    )
                }
                let result = try model.evaluate(text, skipUnknown: true)
                let loss = result.meanLoss
                let accuracy = result.count > 0 ? Double(result.correct) / Double(result.count) : .nan
                // The change is taken against the same generation path in float32, so it is the weights' alone.
                let stepwise = try int8 ? model.evaluateStepwise(text, precision: .float32, skipUnknown: true) : nil
                let quantized = try int8 ? model.evaluateStepwise(text, precision: .int8, skipUnknown: true) : nil
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
                    if let stepwise, let quantized {
                        o.set("float32_stepwise_loss", stepwise.meanLoss)
                        o.set("int8_loss", quantized.meanLoss)
                        o.set("int8_loss_change", quantized.meanLoss - stepwise.meanLoss)
                        o.set("int8_accuracy", Double(quantized.correct) / Double(max(quantized.count, 1)))
                    }
                    print(o.text)
                } else {
                    print("model \(path) on \(file): \(encoded.indices.count) characters")
                    print("loss \(CLI.fixed(loss, 4)) nats/char (\(CLI.fixed(loss / log(2.0), 4)) bits/char)")
                    print("perplexity \(CLI.fixed(exp(loss), 4))")
                    print("accuracy \(CLI.fixed(100 * accuracy, 2))%")
                    if let stepwise, let quantized {
                        let change = quantized.meanLoss - stepwise.meanLoss
                        // Enough decimals for the change's first significant digit: it is often ~1e-5.
                        var digits = 5
                        while digits < 9 && change != 0 && abs(change) < 0.5 * pow(10, -Double(digits)) { digits += 1 }
                        print(
                            "int8 weights (generation path): loss \(CLI.fixed(quantized.meanLoss, digits)) nats/char, "
                                + "\(change >= 0 ? "+" : "")\(CLI.fixed(change, digits)) against float32 on the same path "
                                + "(\(CLI.fixed(stepwise.meanLoss, digits)))")
                    }
                }
            }
        }
    }
}
