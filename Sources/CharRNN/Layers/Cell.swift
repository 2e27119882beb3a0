/// Dispatch from a layer's cell kind to its implementation.
extension RecurrentWeights {
    /// - Parameter packed: this layer's packed recurrent kernel (PackedKernels), or nil to read it in place.
    func forward(_ s: SequenceBuffers, packed: PackedKernels.Layer?) {
        switch config.cell {
        case .lstm: LSTMLayer.forward(self, s, packed: packed)
        case .gru: GRULayer.forward(self, s, packed: packed)
        case .rnn: SimpleRNNLayer.forward(self, s, packed: packed)
        }
    }

    /// - Parameter packed: this layer's packed Uᵀ (PackedKernels), or nil to use BLAS's transposed product.
    func backward(gradients: RecurrentWeights, _ s: SequenceBuffers, packed: PackedKernels.Layer?) {
        switch config.cell {
        case .lstm: LSTMLayer.backward(self, gradients, s, packed: packed)
        case .gru: GRULayer.backward(self, gradients, s, packed: packed)
        case .rnn: SimpleRNNLayer.backward(self, gradients, s, packed: packed)
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
