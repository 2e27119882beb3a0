#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import CharRNN
import CommandLineSupport

/// `charrnn import KERAS_FILE`: a Keras model (.keras, .h5) as a charrnn model file, through the Python
/// importer (`python -m charrnn.keras import`), which reads Keras's formats and checks the vocabulary.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Keras model (.keras, or .h5 from Keras 1, 2, 3 or tf.keras) to a charrnn model.",
        discussion: """
            Keras files hold no vocabulary: give the text the model was trained on (--vocab-from: its sorted \
            characters, as the Keras tutorials sorted them) or the characters in index order (--vocab: a string, \
            or a .json/.pkl file holding a string, a list, or an ix2char or char2ix dict). The imported model is \
            scored on that text (or --check-text) and refused when it does no better than chance there, the mark \
            of characters in the wrong order; --recover-order finds the order from the text. Runs \
            `python -m charrnn.keras import` with $CHARRNN_PYTHON, the repository's .venv when run from a build \
            tree, or python3.
            """)

    @Argument(help: ArgumentHelp("The Keras model file.", valueName: "keras-file")) var file: String
    @Option(
        name: .customLong("vocab-from"), help: ArgumentHelp("The text the model was trained on.", valueName: "file"))
    var vocabFrom: String?
    @Option(help: ArgumentHelp("The characters in index order, or a .json/.pkl file of them.", valueName: "chars"))
    var vocab: String?
    @Option(
        name: .shortAndLong,
        help: ArgumentHelp(
            "The charrnn model to write (default: the Keras file's name with .safetensors).", valueName: "file"))
    var output: String?
    @Flag(help: "The model was trained on lowercased text (stored in the model: text given to it is lowercased).")
    var lowercase = false
    @Flag(help: "The model was trained on text reduced to a-z and ,.?! \\n:;-' (others a space), lowercased.")
    var reduceCharset = false
    @Option(help: ArgumentHelp("Score the model on this text instead of the --vocab-from text.", valueName: "file"))
    var checkText: String?
    @Flag(help: "Do not score the model (for an untrained model, which scores about ln(V) whatever the order).")
    var noCheck = false
    @Flag(help: "Find the order of the characters that explains the text best, and report how sure it is.")
    var recoverOrder = false
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Generate by re-running the last N characters from a zero state (0: carry the state; default: the Keras input's fixed length, if any).",
            valueName: "n"))
    var window: Int?
    @Option(help: ArgumentHelp("Override the detected input encoding: onehot, scalar or embedding.", valueName: "kind"))
    var encoding: String?

    func validate() throws {
        if vocabFrom == nil && vocab == nil {
            throw ValidationError(
                "give the model's characters: --vocab-from TEXT (the text it was trained on) or --vocab CHARS")
        }
        if vocabFrom != nil && vocab != nil { throw ValidationError("give either --vocab-from or --vocab, not both") }
        if lowercase && reduceCharset { throw ValidationError("give either --lowercase or --reduce-charset, not both") }
        if checkText != nil && noCheck { throw ValidationError("give either --check-text or --no-check, not both") }
        if let window, window < 0 { throw ValidationError("--window must be >= 0, got \(window)") }
        if let encoding, !["onehot", "scalar", "embedding"].contains(encoding) {
            throw ValidationError("--encoding must be onehot, scalar or embedding, got \(encoding)")
        }
    }

    func run() throws {
        try CLI.guarded {
            close(try FileIO.openRegularFile(file))  // a missing file or a folder is named here, not by Python
            guard KerasImport.isKerasFile(file) else {
                throw CharRNNError.format("\(file) is not a Keras model file (neither a .keras zip archive nor HDF5)")
            }
            var options: [String] = []
            if let checkText { options += ["--check-text", checkText] }
            if noCheck { options.append("--no-check") }
            if recoverOrder { options.append("--recover-order") }
            if let window { options += ["--window", String(window)] }
            if let encoding { options += ["--encoding", encoding] }
            let request = KerasImport.Request(
                vocabFrom: vocabFrom, vocab: vocab,
                normalization: reduceCharset ? "reduce_charset" : lowercase ? "lowercase" : "none",
                options: options)
            let result = try KerasImport.convert(file, request, to: output ?? KerasFile.suggestedOutput(for: file))
            for line in result.report { CLI.note(line) }
            print(result.wrote)
        }
    }
}
