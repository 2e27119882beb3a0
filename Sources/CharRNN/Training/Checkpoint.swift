#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Training checkpoints: the model file plus the optimizer's moments, the carried recurrent state and
/// the run's position and generators, so that a resumed run continues bit-exactly.
struct CheckpointState: Codable {
    var step: Int
    var epoch: Int
    var batchInEpoch: Int
    var rng: [UInt64]
    var epochRNG: [UInt64]
    var bestValLoss: Double?
    var firstLoss: Double?
    var smoothedLoss: Double?
    var valLoss: Double?
    var valAccuracy: Double?
    var iterations: Int
    var corpusFingerprint: UInt64
    /// Characters of the text before the validation split; nil in checkpoints written before it was kept.
    /// The fingerprint covers the whole text, so this is what tells a changed split (--val-fraction) apart.
    var trainingCharacters: Int?
    var seconds: Double
    var options: TrainingOptions
    var bestCheckpoint: String?
    /// The text options that fix the data (`TrainingOptions.text`; the normalisation is the model's).
    /// Absent in checkpoints of version 0.2.
    var maxChars: Int?
    var valFraction: Double?

    /// The run's options, text options included.
    var fullOptions: TrainingOptions {
        var o = options
        if let maxChars, maxChars >= 0 { o.text.maxChars = maxChars }
        if let valFraction, valFraction >= 0, valFraction < 1 { o.text.valFraction = valFraction }
        return o
    }

    static func finite(_ x: Double) -> Double? { x.isFinite ? x : nil }

    /// The training state of a checkpoint file; nil for a plain model file.
    static func decode(_ extras: ModelFile.Extras, path: String) throws -> CheckpointState? {
        guard let json = extras.metadata[Trainer.metadataKey] else { return nil }
        do {
            return try JSONValueDecoder.decode(CheckpointState.self, from: json, maxValues: 10_000)
        } catch CharRNNError.format(let message) {
            throw CharRNNError.format("\(path): the training state is corrupt: \(message)")
        } catch let error as DecodingError {
            throw CharRNNError.format("\(path): the training state is corrupt: \(describe(error))")
        }
    }

    /// A stored loss, if it is one a run could have produced.
    static func loss(_ x: Double?) -> Double? { x.flatMap { $0.isFinite && $0 >= 0 && $0 < 1e6 ? $0 : nil } }
}

extension Trainer {
    static let metadataKey = "training"

