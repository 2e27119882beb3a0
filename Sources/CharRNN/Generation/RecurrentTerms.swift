import CharRNNKernels

/// The part of a layer's step that comes from its own state, known before the character of step t is:
/// an LSTM's or SimpleRNN's b + h(t−1) · U, a GRU's h(t−1) · U (with reset_after; without it, the
/// candidate's product needs the reset gate of step t). For a small model it is computed ahead, by a
/// worker thread, while the session goes on with the layers above, the softmax and the draw.
///
/// An LSTM's or SimpleRNN's gate sums are b + h(t−1) · U + x(t) · W in that order, each product over its
/// rows in order, whether the first part was computed ahead or when needed, on a worker or here: the same
/// bits either way. A GRU's h · U starts from zeros, as it always has.
///
/// Small models only (every recurrent kernel at most `aheadLimitBytes`, no GRU without reset_after): the
/// worker then does all the recurrent products, one at a time, and the session the input products and
/// the rest. A large model's products are split over the cores instead, each as it is needed.
final class RecurrentTerms {
    /// The largest recurrent kernel (bytes, in the session's precision) computed ahead on a worker: 2x128
    /// float32 LSTM kernels (256 KB) are; 2x512 ones (4 MB) are split over the cores instead, since one core
    /// doing every recurrent product would then take longer than the rest of the step. Tests pass 0 to a
    /// session to compute nothing ahead.
    static let aheadLimitBytes = 512 * 1024

    /// Per layer: b + h · U (a GRU's h · U) for the layer's current h, when `ready`; nil for a GRU
    /// without reset_after, which sums its own way.
    private let sums: [UnsafeMutablePointer<Float>?]
    private var ready: [Bool]
    /// The layer whose sum the worker is computing.
    private var pending: Int?
    /// Whether sums are computed ahead, on a worker.
    let ahead: Bool
    private let job: UnsafeMutablePointer<crnn_step_async>
    private let weights: [RecurrentWeights]
    private let matrices: [LayerStepMatrices]
    /// Per layer, the activation the products apply to the columns they sum, when they can.
    private let fusedActivations: [crnn_step_activation?]

    init(weights: [RecurrentWeights], matrices: [LayerStepMatrices], precision: WeightPrecision, aheadLimitBytes: Int) {
        self.weights = weights
        self.matrices = matrices
        sums = weights.map { w in
            guard RecurrentTerms.hasRecurrentTerm(w) else { return nil }
            let p = UnsafeMutablePointer<Float>.allocate(capacity: w.width)
            p.initialize(repeating: 0, count: w.width)
            return p
        }
        ready = Array(repeating: false, count: weights.count)
        let bytesPerWeight = precision == .int8 ? 1 : MemoryLayout<Float>.stride
        ahead = weights.allSatisfy {
            RecurrentTerms.hasRecurrentTerm($0) && $0.units * $0.width * bytesPerWeight <= aheadLimitBytes
        }
        fusedActivations = weights.map(RecurrentTerms.fusedActivation)
        job = .allocate(capacity: 1)
        job.initialize(to: crnn_step_async())
    }

    deinit {
        settle()  // the worker may still be writing into a sum
        for p in sums { p?.deallocate() }
        job.deallocate()
    }

