import Synchronization

/// A character-level recurrent language model: configuration, vocabulary and weights.
///
/// Make one with `init(config:vocabulary:seed:)` (fresh weights), `Model.load(_:)` (a model or checkpoint
/// file) or a `Trainer`; generate with a `Session`; score text with `evaluate(_:skipUnknown:interrupt:)`
/// and `probabilities(_:)`; write it with `save(to:)`.
///
/// A model is immutable once shared: sessions on many threads may read it at once. Only
/// `setWeights(layer:weight:values:shape:)` and a `Trainer` that owns it write to its weights.
public final class Model: @unchecked Sendable {
    /// The architecture.
    public let config: ModelConfig
    /// The characters the model reads and predicts, in index order.
    public let vocabulary: Vocabulary
    /// The names and shapes of the weight tensors, in the Keras layout (`"rnn0.kernel"`, …).
    public let layout: ParameterLayout
    /// All weights, in `layout` order. Whoever writes to them directly calls `weightsDidChange()` after.
    package let parameters: ParameterBuffer
    /// The copies sessions multiply with, per precision, made when the first session asks.
    private let stepWeightsCache = Mutex<[WeightPrecision: StepWeights]>([:])

    /// A model with fresh, seeded Keras-like weights (Glorot-uniform kernels, orthogonal recurrent
    /// kernels, zero biases with an LSTM's forget bias at 1).
    /// - Parameters:
    ///   - config: the architecture; a `vocabSize` of 0 takes the vocabulary's size.
    ///   - vocabulary: the characters, in index order.
    ///   - seed: the seed of the initial weights.
    /// - Throws: `CharRNNError.config` when the configuration is invalid or disagrees with the vocabulary,
    ///   `CharRNNError.outOfMemory` when the weights would not fit.
    public init(config: ModelConfig, vocabulary: Vocabulary, seed: UInt64 = 0) throws {
        var config = config
        if config.vocabSize == 0 { config.vocabSize = vocabulary.count }
        guard config.vocabSize == vocabulary.count else {
            throw CharRNNError.config(
                "the config says vocab_size \(config.vocabSize) but the vocabulary has \(vocabulary.count) characters")
        }
        try config.validate()
        let layout = ParameterLayout(config: config)
        try MemoryBudget.ensure(
            count: layout.totalCount, bytesEach: MemoryLayout<Float>.size,
            for: "a model of \(layout.totalCount) parameters")
        self.config = config
        self.vocabulary = vocabulary.normalizing(config.normalization)
        self.layout = layout
        parameters = ParameterBuffer(count: layout.totalCount, hugePages: true)
        Initialization.initialize(parameters.pointer, layout: layout, config: config, seed: seed)
    }

    /// A model with the given weights (as read from a file).
    init(config: ModelConfig, vocabulary: Vocabulary, parameters: ParameterBuffer) {
        self.config = config
        self.vocabulary = vocabulary.normalizing(config.normalization)
        layout = ParameterLayout(config: config)
        self.parameters = parameters
    }

    /// An independent copy (weights copied).
    public func copy() -> Model {
        Model(config: config, vocabulary: vocabulary, parameters: parameters.copy())
    }

    /// Identifies the architecture and vocabulary, so a session state is never restored into another model.
    var fingerprint: UInt64 {
        fnv1a(Array(vocabulary.string.utf8), seed: fnv1a(Array(config.jsonString.utf8)))
    }

    /// Trainable parameters, counted as Keras counts them.
    public var parameterCount: Int { layout.totalCount }

    /// Bytes of the recurrent state of one sequence: h for every layer, and c for LSTM layers.
    var recurrentStateCount: Int {
        config.layers.reduce(0) { $0 + $1.units * ($1.cell == .lstm ? 2 : 1) }
    }

    /// The values of weight `weight` of layer `layer` ("rnn0", "kernel"), row-major, Keras layout.
    /// - Returns: a copy of the values and the tensor's shape.
    /// - Throws: `CharRNNError.notFound` naming the model's tensors when there is no such tensor.
    public func weights(layer: String, weight: String) throws -> (values: [Float], shape: [Int]) {
        let tensor = try lookup(layer: layer, weight: weight)
        return (
            Array(UnsafeBufferPointer(start: parameters.pointer + tensor.offset, count: tensor.count)), tensor.shape
        )
    }

