/// Everything that shapes a training run; the `charrnn train` flags and `charrnn_train_params` map onto it.
public struct TrainingOptions: Codable, Equatable, Sendable {
    // The model, when one is created.
    /// The cell of every layer.
    public var cell: CellKind = .lstm
    /// The number of recurrent layers.
    public var layers = 2
    /// Units per layer.
    public var hidden = 128
    /// Embedding width; 0 = one-hot input.
    public var embedding = 0
    /// Dropout rate after each recurrent layer, in [0, 1).
    public var dropout: Float = 0

    // The data.
    /// How the text is read: normalisation (which the model stores), length and validation split.
    /// Saved in checkpoints beside the options (`CheckpointState`), not in their JSON.
    public var text = Corpus.Options()
    /// How the text is cut into training examples.
    public var objective: Objective = .sequence
    /// Characters per example: the steps backpropagation goes through.
    public var seqLength = 50
    /// Window objective: characters between window starts.
    public var windowStep = 3
    /// Examples per update.
    public var batchSize = 50

    // The update.
    /// The update rule (default: Adam at 2e-3).
    public var optimizer = OptimizerConfig(kind: .adam, learningRate: 2e-3)
    /// Gradient clipping (default: global norm 5).
    public var clipping = GradientClipping(globalNorm: 5)
    /// How the learning rate changes.
    public var schedule: LearningRateSchedule = .constant

    // How long.
    /// Passes over the training text.
    public var epochs = 10
    /// The most updates; 0 = no limit.
    public var maxSteps = 0
    /// Seconds; 0 = no limit.
    public var maxTime: Double = 0
    /// Seeds the new model's weights, the window order and dropout.
    public var seed: UInt64 = 42

    // Validation and checkpoints.
    /// Validate every this many steps; 0 = at the end of each epoch.
    public var evalEvery = 0
    /// Checkpoint folder; nil = no checkpoints.
    public var outDir: String?

    enum CodingKeys: String, CodingKey {
        case cell, layers, hidden, embedding, dropout, objective, seqLength, windowStep, batchSize, optimizer,
            clipping, schedule, epochs, maxSteps, maxTime, seed, evalEvery, outDir
    }

    /// The defaults: a 2-layer LSTM of 128 units, batches of 50 sequences of 50 characters, Adam at
    /// 2e-3 with gradients clipped to a global norm of 5, 10 epochs.
    public init() {}

    /// Checks ranges, naming the bad option.
    /// - Throws: `CharRNNError.config`.
    public func validate() throws {
        guard layers >= 1, layers <= ModelConfig.maxLayers else {
            throw CharRNNError.config("layers must be in 1...\(ModelConfig.maxLayers), got \(layers)")
        }
        guard hidden >= 1, hidden <= ModelConfig.maxUnits else {
            throw CharRNNError.config("hidden must be in 1...\(ModelConfig.maxUnits), got \(hidden)")
        }
        guard embedding >= 0, embedding <= ModelConfig.maxUnits else {
            throw CharRNNError.config("embedding must be in 0...\(ModelConfig.maxUnits), got \(embedding)")
        }
        guard dropout >= 0, dropout < 1 else { throw CharRNNError.config("dropout must be in [0, 1), got \(dropout)") }
        guard seqLength >= 1, seqLength <= 100_000 else {
            throw CharRNNError.config("seq_length must be in 1...100000, got \(seqLength)")
        }
        guard windowStep >= 1 else { throw CharRNNError.config("step must be >= 1, got \(windowStep)") }
        guard batchSize >= 1, batchSize <= 100_000 else {
            throw CharRNNError.config("batch_size must be in 1...100000, got \(batchSize)")
        }
        guard batchSize * seqLength <= 50_000_000 else {
            throw CharRNNError.config("batch_size × seq_length is too large")
        }
        guard epochs >= 1, epochs <= 1_000_000 else {
            throw CharRNNError.config("epochs must be in 1...1000000, got \(epochs)")
        }
        guard maxSteps >= 0, maxSteps <= 1 << 40 else { throw CharRNNError.config("max_steps must be in 0...2^40") }
        guard maxTime >= 0, maxTime.isFinite else { throw CharRNNError.config("max_time must be >= 0") }
        guard text.valFraction >= 0, text.valFraction < 1 else {
            throw CharRNNError.config("val_fraction must be in [0, 1), got \(text.valFraction)")
        }
        guard text.maxChars >= 0 else { throw CharRNNError.config("max_chars must be >= 0, got \(text.maxChars)") }
        guard evalEvery >= 0 else { throw CharRNNError.config("eval_every must be >= 0") }
        if let v = clipping.value {
            guard v > 0, v.isFinite else { throw CharRNNError.config("clip_value must be > 0") }
        }
        if let v = clipping.globalNorm {
            guard v > 0, v.isFinite else { throw CharRNNError.config("clip_norm must be > 0") }
        }
        switch schedule {
        case .constant: break
        case .exponential(let decay, let every, _):
            guard decay > 0, decay <= 1, every >= 1 else {
                throw CharRNNError.config("lr decay must be in (0, 1] every >= 1 steps")
            }
        case .perEpoch(let decay, let after):
            guard decay > 0, decay <= 1, after >= 0 else {
                throw CharRNNError.config("lr decay must be in (0, 1] after >= 0 epochs")
            }
        case .budget(let budget): try budget.validate()
        }
        try optimizer.validate()
    }

    /// The configuration of a new model for a vocabulary of `vocabSize`. It keeps the text's
    /// normalisation and, for the window objective, the window, which generation then uses by default.
    public func modelConfig(vocabSize: Int) -> ModelConfig {
        var config = ModelConfig.stacked(
            cell: cell, layers: layers, units: hidden, vocabSize: vocabSize,
            embeddingDim: embedding, dropout: dropout)
        config.normalization = text.normalization
        config.window = objective == .window ? seqLength : 0
        return config
    }
}
