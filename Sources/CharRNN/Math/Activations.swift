/// The activation of a recurrent layer's candidate and output (`activation` in Keras).
public enum Activation: String, Codable, Sendable, CaseIterable {
    /// The hyperbolic tangent (the Keras default).
    case tanh
    /// max(0, x).
    case relu
    /// The identity.
    case linear

    /// The derivative expressed through the activation's output `y`.
    @inline(__always) func derivative(output y: Float) -> Float {
        switch self {
        case .tanh: return 1 - y * y
        case .relu: return y > 0 ? 1 : 0
        case .linear: return 1
        }
    }
}

/// The gate activation of LSTM and GRU (`recurrent_activation` in Keras). Keras changed the
/// definition of `hard_sigmoid` in version 3, and a model must be run with the one it was trained with.
public enum GateActivation: String, Codable, Sendable, CaseIterable {
    /// 1 / (1 + e^−x) (the Keras default).
    case sigmoid
    /// Keras 1 and 2, tf.keras: clip(0.2·x + 0.5, 0, 1).
    case hardSigmoidKeras2 = "hard_sigmoid_keras2"
    /// Keras 3: clip(x / 6 + 0.5, 0, 1).
    case hardSigmoidKeras3 = "hard_sigmoid_keras3"

    /// The derivative expressed through the output `y` (zero where a hard sigmoid is clipped).
    @inline(__always) func derivative(output y: Float) -> Float {
        switch self {
        case .sigmoid: return y * (1 - y)
        case .hardSigmoidKeras2: return y > 0 && y < 1 ? 0.2 : 0
        case .hardSigmoidKeras3: return y > 0 && y < 1 ? 1 / 6 : 0
        }
    }
}
