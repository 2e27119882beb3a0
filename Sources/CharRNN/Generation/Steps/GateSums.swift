import CharRNNKernels

/// The first half of an LSTM's or SimpleRNN's step: z = b + h(t−1)·U + x(t)·W, summed in that order in
/// every column, then the cell's activations when the product kernels can apply them — by the threads
/// that summed each column, with the same functions, so the bits of applying them after.
struct GateSums {
    /// (G·U): z, then the activated gates. `ComputingAhead` writes b + h(t−1)·U here.
    let z: UnsafeMutablePointer<Float>
    let weights: RecurrentWeights
    let matrices: LayerStepMatrices
    /// The cell's activations as the kernels apply them, or nil when they cannot (the step applies them).
    let activations: crnn_gate_activations?

    /// The product `ComputingAhead` may compute while the layers above run: b + h·U into z, for a cell
    /// whose recurrent product has the input bias as its start (LSTM, SimpleRNN).
    func aheadTerm(h: UnsafeMutablePointer<Float>) -> AheadTerm {
        AheadTerm(matrix: matrices.recurrent, start: weights.inputBias.map { UnsafePointer($0) }, h: h, result: z)
    }

    /// The activations the product kernels apply to each column after its sums — a one-hot row, then the
    /// activations — or nil when the step must apply them: the other first-layer inputs (embedding,
    /// scalar) are added after the products. The addend is the caller's to set.
    func activationsApplied(with x: StepInput) -> crnn_gate_activations? {
        x.isProduct || x.row != nil ? activations : nil
    }

    /// Computes z for this step, activated when the kernels could: returns whether it is.
    /// - Parameter recurrentDone: z already holds b + h(t−1)·U (computed ahead).
    func compute(h: UnsafePointer<Float>, x: StepInput, recurrentDone: Bool, scratch: StepScratch) -> Bool {
        let n = weights.width
        var gates = activationsApplied(with: x)
        gates?.addend = x.row
        if recurrentDone {  // z = b + h(t−1)·U already; + x(t)·W
            if case .below(let below) = x { matrices.input?.accumulate(below, into: z, scratch: scratch) }
            if var gates { crnn_activate_gates(&gates, n, z) }
        } else {  // z = b, + h(t−1)·U + x(t)·W in one pass, split over the cores when large
            weights.fillInputBias(z, rows: 1)
            if case .below(let below) = x, let input = matrices.input {
                matrices.recurrent.accumulate(h, plus: input, below, into: z, scratch: scratch, activation: gates)
            } else {
                matrices.recurrent.accumulate(h, into: z, scratch: scratch, activation: gates)
            }
        }
        if gates == nil && !x.isProduct { x.add(into: z, weights, matrices, scratch: scratch) }
        return gates != nil
    }
}

extension GateSums {
    /// `compute` for one layer of several sessions at once (`sums`, `h`, `x` and `scratches` per session,
    /// all of one layer of one model: the same weights and the same kind of input), with nothing computed
    /// ahead: each session's z gets the bits its own `compute` gives. Returns whether the z are activated.
    static func computeMany(
        _ sums: [GateSums], h: [UnsafePointer<Float>], x: [StepInput], scratches: [StepScratch]
    ) -> Bool {
        guard let first = sums.first, let kind = x.first else { return false }
        let gates = first.activationsApplied(with: kind)  // each session's row comes as its addend
        for s in sums { s.weights.fillInputBias(s.z, rows: 1) }
        // z = b, + h(t−1)·U + x(t)·W in one pass over the weights for all the sessions
        var products = [(matrix: first.matrices.recurrent, inputs: h)]
        let below = x.compactMap(\.below)
        if let input = first.matrices.input, below.count == x.count { products.append((input, below)) }
        StepMatrix.accumulateMany(
            products, into: sums.map(\.z), scratches: scratches, activation: gates,
            addends: kind.row != nil ? x.map(\.row) : nil)
        if gates == nil && !kind.isProduct {
            for s in sums.indices {
                x[s].add(into: sums[s].z, sums[s].weights, sums[s].matrices, scratch: scratches[s])
            }
        }
        return gates != nil
    }
}
