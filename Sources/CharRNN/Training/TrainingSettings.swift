/// The training options a caller gave — `charrnn train`'s flags, the set fields of `charrnn_train_params`,
/// Python's keyword arguments — each nil when not given. The rules that turn them into a run live here,
/// once, for every way in: the defaults of a new run, what a resumed run takes from its checkpoint, the
/// learning rate that goes with an optimizer, and how time and epochs limit a run.
public struct TrainingSettings: Sendable {
    // The model (a new run only: a resumed or fine-tuned model keeps its architecture).
    public var cell: CellKind?
    public var layers: Int?
    public var hidden: Int?
    public var embedding: Int?
    public var dropout: Float?
    // The data.
    public var objective: Objective?
    public var seqLength: Int?
    public var windowStep: Int?
    public var batchSize: Int?
    public var lowercase: Bool?
    public var reduceCharset: Bool?
    public var maxChars: Int?
    public var valFraction: Double?
    // The update.
    public var optimizer: OptimizerConfig.Kind?
    public var learningRate: Float?
    public var momentum: Float?
    public var nesterov: Bool?
    public var rho: Float?
    public var beta1: Float?
    public var beta2: Float?
    public var epsilon: Float?
    /// Clip each gradient to ±value; 0 = off.
    public var clipValue: Float?
    /// Clip the global gradient norm; 0 = off.
    public var clipNorm: Float?
    public var schedule: LearningRateSchedule?
    // How long.
    public var epochs: Int?
    public var maxSteps: Int?
    public var maxTime: Double?
    public var seed: UInt64?
    // Validation and checkpoints.
    public var evalEvery: Int?
    /// The checkpoint folder; nil = none. Never taken from a checkpoint: the folder it recorded may be
    /// the original of a copied folder, or relative to another directory.
    public var outDir: String?
    /// Where checkpoints go when `outDir` is nil: nowhere when this is nil too; else this folder, except
    /// that a run resumed from a training checkpoint writes beside that checkpoint (`charrnn train` sets
    /// "checkpoints").
    public var defaultOutDir: String?
    /// The checkpoint to continue from, or a model file to fine-tune.
    public var resume: String?
    /// Allow replacing another run's checkpoints in `outDir`.
    public var overwrite = false

    /// Nothing given: a new run with the defaults.
    public init() {}

    /// The epochs of a run limited by time alone: time decides.
    package static let epochsWhenTimeDecides = 1_000_000

    /// The run's options: `base` — the defaults, or the options of the run a checkpoint continues — with
    /// the given settings on top.
    /// - Parameter model: the model being resumed or fine-tuned, whose architecture and text
    ///   normalisation the run keeps.
    /// - Throws: `CharRNNError.config` naming a bad or contradictory setting.
    /// - Parameters:
    ///   - resumedAt: for a run continuing a training checkpoint, the step and seconds of training it
    ///     continues from (where a new time budget starts).
    ///   - plan: for a new run whose budget chooses the model and batch (`budgetChoosesShape`), the choice;
    ///     its timing is taken from the time limit.
    public func options(
        over base: TrainingOptions = TrainingOptions(), model: ModelConfig? = nil,
        resumedAt: (step: Int, seconds: Double)? = nil, plan: BudgetPlan? = nil
    ) throws -> TrainingOptions {
        var o = base
        if let plan, model == nil {
            BudgetPlan.apply(plan.shape, to: &o)
            o.dropout = plan.dropout  // a given dropout wins, below
        }
        if let model {
            if let given = givenNormalization, given != model.normalization {
                throw CharRNNError.config(
                    "the model reads text \(Self.describe(model.normalization)); the settings ask for it "
                        + "\(Self.describe(given)). The normalisation belongs to the model: leave lowercase and "
                        + "reduce_charset out to use the model's")
            }
            o.text.lowercase = model.normalization == .lowercase
            o.text.reduceCharset = model.normalization == .reduceCharset
        } else {
            if let cell { o.cell = cell }
            if let layers { o.layers = layers }
            if let hidden { o.hidden = hidden }
            if let embedding { o.embedding = embedding }
            if let dropout { o.dropout = dropout }
            if let lowercase { o.text.lowercase = lowercase }
            if let reduceCharset { o.text.reduceCharset = reduceCharset }
        }
        if let maxChars { o.text.maxChars = maxChars }
        if let valFraction { o.text.valFraction = valFraction }
        if let objective { o.objective = objective }
        if let seqLength { o.seqLength = seqLength }
        if let windowStep { o.windowStep = windowStep }
        if let batchSize { o.batchSize = batchSize }
        if let kind = optimizer, kind != o.optimizer.kind {
            o.optimizer = OptimizerConfig(kind: kind, learningRate: TrainingSettings.defaultLearningRate(kind))
        }
        if let learningRate { o.optimizer.learningRate = learningRate }
        if let momentum { o.optimizer.momentum = momentum }
        if let nesterov { o.optimizer.nesterov = nesterov }
        if let rho { o.optimizer.rho = rho }
        if let beta1 { o.optimizer.beta1 = beta1 }
        if let beta2 { o.optimizer.beta2 = beta2 }
        if let epsilon { o.optimizer.epsilon = epsilon }
        if let clipValue { o.clipping.value = clipValue > 0 ? clipValue : nil }
        if let clipNorm { o.clipping.globalNorm = clipNorm > 0 ? clipNorm : nil }
        if let v = clipValue, !(v >= 0) { throw CharRNNError.config("clip_value must be >= 0 (0 = off), got \(v)") }
        if let v = clipNorm, !(v >= 0) { throw CharRNNError.config("clip_norm must be >= 0 (0 = off), got \(v)") }
        if let schedule { o.schedule = schedule }
        if let epochs { o.epochs = epochs }
        if let maxSteps { o.maxSteps = maxSteps }
        if let maxTime {
            o.maxTime = maxTime
            // A time limit without a number of epochs means "train for this long", not "at most this long
            // within the default 10 epochs".
            if epochs == nil && maxTime > 0 { o.epochs = TrainingSettings.epochsWhenTimeDecides }
        }
        if let seed { o.seed = seed }
        if let evalEvery { o.evalEvery = evalEvery }
        applyBudget(to: &o, fresh: model == nil, resumedAt: resumedAt, plan: model == nil ? plan : nil)
        o.outDir = outDir
        if let dir = outDir, dir.isEmpty { throw CharRNNError.config("out_dir must name a folder; it is empty") }
        try o.validate()
        return o
    }