    /// Writes the model with everything needed to resume, atomically.
    public func saveCheckpoint(to path: String) throws {
        let state = CheckpointState(
            step: progress.step, epoch: progress.epoch, batchInEpoch: batchInEpoch, rng: rng.words,
            epochRNG: epochRNG.words, bestValLoss: CheckpointState.finite(bestValLoss),
            firstLoss: CheckpointState.finite(firstLoss), smoothedLoss: CheckpointState.finite(progress.smoothedLoss),
            valLoss: CheckpointState.finite(progress.valLoss),
            valAccuracy: CheckpointState.finite(progress.valAccuracy),
            iterations: optimizer.iterations, corpusFingerprint: corpus.fingerprint,
            trainingCharacters: corpus.training.count, seconds: progress.seconds,
            options: options, bestCheckpoint: bestCheckpoint, maxChars: options.text.maxChars,
            valFraction: options.text.valFraction)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(state), as: UTF8.self)
        var extras = ModelFile.Extras(metadata: [Trainer.metadataKey: json])
        for (i, slot) in optimizer.slots.enumerated() {
            extras.tensors["optimizer.slot\(i)"] = SafeTensors.Tensor(shape: [slot.count], values: slot.array)
        }
        let carried = carriedState()
        extras.tensors["training.carried_state"] = SafeTensors.Tensor(shape: [carried.count], values: carried)
        try ModelFile.save(model, to: path, extras: extras)
    }

    /// The recurrent state the next batch starts from: per layer, h of every sequence in batch order,
    /// then c — the same layout whatever the number of worker threads. Moves the last run's final state
    /// to where the next run starts from first (the next run would).
    private func carriedState() -> [Float] {
        var values: [Float] = []
        for part in graph.parts { for layer in part.layers { layer.settleCarriedState() } }
        for l in 0..<model.config.layers.count {
            for part in graph.parts {
                values += UnsafeBufferPointer(start: part.layers[l].h, count: part.batch * part.layers[l].units)
            }
            for part in graph.parts {
                if let c = part.layers[l].c {
                    values += UnsafeBufferPointer(start: c, count: part.batch * part.layers[l].units)
                }
            }
        }
        return values
    }

    private func restoreCarriedState(_ values: [Float]) throws {
        let expected = graph.parts.reduce(0) { total, part in
            total + part.layers.reduce(0) { $0 + $1.batch * $1.units * ($1.c == nil ? 1 : 2) }
        }
        guard values.count == expected, values.allSatisfy(\.isFinite) else {
            throw CharRNNError.format("the checkpoint's carried state has the wrong size or non-finite values")
        }
        for part in graph.parts { for layer in part.layers { layer.forgetFinalState() } }  // h[0], c[0] are set below
        var offset = 0
        func take(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
            for i in 0..<n { p[i] = values[offset + i] }
            offset += n
        }
        for l in 0..<model.config.layers.count {
            for part in graph.parts { take(part.layers[l].h, part.batch * part.layers[l].units) }
            for part in graph.parts { if let c = part.layers[l].c { take(c, part.batch * part.layers[l].units) } }
        }
    }

    /// A trainer that continues from a checkpoint.
    ///
    /// With the same corpus and the same batching and optimizer, the run continues exactly where the
    /// checkpoint left it: the same batches, dropout masks and updates as an uninterrupted run. With another
    /// text of the same vocabulary (or another validation split, or other batching) it fine-tunes: the weights
    /// carry over, progress restarts.
    /// - Parameters:
    ///   - options: the run's options; the model's architecture always comes from the checkpoint.
    /// - Throws: `CharRNNError.unknownCharacter` when the corpus's vocabulary differs, saying how.
    public convenience init(resuming path: String, corpus: Corpus, options: TrainingOptions) throws {
        try self.init(resuming: ModelFile.load(path), from: path, corpus: corpus, options: options)
    }

    /// Like `init(resuming:corpus:options:)` for a checkpoint already read with `ModelFile.load`.
    package convenience init(
        resuming checkpoint: (model: Model, extras: ModelFile.Extras), from path: String,
        corpus: Corpus, options: TrainingOptions
    ) throws {
        let (model, extras) = checkpoint
        guard model.vocabulary == corpus.vocabulary else {
            throw CharRNNError.unknownCharacter(
                "cannot resume \(path): " + Corpus.difference(model.vocabulary, corpus.vocabulary))
        }
        try self.init(corpus: corpus, options: options, model: model)
        resumedFrom = path
        guard let state = try CheckpointState.decode(extras, path: path) else { return }  // a plain model: fine-tune
        var differences: [String] = []
        if state.corpusFingerprint != corpus.fingerprint
            || (state.trainingCharacters ?? corpus.training.count) != corpus.training.count
        {
            differences.append("the text or its validation split")
        }
        if state.options.batchSize != options.batchSize {
            differences.append("batch size \(options.batchSize), not \(state.options.batchSize)")
        }
        if state.options.seqLength != options.seqLength {
            differences.append("sequence length \(options.seqLength), not \(state.options.seqLength)")
        }
        if state.options.objective != options.objective {
            differences.append("objective \(options.objective.rawValue), not \(state.options.objective.rawValue)")
        }
        if state.options.windowStep != options.windowStep && options.objective == .window {
            differences.append("window step \(options.windowStep), not \(state.options.windowStep)")
        }
        if state.options.optimizer.kind != options.optimizer.kind {
            differences.append(
                "optimizer \(options.optimizer.kind.rawValue), not \(state.options.optimizer.kind.rawValue)")
        }
        guard differences.isEmpty else {
            fineTuningReason =
                "this run differs from the checkpoint's in " + differences.joined(separator: ", ")
                + ", so its progress restarts"
            return
        }
        // Every number is range-checked before use: a checkpoint is input like any other file.
        let limit = 1 << 40
        guard (0...limit).contains(state.step), (1...limit).contains(state.epoch),
            (0..<batches.batchesPerEpoch).contains(state.batchInEpoch), (0...limit).contains(state.iterations),
            state.seconds.isFinite, (0...Double(limit)).contains(state.seconds), state.rng.count == 4,
            state.epochRNG.count == 4
        else {
            throw CharRNNError.format("\(path): the training state is out of range")
        }
        let slots = (0..<optimizer.slots.count).map { extras.tensors["optimizer.slot\($0)"]?.values ?? [] }
        try optimizer.restore(slots: slots, iterations: state.iterations)
        try restoreCarriedState(extras.tensors["training.carried_state"]?.values ?? [])
        progress.step = state.step
        progress.epoch = state.epoch
        batchInEpoch = state.batchInEpoch
        // Replay the epoch's window order from the generator as it was at the epoch's start.
        epochRNG = RandomGenerator(state: state.epochRNG)
        var replay = epochRNG
        batches = try Batches(
            data: corpus.training, objective: options.objective, batch: options.batchSize,
            steps: options.seqLength, windowStep: options.windowStep)
        batches.shuffle(using: &replay)
        rng = RandomGenerator(state: state.rng)
        bestValLoss = CheckpointState.loss(state.bestValLoss) ?? .infinity
        firstLoss = CheckpointState.loss(state.firstLoss) ?? .nan
        progress.smoothedLoss = CheckpointState.loss(state.smoothedLoss) ?? .nan
        // A validation result only stands for the validation text this run has (an older checkpoint may
        // not say which split it used).
        if !corpus.validation.isEmpty {
            lowestValLoss = bestValLoss
            progress.valLoss = CheckpointState.loss(state.valLoss) ?? .nan
            progress.valAccuracy = state.valAccuracy.flatMap { (0...1).contains($0) ? $0 : nil } ?? .nan
        }
        elapsedBefore = state.seconds
        // The previous best may be replaced only where it was written: in the checkpoint's own folder, when
        // this run writes there too. Elsewhere (another --out, a copied folder's original) a file of that
        // name is not this run's to delete.
        let writesBesideCheckpoint =
            options.outDir.map { FileIO.sameDirectory($0, FileIO.directory(of: path)) } ?? false
        bestCheckpoint = state.bestCheckpoint.flatMap {
            Trainer.isBestCheckpointName($0) && writesBesideCheckpoint ? $0 : nil
        }
        progress.totalSteps = plannedSteps
        resumedStep = state.step
    }
}

extension ModelFile.Extras {
    /// For a training checkpoint: the options of the run that wrote it and the steps it had done; nil for
    /// a plain model file or an unreadable training state.
    package var savedTraining: (options: TrainingOptions, step: Int, seconds: Double)? {
        guard let state = try? CheckpointState.decode(self, path: "") else { return nil }
        return (state.fullOptions, state.step, state.seconds.isFinite ? max(state.seconds, 0) : 0)
    }
}
