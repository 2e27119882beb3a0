#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The kind of recurrent cell, as in Keras.
public enum CellKind: String, Codable, Sendable, CaseIterable {
    /// Long short-term memory (Keras `LSTM`): gates i, f, c, o.
    case lstm
    /// Gated recurrent unit (Keras `GRU`): gates z, r, h.
    case gru
    /// A plain recurrent layer (Keras `SimpleRNN`).
    case rnn

    /// Gates per unit: the width multiplier of the kernels.
    package var gateCount: Int {
        switch self {
        case .lstm: return 4
        case .gru: return 3
        case .rnn: return 1
        }
    }

    /// The Keras class name, for summaries.
    package var kerasName: String {
        switch self {
        case .lstm: return "LSTM"
        case .gru: return "GRU"
        case .rnn: return "SimpleRNN"
        }
    }
}

/// How characters enter the first layer.
public enum InputEncoding: String, Codable, Sendable, CaseIterable {
    /// A one-hot vector of the vocabulary size (computed as a row gather).
    case onehot
    /// A learned embedding of `embeddingDim` columns.
    case embedding
    /// A single input `index / vocab_size`, as one of the Keras tutorials trains.
    case scalar
}

/// One recurrent layer.
public struct LayerConfig: Codable, Equatable, Sendable {
    /// The kind of cell.
    public var cell: CellKind
    /// The width of the layer's state, in 1...`ModelConfig.maxUnits`.
    public var units: Int
    /// The activation of the candidate and output (Keras `activation`).
    public var activation: Activation
    /// The gates' activation (Keras `recurrent_activation`); a SimpleRNN has no gates.
    public var recurrentActivation: GateActivation
    /// Whether the layer has a bias.
    public var useBias: Bool
    /// GRU only: apply the reset gate after the recurrent product (Keras 2.x+ and CuDNN default).
    public var resetAfter: Bool

    /// A layer; the defaults are Keras's.
    public init(
        cell: CellKind, units: Int, activation: Activation = .tanh,
        recurrentActivation: GateActivation = .sigmoid, useBias: Bool = true, resetAfter: Bool = true
    ) {
        self.cell = cell
        self.units = units
        self.activation = activation
        self.recurrentActivation = recurrentActivation
        self.useBias = useBias
        self.resetAfter = resetAfter
    }

    enum CodingKeys: String, CodingKey {
        case cell, units, activation
        case recurrentActivation = "recurrent_activation"
        case useBias = "use_bias"
        case resetAfter = "reset_after"
    }

    /// Decodes the snake_case JSON of model files; missing keys take the Keras defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cell = try c.decode(CellKind.self, forKey: .cell)
        units = try c.decode(Int.self, forKey: .units)
        activation = try c.decodeIfPresent(Activation.self, forKey: .activation) ?? .tanh
        recurrentActivation = try c.decodeIfPresent(GateActivation.self, forKey: .recurrentActivation) ?? .sigmoid
        useBias = try c.decodeIfPresent(Bool.self, forKey: .useBias) ?? true
        resetAfter = try c.decodeIfPresent(Bool.self, forKey: .resetAfter) ?? true
    }
}

/// The output layer: a Dense of vocabulary width.
public struct HeadConfig: Codable, Equatable, Sendable {
    /// What the output layer computes.
    public enum HeadActivation: String, Codable, Sendable {
        /// Probabilities.
        case softmax
        /// Logits, softmaxed wherever probabilities are needed.
        case linear
    }
    /// `softmax` gives probabilities; `linear` gives logits, softmaxed wherever probabilities are needed.
    public var activation: HeadActivation
    /// Whether the output layer has a bias.
    public var useBias: Bool

    /// An output layer; the defaults are Keras's.
    public init(activation: HeadActivation = .softmax, useBias: Bool = true) {
        self.activation = activation
        self.useBias = useBias
    }

    enum CodingKeys: String, CodingKey {
        case activation
        case useBias = "use_bias"
    }

