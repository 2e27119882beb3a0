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
    public var step = 0
    public var totalSteps = 0
    /// 1-based.
    public var epoch = 1
    public var batchesPerEpoch = 0
    /// Loss of the last batch and its moving average, nats per character.
    public var loss: Double = .nan
    public var smoothedLoss: Double = .nan
    public var valLoss: Double = .nan
    public var valAccuracy: Double = .nan
    public var charsPerSecond: Double = 0
    public var seconds: Double = 0
    public var learningRate: Float = 0
    /// Epochs done, fractional.
    public var epochProgress: Double { batchesPerEpoch > 0 ? Double(step) / Double(batchesPerEpoch) : 0 }
}

/// What happened during training. The handler returns false to stop the run.
public enum TrainingEvent {
    case step(TrainingProgress)
    case validation(TrainingProgress)
    case checkpoint(TrainingProgress, path: String)
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    public var progress: TrainingProgress
    /// The last checkpoint written, if any.
    public var checkpoint: String?
    /// The run stopped because the handler asked.
    public var cancelled: Bool
}

/// Trains a model on a corpus: truncated BPTT, clipping, an optimizer and a schedule, periodic
/// validation, atomic checkpoints that resume bit-exactly, and a stop on NaN or exploding loss.
public final class Trainer {
    public let model: Model
    public let options: TrainingOptions
    public let corpus: Corpus
    public let optimizer: Optimizer

    let graph: TrainingGraph
    var batches: Batches
    var rng: RandomGenerator
    /// The generator state at the start of the epoch, which fixes the epoch's window order.
    var epochRNG: RandomGenerator
    var progress = TrainingProgress()
    var batchInEpoch = 0
    var bestValLoss = Double.infinity
    var firstLoss = Double.nan
    var lastCheckpoint: String?
    var bestCheckpoint: String?
    var elapsedBefore: Double = 0
    private let inputs: UnsafeMutablePointer<Int32>
    private let targets: UnsafeMutablePointer<Int32>

