/// Dispatch from a layer's cell kind to its implementation.
extension RecurrentWeights {
    func forward(_ s: SequenceBuffers) {
        switch config.cell {
        case .lstm: LSTMLayer.forward(self, s)
        case .gru: GRULayer.forward(self, s)
        case .rnn: SimpleRNNLayer.forward(self, s)
        }
    }

    /// - Parameter transposed: this layer's Uᵀ (TransposedKernels), or nil to use BLAS's transposed product.
    func backward(gradients: RecurrentWeights, _ s: SequenceBuffers, transposed: UnsafePointer<Float>?) {
        switch config.cell {
        case .lstm: LSTMLayer.backward(self, gradients, s, transposed: transposed)
        case .gru: GRULayer.backward(self, gradients, s, transposed: transposed)
        case .rnn: SimpleRNNLayer.backward(self, gradients, s, transposed: transposed)
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