    /// Decodes the snake_case JSON of model files; missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        activation = try c.decodeIfPresent(HeadActivation.self, forKey: .activation) ?? .softmax
        useBias = try c.decodeIfPresent(Bool.self, forKey: .useBias) ?? true
    }
}

/// Everything that defines a model's architecture. Serialised as snake_case JSON in model files and
/// accepted by `charrnn_model_create`.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// The number of characters; 0 in a configuration that takes it from the vocabulary.
    public var vocabSize: Int
    /// How characters enter the first layer.
    public var input: InputEncoding
    /// The embedding's width for `.embedding` input; 0 otherwise.
    public var embeddingDim: Int
    /// The recurrent layers, bottom first.
    public var layers: [LayerConfig]
    /// Dropout rate applied to each recurrent layer's output while training.
    public var dropout: Float
    /// The output layer.
    public var head: HeadConfig
    /// How text is normalised before its characters are looked up (`--lowercase`, `--reduce-charset`).
    public var normalization: TextNormalization
    /// The window the model was trained on (`--objective window`, or a Keras model whose input shape
    /// fixes its length): generation then re-runs the last `window` characters from a zero state for each
    /// new character, as the Keras tutorials' loop does. 0: the state is carried (stateful generation).
    public var window: Int

    /// A configuration, not yet validated (see `validate()`).
    public init(
        vocabSize: Int, input: InputEncoding = .onehot, embeddingDim: Int = 0,
        layers: [LayerConfig], dropout: Float = 0, head: HeadConfig = HeadConfig(),
        normalization: TextNormalization = .none, window: Int = 0
    ) {
        self.vocabSize = vocabSize
        self.input = input
        self.embeddingDim = embeddingDim
        self.layers = layers
        self.dropout = dropout
        self.head = head
        self.normalization = normalization
        self.window = window
    }

    /// A stack of `count` identical layers.
    public static func stacked(
        cell: CellKind, layers count: Int, units: Int, vocabSize: Int,
        embeddingDim: Int = 0, dropout: Float = 0
    ) -> ModelConfig {
        ModelConfig(
            vocabSize: vocabSize, input: embeddingDim > 0 ? .embedding : .onehot,
            embeddingDim: embeddingDim,
            layers: Array(repeating: LayerConfig(cell: cell, units: units), count: count),
            dropout: dropout)
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case input
        case embeddingDim = "embedding_dim"
        case layers, dropout, head, normalization, window
    }

    /// Decodes the snake_case JSON of model files (see `fromJSON(_:vocabSize:)`, which also validates).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? 0
        input = try c.decodeIfPresent(InputEncoding.self, forKey: .input) ?? .onehot
        embeddingDim = try c.decodeIfPresent(Int.self, forKey: .embeddingDim) ?? 0
        layers = try c.decode([LayerConfig].self, forKey: .layers)
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        head = try c.decodeIfPresent(HeadConfig.self, forKey: .head) ?? HeadConfig()
        normalization = try c.decodeIfPresent(TextNormalization.self, forKey: .normalization) ?? .none
        window = try c.decodeIfPresent(Int.self, forKey: .window) ?? 0
    }

    /// Encodes snake_case JSON. `normalization` and `window` are written only when set, so the files of
    /// models without them stay readable by version 0.2.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(input, forKey: .input)
        try c.encode(embeddingDim, forKey: .embeddingDim)
        try c.encode(layers, forKey: .layers)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(head, forKey: .head)
        if normalization != .none { try c.encode(normalization, forKey: .normalization) }
        if window != 0 { try c.encode(window, forKey: .window) }
    }

    /// The largest vocabulary. This and the other limits keep every size computation far from overflow
    /// and every allocation sane.
    public static let maxVocabSize = 1 << 21
    /// The widest layer or embedding.
    public static let maxUnits = 1 << 14
    /// The most recurrent layers.
    public static let maxLayers = 64
    /// The longest generation window.
    public static let maxWindow = 100_000

    /// Checks the configuration, naming the first problem found.
    /// - Throws: `CharRNNError.config`.
    public func validate() throws {
        guard vocabSize >= 1, vocabSize <= Self.maxVocabSize else {
            throw CharRNNError.config("vocab_size must be in 1...\(Self.maxVocabSize), got \(vocabSize)")
        }
        guard !layers.isEmpty, layers.count <= Self.maxLayers else {
            throw CharRNNError.config("a model needs 1...\(Self.maxLayers) recurrent layers, got \(layers.count)")
        }
        for (i, layer) in layers.enumerated() where layer.units < 1 || layer.units > Self.maxUnits {
            throw CharRNNError.config("layer \(i): units must be in 1...\(Self.maxUnits), got \(layer.units)")
        }
        switch input {
        case .embedding:
            guard embeddingDim >= 1, embeddingDim <= Self.maxUnits else {
                throw CharRNNError.config(
                    "embedding_dim must be in 1...\(Self.maxUnits) for input \"embedding\", got \(embeddingDim)")
            }
        case .onehot, .scalar:
            guard embeddingDim == 0 else {
                throw CharRNNError.config(
                    "embedding_dim must be 0 for input \"\(input.rawValue)\", got \(embeddingDim)")
            }
        }
        guard dropout >= 0, dropout < 1 else {
            throw CharRNNError.config("dropout must be in [0, 1), got \(dropout)")
        }
        guard window >= 0, window <= Self.maxWindow else {
            throw CharRNNError.config("window must be in 0...\(Self.maxWindow), got \(window)")
        }
    }

    /// The width of the first layer's input vector.
    var inputWidth: Int {
        switch input {
        case .onehot: return vocabSize
        case .embedding: return embeddingDim
        case .scalar: return 1
        }
    }

    /// Parses JSON (as written by `jsonString`), then validates.
    /// - Parameter vocabSize: the size of the vocabulary the model will have; fills a missing or zero
    ///   `vocab_size` and must agree with a given one.
    /// - Throws: `CharRNNError.config` naming the bad key or value.
    public static func fromJSON(_ text: String, vocabSize: Int? = nil) throws -> ModelConfig {
        var config: ModelConfig
        do {
            // The strict reader names duplicate keys and out-of-range numbers, and decoding from its tree
            // names a value of the wrong kind with its path: Foundation's decoder resolves the first
            // silently and reports the others as "not valid JSON".
            config = try JSONValueDecoder.decode(ModelConfig.self, from: text, maxValues: 100_000)
        } catch CharRNNError.format(let message) {
            throw CharRNNError.config("model config JSON: \(message)")
        } catch let error as DecodingError {
            throw CharRNNError.config("model config JSON: \(describe(error))")
        }
        if let vocabSize {
            if config.vocabSize == 0 { config.vocabSize = vocabSize }
            guard config.vocabSize == vocabSize else {
                throw CharRNNError.config(
                    "the config says vocab_size \(config.vocabSize) but the vocabulary has \(vocabSize) characters")
            }
        }
        try config.validate()
        return config
    }

    /// Trainable parameters of the configuration, computed without allocating them.
    public var parameterCount: Int { ParameterLayout(config: self).totalCount }

    /// Canonical snake_case JSON, keys sorted, as model files store it and `fromJSON` reads it.
    public var jsonString: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain enums, numbers and strings cannot fail.
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// A one-line description of a JSON decoding error: the path to the bad key and what was wrong.
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
        keys.isEmpty ? "top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case .typeMismatch(_, let c): return "\(path(c.codingPath)): \(c.debugDescription)"
    case .valueNotFound(_, let c): return "\(path(c.codingPath)): \(c.debugDescription)"
    case .keyNotFound(let key, let c): return "\(path(c.codingPath + [key])): missing"
    case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
    @unknown default: return "\(error)"
    }
}
