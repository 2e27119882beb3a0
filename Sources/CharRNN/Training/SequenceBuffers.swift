/// The memory of one recurrent layer's `SequenceTensors` in a training graph, allocated once for the
/// longest run, and the recurrent state it carries from one run (batch) to the next.
final class SequenceBuffers {
    /// Steps the buffers hold.
    let capacity: Int
    /// Steps of the current run, at most `capacity`.
    var steps: Int
    let batch: Int
    let units: Int
    let width: Int
    // The tensors, each for `capacity` steps (shapes and meaning: SequenceTensors).
    let gates: UnsafeMutablePointer<Float>
    let h: UnsafeMutablePointer<Float>
    let c: UnsafeMutablePointer<Float>?
    let aux: UnsafeMutablePointer<Float>?
    let recurrentGradients: UnsafeMutablePointer<Float>?
    let stepScratch: UnsafeMutablePointer<Float>
    let outputGradients: UnsafeMutablePointer<Float>
    let hGradient: UnsafeMutablePointer<Float>
    let cGradient: UnsafeMutablePointer<Float>

    private var allocations: [UnsafeMutablePointer<Float>] = []

    init(layer: LayerConfig, steps: Int, batch: Int) {
        self.capacity = steps
        self.steps = steps
        self.batch = batch
        units = layer.units
        width = layer.cell.gateCount * layer.units
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        let tb = steps * batch
        gates = make(tb * width)
        h = make((steps + 1) * batch * units)
        c = layer.cell == .lstm ? make((steps + 1) * batch * units) : nil
        aux = layer.cell == .gru ? make(tb * units) : nil
        recurrentGradients = layer.cell == .gru && layer.resetAfter ? make(tb * width) : nil
        stepScratch = make(batch * width)
        outputGradients = make(tb * units)
        hGradient = make(batch * units)
        cGradient = make(batch * units)
        allocations =
            [gates, h, stepScratch, outputGradients, hGradient, cGradient]
            + [c, aux, recurrentGradients].compactMap { $0 }
    }

    deinit { for p in allocations { p.deallocate() } }

    /// The current run's tensors, for the layer's batched forward and backward.
    var tensors: SequenceTensors {
        SequenceTensors(
            steps: steps, batch: batch, units: units, width: width, gates: gates, h: h, c: c, aux: aux,
            recurrentGradients: recurrentGradients, stepScratch: stepScratch,
            outputGradients: outputGradients, hGradient: hGradient, cGradient: cGradient)
    }

    /// The outputs h[1...T] as one (T·B, U) matrix.
    var outputs: UnsafeMutablePointer<Float> { h + batch * units }

    /// The state after the last step: h[T] (B, U).
    var finalH: UnsafeMutablePointer<Float> { h + steps * batch * units }
    var finalC: UnsafeMutablePointer<Float>? { c.map { $0 + steps * batch * units } }

    /// The last run's final state is still at step `steps`, not yet moved to h[0]: it moves when the next
    /// run starts, because the weight gradients of the last run may still read h[0] (ParallelGraph adds
    /// them after every part's run).
    private var holdsFinalState = false

    /// Before a run of `steps` steps: the initial state becomes the last run's final state (`carry`) or
    /// zeros.
    func startRun(steps: Int, carry: Bool) {
        if carry { settleCarriedState() } else { resetState() }
        self.steps = steps
    }

    /// Moves the last run's final state to h[0] (and c[0]), where the next run starts from and where a
    /// checkpoint reads and restores the carried state.
    func settleCarriedState() {
        guard holdsFinalState else { return }
        h.update(from: finalH, count: batch * units)
        if let c, let last = finalC { c.update(from: last, count: batch * units) }
        holdsFinalState = false
    }

    /// After a run: its final state is the one the next run may carry.
    func finishRun() { holdsFinalState = true }

    /// Drops the last run's final state: h[0] and c[0] are the state the next run carries (a restored
    /// checkpoint's).
    func forgetFinalState() { holdsFinalState = false }

    /// Zeroes the initial state.
    func resetState() {
        h.update(repeating: 0, count: batch * units)
        c?.update(repeating: 0, count: batch * units)
        holdsFinalState = false
    }
}
