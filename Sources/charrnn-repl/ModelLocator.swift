#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN

/// Finds and loads models: a file, or a folder holding one (as `charrnn train --out DIR` writes).
enum ModelLocator {
    static let bundledName = "models/default.safetensors"

    /// Where the default model is looked for, in order: $CHARRNN_MODEL when it names a file (REPLCommand
    /// refuses one that does not), then next to the executable
    /// (`<exe dir>/../../models/default.safetensors`, which is the repository's models/ folder for
    /// .build/release/charrnn-repl), then ./models/default.safetensors.
    static func defaultCandidates() -> [String] {
        var out: [String] = []
        if let env = try? ModelEnvironment.path() { out.append(env) }
        for dir in executableDirectories() { out.append(dir + "/../../" + bundledName) }
        out.append("./" + bundledName)
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    /// The folder of the executable as invoked (keeps the .build/release symlink) and as resolved.
    static func executableDirectories() -> [String] {
        var dirs: [String] = []
        let invoked = CommandLine.arguments.first ?? ""
        if invoked.contains("/") { dirs.append(FileIO.directory(of: invoked)) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 {
            buffer[n] = 0
            dirs.append(FileIO.directory(of: String(cString: buffer)))
        }
        return dirs
    }

    /// The model file a path names: the path itself, or for a folder its model.safetensors, else the
    /// latest.safetensors checkpoint `charrnn train --out` writes, else its only .safetensors file.
    static func resolve(_ path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CharRNNError.io("no such file: \(path)")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return path }
        for preferred in ["model.safetensors", "latest.safetensors"] where FileIO.exists(path + "/" + preferred) {
            return path + "/" + preferred
        }
        var found: [String] = []
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name.hasSuffix(".safetensors") { found.append(name) }
            }
            closedir(dir)
        }
        guard found.count == 1 else {
            throw CharRNNError.io(found.isEmpty ? "\(path) is a folder without a .safetensors model"
                : "\(path) holds several models (\(found.sorted().joined(separator: ", "))); name one")
        }
        return path + "/" + found[0]
    }

    static func load(_ path: String) throws -> (Model, String) {
        let file = try resolve(path)
        return (try Model.load(file), file)
    }

    /// One line describing a model: "LSTM 2×128 · 65 characters · 218,113 parameters".
    static func describe(_ model: Model) -> String {
        let layers = model.config.layers
        var shape: String
        if let first = layers.first, layers.allSatisfy({ $0.cell == first.cell && $0.units == first.units }) {
            shape = "\(first.cell.kerasName) \(layers.count)×\(first.units)"
        } else {
            shape = layers.map { "\($0.cell.kerasName) \($0.units)" }.joined(separator: " + ")
        }
        return "\(shape) · \(model.vocabulary.count) characters · \(Model.grouped(model.parameterCount)) parameters"
    }
}
