import CharRNNKernels

/// An LSTM layer's batch-1 step (Keras's LSTM; its batched forward and backward are Layers' LSTMLayer):
///
///     z    = b + h(t−1)·U + x(t)·W             (4U: i, f, g, o — LSTMLayer.Gate's order)
///     i, f, o = σ(z_i), σ(z_f), σ(z_o)          (σ: the recurrent activation, sigmoid by default)
///     g    = act(z_g)                          (act: the activation, tanh by default)
///     c(t) = f ⊙ c(t−1) + i ⊙ g
///     h(t) = o ⊙ act(c(t))
///
/// With sigmoid and tanh the product kernels apply the gates' activations as they finish each column
/// (crnn_gate_activations); otherwise LSTMLayer.activateGates applies them after the products.
final class LSTMStep: CellStep {
    let h: UnsafeMutablePointer<Float>
    let c: UnsafeMutablePointer<Float>?
    private let cell: UnsafeMutablePointer<Float>
    private let sums: GateSums
    private let index: Int

    init(_ w: RecurrentWeights, _ m: LayerStepMatrices, index: Int) {
        self.index = index
        h = zeroedFloats(w.units)
        cell = zeroedFloats(w.units)
        c = cell
        let g = LSTMLayer.columns(.candidate, units: w.units)
        let usual = w.config.recurrentActivation == .sigmoid && w.config.activation == .tanh
        sums = GateSums(
            z: zeroedFloats(w.width), weights: w, matrices: m,
            activations: usual
                ? crnn_gate_activations(
                    tanh_begin: g.lowerBound, tanh_end: g.upperBound,
                    addend: nil) : nil)
    }

    deinit {
        h.deallocate()
        cell.deallocate()
        sums.z.deallocate()
    }

    var aheadTerm: AheadTerm? { sums.aheadTerm(h: h) }

    func step(_ x: StepInput, ahead: ComputingAhead?, scratch: StepScratch) {
        let w = sums.weights, z = sums.z
        // z = b + h(t−1)·U + x(t)·W; i, f, g, o
        let activated = sums.compute(h: h, x: x, recurrentDone: ahead?.take(index) ?? false, scratch: scratch)
        if !activated { LSTMLayer.activateGates(w, z) }
        // c(t) = f ⊙ c(t−1) + i ⊙ g, h(t) = o ⊙ act(c(t)): the batched forward's own (crnn_lstm_cell_update)
        LSTMLayer.updateCells(
            z, rows: 1, units: w.units, cPrev: cell, cNext: cell, hNext: h,
            activation: w.config.activation)
        // b + h(t)·U for the next step, while the layers above and the head run
        ahead?.post(index, scratch: scratch)
    }

    static func stepMany(_ steps: [CellStep], _ x: [StepInput], scratches: [StepScratch]) {
        let steps = cellSteps(steps, as: LSTMStep.self)
        guard let w = steps.first?.sums.weights else { return }
        let h = steps.map { UnsafePointer($0.h) }
        let activated = GateSums.computeMany(steps.map(\.sums), h: h, x: x, scratches: scratches)
        for step in steps {
            let z = step.sums.z
            if !activated { LSTMLayer.activateGates(w, z) }
            LSTMLayer.updateCells(
                z, rows: 1, units: w.units, cPrev: step.cell, cNext: step.cell, hNext: step.h,
                activation: w.config.activation)
        }
    }
}
