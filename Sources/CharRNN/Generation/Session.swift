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
    /// Per layer: h (U), and c (U) for LSTM.
    let h: [UnsafeMutablePointer<Float>]
    let c: [UnsafeMutablePointer<Float>?]
    /// GRU layers' (max G·U) input-projection scratch and (max G·U + U) recurrent scratch; the other
    /// cells sum in `recurrent`'s buffers.
    let z: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>
    /// (V) the next-character distribution, valid when `probabilitiesValid`.
    let probs: UnsafeMutablePointer<Float>
    var probabilitiesValid = false
    /// At least one character has been fed since creation or reset.
    public internal(set) var hasInput = false
    let sampler: Sampler
    /// The layers' recurrent terms (b + h · U, or a GRU's h · U), computed ahead for small models.
    let recurrent: RecurrentTerms

    /// The window of generation: 0 carries the state from character to character (stateful); N > 0
    /// computes each distribution from the last N characters alone, run from a zero state — the loop of
    /// the Keras tutorials, for models trained on windows. Starts as the model's `window`; changing it
    /// keeps the characters seen so far (up to `ModelConfig.maxWindow`).
    /// - Precondition: 0...`ModelConfig.maxWindow` (checked by `setWindow(_:)`).
    public private(set) var window: Int
    /// The last characters fed, as many as the window holds (window mode only).
    private var history: [Int32] = []

    /// A session at the zero state. The first session of a precision copies the model's matrices (packs
    /// them, or quantizes them for `.int8`: a few ms, about 20 ms to quantize a 2x512 LSTM); later ones
    /// share that copy.
    public convenience init(model: Model, seed: UInt64 = 0, precision: WeightPrecision = .float32) {
        self.init(model: model, seed: seed, precision: precision, aheadLimitBytes: RecurrentTerms.aheadLimitBytes)
    }

    /// A session, once its buffers and (for the model's first session of `precision`) its copy of the
    /// weights are known to fit in memory.
    /// - Throws: `CharRNNError.outOfMemory` when they would not.
    public static func checked(model: Model, seed: UInt64 = 0, precision: WeightPrecision = .float32) throws -> Session {
        try MemoryBudget.ensure(model.sessionBytesNeeded(precision), for: "a session's copy of the weights")
        return Session(model: model, seed: seed, precision: precision)
    }

    /// - Parameter aheadLimitBytes: see `RecurrentTerms.aheadLimitBytes` (tests set 0 to compute nothing ahead).
    init(model: Model, seed: UInt64, precision: WeightPrecision, aheadLimitBytes: Int) {
        self.model = model
        self.precision = precision
        rng = RandomGenerator(seed: seed)
        weights = RecurrentWeights.views(of: model.parameters.pointer, layout: model.layout, config: model.config)
        head = HeadWeights(base: model.parameters.pointer, layout: model.layout)
        stepWeights = model.stepWeights(precision)
        quantized = StepScratch(capacity: stepWeights.widestInput)
        func zeros(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        h = model.config.layers.map { zeros($0.units) }
        c = model.config.layers.map { $0.cell == .lstm ? zeros($0.units) : nil }
        let widest = weights.map(\.width).max() ?? 1
        z = zeros(widest)
        scratch = zeros(widest + (weights.map(\.units).max() ?? 1))
        probs = zeros(model.config.vocabSize)
        sampler = Sampler(count: model.config.vocabSize)
        recurrent = RecurrentTerms(weights: weights, matrices: stepWeights.layers, precision: precision,
                                   aheadLimitBytes: aheadLimitBytes)
        window = model.config.window
    }

    /// Sets the window (see `window`); the next distribution is computed the new way.
    /// - Throws: `CharRNNError.invalidArgument` outside 0...`ModelConfig.maxWindow`.
    public func setWindow(_ newValue: Int) throws {
        guard newValue >= 0, newValue <= ModelConfig.maxWindow else {
            throw CharRNNError.invalidArgument("window must be in 0...\(ModelConfig.maxWindow) (0 = stateful), got \(newValue)")
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
        recurrent.settle()  // a worker may be reading an h
        for p in h { p.deallocate() }
        for p in c { p?.deallocate() }
        z.deallocate()
        scratch.deallocate()
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
        recurrent.invalidate()
        for (l, layer) in model.config.layers.enumerated() {
            h[l].update(repeating: 0, count: layer.units)
            c[l]?.update(repeating: 0, count: layer.units)
        }
    }

    /// Window mode: the state after the characters in the window, run from a zero state.
    private func rerunWindow() {
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

    /// Advances the state by one character index (must be in 0..<vocab).
    ///
    /// An LSTM or SimpleRNN layer's gate sums are b + h(t−1) · U + x(t) · W, in that order: the first
    /// half is `recurrent`'s, often computed while the layers above and the head ran at the last step, as
    /// is a GRU's h(t−1) · U with reset_after.
    private func advance(_ index: Int32) {
        let matrices = stepWeights.layers, oneHot = model.config.input == .onehot
        for (l, w) in weights.enumerated() {
            let m = matrices[l], below: UnsafePointer<Float>? = l == 0 ? nil : UnsafePointer(h[l - 1])
            switch w.config.cell {
            case .lstm, .rnn:
                let row = l == 0 && oneHot ? UnsafePointer(w.kernel + Int(index) * w.width) : nil
                let (sums, activated) = recurrent.gateSums(l, h: h[l], below: below, row: row, scratch: quantized)
                if below == nil && row == nil { addInput(index, w, into: sums) }
                if let cl = c[l] {
                    if !activated { LSTMLayer.activateGates(w, sums) }
                    LSTMLayer.updateCells(sums, rows: 1, units: w.units, cPrev: cl, cNext: cl, hNext: h[l],
                                          activation: w.config.activation)
                } else {
                    if !activated { w.config.activation.apply(sums, count: w.units) }
                    h[l].update(from: sums, count: w.units)
                }
                recurrent.stateDidChange(l, h: h[l], scratch: quantized)
            case .gru:
                w.fillInputBias(z, rows: 1)
                if let below { m.input?.accumulate(below, into: z, scratch: quantized) } else { addInput(index, w, into: z) }
                let rec = w.config.resetAfter ? recurrent.recurrentProduct(l, h: h[l], scratch: quantized) : nil
                GRULayer.step(w, m, x: z, rec: rec, h: h[l], scratch: scratch, quantized: quantized)
                recurrent.stateDidChange(l, h: h[l], scratch: quantized)
            }
        }
        hasInput = true
        probabilitiesValid = false
    }

    /// Adds the first layer's input term for character `index` to `z`.
    private func addInput(_ index: Int32, _ w: RecurrentWeights, into z: UnsafeMutablePointer<Float>) {
        let config = model.config
        switch config.input {
        case .onehot:  // a row of the kernel: x · W for a one-hot x
            let row = w.kernel + Int(index) * w.width
            for j in 0..<w.width { z[j] += row[j] }
        case .embedding:
            if let table = head.embedding {
                vecMatAccumulate(table + Int(index) * config.embeddingDim, k: config.embeddingDim, w.kernel, n: w.width, into: z)
            }
        case .scalar:
            let v = Float(index) / Float(config.vocabSize)
            for j in 0..<w.width { z[j] += v * w.kernel[j] }
        }
    }

    /// Feeds text. The whole text is checked before the state changes.
    /// - Returns: the characters fed and the distinct characters skipped (with `skipUnknown`).
    /// - Throws: `CharRNNError.unknownCharacter` for characters outside the vocabulary, unless `skipUnknown`.
    /// - Parameter interrupt: asked every `Session.feedChunk` characters; returning true puts the state
    ///   back as it was before the call and throws `CharRNNError.cancelled`.
    @discardableResult
    public func feed(_ text: [Unicode.Scalar], skipUnknown: Bool = false,
                     interrupt: (() -> Bool)? = nil) throws -> (fed: Int, skipped: [Unicode.Scalar], skippedCount: Int) {
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
                throw CharRNNError.cancelled("feeding interrupted after \(start) of \(indices.count) characters; the state is as it was")
            }
            for index in indices[start..<min(start + Session.feedChunk, indices.count)] { step(index) }
        }
        return (indices.count, encoded.skipped, encoded.skippedCount)
    }

    /// How many characters `feed` steps between two questions to its `interrupt`.
    public static let feedChunk = 256

    /// Feeds a string; see `feed(_:skipUnknown:interrupt:)`.
    @discardableResult
    public func feed(_ text: String, skipUnknown: Bool = false) throws -> (fed: Int, skipped: [Unicode.Scalar], skippedCount: Int) {
        try feed(Array(text.unicodeScalars), skipUnknown: skipUnknown)
    }

    // MARK: distribution and sampling

    /// Computes the pending distribution if needed.
    private func ensureProbabilities() throws {
        guard hasInput else {
            throw CharRNNError.state("no character has been fed yet: feed at least one character first")
        }
        if probabilitiesValid { return }
        let V = model.config.vocabSize, last = weights.count - 1
        if let bias = head.bias { probs.update(from: bias, count: V) } else { probs.update(repeating: 0, count: V) }
        stepWeights.head.accumulate(h[last], into: probs, scratch: quantized)
        // Softmax is stable for any finite logits; overflowed ones (huge weights) have no distribution.
        for i in 0..<V where !probs[i].isFinite {
            throw CharRNNError.notFinite(
                "the model's numbers overflow float32 here (its weights or state are too large): the logit of "
                    + "\(Vocabulary.describe(model.vocabulary.characters[i])) is \(probs[i])")
        }
        softmaxInPlace(probs, count: V)
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
    public func sample(_ parameters: SamplingParameters = SamplingParameters()) throws -> (index: Int32, character: Unicode.Scalar, probability: Float) {
        try parameters.validate()
        return try sampleValidated(parameters)
    }

    private func sampleValidated(_ parameters: SamplingParameters) throws -> (index: Int32, character: Unicode.Scalar, probability: Float) {
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
    public func generate(count: Int, _ parameters: SamplingParameters = SamplingParameters(),
                         onCharacter: (Unicode.Scalar, Float) -> Bool = { _, _ in true }) throws -> Int {
        try parameters.validate()
        for produced in 0..<count {
            let next = try sampleValidated(parameters)
            if !onCharacter(next.character, next.probability) { return produced + 1 }
        }
        return count
    }
}
