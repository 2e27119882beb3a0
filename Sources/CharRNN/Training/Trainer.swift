#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Where a run stands, reported with every event.
public struct TrainingProgress: Sendable {
    /// Updates done, counting those of the run a resumed run continues.
    public var step = 0
    /// The updates the run plans: `epochs` × `batchesPerEpoch`, or fewer with `maxSteps`.
    public var totalSteps = 0
    /// The epoch under way, 1-based.
    public var epoch = 1
    /// Batches (updates) per pass over the training text.
    public var batchesPerEpoch = 0
    /// Loss of the last batch, nats per character.
    public var loss: Double = .nan
    /// The batches' loss as a moving average (0.95 of the previous value each step), nats per character.
    public var smoothedLoss: Double = .nan
    /// Loss on the validation text at the last validation, nats per character; NaN before one.
    public var valLoss: Double = .nan
    /// The fraction of validation characters whose most probable prediction was right; NaN before one.
    public var valAccuracy: Double = .nan
    /// Training characters per second in this run.
    public var charsPerSecond: Double = 0
    /// Seconds spent training, counting those of the run a resumed run continues.
    public var seconds: Double = 0
    /// The learning rate of the last update.
    public var learningRate: Float = 0
    /// Epochs done, fractional.
    public var epochProgress: Double { batchesPerEpoch > 0 ? Double(step) / Double(batchesPerEpoch) : 0 }
}

/// What happened during training. The handler returns false to stop the run.
public enum TrainingEvent {
    /// An update was applied.
    case step(TrainingProgress)
    /// The validation text was evaluated (`valLoss`, `valAccuracy`).
    case validation(TrainingProgress)
    /// A checkpoint was written to `path`.
    case checkpoint(TrainingProgress, path: String)
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    /// Where the run stood when it ended.
    public var progress: TrainingProgress
    /// The last checkpoint written, if any.
    public var checkpoint: String?
    /// The run stopped because the handler asked.
    public var cancelled: Bool
    /// The lowest validation loss of the run (its resumed parts included), the loss of the best checkpoint
    /// when the run has a folder; NaN without validation.
    public var bestValLoss: Double = .nan
}

/// Trains a model on a corpus: truncated BPTT, clipping, an optimizer and a schedule, periodic
/// validation, atomic checkpoints that resume bit-exactly, and a stop on NaN or exploding loss.
public final class Trainer {
    /// The model being trained: its weights change with every update.
    public let model: Model
    /// The run's options.
    public let options: TrainingOptions
    /// The text it trains and validates on.
    public let corpus: Corpus
    /// The update rule and its moments.
    package let optimizer: Optimizer

    let graph: ParallelGraph
    var batches: Batches
    var rng: RandomGenerator
    /// The generator state at the start of the epoch, which fixes the epoch's window order.
    var epochRNG: RandomGenerator
    var progress = TrainingProgress()
    var batchInEpoch = 0
    var bestValLoss = Double.infinity
    /// The lowest validation loss so far, with or without a checkpoint folder.
    var lowestValLoss = Double.infinity
    var firstLoss = Double.nan
    var lastCheckpoint: String?
    var bestCheckpoint: String?
    var elapsedBefore: Double = 0
    /// The step a resumed run continues from; nil for a new run or a fine-tuning one (another text, split,
    /// batching or optimizer than the checkpoint's run).
    public internal(set) var resumedStep: Int?
    /// Why a run from a training checkpoint fine-tunes instead of continuing it; nil otherwise.
    public internal(set) var fineTuningReason: String?
    /// The file this trainer continues from (resumed or fine-tuned), if any.
    public internal(set) var resumedFrom: String?
    /// Allows a new run to write into a folder that holds another run's checkpoints, replacing its
    /// `latest.safetensors`. Off by default: that file may be the other run's only exact resume point.
    public var overwritesOtherRuns = false
    /// The checkpoint folder's descriptor, locked while `run` runs (−1: not held).
    private var folderLock: Int32 = -1
    /// The step of the last validation and checkpoint in this run (−1: none yet).
    var validatedAtStep = -1
    /// metrics.jsonl and loss.svg in the checkpoint folder (RunRecord); nil without one.
    var record: RunRecord?
    private let inputs: UnsafeMutablePointer<Int32>
    private let targets: UnsafeMutablePointer<Int32>

