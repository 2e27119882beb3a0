/// Passes over a text without training: exact sequential evaluation and per-position distributions from a
/// fresh state, and the fast streamed evaluation used for validation.
extension Model {
    /// How many characters one batch-1 pass processes at a time.
    static let evaluationChunk = 256

    /// Runs the model over `indices` from a fresh state, one sequence, in chunks with the state carried.
    /// - Parameters:
    ///   - probabilities: when non-nil, receives (count, V): the distribution after each prefix.
    ///   - interrupt: asked before each chunk; returning true stops the pass with `CharRNNError.cancelled`.
    ///   - afterChunk: called after each chunk with its first position, its length and the graph, whose
    ///     buffers hold that chunk's distributions and states until the next chunk runs (`Model.trace`).
    /// - Returns: loss and accuracy of predicting each next character (count − 1 predictions).
    func sequentialPass(
        _ indices: [Int32], probabilities: UnsafeMutablePointer<Float>?,
        interrupt: (() -> Bool)? = nil,
        afterChunk: (Int, Int, TrainingGraph) throws -> Void = { _, _, _ in }
    ) throws -> BatchResult {
        let n = indices.count
        guard n > 0 else { return BatchResult() }
        try BLASWorkspace.ensure(for: "evaluating")
        let chunk = min(Model.evaluationChunk, n)
        let graph = TrainingGraph(model: self, batch: 1, steps: chunk, computesGradients: false)
        var rng = RandomGenerator(seed: 0)
        var total = BatchResult()
        var targets = [Int32](repeating: -1, count: chunk)
        var start = 0
        let V = config.vocabSize
        while start < n {
            if let interrupt, interrupt() {
                throw CharRNNError.cancelled("evaluation interrupted after \(start) of \(n) characters")
            }
            let steps = min(chunk, n - start)
            for t in 0..<steps { targets[t] = start + t + 1 < n ? indices[start + t + 1] : -1 }
            total += indices.withUnsafeBufferPointer { all in
                graph.run(
                    inputs: all.baseAddress! + start, targets: targets, steps: steps, training: false,
                    computeGradients: false, carryState: start > 0, rng: &rng,
                    probabilities: probabilities.map { $0 + start * V })
            }
            try afterChunk(start, steps, graph)
            start += steps
        }
        return total
    }

    /// Loss (nats per character), accuracy and count of predicting each next character of `text`, from a
    /// fresh state.
    /// - Parameters:
    ///   - skipUnknown: leave out characters outside the vocabulary instead of refusing the text.
    ///   - interrupt: asked every 256 characters; returning true stops the evaluation with
    ///     `CharRNNError.cancelled`.
    /// - Throws: `CharRNNError.unknownCharacter` (without `skipUnknown`), `CharRNNError.invalidArgument` for
    ///   fewer than 2 known characters, `CharRNNError.notFinite` when the model's numbers overflow on this text.
    public func evaluate(
        _ text: [Unicode.Scalar], skipUnknown: Bool = false,
        interrupt: (() -> Bool)? = nil
    ) throws -> BatchResult {
        let indices = try vocabulary.encode(text, skipUnknown: skipUnknown).indices
        guard indices.count >= 2 else {
            throw CharRNNError.invalidArgument("evaluation needs at least 2 known characters, got \(indices.count)")
        }
        return try Model.checkedFinite(sequentialPass(indices, probabilities: nil, interrupt: interrupt))
    }

    /// `result`, unless a distribution along the way was not finite.
    static func checkedFinite(_ result: BatchResult) throws -> BatchResult {
        guard result.lossSum.isFinite else {
            throw CharRNNError.notFinite(
                "the model's numbers overflow float32 on this text (its weights or state are too large): "
                    + "the loss is not a number")
        }
        return result
    }

    /// Like `evaluate(_:skipUnknown:interrupt:)`, but through the generation path — a `Session` fed one character at
    /// a time — with its weights in `precision`. With `.float32` it agrees with `evaluate` to rounding; with
    /// `.int8` the difference is what 8-bit weights cost in loss.
    public func evaluateStepwise(
        _ text: [Unicode.Scalar], precision: WeightPrecision,
        skipUnknown: Bool = false
    ) throws -> BatchResult {
        let indices = try vocabulary.encode(text, skipUnknown: skipUnknown).indices
        guard indices.count >= 2 else {
            throw CharRNNError.invalidArgument("evaluation needs at least 2 known characters, got \(indices.count)")
        }
        let session = Session(model: self, precision: precision)
        let V = config.vocabSize
        var probabilities = [Float](repeating: 0, count: V)
        var result = BatchResult()
        for position in 0..<(indices.count - 1) {
            session.step(indices[position])
            try probabilities.withUnsafeMutableBufferPointer { try session.probabilities(into: $0.baseAddress!) }
            let target = Int(indices[position + 1])
            var best = 0
            for i in 1..<V where probabilities[i] > probabilities[best] { best = i }
            result.add(probability: probabilities[target], correct: best == target)
        }
        return try Model.checkedFinite(result)
    }

