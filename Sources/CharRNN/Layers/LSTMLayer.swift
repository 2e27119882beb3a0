import CharRNNKernels

/// LSTM in the Keras formulation: gates i, f, g (the candidate), o;
/// c = f ⊙ c_prev + i ⊙ act(z_g),  h = o ⊙ act(c). Its batch-1 step is Generation's LSTMStep.
enum LSTMLayer {
    /// The gates in the order of z's columns, of the kernels' and of the bias (Keras's), U columns each.
    enum Gate: Int {
        case input, forget, candidate, output
    }

    /// The columns of `gate` among z's 4U.
    static func columns(_ gate: Gate, units U: Int) -> Range<Int> { gate.rawValue * U..<(gate.rawValue + 1) * U }

    /// Runs `buffers.steps` steps. `buffers.gates` holds the input projection (with bias) and is
    /// overwritten with the activated gates; h[0] and c[0] hold the initial state.
    static func forward(_ w: RecurrentWeights, _ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        let B = s.batch, U = s.units, G = s.width
        let act = w.config.activation
        guard let c = s.c else { return }
        for t in 0..<s.steps {
            let z = s.gates + t * B * G
            let hPrev = s.h + t * B * U
            w.multiplyRecurrent(m: B, a: hPrev, n: G, into: z, ldc: G, accumulate: true, packed: packed)
            for b in 0..<B { activateGates(w, z + b * G) }
            updateCells(
                z, rows: B, units: U, cPrev: c + t * B * U, cNext: c + (t + 1) * B * U,
                hNext: s.h + (t + 1) * B * U, activation: act)
        }
    }

    /// i, f, o through the gate activation, the candidate through the activation, in place.
    @inline(__always)
    static func activateGates(_ w: RecurrentWeights, _ row: UnsafeMutablePointer<Float>) {
        let U = w.units, g = columns(.candidate, units: U), o = columns(.output, units: U)
        w.config.recurrentActivation.apply(row, count: g.lowerBound)  // i and f
        w.config.activation.apply(row + g.lowerBound, count: U)
        w.config.recurrentActivation.apply(row + o.lowerBound, count: U)
    }

    /// c = f ⊙ c_prev + i ⊙ g, h = o ⊙ act(c), from activated gates, for `rows` rows (gates G apart, the
    /// others U apart). cNext may be cPrev. The batched forward and the batch-1 step both call it, so they
    /// compute the same bits.
    static func updateCells(
        _ gates: UnsafePointer<Float>, rows: Int, units U: Int, cPrev: UnsafePointer<Float>,
        cNext: UnsafeMutablePointer<Float>, hNext: UnsafeMutablePointer<Float>,
        activation: Activation
    ) {
        if activation == .tanh {  // the usual cell: the same expressions, vectorized in C
            crnn_lstm_cell_update(rows, U, gates, cPrev, cNext, hNext)
            return
        }
        for b in 0..<rows {
            let i = gates + b * 4 * U, f = i + U, g = i + 2 * U, o = i + 3 * U
            let cp = cPrev + b * U, cn = cNext + b * U, h = hNext + b * U
            for j in 0..<U {
                let cell = f[j] * cp[j] + i[j] * g[j]
                cn[j] = cell
                h[j] = cell
            }
            activation.apply(h, count: U)
            for j in 0..<U { h[j] *= o[j] }
        }
    }

    /// Backward through time, truncated at the start of the sequence. Reads `outputGradients` and
    /// leaves the gradients of the gate pre-activations in `gates`, for `accumulateRecurrentGradient`.
    static func backward(_ w: RecurrentWeights, _ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        let B = s.batch, U = s.units, G = s.width
        let act = w.config.activation, gate = w.config.recurrentActivation
        guard let c = s.c else { return }
        s.hGradient.update(repeating: 0, count: B * U)
        s.cGradient.update(repeating: 0, count: B * U)
        let tanhC = s.stepScratch  // (B, U): act(c_t), recomputed rather than stored
        for t in stride(from: s.steps - 1, through: 0, by: -1) {
            let z = s.gates + t * B * G
            tanhC.update(from: c + (t + 1) * B * U, count: B * U)
            act.apply(tanhC, count: B * U)
            if act == .tanh && gate == .sigmoid {  // the usual cell: the same expressions, vectorized in C
                crnn_lstm_backward_step(
                    B, U, z, s.outputGradients + t * B * U, s.hGradient, s.cGradient,
                    c + t * B * U, tanhC)
            } else {
                genericBackwardStep(t: t, act: act, gate: gate, s, z: z, tanhC: tanhC, c: c)
            }
            if t > 0 {  // dh_prev = dz · U_recᵀ
                w.backpropagateRecurrent(
                    m: B, a: z, lda: G, k: G, into: s.hGradient, accumulate: false,
                    packed: packed)
            }
        }
    }

    /// crnn_lstm_backward_step for any activations: `z` (B, G) from gate activations to gate gradients,
    /// and s.cGradient from dL/dc_t to its part in dL/dc_{t-1}.
    private static func genericBackwardStep(
        t: Int, act: Activation, gate: GateActivation, _ s: SequenceTensors,
        z: UnsafeMutablePointer<Float>, tanhC: UnsafePointer<Float>,
        c: UnsafePointer<Float>
    ) {
        let B = s.batch, U = s.units, G = s.width
        for b in 0..<B {
            let row = z + b * G
            let dOut = s.outputGradients + (t * B + b) * U
            let dhNext = s.hGradient + b * U, dcNext = s.cGradient + b * U
            let cPrev = c + (t * B + b) * U, tcRow = tanhC + b * U
            for j in 0..<U {
                let dh = dOut[j] + dhNext[j]
                let i = row[j], f = row[U + j], g = row[2 * U + j], o = row[3 * U + j]
                let tc = tcRow[j]
                let dc = dcNext[j] + dh * o * act.derivative(output: tc)
                dcNext[j] = dc * f
                row[j] = dc * g * gate.derivative(output: i)
                row[U + j] = dc * cPrev[j] * gate.derivative(output: f)
                row[2 * U + j] = dc * i * act.derivative(output: g)
                row[3 * U + j] = dh * tc * gate.derivative(output: o)
            }
        }
    }
}