    /// A trainer for a new model (built from `options`), or for `model` (fine-tuning).
    /// - Throws: `CharRNNError.config` for invalid options, `CharRNNError.unknownCharacter` when `model`'s
    ///   vocabulary is not the corpus's, `CharRNNError.outOfMemory` when training would not fit.
    public init(corpus: Corpus, options: TrainingOptions, model: Model? = nil) throws {
        try options.validate()
        let config = model?.config ?? options.modelConfig(vocabSize: corpus.vocabulary.count)
        try MemoryBudget.ensure(TrainingMemory.estimatedBytes(config, options) + BLASWorkspace.bytes, for: "training")
        let model = try model ?? Model(config: config, vocabulary: corpus.vocabulary, seed: options.seed)
        guard model.vocabulary == corpus.vocabulary else {
            throw CharRNNError.unknownCharacter(Corpus.difference(model.vocabulary, corpus.vocabulary))
        }
        self.model = model
        self.options = options
        self.corpus = corpus
        optimizer = Optimizer(config: options.optimizer, parameterCount: model.parameterCount)
        batches = try Batches(
            data: corpus.training, objective: options.objective, batch: options.batchSize,
            steps: options.seqLength, windowStep: options.windowStep)
        graph = ParallelGraph(
            model: model, batch: options.batchSize, steps: options.seqLength,
            lastStepOnly: options.objective == .window)
        rng = RandomGenerator(seed: options.seed ^ 0x5EED)
        epochRNG = rng
        inputs = .allocate(capacity: options.batchSize * options.seqLength)
        targets = .allocate(capacity: options.batchSize * options.seqLength)
        progress.batchesPerEpoch = batches.batchesPerEpoch
        progress.totalSteps = plannedSteps
        batches.shuffle(using: &rng)
    }

    deinit {
        inputs.deallocate()
        targets.deallocate()
        releaseFolder()
    }

    var plannedSteps: Int {
        let (product, overflow) = options.epochs.multipliedReportingOverflow(by: batches.batchesPerEpoch)
        let all = overflow ? Int.max : product
        return options.maxSteps > 0 ? min(all, options.maxSteps) : all
    }

    // MARK: running

    /// Trains until the planned steps, `maxTime` or a stop from `onEvent`.
    /// - Throws: `CharRNNError.diverged` on a NaN or exploding loss (naming the last good checkpoint),
    ///   `CharRNNError.io` when a checkpoint cannot be written.
    ///   Each batch runs on the worker pool, with OpenBLAS single-threaded while it does (`WorkerPool`);
    ///   `onEvent` and the code between batches see the program's own thread count.
    public func run(onEvent: (TrainingEvent) -> Bool = { _ in true }) throws -> TrainingSummary {
        try runSteps(onEvent: onEvent)
    }

    private func runSteps(onEvent: (TrainingEvent) -> Bool) throws -> TrainingSummary {
        let start = Date()
        var charsThisRun = 0
        let evalEvery = options.evalEvery > 0 ? options.evalEvery : batches.batchesPerEpoch
        // A budget schedule without eval_every validates halfway through the budget and at its end: each
        // validation's time comes out of the budget.
        var budget: BudgetSchedule?
        if case .budget(let b) = options.schedule, options.evalEvery == 0 { budget = b }
        var nextValidation =
            budget.map { (($0.progress(step: progress.step, seconds: elapsedBefore) * 2).rounded(.down) + 1) / 2 } ?? 1
        func seconds() -> Double { Date().timeIntervalSince(start) }
        var cancelled = false
        try checkOutputFolder()
        defer { releaseFolder() }
        record = try RunRecord.start(for: self)

        while progress.step < plannedSteps {
            let now = seconds()
            if options.maxTime > 0 && now >= options.maxTime { break }
            // The time the schedule reads: this step's rate follows the budget spent so far.
            progress.seconds = elapsedBefore + now
            if case .budget(let budget) = options.schedule,
                budget.isSpent(step: progress.step, seconds: progress.seconds)
            {
                break
            }
            let epochEnded = try update()
            charsThisRun += options.batchSize * options.seqLength
            progress.seconds = elapsedBefore + seconds()
            progress.charsPerSecond = Double(charsThisRun) / max(seconds(), 1e-9)
            try record?.stepped(progress)
            if !onEvent(.step(progress)) { cancelled = true; break }
            var due = progress.step % evalEvery == 0 || epochEnded
            if let budget {
                let spent = budget.progress(step: progress.step, seconds: elapsedBefore + seconds())
                due = spent >= nextValidation && spent < 1
                if due { nextValidation = ((spent * 2).rounded(.down) + 1) / 2 }
            }
            if due {
                if try !validateAndCheckpoint(onEvent: onEvent) { cancelled = true; break }
            }
        }
        if cancelled && validatedAtStep != progress.step {
            // Asked to stop: keep the work at once. A validation pass can take seconds, and this step's
            // training loss already passed the divergence check.
            try writeLatestCheckpoint(onEvent: onEvent)
        } else if validatedAtStep != progress.step {
            // A final validation and checkpoint, unless the last step just made them.
            if try !validateAndCheckpoint(onEvent: onEvent) { cancelled = true }
        }
        progress.seconds = elapsedBefore + seconds()
        try record?.drawChart()
        return TrainingSummary(
            progress: progress, checkpoint: lastCheckpoint, cancelled: cancelled,
            bestValLoss: validates && lowestValLoss.isFinite ? lowestValLoss : .nan)
    }