    /// Replaces a weight tensor; `shape` must equal the model's. Sessions made before the change keep the
    /// weights they started with: make new ones.
    /// - Parameters:
    ///   - values: row-major values in the Keras layout, every one finite.
    ///   - shape: the tensor's shape, as `weights(layer:weight:)` and `layout` give it.
    /// - Throws: `CharRNNError.notFound` for an unknown tensor, `CharRNNError.shape` for another shape or
    ///   count, `CharRNNError.invalidArgument` for a value that is not finite. Nothing changes then.
    public func setWeights(layer: String, weight: String, values: [Float], shape: [Int]) throws {
        try values.withUnsafeBufferPointer { try setWeights(layer: layer, weight: weight, values: $0, shape: shape) }
    }

    /// Like `setWeights(layer:weight:values:shape:)` with the values in a buffer.
    public func setWeights(layer: String, weight: String, values: UnsafeBufferPointer<Float>, shape: [Int]) throws {
        let tensor = try lookup(layer: layer, weight: weight)
        guard shape == tensor.shape else {
            throw CharRNNError.shape("\(tensor.name) has shape \(tensor.shape), got \(shape)")
        }
        guard values.count == tensor.count, let base = values.baseAddress else {
            throw CharRNNError.shape("\(tensor.name) needs \(tensor.count) values, got \(values.count)")
        }
        for i in 0..<values.count where !values[i].isFinite {
            throw CharRNNError.invalidArgument("\(tensor.name)[\(i)] is not finite (\(values[i]))")
        }
        (parameters.pointer + tensor.offset).update(from: base, count: tensor.count)
        weightsDidChange()
    }

    /// Forgets the copies of the weights that sessions multiply with, so that the next session copies the
    /// weights as they are now. Sessions made before a change are not meant to see it (they keep their
    /// copies of the matrices): make new ones.
    package func weightsDidChange() {
        stepWeightsCache.withLock { $0.removeAll() }
    }

    /// The bytes a new session of `precision` would allocate: its own buffers, and the batch-1 copy of
    /// the weights when no session of that precision has made it yet.
    func sessionBytesNeeded(_ precision: WeightPrecision) -> Double {
        // Each layer's step buffers (Generation/Steps: gate sums, a GRU's projections and rows): at most 2·G·U + 2U.
        let steps = config.layers.reduce(0) { $0 + 2 * $1.cell.gateCount * $1.units + 2 * $1.units }
        return sessionWeightsCopyBytes(precision) + Double(recurrentStateCount + steps + 4 * config.vocabSize) * 4
    }

    /// The bytes of the batch-1 copy of the weights in `precision`, or 0 once a session has made it.
    func sessionWeightsCopyBytes(_ precision: WeightPrecision) -> Double {
        let copyMade = stepWeightsCache.withLock { $0[precision] != nil }
        // Packed float32 columns are padded to whole panels; 8-bit copies hold a scale per 32 rows.
        return copyMade ? 0 : Double(parameterCount) * (precision == .float32 ? 4.5 : 1.5)
    }

    /// The batch-1 copies of the weights in `precision`, shared by every session of this model.
    func stepWeights(_ precision: WeightPrecision) -> StepWeights {
        stepWeightsCache.withLock { cache in
            if let made = cache[precision] { return made }
            let made = StepWeights(model: self, precision: precision)
            cache[precision] = made
            return made
        }
    }

    private func lookup(layer: String, weight: String) throws -> ParameterLayout.Tensor {
        guard let tensor = layout.tensor(named: "\(layer).\(weight)") else {
            let names = layout.tensors.map(\.name).joined(separator: ", ")
            throw CharRNNError.notFound("no weight \"\(weight)\" in layer \"\(layer)\"; the model has: \(names)")
        }
        return tensor
    }
}
