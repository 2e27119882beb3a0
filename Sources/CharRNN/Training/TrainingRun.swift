/// A training run made ready from what a caller gave: the checkpoint read (when resuming), the options
/// resolved by `TrainingSettings`, the corpus read with the model's text normalisation, and the trainer.
/// `charrnn train`, `charrnn_train` and Python's `charrnn.train` all start here, so the same settings give
/// the same run — bit for bit — whichever way they came in.
public struct TrainingRun {
    /// How the run relates to the file it started from.
    public enum Start: Equatable, Sendable {
        /// A new model.
        case fresh
        /// Continues the checkpoint's run exactly, from its step.
        case resumed(from: String, step: Int)
        /// Starts a new run from the file's weights; `reason` says why it does not continue a run.
        case fineTuned(from: String, reason: String)
    }

    /// The trainer, ready to `run`.
    public let trainer: Trainer
    /// The resolved options.
    public var options: TrainingOptions { trainer.options }
    /// The corpus it trains on.
    public var corpus: Corpus { trainer.corpus }
    /// Fresh, resumed or fine-tuned.
    public let start: Start
    /// Settings that were given but do not apply, for the caller to show.
    public let ignored: [String]
    /// For a new run whose time budget chose the model and batch: the choice and the speed it measured.
    public let plan: BudgetPlan?

    /// Reads the checkpoint (with `settings.resume`) and the corpus, and builds the trainer.
    /// - Throws: `CharRNNError.config` for bad settings, the errors of `ModelFile.load`, `Corpus.load` and
    ///   `Trainer`'s initialisers; `CharRNNError.unknownCharacter` when a resumed model's vocabulary does
    ///   not cover the corpus.
    public init(corpusPath: String, settings: TrainingSettings) throws {
        try self.init(corpusPath: corpusPath, settings: settings, memoryLimitBytes: nil)
    }

    /// - Parameter memoryLimitBytes: a fixed limit on the run's estimated memory besides the machine's
    ///   (the C API documents one).
    package init(corpusPath: String, settings: TrainingSettings, memoryLimitBytes: Int?) throws {
        func checkLimit(_ config: ModelConfig, _ options: TrainingOptions) throws {
            guard let limit = memoryLimitBytes else { return }
            let bytes = TrainingMemory.estimatedBytes(config, options)
            guard bytes <= Double(limit) else {
                throw CharRNNError.outOfMemory(
                    "training would need about \(Int(min(bytes / 1_048_576, 1e15))) MiB; the limit is "
                        + "\(limit / 1_048_576) MiB (reduce batch_size, seq_length or the model)")
            }
        }
        var settings = settings
        guard let resume = settings.resume else {
            settings.outDir = settings.outDir ?? settings.defaultOutDir
            var options = try settings.options()
            let corpus = try Corpus.load(path: corpusPath, options: options.text)
            if settings.budgetChoosesShape {
                let plan = try BudgetPlan.choose(
                    seconds: options.maxTime, corpus: corpus, base: options, memoryLimitBytes: memoryLimitBytes)
                options = try settings.options(plan: plan)
                self.plan = plan
            } else {
                plan = nil
            }
            try checkLimit(options.modelConfig(vocabSize: corpus.vocabulary.count), options)
            trainer = try Trainer(corpus: corpus, options: options)
            trainer.overwritesOtherRuns = settings.overwrite
            start = .fresh
            ignored = []
            return
        }
        plan = nil
        let checkpoint = try ModelFile.load(resume)
        let saved = checkpoint.extras.savedTraining
        if settings.outDir == nil, let fallback = settings.defaultOutDir {
            settings.outDir = saved != nil ? FileIO.directory(of: resume) : fallback
        }
        let options = try settings.options(
            over: saved?.options ?? TrainingOptions(), model: checkpoint.model.config,
            resumedAt: saved.map { ($0.step, $0.seconds) })
        let corpus: Corpus
        do {
            corpus = try Corpus.load(path: corpusPath, options: options.text, vocabulary: checkpoint.model.vocabulary)
        } catch CharRNNError.unknownCharacter(let message) {
            throw CharRNNError.unknownCharacter("cannot resume \(resume): \(corpusPath): \(message)")
        }
        try checkLimit(checkpoint.model.config, options)
        trainer = try Trainer(resuming: checkpoint, from: resume, corpus: corpus, options: options)
        if let step = trainer.resumedStep {
            start = .resumed(from: resume, step: step)
        } else {
            start = .fineTuned(
                from: resume, reason: trainer.fineTuningReason ?? "it is a model file, not a training checkpoint")
        }
        let architecture: [(String, Bool)] = [
            ("cell", settings.cell != nil), ("layers", settings.layers != nil), ("hidden", settings.hidden != nil),
            ("embedding", settings.embedding != nil), ("dropout", settings.dropout != nil)
        ]
        ignored = architecture.filter(\.1).map(\.0)
        trainer.overwritesOtherRuns = settings.overwrite
    }
}
