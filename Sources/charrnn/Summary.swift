import ArgumentParser
import CharRNN
import CommandLineSupport

/// `charrnn summary`: the Keras-style table of a model.
struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a model's layers and parameter counts.")

    @Option(
        help:
            "Model or checkpoint file, or a folder `train --out` wrote (default: $CHARRNN_MODEL, else the bundled model)."
    ) var model: String?
    @OptionGroup var keras: KerasVocabularyOptions

    func run() throws {
        try CLI.guarded {
            let (model, path) = try CLI.loadModel(self.model, keras)
            print("\(path)")
            print(model.summary, terminator: "")
            print("Vocabulary: \(model.vocabulary.count) characters")
        }
    }
}
