/// Stateful generation from one model, one character at a time: the recurrent state of one sequence, the
/// pending next-character distribution, and a seeded random generator.
///
/// A session belongs to one thread at a time; any number of sessions may share a model. The batch-1 path
/// is vector–matrix products over preallocated buffers (nothing is allocated per character), split over
/// CharRNNKernels' worker threads when they are large enough.
///
/// Sessions multiply with copies of the model's weights laid out for these products, made by the first
/// session of each precision and shared by the later ones (`Model.weightsDidChange()` starts anew).
public final class Session {
    /// The model this session runs.
    public let model: Model
    /// The generator `sample` draws from.
    public var rng: RandomGenerator

    /// The precision of the weights this session multiplies with.
    public let precision: WeightPrecision
    let weights: [RecurrentWeights]
    let head: HeadWeights
    /// What each layer multiplies by per step, and the head's kernel: packed float32 copies of the
    /// model's weights, or 8-bit copies for `.int8`, shared with the model's other sessions.
    let stepWeights: StepWeights
    /// The quantized input vectors of the 8-bit products, each kept while its floats stay the same (int8 only).
    let quantized: StepScratch
    /// The layers' steps, bottom first (Generation/Steps: one file per cell).
    let steps: [CellStep]
    /// Per layer: h (U), and c (U) for LSTM — the steps' states, which the session saves and restores.
    let h: [UnsafeMutablePointer<Float>]
    let c: [UnsafeMutablePointer<Float>?]
    /// (V) the next-character distribution, valid when `probabilitiesValid`.
    let probs: UnsafeMutablePointer<Float>
    var probabilitiesValid = false
    /// At least one character has been fed since creation or reset.
    public internal(set) var hasInput = false
    let sampler: Sampler
    /// The layers' recurrent terms computed ahead on a worker, when the session opted in (small models).
    let ahead: ComputingAhead?

    /// The window of generation: 0 carries the state from character to character (stateful); N > 0
    /// computes each distribution from the last N characters alone, run from a zero state — the loop of
    /// the Keras tutorials, for models trained on windows. Starts as the model's `window`; changing it
    /// keeps the characters seen so far (up to `ModelConfig.maxWindow`).
    /// - Precondition: 0...`ModelConfig.maxWindow` (checked by `setWindow(_:)`).
    public private(set) var window: Int
    /// The last characters fed, as many as the window holds (window mode only).
    var history: [Int32] = []

    /// A session at the zero state. The first session of a precision copies the model's matrices (packs
    /// them, or quantizes them for `.int8`: a few ms, about 20 ms to quantize a 2x512 LSTM); later ones
    /// share that copy.
    public convenience init(model: Model, seed: UInt64 = 0, precision: WeightPrecision = .float32) {
        self.init(model: model, seed: seed, precision: precision, aheadLimitBytes: ComputingAhead.limitBytes)
    }

    /// A session, once its buffers and (for the model's first session of `precision`) its copy of the
    /// weights are known to fit in memory.
    /// - Throws: `CharRNNError.outOfMemory` when they would not.
    public static func checked(model: Model, seed: UInt64 = 0, precision: WeightPrecision = .float32) throws -> Session
    {
        try MemoryBudget.ensure(model.sessionBytesNeeded(precision), for: "a session's copy of the weights")
        return Session(model: model, seed: seed, precision: precision)
    }

    /// Sessions seeded `seeds` (many streams of one model), once all their buffers and (for the model's
    /// first session of `precision`) the copy of the weights are known to fit in memory: one question
    /// for all of them, which reads /proc and the cgroup's files once.
    /// - Throws: `CharRNNError.outOfMemory` when they would not fit.
    public static func checked(model: Model, seeds: [UInt64], precision: WeightPrecision = .float32) throws
        -> [Session]
    {
        let copy = model.sessionWeightsCopyBytes(precision)
        try MemoryBudget.ensure(
            copy + Double(seeds.count) * (model.sessionBytesNeeded(precision) - copy),
            for: "\(seeds.count) sessions' buffers")
        return seeds.map { Session(model: model, seed: $0, precision: precision) }
    }

    /// - Parameter aheadLimitBytes: see `ComputingAhead.limitBytes` (tests set 0 to compute nothing ahead).
    init(model: Model, seed: UInt64, precision: WeightPrecision, aheadLimitBytes: Int) {
        self.model = model
        self.precision = precision
        rng = RandomGenerator(seed: seed)
        weights = RecurrentWeights.views(of: model.parameters.pointer, layout: model.layout, config: model.config)
        head = HeadWeights(base: model.parameters.pointer, layout: model.layout)
        stepWeights = model.stepWeights(precision)
        quantized = StepScratch(capacity: stepWeights.widestInput)
        steps = zip(weights, stepWeights.layers).enumerated().map { makeCellStep($1.0, $1.1, index: $0) }
        h = steps.map(\.h)
        c = steps.map(\.c)
        probs = zeroedFloats(model.config.vocabSize)
        sampler = Sampler(count: model.config.vocabSize)
        ahead = ComputingAhead(steps: steps, precision: precision, limitBytes: aheadLimitBytes)
        window = model.config.window
    }