    /// The next-character distribution after each prefix of `text`, from a fresh state: (count, V) row-major.
    /// - Throws: `CharRNNError.unknownCharacter` for characters outside the vocabulary,
    ///   `CharRNNError.notFinite` when the model's numbers overflow on this text.
    public func probabilities(_ text: [Unicode.Scalar]) throws -> [Float] {
        let indices = try vocabulary.encode(text, skipUnknown: false).indices
        var out = [Float](repeating: 0, count: indices.count * config.vocabSize)
        try out.withUnsafeMutableBufferPointer { _ = try sequentialPass(indices, probabilities: $0.baseAddress) }
        guard out.allSatisfy(\.isFinite) else {
            throw CharRNNError.notFinite(
                "the model's numbers overflow float32 on this text (its weights are too large)")
        }
        return out
    }

    /// Like `probabilities(_:)` for indices known to be in range, writing into `out` (count × V floats).
    /// - Throws: `CharRNNError.outOfMemory` when OpenBLAS's work buffer would not fit.
    func probabilities(indices: [Int32], into out: UnsafeMutablePointer<Float>) throws {
        _ = try sequentialPass(indices, probabilities: out)
    }

    /// Mean loss and accuracy of the model over `data` cut into `batch` contiguous streams read `steps` at
    /// a time with the state carried: fast validation during training.
    func evaluateStreams(_ data: [Int32], batch: Int, steps: Int) throws -> BatchResult {
        guard data.count >= 2 else { throw CharRNNError.invalidArgument("evaluation needs at least 2 characters") }
        try BLASWorkspace.ensure(for: "validating")
        let b = max(1, min(batch, (data.count - 1) / max(steps, 1)))
        let t = min(steps, (data.count - 1) / b)
        let graph = ParallelGraph(model: self, batch: b, steps: t, computesGradients: false)
        let batches = try Batches(data: data, objective: .sequence, batch: b, steps: t, windowStep: 1)
        let inputs = [Int32](repeating: 0, count: b * t), targets = inputs
        var x = inputs, y = targets
        var total = BatchResult()
        var rng = RandomGenerator(seed: 0)
        for k in 0..<batches.batchesPerEpoch {
            x.withUnsafeMutableBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    batches.fill(k, inputs: xp.baseAddress!, targets: yp.baseAddress!)
                }
            }
            total += graph.run(
                inputs: x, targets: y, steps: t, training: false, computeGradients: false,
                carryState: k > 0, rng: &rng)
        }
        return total
    }

    /// Mean loss and accuracy of the model on the windows of `data`: every window of `window` characters
    /// starting `step` apart, each run from a zero state and predicting the character after it — what
    /// Keras's `evaluate` reports for a model trained on windows. Validation of `--objective window` runs.
    func evaluateWindows(_ data: [Int32], window: Int, step: Int, batch: Int) throws -> BatchResult {
        let count = data.count > window ? (data.count - window - 1) / max(step, 1) + 1 : 0
        guard count > 0 else {
            throw CharRNNError.invalidArgument(
                "window evaluation needs more than \(window) characters, got \(data.count)")
        }
        try BLASWorkspace.ensure(for: "validating")
        let b = max(1, min(batch, count))
        let graph = ParallelGraph(model: self, batch: b, steps: window, lastStepOnly: true, computesGradients: false)
        var x = [Int32](repeating: 0, count: b * window), y = [Int32](repeating: -1, count: b)
        var total = BatchResult()
        var rng = RandomGenerator(seed: 0)
        for first in stride(from: 0, to: count, by: b) {
            for k in 0..<b {
                // The last batch is filled up with its first window, whose target is then ignored (−1).
                let w = first + k < count ? first + k : first
                let start = w * step
                for t in 0..<window { x[k * window + t] = data[start + t] }
                y[k] = first + k < count ? data[start + window] : -1
            }
            total += graph.run(
                inputs: x, targets: y, steps: window, training: false, computeGradients: false,
                carryState: false, rng: &rng)
        }
        return total
    }
}
