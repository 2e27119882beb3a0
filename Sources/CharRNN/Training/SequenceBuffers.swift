/// The memory of one recurrent layer's `SequenceTensors` in a training graph, allocated once for the
/// longest run, and the recurrent state it carries from one run (batch) to the next.
@dynamicMemberLookup
final class SequenceBuffers {
    /// Steps the buffers hold.
    let capacity: Int
    /// The current run's tensors, for the layer's batched forward and backward: views of the buffers,
    /// with `steps` (at most `capacity`) set by `startRun`. Their fields read as the buffers' own
    /// (`buffers.h`, `buffers.gates`, …).
    private(set) var tensors: SequenceTensors

    subscript<Value>(dynamicMember field: KeyPath<SequenceTensors, Value>) -> Value { tensors[keyPath: field] }

    init(layer: LayerConfig, steps: Int, batch: Int) {
        capacity = steps
        let units = layer.units, width = layer.cell.gateCount * layer.units, tb = steps * batch
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        tensors = SequenceTensors(
            steps: steps, batch: batch, units: units, width: width,
            gates: make(tb * width),
            h: make((steps + 1) * batch * units),
            c: layer.cell == .lstm ? make((steps + 1) * batch * units) : nil,
            aux: layer.cell == .gru ? make(tb * units) : nil,
            recurrentGradients: layer.cell == .gru && layer.resetAfter ? make(tb * width) : nil,
            stepScratch: make(batch * width),
            outputGradients: make(tb * units),
            hGradient: make(batch * units),
            cGradient: make(batch * units))
    }

    deinit {
        let t = tensors
        for p in [t.gates, t.h, t.stepScratch, t.outputGradients, t.hGradient, t.cGradient] { p.deallocate() }
        for p in [t.c, t.aux, t.recurrentGradients] { p?.deallocate() }
    }

    /// The outputs h[1...T] as one (T·B, U) matrix.
    var outputs: UnsafeMutablePointer<Float> { tensors.h + tensors.batch * tensors.units }

    /// The state after the last step: h[T] (B, U).
    var finalH: UnsafeMutablePointer<Float> { tensors.h + tensors.steps * stateCount }
    var finalC: UnsafeMutablePointer<Float>? { tensors.c.map { $0 + tensors.steps * stateCount } }

    /// Floats of one step's state, h or c: (B, U).
    private var stateCount: Int { tensors.batch * tensors.units }

    /// The last run's final state is still at step `steps`, not yet moved to h[0]: it moves when the next
    /// run starts, because the weight gradients of the last run may still read h[0] (ParallelGraph adds
    /// them after every part's run).
    private var holdsFinalState = false

    /// Before a run of `steps` steps: the initial state becomes the last run's final state (`carry`) or
    /// zeros.
    func startRun(steps: Int, carry: Bool) {
        if carry { settleCarriedState() } else { resetState() }
        tensors.steps = steps
    }

    /// Moves the last run's final state to h[0] (and c[0]), where the next run starts from and where a
    /// checkpoint reads and restores the carried state.
    func settleCarriedState() {
        guard holdsFinalState else { return }
        tensors.h.update(from: finalH, count: stateCount)
        if let c = tensors.c, let last = finalC { c.update(from: last, count: stateCount) }
        holdsFinalState = false
    }

    /// After a run: its final state is the one the next run may carry.
    func finishRun() { holdsFinalState = true }

    /// Drops the last run's final state: h[0] and c[0] are the state the next run carries (a restored
    /// checkpoint's).
    func forgetFinalState() { holdsFinalState = false }

    /// Zeroes the initial state.
    func resetState() {
        tensors.h.update(repeating: 0, count: stateCount)
        tensors.c?.update(repeating: 0, count: stateCount)
        holdsFinalState = false
    }
}
