/// Many sessions of one model advanced together: a server answering many users, many names drawn at once.
/// Each layer's products run once for all of them (crnn_sum_products_many), so every weight is read once
/// per character for all the sessions instead of once per session; everything else — the state, the
/// sampling parameters, the random generator — stays each session's own, and so do the results: the bits
/// of stepping each session alone. Unlike one session's step, a step of many allocates a few small arrays
/// (of pointers, one entry per session), which is nothing beside the products it saves.
extension Session {
    /// Draws the next character of each session with its parameters and feeds it back, as `sample(_:)` on
    /// each session in turn would — the same characters, probabilities and states, bit for bit — with each
    /// layer's products computed once for all of them. Sessions in window mode re-run their windows one
    /// by one (see `window`).
    /// - Parameters:
    ///   - sessions: distinct sessions of one model and one precision, each fed at least one character.
    ///   - parameters: one per session, or one for all of them.
    ///   - seeds: nil, or per session a seed for its generator before it draws (nil: keep it), applied once
    ///     everything is checked.
    /// - Returns: per session, the character drawn, its index and its probability under the adjusted
    ///   distribution.
    /// - Throws: `CharRNNError.invalidArgument` for sessions of different models or precisions, a session
    ///   given twice, a count of parameters that fits neither or bad parameters; `CharRNNError.state` when
    ///   a session has had no input; `CharRNNError.notFinite` when a model's numbers overflowed. Nothing
    ///   changes when it throws.
    public static func sampleMany(
        _ sessions: [Session], _ parameters: [SamplingParameters], seeds: [UInt64?]? = nil
    ) throws -> [(
        index: Int32, character: Unicode.Scalar, probability: Float
    )] {
        try checkMany(sessions)
        guard parameters.count == sessions.count || parameters.count == 1 else {
            throw CharRNNError.invalidArgument(
                "sampling parameters for \(parameters.count) sessions, given \(sessions.count) sessions")
        }
        for (s, p) in parameters.enumerated() {
            do {
                try p.validate()
            } catch CharRNNError.invalidArgument(let message) where parameters.count > 1 {
                throw CharRNNError.invalidArgument("session \(s)'s sampling parameters: \(message)")
            }
        }
        if let seeds, seeds.count != sessions.count {
            throw CharRNNError.invalidArgument("seeds for \(seeds.count) sessions, given \(sessions.count) sessions")
        }
        if let idle = sessions.firstIndex(where: { !$0.hasInput }) {
            throw CharRNNError.state(
                "session \(idle) has had no input yet: feed each session at least one character first")
        }
        for session in sessions { session.ahead?.invalidate() }  // its terms are computed with the others'
        try computeProbabilities(sessions)
        for (session, seed) in zip(sessions, seeds ?? []) {
            if let seed { session.rng = RandomGenerator(seed: seed) }
        }
        var drawn: [(index: Int32, character: Unicode.Scalar, probability: Float)] = []
        drawn.reserveCapacity(sessions.count)
        for (s, session) in sessions.enumerated() {
            let (index, p) = session.sampler.draw(
                from: session.probs, parameters[parameters.count == 1 ? 0 : s], rng: &session.rng)
            drawn.append((Int32(index), session.model.vocabulary.characters[index], p))
        }
        advanceMany(sessions, drawn.map(\.index))
        return drawn
    }

    /// Feeds one character index to each session (each in 0..<vocab), as `step` on each in turn would.
    /// - Precondition: `checkMany(sessions)` passed.
    static func advanceMany(_ sessions: [Session], _ indices: [Int32]) {
        var stateful: [Session] = [], statefulIndices: [Int32] = []
        for (session, index) in zip(sessions, indices) {
            if session.window > 0 {
                session.step(index)  // the window's re-run, alone
            } else {
                stateful.append(session)
                statefulIndices.append(index)
            }
        }
        guard let first = stateful.first else { return }
        for session in stateful { session.ahead?.invalidate() }
        let scratches = stateful.map(\.quantized)
        for l in first.steps.indices {
            let steps = stateful.map { $0.steps[l] }
            let x: [StepInput] =
                l == 0
                ? zip(stateful, statefulIndices).map { $0.firstLayerInput($1) }
                : stateful.map { .below(UnsafePointer($0.steps[l - 1].h)) }
            type(of: steps[0]).stepMany(steps, x, scratches: scratches)
        }
        for session in stateful {
            session.hasInput = true
            session.probabilitiesValid = false
        }
    }

    /// The pending distributions of every session that needs one, with the head's product computed once
    /// for all of them; each gets the bits of its own `probabilities()`.
    /// - Throws: `CharRNNError.notFinite` naming the session whose numbers overflowed.
    static func computeProbabilities(_ sessions: [Session]) throws {
        let pending = sessions.filter { !$0.probabilitiesValid }
        guard let first = pending.first else { return }
        for session in pending { session.startLogits() }
        StepMatrix.accumulateMany(
            [(first.stepWeights.head, pending.map { UnsafePointer($0.lastHidden) })], into: pending.map(\.probs),
            scratches: pending.map(\.quantized))
        for session in pending {
            do {
                try session.checkLogits()
            } catch CharRNNError.notFinite(let message) {
                let which = sessions.firstIndex { $0 === session } ?? 0
                throw CharRNNError.notFinite("session \(which): \(message)")
            }
        }
        for session in pending { session.finishProbabilities() }
    }

    /// Checks that `sessions` can be advanced together: at least one, distinct, one model, one precision.
    /// - Throws: `CharRNNError.invalidArgument` naming the first that cannot.
    static func checkMany(_ sessions: [Session]) throws {
        guard let first = sessions.first else { throw CharRNNError.invalidArgument("no sessions given") }
        var seen = Set<ObjectIdentifier>()
        for (s, session) in sessions.enumerated() {
            guard seen.insert(ObjectIdentifier(session)).inserted else {
                throw CharRNNError.invalidArgument("session \(s) is given twice: each session steps once")
            }
            guard session.model === first.model else {
                throw CharRNNError.invalidArgument(
                    "session \(s) belongs to another model than session 0: sessions step together only "
                        + "with one model")
            }
            guard session.precision == first.precision else {
                throw CharRNNError.invalidArgument(
                    "session \(s) multiplies with \(session.precision) weights, session 0 with "
                        + "\(first.precision): sessions step together only with one precision")
            }
            // The model's weights changed between the two sessions' creation: each multiplies with the
            // copy made for it, and stepping them with one copy would give one of them the other's numbers.
            guard session.stepWeights === first.stepWeights else {
                throw CharRNNError.invalidArgument(
                    "session \(s) was created with other weights than session 0 (the model's weights changed "
                        + "in between): sessions step together only with the same weights")
            }
        }
    }
}