    /// Whether time alone limits a run: a time limit, and neither a number of epochs nor a schedule given.
    /// A new run then gets the budget's choices (`BudgetSchedule`, and `BudgetPlan` where the model and
    /// batch are left open).
    public var budgetDecides: Bool { (maxTime ?? 0) > 0 && epochs == nil && schedule == nil }

    /// Whether a new run limited by time alone leaves the model and batch open — no cell, layers, hidden,
    /// embedding, batch size, sequence length or objective given — for `BudgetPlan` to choose.
    public var budgetChoosesShape: Bool {
        budgetDecides && resume == nil && cell == nil && layers == nil && hidden == nil && embedding == nil
            && batchSize == nil && seqLength == nil && objective == nil
    }

    /// A new run limited by time alone decays its rate over the budget — the time limit, and the step limit
    /// when one is given too — from a higher base rate for Adam (unless one is given). A run resumed with a
    /// budget schedule keeps it, unless a new time limit is given: then a new budget starts where the run
    /// resumes.
    private func applyBudget(
        to o: inout TrainingOptions, fresh: Bool, resumedAt: (step: Int, seconds: Double)?, plan: BudgetPlan?
    ) {
        guard budgetDecides, var maxTime else { return }
        if fresh {
            if let plan {
                maxTime = plan.trainingSeconds
                o.maxTime = maxTime
            }
            if learningRate == nil && o.optimizer.kind == .adam {
                o.optimizer.learningRate = plan?.shape.learningRate ?? BudgetPlan.learningRate(hidden: o.hidden)
            }
            o.schedule = .budget(BudgetSchedule(seconds: maxTime, steps: o.maxSteps))
        } else if case .budget(let saved) = o.schedule, let resumedAt {
            o.schedule = .budget(
                BudgetSchedule(
                    seconds: maxTime, steps: o.maxSteps > resumedAt.step ? o.maxSteps : 0,
                    fromSeconds: resumedAt.seconds, fromStep: resumedAt.step, warmup: saved.warmup,
                    final: saved.final, decay: saved.decay))
        }
    }

    /// The normalisation the settings ask for, if they ask.
    private var givenNormalization: TextNormalization? {
        guard lowercase != nil || reduceCharset != nil else { return nil }
        return TextNormalization(lowercase: lowercase ?? false, reduceCharset: reduceCharset ?? false)
    }

    /// The learning rate that goes with an optimizer chosen without one: 2e-3 for Adam and RMSprop
    /// (char-rnn's), Keras's default for the others (SGD 0.01, Adagrad 0.001).
    public static func defaultLearningRate(_ kind: OptimizerConfig.Kind) -> Float {
        switch kind {
        case .adam, .rmsprop: return 2e-3
        case .sgd, .adagrad: return OptimizerConfig(kind: kind).learningRate
        }
    }

    private static func describe(_ n: TextNormalization) -> String {
        switch n {
        case .none: return "as it is"
        case .lowercase: return "lowercased"
        case .reduceCharset: return "reduced to 36 characters (reduce_charset)"
        }
    }
}