    /// Sets the window (see `window`); the next distribution is computed the new way.
    /// - Throws: `CharRNNError.invalidArgument` outside 0...`ModelConfig.maxWindow`.
    public func setWindow(_ newValue: Int) throws {
        guard newValue >= 0, newValue <= ModelConfig.maxWindow else {
            throw CharRNNError.invalidArgument(
                "window must be in 0...\(ModelConfig.maxWindow) (0 = stateful), got \(newValue)")
        }
        guard newValue != window else { return }
        window = newValue
        if window > 0 {
            if history.count > window { history.removeFirst(history.count - window) }
            if hasInput { rerunWindow() }
        } else {
            history = []
        }
    }

    deinit {
        ahead?.settle()  // a worker may be reading an h; the steps free theirs
        probs.deallocate()
        sampler.deallocate()
    }

    /// Zeroes the state and forgets the pending distribution; the generator is kept.
    public func reset() {
        zeroState()
        hasInput = false
        probabilitiesValid = false
        history = []
    }

    /// Zeroes the recurrent state only.
    private func zeroState() {
        ahead?.invalidate()
        for (l, layer) in model.config.layers.enumerated() {
            h[l].update(repeating: 0, count: layer.units)
            c[l]?.update(repeating: 0, count: layer.units)
        }
    }

    /// Window mode: the state after the characters in the window, run from a zero state.
    func rerunWindow() {
        zeroState()
        for index in history { advance(index) }
        probabilitiesValid = false
    }

    // MARK: feeding

    /// Feeds one character index (in 0..<vocab): the state advances by it, or, in window mode, it joins
    /// the window and the state is the window's.
    package func step(_ index: Int32) {
        guard window > 0 else { return advance(index) }
        remember(CollectionOfOne(index))
        rerunWindow()
    }

    /// Window mode: appends characters to the window, dropping the oldest.
    private func remember<C: Collection>(_ indices: C) where C.Element == Int32 {
        history.append(contentsOf: indices.suffix(window))
        if history.count > window { history.removeFirst(history.count - window) }
        hasInput = true
    }

    /// Advances the state by one character index (must be in 0..<vocab): each layer's step, bottom first,
    /// each taking the new h of the layer below as its input.
    private func advance(_ index: Int32) {
        var x = firstLayerInput(index)
        for step in steps {
            step.step(x, ahead: ahead, scratch: quantized)
            x = .below(UnsafePointer(step.h))
        }
        hasInput = true
        probabilitiesValid = false
    }

    /// The first layer's input for character `index`.
    func firstLayerInput(_ index: Int32) -> StepInput {
        let config = model.config
        switch config.input {
        case .onehot:  // x · W for a one-hot x: a row of the kernel
            return .row(UnsafePointer(weights[0].kernel + Int(index) * weights[0].width))
        case .embedding:
            return .embedding(
                head.embedding.map { UnsafePointer($0 + Int(index) * config.embeddingDim) },
                count: config.embeddingDim)
        case .scalar:
            return .scalar(Float(index) / Float(config.vocabSize))
        }
    }

    /// Feeds text. The whole text is checked before the state changes.
    /// - Returns: the characters fed and the distinct characters skipped (with `skipUnknown`).
    /// - Throws: `CharRNNError.unknownCharacter` for characters outside the vocabulary, unless `skipUnknown`.
    /// - Parameter interrupt: asked every `Session.feedChunk` characters; returning true puts the state
    ///   back as it was before the call and throws `CharRNNError.cancelled`.
    @discardableResult
    public func feed(
        _ text: [Unicode.Scalar], skipUnknown: Bool = false,
        interrupt: (() -> Bool)? = nil
    ) throws -> (fed: Int, skipped: [Unicode.Scalar], skippedCount: Int) {
        let encoded = try model.vocabulary.encode(text, skipUnknown: skipUnknown)
        let indices = encoded.indices
        if window > 0 {
            // Only the last `window` characters count; running them is at most one window's work.
            guard !indices.isEmpty else { return (0, encoded.skipped, encoded.skippedCount) }
            remember(indices)
            rerunWindow()
            return (indices.count, encoded.skipped, encoded.skippedCount)
        }
        guard let interrupt, indices.count > Session.feedChunk else {
            for index in indices { step(index) }
            return (indices.count, encoded.skipped, encoded.skippedCount)
        }
        let before = stateBytes()
        for start in stride(from: 0, to: indices.count, by: Session.feedChunk) {
            if interrupt() {
                try before.withUnsafeBytes { try setState($0) }
                throw CharRNNError.cancelled(
                    "feeding interrupted after \(start) of \(indices.count) characters; the state is as it was")
            }
            for index in indices[start..<min(start + Session.feedChunk, indices.count)] { step(index) }
        }
        return (indices.count, encoded.skipped, encoded.skippedCount)
    }

