/// SimpleRNN: h = act(x·W + h_prev·U + b). Its batch-1 step is Generation's SimpleRNNStep.
enum SimpleRNNLayer {
    static func forward(_ w: RecurrentWeights, _ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        let B = s.batch, U = s.units
        let act = w.config.activation
        for t in 0..<s.steps {
            let z = s.gates + t * B * U
            w.multiplyRecurrent(m: B, a: s.h + t * B * U, n: U, into: z, ldc: U, accumulate: true, packed: packed)
            let hn = s.h + (t + 1) * B * U
            hn.update(from: z, count: B * U)
            act.apply(hn, count: B * U)
        }
    }

    static func backward(_ w: RecurrentWeights, _ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        let B = s.batch, U = s.units
        let act = w.config.activation
        s.hGradient.update(repeating: 0, count: B * U)
        for t in stride(from: s.steps - 1, through: 0, by: -1) {
            let z = s.gates + t * B * U
            let hn = s.h + (t + 1) * B * U, dOut = s.outputGradients + t * B * U
            for i in 0..<(B * U) { z[i] = (dOut[i] + s.hGradient[i]) * act.derivative(output: hn[i]) }
            if t > 0 {
                w.backpropagateRecurrent(
                    m: B, a: z, lda: U, k: U, into: s.hGradient, accumulate: false,
                    packed: packed)
            }
        }
    }
}