    /// One update: the next batch forward and backward, clipping, the optimizer, the schedule's rate.
    /// `charrnn bench` times this very step.
    /// - Returns: whether the update ended an epoch.
    /// - Throws: `CharRNNError.diverged` on a NaN or exploding loss.
    @discardableResult
    package func update() throws -> Bool {
        let lr = options.schedule.rate(
            base: options.optimizer.learningRate, step: progress.step, epoch: progress.epoch, seconds: progress.seconds)
        batches.fill(batchInEpoch, inputs: inputs, targets: targets)
        let result = graph.run(
            inputs: inputs, targets: targets, steps: options.seqLength, training: true,
            carryState: options.objective == .sequence && batchInEpoch > 0, rng: &rng)
        let loss = result.meanLoss
        if firstLoss.isNaN { firstLoss = loss }
        try checkDivergence(loss, at: progress.step + 1, what: "loss")
        options.clipping.apply(graph.gradients.pointer, count: graph.gradients.count)
        optimizer.apply(
            parameters: model.parameters.pointer, gradients: graph.gradients.pointer,
            count: model.parameterCount, learningRate: lr)
        model.weightsDidChange()
        progress.step += 1
        progress.loss = loss
        progress.smoothedLoss = progress.smoothedLoss.isNaN ? loss : 0.95 * progress.smoothedLoss + 0.05 * loss
        progress.learningRate = lr
        batchInEpoch += 1
        let epochEnded = batchInEpoch == batches.batchesPerEpoch
        if epochEnded { startNextEpoch() }
        return epochEnded
    }

    /// A loss above this is treated as exploding: three times the first batch's loss (char-rnn's rule), or
    /// three times that of a uniform guess if the first batch was already better than chance.
    var divergenceBound: Double { 3 * max(firstLoss.isFinite ? firstLoss : 0, log(Double(model.config.vocabSize))) }

    /// Stops the run on a NaN or exploding loss, naming the last checkpoint that was written before it.
    private func checkDivergence(_ loss: Double, at step: Int, what: String) throws {
        guard !loss.isFinite || loss > divergenceBound else { return }
        let kept = lastCheckpoint.map { "; the last good checkpoint is \($0)" } ?? "; no checkpoint was written"
        throw CharRNNError.diverged(
            "training diverged at step \(step): \(what) \(loss) (try a lower learning rate or clipping)\(kept)")
    }

    /// Fails before any training when the checkpoint folder cannot be written, or holds another run's
    /// checkpoints that this run would replace.
    private func checkOutputFolder() throws {
        guard let dir = options.outDir else { return }
        try FileIO.makeDirectory(dir)
        try holdFolder(dir)
        try checkNotAnotherRun(dir)
        try FileIO.writeAtomically([], to: "\(dir)/.write-test")
        unlink("\(dir)/.write-test")
    }

    /// Takes an exclusive lock on the folder itself (flock on its descriptor: no file is added) while
    /// `run` runs, so that two runs started together cannot both pass the check above and then replace
    /// each other's checkpoints.
    private func holdFolder(_ dir: String) throws {
        guard folderLock < 0 else { return }
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CharRNNError.io("cannot open the folder \(dir): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw CharRNNError.io("another training run is writing to \(dir) right now; use another folder")
        }
        folderLock = fd
    }

    private func releaseFolder() {
        if folderLock >= 0 { close(folderLock) }
        folderLock = -1
    }

