/// Dispatch from a layer's cell kind to its implementation.
extension RecurrentWeights {
    /// - Parameter packed: this layer's packed recurrent kernel, or nil to read it in place.
    func forward(_ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        switch config.cell {
        case .lstm: LSTMLayer.forward(self, s, packed: packed)
        case .gru: GRULayer.forward(self, s, packed: packed)
        case .rnn: SimpleRNNLayer.forward(self, s, packed: packed)
        }
    }

    /// Backpropagation through time over `s`: leaves the gradients of the input projection (T·B, G·U) in
    /// `s.gates` (and what `accumulateRecurrentGradient` reads), without touching any weight gradient.
    /// - Parameter packed: this layer's packed Uᵀ, or nil to use BLAS's transposed product.
    func backward(_ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        switch config.cell {
        case .lstm: LSTMLayer.backward(self, s, packed: packed)
        case .gru: GRULayer.backward(self, s, packed: packed)
        case .rnn: SimpleRNNLayer.backward(self, s, packed: packed)
        }
    }

    /// Adds the columns `columns` (of G·U) of the recurrent kernel's gradient (and the GRU's recurrent
    /// bias's) from what `backward` left in `s`, to `gradients`. For LSTM and SimpleRNN, whose `backward`
    /// leaves dz in `s.gates`: dU[:, columns] += Σ_t h_{t-1}ᵀ · dz_t[:, columns], one GEMM over the sequence.
    func accumulateRecurrentGradient(into gradients: RecurrentWeights, _ s: SequenceTensors, columns: Range<Int>) {
        switch config.cell {
        case .lstm, .rnn:
            addTransposedProduct(
                s.h, m: s.units, k: s.steps * s.batch, lda: s.units, s.gates, ldb: s.width,
                into: gradients.recurrentKernel, ldc: s.width, columns: columns)
        case .gru: GRULayer.accumulateRecurrentGradient(self, gradients, s, columns: columns)
        }
    }

    /// Fills `rows` rows of `out` (rows, G·U) with the input bias, or zeros.
    func fillInputBias(_ out: UnsafeMutablePointer<Float>, rows: Int) {
        let G = width
        if let b = inputBias {
            for r in 0..<rows { (out + r * G).update(from: b, count: G) }
        } else {
            out.update(repeating: 0, count: rows * G)
        }
    }
}
