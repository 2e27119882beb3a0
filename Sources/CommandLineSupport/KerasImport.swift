#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CharRNN

/// The characters of a Keras model, for the commands that take `--model` and import a Keras file there.
public struct KerasVocabularyOptions: ParsableArguments {
    @Option(
        name: .customLong("vocab-from"),
        help: ArgumentHelp(
            "With a Keras --model (.keras, .h5): the text it was trained on; its sorted characters are the vocabulary.",
            valueName: "file"))
    public var vocabFrom: String?

    @Option(
        help: ArgumentHelp(
            "With a Keras --model: its characters in index order, or a .json/.pkl file of them (a string, list, or ix2char/char2ix dict).",
            valueName: "chars"))
    public var vocab: String?

    public init() {}

    public func validate() throws {
        if vocabFrom != nil && vocab != nil { throw ValidationError("give either --vocab-from or --vocab, not both") }
    }

    /// The import these options ask for, or nil when they give no vocabulary.
    public var request: KerasImport.Request? {
        guard vocabFrom != nil || vocab != nil else { return nil }
        return KerasImport.Request(vocabFrom: vocabFrom, vocab: vocab)
    }
}

/// Keras model files where a charrnn model is taken: imported by the Python importer
/// (`python -m charrnn.keras import`), which reads Keras's HDF5 and checks the vocabulary against the text.
public enum KerasImport {
    /// What to import a Keras file with.
    public struct Request {
        public var vocabFrom: String?
        public var vocab: String?
        /// "lowercase" or "reduce_charset" when the model was trained on text normalised so; nil lets
        /// the importer choose the one under which the corpus has the model's number of characters.
        public var normalization: String?
        /// More importer options (--check-text FILE, --no-check, --recover-order, --window N, ...).
        public var options: [String]

        public init(
            vocabFrom: String? = nil, vocab: String? = nil, normalization: String? = nil, options: [String] = []
        ) {
            self.vocabFrom = vocabFrom
            self.vocab = vocab
            self.normalization = normalization
            self.options = options
        }

        /// The importer's arguments after `import FILE`.
        var arguments: [String] {
            var a: [String] = []
            // One argument each, `--name=value`: a vocabulary such as "-abc" is a value, not an option.
            if let vocabFrom { a.append("--vocab-from=" + vocabFrom) }
            if let vocab { a.append("--vocab=" + vocab) }
            a += ["--normalization", normalization ?? "auto"]
            return a + options
        }
    }

    /// The environment variable naming the Python to import with.
    public static let pythonVariable = "CHARRNN_PYTHON"

    /// Whether `path` is a Keras file (a zip archive or HDF5, told by its content).
    public static func isKerasFile(_ path: String) -> Bool { KerasFile.kind(atPath: path) != nil }

    /// The error for a Keras file given to a command without its characters.
    public static func needsVocabulary(_ path: String) -> CharRNNError {
        let kind = KerasFile.kind(atPath: path)?.description ?? "a Keras file"
        let q = KerasFile.shellQuoted(path)
        return .format(
            "\(path) is a Keras model (\(kind)), not a charrnn model, and Keras files hold no vocabulary: "
                + "give its characters with --vocab-from TEXT (the text it was trained on) or --vocab CHARS to import it "
                + "here, or convert it once: charrnn import \(q) --vocab-from TEXT -o \(KerasFile.shellQuoted(KerasFile.suggestedOutput(for: path)))"
        )
    }

    // MARK: running the importer

    /// Runs `python -m charrnn.keras import FILE ... -o OUTPUT`. Returns the importer's report, one line
    /// each (what it read, the vocabulary check, how sure a recovered order is), and the line that says what
    /// it wrote.
    /// - Throws: `CharRNNError.io` when no Python can run the importer, saying what to install;
    ///   `CharRNNError.format` with the importer's message when it refuses the file or the vocabulary.
    public static func convert(_ file: String, _ request: Request, to output: String) throws -> (
        report: [String], wrote: String
    ) {
        let python = try findPython()
        let result = try Subprocess.run(
            python, importArguments(file, request, output), searchPath: true, capture: .everything)
        let lines = result.text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard result.status == 0 else {
            let errors = lines.filter { $0.hasPrefix("error: ") }.map { String($0.dropFirst("error: ".count)) }
            let message = errors.isEmpty ? lines.suffix(5).joined(separator: "\n") : errors.joined(separator: "\n")
            let ending = "the importer (\(python)) ended with \(result.ending)"
            if case .signaled = result.ending {  // killed (the OOM killer, a timeout): its output is cut short
                throw CharRNNError.format(
                    "cannot import \(file): \(ending)" + (message.isEmpty ? "" : "; it wrote:\n\(message)"))
            }
            throw CharRNNError.format("cannot import \(file): " + (message.isEmpty ? ending : message))
        }
        return (
            lines.filter { !$0.hasPrefix("wrote ") }, lines.last(where: { $0.hasPrefix("wrote ") }) ?? "wrote \(output)"
        )
    }