    /// A folder's checkpoints belong to the run that wrote them: a run may write there only when it
    /// continues exactly from one of them (or was told to overwrite). Fine-tuning one of them starts a
    /// new run (its progress restarts), so it is refused there like any other.
    private func checkNotAnotherRun(_ dir: String) throws {
        let latest = "\(dir)/latest.safetensors"
        guard !overwritesOtherRuns, FileIO.exists(latest) else { return }
        if let resumedFrom, resumedStep != nil, FileIO.sameDirectory(FileIO.directory(of: resumedFrom), dir) { return }
        throw CharRNNError.io(
            "\(dir) already holds another run's checkpoints (\(latest)); this run would replace them. Resume that "
                + "run from \(latest), write this one to another folder, or allow replacing them "
                + "(charrnn train --overwrite)")
    }

    private func startNextEpoch() {
        batchInEpoch = 0
        progress.epoch += 1
        epochRNG = rng
        batches.shuffle(using: &rng)
    }

    /// Whether there is validation text: for the window objective, more than one window's worth.
    var validates: Bool {
        options.objective == .window ? corpus.validation.count > options.seqLength : !corpus.validation.isEmpty
    }

    /// Validates, writes checkpoints, and reports both; returns false when the handler asks to stop.
    /// A checkpoint is written only when its validation loss is sane, so the last one named is always good.
    private func validateAndCheckpoint(onEvent: (TrainingEvent) -> Bool) throws -> Bool {
        validatedAtStep = progress.step
        var keepGoing = true
        if validates {
            let result =
                options.objective == .window
                ? try model.evaluateWindows(
                    corpus.validation, window: options.seqLength, step: options.windowStep,
                    batch: options.batchSize)
                : try model.evaluateStreams(corpus.validation, batch: options.batchSize, steps: options.seqLength)
            progress.valLoss = result.meanLoss
            progress.valAccuracy = result.count > 0 ? Double(result.correct) / Double(result.count) : .nan
            try checkDivergence(progress.valLoss, at: progress.step, what: "validation loss")
            lowestValLoss = min(lowestValLoss, progress.valLoss)
            keepGoing = onEvent(.validation(progress)) && keepGoing
        }
        guard let dir = options.outDir else { return keepGoing }
        try FileIO.makeDirectory(dir)
        let score = progress.valLoss.isFinite ? progress.valLoss : progress.smoothedLoss
        var written: [String] = []
        if score < bestValLoss {
            let epoch = progress.epoch - (batchInEpoch == 0 && progress.step > 0 ? 1 : 0)
            let name = "epoch\(epoch < 10 ? "0" : "")\(epoch)-\(formatLoss(score)).safetensors"
            let previous = bestCheckpoint
            bestValLoss = score
            bestCheckpoint = name
            try saveCheckpoint(to: "\(dir)/\(name)")
            // Only a best checkpoint of this folder, by name, is ever replaced.
            if let previous, previous != name, Trainer.isBestCheckpointName(previous) { unlink("\(dir)/\(previous)") }
            written.append("\(dir)/\(name)")
        }
        let latest = "\(dir)/latest.safetensors"
        try saveCheckpoint(to: latest)
        lastCheckpoint = latest
        written.insert(latest, at: 0)
        try record?.evaluated(progress, validated: validates, bestCheckpoint: written.count > 1 ? bestCheckpoint : nil)
        for path in written { keepGoing = onEvent(.checkpoint(progress, path: path)) && keepGoing }
        return keepGoing
    }

    /// Writes `latest.safetensors` (when the run has a folder) without validating first.
    private func writeLatestCheckpoint(onEvent: (TrainingEvent) -> Bool) throws {
        guard let dir = options.outDir else { return }
        try FileIO.makeDirectory(dir)
        let latest = "\(dir)/latest.safetensors"
        try saveCheckpoint(to: latest)
        lastCheckpoint = latest
        _ = onEvent(.checkpoint(progress, path: latest))
    }

    /// "epochNN-L.LLLL.safetensors" and nothing else: a bare file name, never a path.
    static func isBestCheckpointName(_ name: String) -> Bool {
        guard name.hasPrefix("epoch"), name.hasSuffix(".safetensors"), !name.contains("/") else { return false }
        let middle = name.dropFirst(5).dropLast(12)
        let parts = middle.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy(\.isNumber) else { return false }
        return parts[1].allSatisfy { $0.isNumber || $0 == "." } && parts[1].contains(".")
    }

    /// "1.4321": four decimals, for file names (losses are non-negative and validated finite).
    private func formatLoss(_ x: Double) -> String {
        let scaled = Int((min(max(x, 0), 1e9) * 10_000).rounded())
        let fraction = String(scaled % 10_000)
        return "\(scaled / 10_000).\(String(repeating: "0", count: 4 - fraction.count))\(fraction)"
    }
}