    /// A trainer for a new model (built from `options`), or for `model` (fine-tuning).
    public init(corpus: Corpus, options: TrainingOptions, model: Model? = nil) throws {
        try options.validate()
        let model = try model ?? Model(config: options.modelConfig(vocabSize: corpus.vocabulary.count),
                                       vocabulary: corpus.vocabulary, seed: options.seed)
        guard model.vocabulary == corpus.vocabulary else {
            throw CharRNNError.unknownCharacter(Corpus.difference(model.vocabulary, corpus.vocabulary))
        }
        self.model = model
        self.options = options
        self.corpus = corpus
        optimizer = Optimizer(config: options.optimizer, parameterCount: model.parameterCount)
        batches = try Batches(data: corpus.training, objective: options.objective, batch: options.batchSize,
                              steps: options.seqLength, windowStep: options.windowStep)
        graph = TrainingGraph(model: model, batch: options.batchSize, steps: options.seqLength,
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
    }

    var plannedSteps: Int {
        let all = options.epochs * batches.batchesPerEpoch
        return options.maxSteps > 0 ? min(all, options.maxSteps) : all
    }

    // MARK: running

    /// Trains until the planned steps, `maxTime` or a stop from `onEvent`.
    /// - Throws: `CharRNNError.diverged` on a NaN or exploding loss (naming the last good checkpoint),
    ///   `CharRNNError.io` when a checkpoint cannot be written.
    public func run(onEvent: (TrainingEvent) -> Bool = { _ in true }) throws -> TrainingSummary {
        let start = Date()
        var charsThisRun = 0
        let evalEvery = options.evalEvery > 0 ? options.evalEvery : batches.batchesPerEpoch
        func seconds() -> Double { Date().timeIntervalSince(start) }
        var cancelled = false

        while progress.step < plannedSteps {
            if options.maxTime > 0 && seconds() >= options.maxTime { break }
            let lr = options.schedule.rate(base: options.optimizer.learningRate, step: progress.step, epoch: progress.epoch)
            batches.fill(batchInEpoch, inputs: inputs, targets: targets)
            let result = graph.run(inputs: inputs, targets: targets, steps: options.seqLength, training: true,
                                   computeGradients: true, carryState: options.objective == .sequence && batchInEpoch > 0,
                                   rng: &rng)
            let loss = result.meanLoss
            if firstLoss.isNaN { firstLoss = loss }
            if !loss.isFinite || loss > 3 * max(firstLoss, log(Double(model.config.vocabSize))) {
                let kept = lastCheckpoint.map { "; the last good checkpoint is \($0)" } ?? "; no checkpoint was written"
                throw CharRNNError.diverged(
                    "training diverged at step \(progress.step + 1): loss \(loss) (try a lower learning rate or clipping)\(kept)")
            }
            options.clipping.apply(graph.gradients.pointer, count: graph.gradients.count)
            optimizer.apply(parameters: model.parameters.pointer, gradients: graph.gradients.pointer,
                            count: model.parameterCount, learningRate: lr)
            charsThisRun += options.batchSize * options.seqLength
            progress.step += 1
            progress.loss = loss
            progress.smoothedLoss = progress.smoothedLoss.isNaN ? loss : 0.95 * progress.smoothedLoss + 0.05 * loss
            progress.learningRate = lr
            progress.seconds = elapsedBefore + seconds()
            progress.charsPerSecond = Double(charsThisRun) / max(seconds(), 1e-9)
            batchInEpoch += 1
            let epochEnded = batchInEpoch == batches.batchesPerEpoch
            if epochEnded { startNextEpoch() }
            if !onEvent(.step(progress)) { cancelled = true; break }
            if progress.step % evalEvery == 0 || epochEnded {
                if try !validateAndCheckpoint(onEvent: onEvent) { cancelled = true; break }
            }
        }
        // A final validation and checkpoint, unless the last step just made them.
        if progress.step == 0 || progress.step % evalEvery != 0 || cancelled {
            if try !validateAndCheckpoint(onEvent: onEvent) { cancelled = true }
        }
        progress.seconds = elapsedBefore + seconds()
        return TrainingSummary(progress: progress, checkpoint: lastCheckpoint, cancelled: cancelled)
    }

    private func startNextEpoch() {
        batchInEpoch = 0
        progress.epoch += 1
        epochRNG = rng
        batches.shuffle(using: &rng)
    }

    /// Validates, writes checkpoints, and reports both; returns false when the handler asks to stop.
    private func validateAndCheckpoint(onEvent: (TrainingEvent) -> Bool) throws -> Bool {
        var keepGoing = true
        if !corpus.validation.isEmpty {
            let result = try model.evaluateStreams(corpus.validation, batch: options.batchSize, steps: options.seqLength)
            progress.valLoss = result.meanLoss
            progress.valAccuracy = result.count > 0 ? Double(result.correct) / Double(result.count) : .nan
            keepGoing = onEvent(.validation(progress)) && keepGoing
        }
        if let dir = options.outDir {
            try FileIO.makeDirectory(dir)
            let latest = "\(dir)/latest.safetensors"
            try saveCheckpoint(to: latest)
            lastCheckpoint = latest
            keepGoing = onEvent(.checkpoint(progress, path: latest)) && keepGoing
            let score = progress.valLoss.isFinite ? progress.valLoss : progress.smoothedLoss
            if score < bestValLoss {
                bestValLoss = score
                let epoch = progress.epoch - (batchInEpoch == 0 && progress.step > 0 ? 1 : 0)
                let name = "\(dir)/epoch\(epoch < 10 ? "0" : "")\(epoch)-\(formatLoss(score)).safetensors"
                try saveCheckpoint(to: name)
                if let previous = bestCheckpoint, previous != name { unlink(previous) }
                bestCheckpoint = name
                keepGoing = onEvent(.checkpoint(progress, path: name)) && keepGoing
            }
        }
        return keepGoing
    }

    private func formatLoss(_ x: Double) -> String {
        let scaled = Int((x * 10_000).rounded())
        let fraction = String(scaled % 10_000)
        return "\(scaled / 10_000).\(String(repeating: "0", count: 4 - fraction.count))\(fraction)"
    }
}

extension Model {
    /// Mean loss and accuracy of the model over `data` cut into `batch` contiguous streams read `steps` at
    /// a time with the state carried: fast validation during training.
    public func evaluateStreams(_ data: [Int32], batch: Int, steps: Int) throws -> BatchResult {
        guard data.count >= 2 else { throw CharRNNError.invalidArgument("evaluation needs at least 2 characters") }
        let b = max(1, min(batch, (data.count - 1) / max(steps, 1)))
        let t = min(steps, (data.count - 1) / b)
        let graph = TrainingGraph(model: self, batch: b, steps: t)
        let batches = try Batches(data: data, objective: .sequence, batch: b, steps: t, windowStep: 1)
        let inputs = [Int32](repeating: 0, count: b * t), targets = inputs
        var x = inputs, y = targets
        var total = BatchResult()
        var rng = RandomGenerator(seed: 0)
        for k in 0..<batches.batchesPerEpoch {
            x.withUnsafeMutableBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in batches.fill(k, inputs: xp.baseAddress!, targets: yp.baseAddress!) }
            }
            total += graph.run(inputs: x, targets: y, steps: t, training: false, computeGradients: false,
                               carryState: k > 0, rng: &rng)
        }
        return total
    }
}
