/// Pointers to one recurrent layer's tensors inside a flat buffer (parameters or their gradients).
struct RecurrentWeights {
    let config: LayerConfig
    let inputWidth: Int
    /// (inputWidth, G·units)
    let kernel: UnsafeMutablePointer<Float>
    /// (units, G·units)
    let recurrentKernel: UnsafeMutablePointer<Float>
    /// (G·units), or for GRU with reset_after (2, G·units): input bias then recurrent bias. nil without bias.
    let bias: UnsafeMutablePointer<Float>?

    var units: Int { config.units }
    var width: Int { config.cell.gateCount * config.units }
    /// The bias added to the input projection.
    var inputBias: UnsafeMutablePointer<Float>? { bias }
    /// GRU with reset_after: the bias added to the recurrent projection.
    var recurrentBias: UnsafeMutablePointer<Float>? {
        config.cell == .gru && config.resetAfter ? bias.map { $0 + width } : nil
    }

    /// The views of every recurrent layer of a model into `base` (parameters or gradients).
    static func views(of base: UnsafeMutablePointer<Float>, layout: ParameterLayout, config: ModelConfig) -> [RecurrentWeights] {
        var inputWidth = config.inputWidth
        return zip(config.layers, layout.layerOffsets).map { layer, offsets in
            defer { inputWidth = layer.units }
            return RecurrentWeights(
                config: layer, inputWidth: inputWidth, kernel: base + offsets.kernel,
                recurrentKernel: base + offsets.recurrentKernel, bias: offsets.bias.map { base + $0 })
        }
    }
}

/// Pointers to the dense head (and the embedding, when the model has one).
struct HeadWeights {
    /// (units, vocab)
    let kernel: UnsafeMutablePointer<Float>
    /// (vocab) or nil
    let bias: UnsafeMutablePointer<Float>?
    /// (vocab, embeddingDim) or nil
    let embedding: UnsafeMutablePointer<Float>?

    init(base: UnsafeMutablePointer<Float>, layout: ParameterLayout) {
        kernel = base + layout.denseKernelOffset
        bias = layout.denseBiasOffset.map { base + $0 }
        embedding = layout.embeddingOffset.map { base + $0 }
    }
}

/// What one recurrent layer keeps for backward over a sequence of `steps` steps of `batch` rows.
/// Time-major: step t of every buffer is a contiguous (batch, ·) block, ready for one GEMM.
final class SequenceBuffers {
    /// Steps the buffers hold.
    let capacity: Int
    /// Steps of the current run, at most `capacity`.
    var steps: Int
    let batch: Int
    let units: Int
    let width: Int
    /// (T, B, G·U): the input projection, overwritten by the activated gates, then by their gradients.
    let gates: UnsafeMutablePointer<Float>
    /// (T+1, B, U): h[0] is the initial state, h[t+1] the output of step t.
    let h: UnsafeMutablePointer<Float>
    /// (T+1, B, U): LSTM cell states, like `h`.
    let c: UnsafeMutablePointer<Float>?
    /// (T, B, U): GRU only. reset_after: h_prev·U_h + b_h; otherwise r ⊙ h_prev.
    let aux: UnsafeMutablePointer<Float>?
    /// (T, B, G·U): GRU reset_after only: gradients of the recurrent projection.
    let recurrentGradients: UnsafeMutablePointer<Float>?
    /// (B, G·U) scratch for one step's recurrent projection.
    let stepScratch: UnsafeMutablePointer<Float>
    /// (T, B, U): gradient of the loss with respect to each output h[t+1].
    let outputGradients: UnsafeMutablePointer<Float>
    /// (B, U): gradients flowing back through the recurrence.
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
        allocations = [gates, h, stepScratch, outputGradients, hGradient, cGradient]
            + [c, aux, recurrentGradients].compactMap { $0 }
    }

    deinit { for p in allocations { p.deallocate() } }

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
