import CharRNNKernels

/// Computing ahead, the one thing a session may opt into to overlap its work: the part of each layer's
/// next step that comes from the layer's own state — an LSTM's or SimpleRNN's b + h(t)·U, a GRU's h(t)·U
/// (with reset_after) — computed by a worker thread while the session goes on with the layers above, the
/// head, the softmax and the draw. A session opts in for small models only (`init` returns nil otherwise):
/// every recurrent kernel at most `limitBytes` and no GRU without reset_after (whose candidate product
/// needs step t+1's reset gate). The worker then does the recurrent products one at a time, and the
/// session everything else; a larger model's products are split over the cores instead, each as it is
/// needed.
///
/// The contract:
/// - **After `post(l)` returns**, until `take(l)`, `settle()` or `invalidate()` returns, a worker may
///   read layer l's h, its recurrent kernel (and bias, and for 8-bit weights the quantized h the post
///   made) and write the layer's term buffer (`AheadTerm.result`). Meanwhile the caller must not write h
///   nor touch the term buffer; anything else may run — other layers' steps, the head, the sampler.
///   A layer's step calls `take` before it changes its h, and the session calls `invalidate` before it
///   sets the states from outside (reset, a restored state, window mode) and `settle` before it frees
///   them.
/// - **The result may not depend** on anything but h at the time of the post, the kernel and the bias:
///   not on step t+1's input (the character, or the layer below's new state), nor on which thread
///   computed it or when. It is summed as the step would sum it — from b (or zeros), then h's rows in
///   order, each column on its own (crnn_sum_products' order) — so a step that takes it gets the bits
///   of computing it itself.
final class ComputingAhead {
    /// The largest recurrent kernel (bytes, in the session's precision) computed ahead on a worker: 2x128
    /// float32 LSTM kernels (256 KB) are; 2x512 ones (4 MB) are split over the cores instead, since one core
    /// doing every recurrent product would then take longer than the rest of the step. Tests pass 0 to a
    /// session to compute nothing ahead.
    static let limitBytes = 512 * 1024

    /// Per layer, what is computed ahead.
    private let terms: [AheadTerm]
    // The state below is the session's thread's alone (a session belongs to one thread at a time), so
    // it is kept without Swift's dynamic exclusivity checks, which cost a few percent of a small model's
    // step.
    /// Per layer: its term buffer holds the term of its current h.
    private let ready: UnsafeMutablePointer<Bool>
    /// The layer whose term the worker is computing.
    @exclusivity(unchecked) private var pending: Int?
    private let job: UnsafeMutablePointer<crnn_products_async>

    /// Computing ahead for a session's layers, or nil when the model is not small enough for it to pay or
    /// a layer has no term of its own (see the type's description).
    init?(steps: [CellStep], precision: WeightPrecision, limitBytes: Int) {
        let bytesPerWeight = precision == .int8 ? 1 : MemoryLayout<Float>.stride
        var terms: [AheadTerm] = []
        for step in steps {
            guard let term = step.aheadTerm, term.matrix.k * term.matrix.n * bytesPerWeight <= limitBytes else {
                return nil
            }
            terms.append(term)
        }
        self.terms = terms
        ready = .allocate(capacity: terms.count)
        ready.initialize(repeating: false, count: terms.count)
        job = .allocate(capacity: 1)
        job.initialize(to: crnn_products_async())
    }

    deinit {
        settle()  // the worker may still be writing into a term buffer
        job.deallocate()
        ready.deallocate()
    }

    /// Whether layer `l`'s term buffer holds the term of its current h, waiting for the worker if it is
    /// computing it; the step uses it up (the next call says false until the next post).
    func take(_ l: Int) -> Bool {
        if pending == l { settle() }
        defer { ready[l] = false }
        return ready[l]
    }

    /// Layer `l`'s h has just taken its new value: the worker starts on its next term (after the one it
    /// may be busy with), with 8-bit weights from h quantized here by `scratch`. See the contract.
    func post(_ l: Int, scratch: StepScratch) {
        ready[l] = false
        settle()
        let term = terms[l]
        job.pointee.terms.0 = term.matrix.term(term.h, scratch: scratch)
        job.pointee.count = 1
        job.pointee.n = term.matrix.n
        job.pointee.start = term.start
        job.pointee.y = term.result
        pending = l
        crnn_sum_products_post(job)
    }

    /// Waits for the term in flight, if any.
    func settle() {
        guard let l = pending else { return }
        crnn_sum_products_wait(job)
        pending = nil
        ready[l] = true
    }

    /// Forgets every term: the states are about to be set from outside.
    func invalidate() {
        settle()
        ready.update(repeating: false, count: terms.count)
    }
}

/// What computing ahead computes for one layer: result (n) = start + h · U, with U the layer's recurrent
/// kernel as its step multiplies it (n columns) and start its bias or nil (zeros).
struct AheadTerm {
    let matrix: StepMatrix
    let start: UnsafePointer<Float>?
    let h: UnsafePointer<Float>
    /// The step's buffer the term lands in, which the step then sums on from.
    let result: UnsafeMutablePointer<Float>
}