    /// Layer `l`'s gate sums for this step, in place in `l`'s buffer: b + h · U (the worker's once it has
    /// finished, or computed here), then the input term, `below` · W above the first layer (`below` being
    /// the layer below's new state) or `row`, a one-hot character's row of the first layer's kernel, then
    /// the layer's activation when the kernels can apply it (`activated`). With neither `below` nor `row`
    /// (another first-layer input) the caller adds the input term; it activates whenever `activated` is false.
    func gateSums(_ l: Int, h: UnsafePointer<Float>, below: UnsafePointer<Float>?, row: UnsafePointer<Float>?,
                  scratch: StepScratch) -> (sums: UnsafeMutablePointer<Float>, activated: Bool) {
        guard let sum = sums[l], weights[l].config.cell != .gru else { preconditionFailure("layer \(l) is a GRU: no gate sums here") }
        if pending == l { settle() }
        let m = matrices[l], n = weights[l].width
        // The row and the activation, applied to each column after its sums (by the threads when fused).
        var finish = below != nil || row != nil ? fusedActivations[l] : nil
        finish?.addend = row
        if ready[l] {
            if let below { m.input?.accumulate(below, into: sum, scratch: scratch) }
            if var finish { crnn_step_finish(&finish, n, sum) }
        } else {  // one pass, split over the cores when large
            weights[l].fillInputBias(sum, rows: 1)
            if let below, let input = m.input {
                m.recurrent.accumulate(h, plus: input, below, into: sum, scratch: scratch, activation: finish)
            } else {
                m.recurrent.accumulate(h, into: sum, scratch: scratch, activation: finish)
            }
        }
        if finish == nil, let row { for j in 0..<n { sum[j] += row[j] } }
        ready[l] = false  // it holds more than b + h · U now
        return (sum, finish != nil)
    }

    /// A GRU layer's h · U for its current h (reset_after), from zeros, in place in `l`'s buffer, which
    /// the step then uses up: the worker's once it has finished, or computed here.
    func recurrentProduct(_ l: Int, h: UnsafePointer<Float>, scratch: StepScratch) -> UnsafeMutablePointer<Float> {
        guard let sum = sums[l] else { preconditionFailure("layer \(l) is a GRU without reset_after: no h · U of its own") }
        if pending == l { settle() }
        if !ready[l] {
            sum.update(repeating: 0, count: weights[l].width)
            matrices[l].recurrent.accumulate(h, into: sum, scratch: scratch)
        }
        ready[l] = false  // the step uses it up
        return sum
    }

    /// Layer `l`'s state has just become `h`: a small model's worker starts on its next b + h · U (after
    /// the product it may be busy with). `h` must not change until the sum is taken or `settle` returns.
    func stateDidChange(_ l: Int, h: UnsafePointer<Float>, scratch: StepScratch) {
        ready[l] = false
        guard ahead, let sum = sums[l] else { return }
        settle()
        job.pointee.terms.0 = matrices[l].recurrent.term(h, scratch: scratch)
        job.pointee.count = 1
        job.pointee.n = weights[l].width
        // b (or zeros) for an LSTM or SimpleRNN; zeros for a GRU, whose recurrent bias comes later.
        job.pointee.start = weights[l].config.cell == .gru ? nil : UnsafePointer(weights[l].inputBias)
        job.pointee.y = sum
        pending = l
        crnn_step_products_post(job)
    }

    /// Whether a layer's step has a part known from its state alone (see the type's description).
    private static func hasRecurrentTerm(_ w: RecurrentWeights) -> Bool { w.config.cell != .gru || w.config.resetAfter }

    /// The activation the products can apply to the columns they sum (the same functions, so the bits of
    /// applying it after): an LSTM's usual gates, a tanh SimpleRNN's.
    private static func fusedActivation(_ w: RecurrentWeights) -> crnn_step_activation? {
        let U = w.units
        switch w.config.cell {
        case .lstm where w.config.recurrentActivation == .sigmoid && w.config.activation == .tanh:
            return crnn_step_activation(tanh_begin: 2 * U, tanh_end: 3 * U, addend: nil)
        case .rnn where w.config.activation == .tanh:
            return crnn_step_activation(tanh_begin: 0, tanh_end: U, addend: nil)
        default:
            return nil
        }
    }

    /// Waits for the product in flight, if any.
    func settle() {
        guard let l = pending else { return }
        crnn_step_products_wait(job)
        pending = nil
        ready[l] = true
    }

    /// Forgets every sum: the states were set from outside.
    func invalidate() {
        settle()
        for l in ready.indices { ready[l] = false }
    }
}
