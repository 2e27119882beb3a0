/// Models on disk: safetensors whose metadata names the format and holds the configuration and the
/// vocabulary; tensors are named "<layer>.<weight>" in the Keras layout. Checkpoints add tensors
/// prefixed "optimizer." and a "training" metadata entry.
package enum ModelFile {
    static let formatName = "charrnn"
    static let formatVersion = 1

    /// What a file holds besides the model: checkpoint data, if any.
    package struct Extras {
        var tensors: [String: SafeTensors.Tensor] = [:]
        var metadata: [String: String] = [:]
        init(tensors: [String: SafeTensors.Tensor] = [:], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    /// The file's bytes for a model (and checkpoint extras).
    static func encode(_ model: Model, extras: Extras = Extras()) -> [UInt8] {
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
    static func save(_ model: Model, to path: String, extras: Extras = Extras()) throws {
        // The file is built in memory before it is written: a copy of each tensor, then the file's bytes
        // (the tensors again and a header of a few KB).
        let tensorBytes = (model.layout.totalCount + extras.tensors.values.reduce(0) { $0 + $1.values.count }) * 4
        try MemoryBudget.ensure(
            2 * Double(tensorBytes) + Double(1 << 20) + Double(extras.metadata.values.reduce(0) { $0 + $1.utf8.count })
                * 2,
            for: "writing \(path)")
        try FileIO.writeAtomically(encode(model, extras: extras), to: path)
    }

    /// The most optimizer slots a checkpoint holds (Adam keeps two vectors, RMSprop and Adagrad one).
    static let maxOptimizerSlots = 4

    /// Reads a model from bytes. The whole header is checked first — its structure (`SafeTensors.Index`),
    /// then the metadata, then that the tensors are exactly those the configuration requires, with their
    /// shapes — and only then is anything the file describes allocated and copied.
    static func decode(_ bytes: [UInt8]) throws -> (model: Model, extras: Extras) {
        try bytes.withUnsafeBytes { raw in
            let index = try SafeTensors.Index(raw)
            var metadata = index.metadata
            let (config, vocabulary) = try modelDescription(metadata)
            let layout = ParameterLayout(config: config)
            try checkTensorNames(index, layout: layout, config: config, isCheckpoint: metadata["training"] != nil)
            let parameters = ParameterBuffer(count: layout.totalCount, hugePages: true)
            for t in layout.tensors {
                guard let entry = index.entry(named: t.name) else {
                    throw CharRNNError.format("tensor \(t.name) is missing")
                }
                let destination = UnsafeMutableRawBufferPointer(
                    start: parameters.pointer + t.offset, count: t.count * 4)
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[entry.begin..<entry.end]))
                for i in 0..<t.count {
                    let value = Float(bitPattern: UInt32(littleEndian: parameters.pointer[t.offset + i].bitPattern))
                    guard value.isFinite else { throw CharRNNError.format("tensor \(t.name) holds a non-finite value") }
                    parameters.pointer[t.offset + i] = value
                }
            }
            for key in ["format", "format_version", "config", "vocab"] { metadata[key] = nil }
            var extras = Extras(metadata: metadata)
            for entry in index.entries where layout.tensor(named: entry.name) == nil {
                extras.tensors[entry.name] = index.tensor(entry, in: raw)
            }
            return (Model(config: config, vocabulary: vocabulary, parameters: parameters), extras)
        }
    }

    /// The configuration and vocabulary a file's metadata describes, checked against each other.
    private static func modelDescription(_ metadata: [String: String]) throws -> (ModelConfig, Vocabulary) {
        guard metadata["format"] == formatName else {
            throw CharRNNError.format(
                "not a charrnn model: metadata \"format\" is \(metadata["format"].map { "\"\($0.prefix(80))\"" } ?? "missing")"
            )
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
        do { vocabulary = try Vocabulary(characters: Array(vocabText.unicodeScalars)) } catch let error as CharRNNError
        {
            throw CharRNNError.format("the model's vocabulary is invalid: \(error)")
        }
        guard vocabulary.count == config.vocabSize else {
            throw CharRNNError.format(
                "the config says vocab_size \(config.vocabSize) but the vocabulary has \(vocabulary.count) characters")
        }
        return (config, vocabulary)
    }

    /// Checks that the file holds exactly the tensors the configuration requires, with its shapes, plus
    /// (in a checkpoint) the optimizer's slots — each the size of all the parameters — and the carried
    /// recurrent state: a whole number of sequences' states.
    private static func checkTensorNames(
        _ index: SafeTensors.Index, layout: ParameterLayout, config: ModelConfig,
        isCheckpoint: Bool
    ) throws {
        for t in layout.tensors {
            guard let stored = index.entry(named: t.name) else {
                throw CharRNNError.format("tensor \(t.name) is missing")
            }
            guard stored.shape == t.shape else {
                throw CharRNNError.format("tensor \(t.name) has shape \(stored.shape), the config needs \(t.shape)")
            }
        }
        let statePerSequence = config.layers.reduce(0) { $0 + $1.units * ($1.cell == .lstm ? 2 : 1) }
        var slots = 0
        for entry in index.entries where layout.tensor(named: entry.name) == nil {
            guard isCheckpoint else {
                throw CharRNNError.format(
                    "unexpected tensor \(entry.name.prefix(200)) (a model file holds only the model's tensors)")
            }
            if entry.name == "training.carried_state" {
                guard entry.shape.count == 1, entry.shape[0] % max(statePerSequence, 1) == 0 else {
                    throw CharRNNError.format(
                        "tensor training.carried_state has shape \(entry.shape), not a whole number of states of \(statePerSequence) values"
                    )
                }
            } else if entry.name.hasPrefix("optimizer.slot"), let k = Int(entry.name.dropFirst("optimizer.slot".count)),
                String(k) == entry.name.dropFirst("optimizer.slot".count), (0..<maxOptimizerSlots).contains(k)
            {
                guard entry.shape == [layout.totalCount] else {
                    throw CharRNNError.format(
                        "tensor \(entry.name) has shape \(entry.shape), the model needs [\(layout.totalCount)]")
                }
                slots += 1
            } else {
                throw CharRNNError.format("unexpected tensor \(entry.name.prefix(200))")
            }
        }
        for k in 0..<slots where index.entry(named: "optimizer.slot\(k)") == nil {
            throw CharRNNError.format("tensor optimizer.slot\(k) is missing (the file has \(slots) optimizer slots)")
        }
    }

    /// Loads a model or checkpoint file.
    package static func load(_ path: String) throws -> (model: Model, extras: Extras) {
        // The file's bytes, then the parameters and any extra tensors copied out of them.
        // The bytes, the copies of the tensors, and the header's JSON (up to two bytes per byte).
        let bytes: [UInt8]
        do { bytes = try FileIO.read(path, memoryPerByte: 4) } catch CharRNNError.outOfMemory(let message) {
            // A Keras file too large to read is still a Keras file: say so rather than ask for memory.
            if let kind = KerasFile.kind(atPath: path) {
                throw CharRNNError.format(KerasFile.notACharRNNModel(path, kind))
            }
            throw CharRNNError.outOfMemory(message)
        }
        do {
            return try decode(bytes)
        } catch CharRNNError.format(let message) {
            // A Keras file fails as a safetensors header "longer than the file": name what it is instead.
            if let kind = KerasFile.kind(of: bytes) {
                throw CharRNNError.format(KerasFile.notACharRNNModel(path, kind))
            }
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
