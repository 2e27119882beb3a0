/// Models on disk: safetensors whose metadata names the format and holds the configuration and the
/// vocabulary; tensors are named "<layer>.<weight>" in the Keras layout. Checkpoints add tensors
/// prefixed "optimizer." and a "training" metadata entry.
public enum ModelFile {
    public static let formatName = "charrnn"
    public static let formatVersion = 1

    /// What a file holds besides the model: checkpoint data, if any.
    public struct Extras {
        public var tensors: [String: SafeTensors.Tensor] = [:]
        public var metadata: [String: String] = [:]
        public init(tensors: [String: SafeTensors.Tensor] = [:], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    /// The file's bytes for a model (and checkpoint extras).
    public static func encode(_ model: Model, extras: Extras = Extras()) -> [UInt8] {
        var tensors = extras.tensors
        for t in model.layout.tensors {
            tensors[t.name] = SafeTensors.Tensor(
                shape: t.shape,
                values: Array(UnsafeBufferPointer(start: model.parameters.pointer + t.offset, count: t.count)))
        }
        var metadata = extras.metadata
        metadata["format"] = formatName
        metadata["format_version"] = String(formatVersion)
        metadata["config"] = model.config.jsonString
        metadata["vocab"] = model.vocabulary.string
        return SafeTensors.encode(tensors: tensors, metadata: metadata)
    }

    /// Writes a model atomically.
    public static func save(_ model: Model, to path: String, extras: Extras = Extras()) throws {
        try FileIO.writeAtomically(encode(model, extras: extras), to: path)
    }

    /// Reads a model from bytes, checking every tensor against the configuration.
    public static func decode(_ bytes: [UInt8]) throws -> (model: Model, extras: Extras) {
        let (tensors, metadata) = try SafeTensors.decode(bytes)
        guard metadata["format"] == formatName else {
            throw CharRNNError.format("not a charrnn model: metadata \"format\" is \(metadata["format"].map { "\"\($0)\"" } ?? "missing")")
        }
        guard let versionText = metadata["format_version"], let version = Int(versionText) else {
            throw CharRNNError.format("metadata \"format_version\" is missing or not a number")
        }
        guard version <= formatVersion else {
            throw CharRNNError.format("format version \(version) is newer than this library reads (\(formatVersion))")
        }
        guard let configText = metadata["config"] else { throw CharRNNError.format("metadata \"config\" is missing") }
        guard let vocabText = metadata["vocab"] else { throw CharRNNError.format("metadata \"vocab\" is missing") }
        let config: ModelConfig
        do { config = try ModelConfig.fromJSON(configText) } catch let error as CharRNNError {
            throw CharRNNError.format("the model's config is invalid: \(error)")
        }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(characters: Array(vocabText.unicodeScalars)) } catch let error as CharRNNError {
            throw CharRNNError.format("the model's vocabulary is invalid: \(error)")
        }
        guard vocabulary.count == config.vocabSize else {
            throw CharRNNError.format("the config says vocab_size \(config.vocabSize) but the vocabulary has \(vocabulary.count) characters")
        }
        // Every tensor is checked before the parameters are allocated, so that a small file whose config
        // claims huge layers is refused instead of allocating what the config says.
        let layout = ParameterLayout(config: config)
        for t in layout.tensors {
            guard let stored = tensors[t.name] else { throw CharRNNError.format("tensor \(t.name) is missing") }
            guard stored.shape == t.shape else {
                throw CharRNNError.format("tensor \(t.name) has shape \(stored.shape), the config needs \(t.shape)")
            }
            guard stored.values.allSatisfy(\.isFinite) else {
                throw CharRNNError.format("tensor \(t.name) holds a non-finite value")
            }
        }
        let parameters = ParameterBuffer(count: layout.totalCount, hugePages: true)
        for t in layout.tensors {
            tensors[t.name]!.values.withUnsafeBufferPointer { (parameters.pointer + t.offset).update(from: $0.baseAddress!, count: t.count) }
        }
        var extras = Extras(metadata: metadata)
        for key in ["format", "format_version", "config", "vocab"] { extras.metadata[key] = nil }
        for (name, tensor) in tensors where layout.tensor(named: name) == nil {
            guard name.hasPrefix("optimizer.") || name.hasPrefix("training.") else {
                throw CharRNNError.format("unexpected tensor \(name)")
            }
            extras.tensors[name] = tensor
        }
        return (Model(config: config, vocabulary: vocabulary, parameters: parameters), extras)
    }

    /// Loads a model or checkpoint file.
    public static func load(_ path: String) throws -> (model: Model, extras: Extras) {
        // The file's bytes, then the parameters and any extra tensors copied out of them.
        let bytes = try FileIO.read(path, memoryPerByte: 3)
        do {
            return try decode(bytes)
        } catch CharRNNError.format(let message) {
            throw CharRNNError.format("\(path): \(message)")
        }
    }
}

extension Model {
    /// Loads a model (or the model of a checkpoint).
    public static func load(_ path: String) throws -> Model { try ModelFile.load(path).model }

    /// Saves the model atomically.
    public func save(to path: String) throws { try ModelFile.save(self, to: path) }
}