    /// Imports `file` into a temporary model file and loads it; the temporary file is removed. The
    /// importer's report (the vocabulary check) goes to standard error through `note`; its refusal is the
    /// error thrown.
    /// - Throws: `CharRNNError.io` when no Python can run the importer; `CharRNNError.format` with the
    ///   importer's message when it refuses the file or the vocabulary.
    public static func load(_ file: String, _ request: Request, note: (String) -> Void) throws -> Model {
        let imported = try importToTemporary(file, request, note: note)
        defer { imported.remove() }
        return try Model.load(imported.path)
    }

    /// A model imported into a temporary folder, for a caller that needs a file (training's --resume).
    public final class TemporaryModel {
        /// The imported model's file.
        public let path: String
        let folder: String

        init(folder: String, path: String) {
            self.folder = folder
            self.path = path
        }

        /// Deletes the file and its folder.
        public func remove() {
            unlink(path)
            rmdir(folder)
        }
    }

    /// Imports `file` into `<temporary folder>/<its name>.safetensors`; the caller removes it.
    public static func importToTemporary(_ file: String, _ request: Request, note: (String) -> Void) throws
        -> TemporaryModel
    {
        _ = try findPython()  // before a folder is made for nothing
        let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/charrnn-import-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ $0.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw CharRNNError.io(
                "cannot create a temporary folder in \(base) to import \(file): \(String(cString: strerror(errno)))")
        }
        let folder = String(cString: made)
        let name =
            KerasFile.suggestedOutput(for: file).split(separator: "/").last.map(String.init) ?? "model.safetensors"
        let model = TemporaryModel(folder: folder, path: folder + "/" + name)
        do {
            for line in try convert(file, request, to: model.path).report { note("\(file): \(line)") }
            return model
        } catch {
            model.remove()
            throw error
        }
    }

    static func importArguments(_ file: String, _ request: Request, _ output: String) -> [String] {
        ["-m", "charrnn.keras", "import", file] + request.arguments + ["-o", output]
    }

    // MARK: finding Python

    /// The Python found by an earlier search in this process (the REPL's :model imports again).
    private static var found: String?

    /// A Python that can import charrnn.keras: `$CHARRNN_PYTHON` when set; else the repository's .venv
    /// when this program runs from a build tree (.build/release); else python3 on PATH.
    /// - Throws: `CharRNNError.io` naming each Python tried and why it cannot, and what to install.
    public static func findPython() throws -> String {
        if let found { return found }
        var tried: [String] = []
        for candidate in pythonCandidates() {
            let probe: Subprocess.Result
            do {
                probe = try Subprocess.run(
                    candidate, ["-c", "import charrnn.keras, h5py"], searchPath: true, capture: .everything)
            } catch {
                tried.append("\(candidate): \(error)")
                continue
            }
            if probe.status == 0 {
                found = candidate
                return candidate
            }
            let reason = probe.text.split(separator: "\n").last.map(String.init) ?? "exit status \(probe.status)"
            tried.append("\(candidate): \(reason)")
        }
        var advice = "install the charrnn Python package (it brings numpy and h5py) into a Python 3: "
        if let root = buildTreeRoot() {
            advice += "run `make python` in \(root) (it installs into \(root)/.venv, which charrnn then finds)"
        } else {
            advice +=
                "`make python` in the charrnn repository, or pip install the wheel `make wheel` builds (dist/charrnn-*.whl)"
        }
        advice += "; or set \(pythonVariable) to a Python that has it"
        throw CharRNNError.io(
            "importing a Keras model needs Python with the charrnn.keras importer, and none was found "
                + "(tried \(tried.joined(separator: "; "))): \(advice)")
    }

    static func pythonCandidates() -> [String] {
        if let value = getenv(pythonVariable).map({ String(cString: $0) }), !value.isEmpty { return [value] }
        var candidates: [String] = []
        if let root = buildTreeRoot() { candidates.append(root + "/.venv/bin/python") }
        candidates.append("python3")
        return candidates
    }

    /// The repository this program was built in, when it runs from there (.build/release/charrnn or
    /// .build/<triple>/release/charrnn) and the repository has a .venv.
    static func buildTreeRoot() -> String? {
        var folders: [String] = []
        let invoked = CommandLine.arguments.first ?? ""
        if invoked.contains("/") { folders.append(FileIO.directory(of: invoked)) }
        if let executable = Executable.path() { folders.append(FileIO.directory(of: executable)) }
        for folder in folders {
            for up in ["/../..", "/../../.."] {
                let root = ModelLocation.lexicallyNormalized(folder + up)
                if FileIO.exists(root + "/.venv/bin/python") && FileIO.exists(root + "/bindings/python/charrnn") {
                    return root
                }
            }
        }
        return nil
    }
}
