#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN

/// Where `charrnn` and `charrnn-repl` find a model: one search, so that both programs take the same
/// model from the same arguments, environment and folder.
///
/// A model is named by `--model` (a file, or a folder `charrnn train --out` wrote), else by
/// `$CHARRNN_MODEL`, else it is the bundled `models/default.safetensors`.
public enum ModelLocation {
    public static let environmentVariable = "CHARRNN_MODEL"
    public static let bundledName = "models/default.safetensors"
    /// Where `make install` puts the bundled model, relative to PREFIX.
    public static let installedName = "share/charrnn/default.safetensors"

    /// The path `$CHARRNN_MODEL` names, or nil when it is unset or empty. The variable is set on purpose,
    /// so a path that does not exist is a mistake to report, never a reason to fall back to another model.
    /// - Throws: `CharRNNError.io` when it names nothing that exists.
    public static func environmentPath() throws -> String? {
        guard let value = getenv(environmentVariable).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        var status = stat()
        guard stat(value, &status) == 0 else {
            throw CharRNNError.io("\(environmentVariable) names \(value): \(FileIO.openFailure())")
        }
        return value
    }

    /// Where the default model is looked for, in order: `$CHARRNN_MODEL` when set, then the repository's
    /// models/ folder seen from the executable (`<exe dir>/../../models/default.safetensors`, which is
    /// the repository's for .build/release/charrnn), then an installed prefix's
    /// (`<exe dir>/../share/charrnn/default.safetensors`), then ./models/default.safetensors.
    /// - Throws: what `environmentPath()` throws.
    public static func defaultCandidates() throws -> [String] {
        var candidates: [String] = []
        if let environment = try environmentPath() { candidates.append(environment) }
        let invoked = CommandLine.arguments.first ?? ""
        // Lexically: .build/release is a symbolic link, so the kernel would resolve ".." from its target.
        if invoked.contains("/") {
            candidates.append(lexicallyNormalized(FileIO.directory(of: invoked) + "/../../" + bundledName))
        }
        if let executable = Executable.path() {
            let folder = FileIO.directory(of: executable)
            candidates.append(folder + "/../../" + bundledName)
            candidates.append(folder + "/../../../" + bundledName)  // .build/release links to .build/<triple>/release
            candidates.append(lexicallyNormalized(folder + "/../" + installedName))  // PREFIX/bin -> PREFIX/share
        }
        candidates.append(lexicallyNormalized("./" + bundledName))  // the same spelling as a relative invocation's
        var seen = Set<String>()
        return candidates.filter { seen.insert($0).inserted }
    }

    /// The first default candidate that exists, or nil with the places looked in.
    /// - Throws: what `environmentPath()` throws.
    public static func findDefault() throws -> (path: String?, lookedIn: [String]) {
        let candidates = try defaultCandidates()
        return (candidates.first(where: FileIO.exists), candidates)
    }

    /// The model file to use: `given` (resolved as `resolve` does) when there is one, else the first
    /// default candidate that exists.
    /// - Throws: `CharRNNError.io` naming every place looked in when there is no model.
    public static func find(_ given: String?) throws -> String {
        if let given { return try resolve(given) }
        let (found, lookedIn) = try findDefault()
        guard let found else {
            throw CharRNNError.io(
                "no model given and the bundled model was not found; pass --model FILE or set "
                    + "\(environmentVariable) (looked in: \(lookedIn.joined(separator: ", ")))")
        }
        return try resolve(found)
    }

    /// The model file a path names: the path itself, or for a folder its model.safetensors, else the
    /// latest.safetensors checkpoint `charrnn train --out` writes, else its only .safetensors file.
    /// - Throws: `CharRNNError.io` when nothing is there, or the folder holds no model or several.
    public static func resolve(_ path: String) throws -> String {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw CharRNNError.io("cannot open \(path): \(FileIO.openFailure())")
        }
        guard (status.st_mode & S_IFMT) == S_IFDIR else { return path }
        for preferred in ["model.safetensors", "latest.safetensors"] where FileIO.exists(path + "/" + preferred) {
            return path + "/" + preferred
        }
        let found = safetensorsFiles(in: path)
        guard found.count == 1 else {
            throw CharRNNError.io(
                found.isEmpty
                    ? "\(path) is a folder without a .safetensors model"
                    : "\(path) holds several models (\(found.sorted().joined(separator: ", "))); name one")
        }
        return path + "/" + found[0]
    }

    /// Loads the model `find(given)` names; returns it with its file. A Keras file (.keras, .h5) is
    /// imported with `keras` (its characters, from --vocab-from or --vocab), the importer's report going
    /// to `note`; without `keras` it is refused with the way to give them.
    public static func load(
        _ given: String?, keras: KerasImport.Request? = nil,
        note: (String) -> Void = { _ in }
    ) throws -> (model: Model, file: String) {
        let file = try find(given)
        if KerasImport.isKerasFile(file) {
            guard let keras else { throw KerasImport.needsVocabulary(file) }
            return (try KerasImport.load(file, keras, note: note), file)
        }
        if keras != nil {
            note("--vocab-from and --vocab are for Keras models; \(file) holds its own vocabulary: ignored")
        }
        return (try Model.load(file), file)
    }

    // MARK: paths

    private static func safetensorsFiles(in folder: String) -> [String] {
        guard let directory = opendir(folder) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name.hasSuffix(".safetensors") { names.append(name) }
        }
        return names
    }

    /// Removes "." and "dir/.." components without following symbolic links.
    static func lexicallyNormalized(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if part == "..", absolute, parts.isEmpty { continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}