    /// How many characters `feed` steps between two questions to its `interrupt`.
    public static let feedChunk = 256

    /// Feeds a string; see `feed(_:skipUnknown:interrupt:)`.
    @discardableResult
    public func feed(_ text: String, skipUnknown: Bool = false) throws -> (
        fed: Int, skipped: [Unicode.Scalar], skippedCount: Int
    ) {
        try feed(Array(text.unicodeScalars), skipUnknown: skipUnknown)
    }

    /// Starts a text that has no prime: feeds a newline, where lines begin in most corpora, or, when the
    /// vocabulary has none, a character drawn from the session's generator (so the seed decides it).
    /// - Returns: the character fed, and whether it is the newline.
    @discardableResult
    public func feedStart() -> (character: Unicode.Scalar, isNewline: Bool) {
        let newline: Unicode.Scalar = "\n"
        if let index = model.vocabulary.index(of: newline) {
            step(index)
            return (newline, true)
        }
        let index = Int32(truncatingIfNeeded: rng.next() % UInt64(model.vocabulary.count))
        step(index)
        return (model.vocabulary.characters[Int(index)], false)
    }

    // MARK: distribution and sampling

    /// Computes the pending distribution if needed.
    private func ensureProbabilities() throws {
        guard hasInput else {
            throw CharRNNError.state("no character has been fed yet: feed at least one character first")
        }
        if probabilitiesValid { return }
        startLogits()
        stepWeights.head.accumulate(lastHidden, into: probs, scratch: quantized)
        try checkLogits()
        finishProbabilities()
    }

    /// The last layer's h, which the head multiplies.
    var lastHidden: UnsafeMutablePointer<Float> { h[h.count - 1] }

    /// The first part of the distribution: `probs` = the head's bias (or zeros), which the head's
    /// product is then added to (here, or for many sessions at once: `Session.computeProbabilities`).
    func startLogits() {
        let V = model.config.vocabSize
        if let bias = head.bias { probs.update(from: bias, count: V) } else { probs.update(repeating: 0, count: V) }
    }

    /// Softmax is stable for any finite logits; overflowed ones (huge weights) have no distribution.
    /// - Throws: `CharRNNError.notFinite` naming the first character whose logit overflowed.
    func checkLogits() throws {
        for i in 0..<model.config.vocabSize where !probs[i].isFinite {
            throw CharRNNError.notFinite(
                "the model's numbers overflow float32 here (its weights or state are too large): the logit of "
                    + "\(Vocabulary.describe(model.vocabulary.characters[i])) is \(probs[i])")
        }
    }

    /// The logits, checked, become the pending distribution.
    func finishProbabilities() {
        softmaxInPlace(probs, count: model.config.vocabSize)
        probabilitiesValid = true
    }

    /// The distribution over the next character (vocab-size values summing to 1), in vocabulary order.
    /// - Throws: `CharRNNError.state` before anything was fed, `CharRNNError.notFinite` when the model's
    ///   numbers overflowed.
    public func probabilities() throws -> [Float] {
        try ensureProbabilities()
        return Array(UnsafeBufferPointer(start: probs, count: model.config.vocabSize))
    }

    /// Copies the distribution into `out`, which must hold vocab-size floats.
    package func probabilities(into out: UnsafeMutablePointer<Float>) throws {
        try ensureProbabilities()
        out.update(from: probs, count: model.config.vocabSize)
    }

    /// Draws the next character, feeds it back, and returns it with the probability it was drawn with
    /// (under the distribution as `parameters` adjusted it).
    /// - Throws: `CharRNNError.invalidArgument` for bad parameters, and what `probabilities()` throws.
    public func sample(_ parameters: SamplingParameters = SamplingParameters()) throws -> (
        index: Int32, character: Unicode.Scalar, probability: Float
    ) {
        try parameters.validate()
        return try sampleValidated(parameters)
    }

    private func sampleValidated(_ parameters: SamplingParameters) throws -> (
        index: Int32, character: Unicode.Scalar, probability: Float
    ) {
        try ensureProbabilities()
        let (index, p) = sampler.draw(from: probs, parameters, rng: &rng)
        step(Int32(index))
        return (Int32(index), model.vocabulary.characters[index], p)
    }

    /// Generates up to `count` characters as `sample(_:)` would; `onCharacter` gets each character and its
    /// probability, and returns false to stop.
    /// - Returns: the number of characters generated.
    /// - Throws: what `sample(_:)` throws.
    @discardableResult
    public func generate(
        count: Int, _ parameters: SamplingParameters = SamplingParameters(),
        onCharacter: (Unicode.Scalar, Float) -> Bool = { _, _ in true }
    ) throws -> Int {
        try parameters.validate()
        for produced in 0..<count {
            let next = try sampleValidated(parameters)
            if !onCharacter(next.character, next.probability) { return produced + 1 }
        }
        return count
    }
}
