/// A GRU layer's batch-1 step (Keras's GRU; its batched forward and backward are Layers' GRULayer, whose
/// row functions it shares so that both compute the same bits). Gates z, r, h̃, U columns each:
///
///     x_z, x_r, x_h = b + x(t)·W                               (b: the input bias)
///   with reset_after (Keras ≥ 2.3, CuDNN):
///     rec  = h(t−1)·U                                          (computed ahead when the session does)
///     z, r = σ(x_z + rec_z + b_rz), σ(x_r + rec_r + b_rr)      (b_r·: the recurrent bias)
///     h̃    = act(x_h + r ⊙ (rec_h + b_rh))
///   without:
///     z, r = σ(x_z + h(t−1)·U_z), σ(x_r + h(t−1)·U_r)
///     h̃    = act(x_h + (r ⊙ h(t−1))·U_h)
///   then
///     h(t) = z ⊙ h(t−1) + (1 − z) ⊙ h̃
final class GRUStep: CellStep {
    let h: UnsafeMutablePointer<Float>
    var c: UnsafeMutablePointer<Float>? { nil }
    private let weights: RecurrentWeights
    private let matrices: LayerStepMatrices
    private let index: Int
    /// (3U): x_z, x_r, x_h, then z, r and h̃'s pre-activation.
    private let projected: UnsafeMutablePointer<Float>
    /// (3U) reset_after: h(t−1)·U, where `ComputingAhead` writes it; nil without.
    private let recurrent: UnsafeMutablePointer<Float>?
    /// (U): without reset_after, r ⊙ h(t−1).
    private let resetState: UnsafeMutablePointer<Float>
    /// (U): h(t) until it replaces h(t−1).
    private let next: UnsafeMutablePointer<Float>

    init(_ w: RecurrentWeights, _ m: LayerStepMatrices, index: Int) {
        weights = w
        matrices = m
        self.index = index
        h = zeroedFloats(w.units)
        projected = zeroedFloats(w.width)
        recurrent = w.config.resetAfter ? zeroedFloats(w.width) : nil
        resetState = zeroedFloats(w.units)
        next = zeroedFloats(w.units)
    }

    deinit {
        for p in [h, projected, resetState, next] { p.deallocate() }
        recurrent?.deallocate()
    }

    /// h·U with reset_after, from zeros (the recurrent bias comes later); nothing without: the candidate's
    /// product needs step t+1's reset gate.
    var aheadTerm: AheadTerm? {
        recurrent.map { AheadTerm(matrix: matrices.recurrent, start: nil, h: h, result: $0) }
    }

    func step(_ x: StepInput, ahead: ComputingAhead?, scratch: StepScratch) {
        let w = weights, U = w.units, xw = projected
        // x_z, x_r, x_h = b + x(t)·W
        w.fillInputBias(xw, rows: 1)
        x.add(into: xw, w, matrices, scratch: scratch)
        if let rec = recurrent {
            // rec = h(t−1)·U
            if !(ahead?.take(index) ?? false) {
                rec.update(repeating: 0, count: w.width)
                matrices.recurrent.accumulate(h, into: rec, scratch: scratch)
            }
            // z, r, h̃ and h(t), as the batched forward computes a row
            GRULayer.resetAfterRow(w, x: xw, rec: rec, hPrev: h, hNext: next, recurrentCandidate: rec + 2 * U)
        } else {
            // LayerStepMatrices splits the recurrent kernel of a GRU without reset_after in two.
            guard let candidate = matrices.candidate else {
                preconditionFailure("GRU step without its candidate columns")
            }
            // z, r = σ(x_{z,r} + h(t−1)·U_{z,r})
            matrices.recurrent.accumulate(h, into: xw, scratch: scratch)
            w.config.recurrentActivation.apply(xw, count: 2 * U)
            // x_h + (r ⊙ h(t−1))·U_h
            for j in 0..<U { resetState[j] = xw[U + j] * h[j] }
            candidate.accumulate(resetState, into: xw + 2 * U, scratch: scratch)
            // h̃ = act(·), h(t) = z ⊙ h(t−1) + (1 − z) ⊙ h̃
            GRULayer.finishRow(w, row: xw, hPrev: h, hNext: next)
        }
        h.update(from: next, count: U)
        // h(t)·U for the next step (reset_after), while the layers above and the head run
        ahead?.post(index, scratch: scratch)
    }

    static func stepMany(_ steps: [CellStep], _ x: [StepInput], scratches: [StepScratch]) {
        let steps = cellSteps(steps, as: GRUStep.self)
        guard let first = steps.first else { return }
        let w = first.weights, m = first.matrices, U = w.units
        let h = steps.map { UnsafePointer($0.h) }
        // x_z, x_r, x_h = b + x(t)·W
        for step in steps { w.fillInputBias(step.projected, rows: 1) }
        let below = x.compactMap(\.below)
        if let input = m.input, below.count == x.count {
            StepMatrix.accumulateMany([(input, below)], into: steps.map(\.projected), scratches: scratches)
        } else {
            for (s, step) in steps.enumerated() { x[s].add(into: step.projected, w, m, scratch: scratches[s]) }
        }
        if w.config.resetAfter {
            let recurrent = steps.compactMap(\.recurrent)  // every step of a reset_after layer has one
            // rec = h(t−1)·U, then z, r, h̃ and h(t) as the batched forward computes a row
            for rec in recurrent { rec.update(repeating: 0, count: w.width) }
            StepMatrix.accumulateMany([(m.recurrent, h)], into: recurrent, scratches: scratches)
            for (step, rec) in zip(steps, recurrent) {
                GRULayer.resetAfterRow(
                    w, x: step.projected, rec: rec, hPrev: step.h, hNext: step.next, recurrentCandidate: rec + 2 * U)
            }
        } else {
            guard let candidate = m.candidate else { preconditionFailure("GRU step without its candidate columns") }
            // z, r = σ(x_{z,r} + h(t−1)·U_{z,r})
            StepMatrix.accumulateMany([(m.recurrent, h)], into: steps.map(\.projected), scratches: scratches)
            for step in steps {
                w.config.recurrentActivation.apply(step.projected, count: 2 * U)
                for j in 0..<U { step.resetState[j] = step.projected[U + j] * step.h[j] }
            }
            // x_h + (r ⊙ h(t−1))·U_h
            StepMatrix.accumulateMany(
                [(candidate, steps.map { UnsafePointer($0.resetState) })], into: steps.map { $0.projected + 2 * U },
                scratches: scratches)
            for step in steps { GRULayer.finishRow(w, row: step.projected, hPrev: step.h, hNext: step.next) }
        }
        for step in steps { step.h.update(from: step.next, count: U) }
    }
}
