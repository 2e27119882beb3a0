import CharRNNKernels

/// A SimpleRNN layer's batch-1 step (Keras's SimpleRNN; its batched forward and backward are Layers'
/// SimpleRNNLayer):
///
///     z    = b + h(t−1)·U + x(t)·W             (U)
///     h(t) = act(z)                            (act: the activation, tanh by default)
///
/// With tanh the product kernels apply it as they finish each column (crnn_gate_activations).
final class SimpleRNNStep: CellStep {
    let h: UnsafeMutablePointer<Float>
    var c: UnsafeMutablePointer<Float>? { nil }
    private let sums: GateSums
    private let index: Int

    init(_ w: RecurrentWeights, _ m: LayerStepMatrices, index: Int) {
        self.index = index
        h = zeroedFloats(w.units)
        sums = GateSums(
            z: zeroedFloats(w.width), weights: w, matrices: m,
            activations: w.config.activation == .tanh
                ? crnn_gate_activations(tanh_begin: 0, tanh_end: w.units, addend: nil) : nil)
    }

    deinit {
        h.deallocate()
        sums.z.deallocate()
    }

    var aheadTerm: AheadTerm? { sums.aheadTerm(h: h) }

    func step(_ x: StepInput, ahead: ComputingAhead?, scratch: StepScratch) {
        let w = sums.weights, z = sums.z
        // z = b + h(t−1)·U + x(t)·W; act(z)
        let activated = sums.compute(h: h, x: x, recurrentDone: ahead?.take(index) ?? false, scratch: scratch)
        if !activated { w.config.activation.apply(z, count: w.units) }
        // h(t) = act(z)
        h.update(from: z, count: w.units)
        // b + h(t)·U for the next step, while the layers above and the head run
        ahead?.post(index, scratch: scratch)
    }

    static func stepMany(_ steps: [CellStep], _ x: [StepInput], scratches: [StepScratch]) {
        let steps = cellSteps(steps, as: SimpleRNNStep.self)
        guard let w = steps.first?.sums.weights else { return }
        let h = steps.map { UnsafePointer($0.h) }
        let activated = GateSums.computeMany(steps.map(\.sums), h: h, x: x, scratches: scratches)
        for step in steps {
            if !activated { w.config.activation.apply(step.sums.z, count: w.units) }
            step.h.update(from: step.sums.z, count: w.units)
        }
    }
}
