/// GRU in the Keras formulation: gates z, r, h; h = z ⊙ h_prev + (1 − z) ⊙ h̃.
/// With reset_after (Keras ≥ 2.3 and CuDNN): h̃ = act(x_h + r ⊙ (h_prev·U_h + b_rh)), biases (2, 3u).
/// Without: h̃ = act(x_h + (r ⊙ h_prev)·U_h), bias (3u). Its batch-1 step is Generation's GRUStep, which
/// shares `resetAfterRow` and `finishRow` with the batched forward.
enum GRULayer {
    static func forward(_ w: RecurrentWeights, _ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        let B = s.batch, U = s.units, G = s.width
        guard let aux = s.aux else { return }
        let rec = s.stepScratch
        for t in 0..<s.steps {
            let x = s.gates + t * B * G
            let hPrev = s.h + t * B * U, hNext = s.h + (t + 1) * B * U
            if w.config.resetAfter {
                w.multiplyRecurrent(m: B, a: hPrev, n: G, into: rec, ldc: G, accumulate: false, packed: packed)
                for b in 0..<B {
                    resetAfterRow(
                        w, x: x + b * G, rec: rec + b * G, hPrev: hPrev + b * U, hNext: hNext + b * U,
                        recurrentCandidate: aux + (t * B + b) * U)
                }
            } else {
                // z and r first: they need only h_prev.
                w.multiplyRecurrent(m: B, a: hPrev, n: 2 * U, into: x, ldc: G, accumulate: true, packed: packed)
                for b in 0..<B {
                    let row = x + b * G, hp = hPrev + b * U, rhp = aux + (t * B + b) * U
                    w.config.recurrentActivation.apply(row, count: 2 * U)
                    for j in 0..<U { rhp[j] = row[U + j] * hp[j] }
                }
                w.multiplyRecurrent(
                    m: B, a: aux + t * B * U, firstColumn: 2 * U, n: U, into: x + 2 * U, ldc: G,
                    accumulate: true, packed: packed)
                for b in 0..<B {
                    finishRow(w, row: x + b * G, hPrev: hPrev + b * U, hNext: hNext + b * U)
                }
            }
        }
    }

    /// reset_after for one row: `x` (3U) holds the input projection, `rec` (3U) h_prev·U without bias.
    /// Leaves z, r, h̃ in `x`, stores h_prev·U_h + b_rh for backward, writes h.
    @inline(__always)
    static func resetAfterRow(
        _ w: RecurrentWeights, x: UnsafeMutablePointer<Float>, rec: UnsafeMutablePointer<Float>,
        hPrev: UnsafePointer<Float>, hNext: UnsafeMutablePointer<Float>,
        recurrentCandidate: UnsafeMutablePointer<Float>
    ) {
        let U = w.units, G = 3 * U
        if let rb = w.recurrentBias { for j in 0..<G { rec[j] += rb[j] } }
        for j in 0..<(2 * U) { x[j] += rec[j] }
        w.config.recurrentActivation.apply(x, count: 2 * U)
        for j in 0..<U {
            recurrentCandidate[j] = rec[2 * U + j]
            x[2 * U + j] += x[U + j] * rec[2 * U + j]
        }
        finishRow(w, row: x, hPrev: hPrev, hNext: hNext)
    }

    /// From activated z (and r) and the candidate's pre-activation: h̃ = act(·), h = z ⊙ h_prev + (1 − z) ⊙ h̃.
    @inline(__always)
    static func finishRow(
        _ w: RecurrentWeights, row: UnsafeMutablePointer<Float>, hPrev: UnsafePointer<Float>,
        hNext: UnsafeMutablePointer<Float>
    ) {
        let U = w.units
        w.config.activation.apply(row + 2 * U, count: U)
        for j in 0..<U {
            let z = row[j]
            hNext[j] = z * hPrev[j] + (1 - z) * row[2 * U + j]
        }
    }

    static func backward(_ w: RecurrentWeights, _ s: SequenceTensors, packed: RecurrentKernelPanels?) {
        let B = s.batch, U = s.units, G = s.width
        let act = w.config.activation, gate = w.config.recurrentActivation
        guard let aux = s.aux else { return }
        s.hGradient.update(repeating: 0, count: B * U)
        for t in stride(from: s.steps - 1, through: 0, by: -1) {
            let x = s.gates + t * B * G
            let hPrev = s.h + t * B * U
            if w.config.resetAfter, let dRec = s.recurrentGradients.map({ $0 + t * B * G }) {
                for b in 0..<B {
                    let row = x + b * G, dr0 = dRec + b * G
                    let dOut = s.outputGradients + (t * B + b) * U, dhn = s.hGradient + b * U
                    let hp = hPrev + b * U, recH = aux + (t * B + b) * U
                    for j in 0..<U {
                        let dh = dOut[j] + dhn[j]
                        let z = row[j], r = row[U + j], hh = row[2 * U + j]
                        let dz = dh * (hp[j] - hh) * gate.derivative(output: z)
                        let dhh = dh * (1 - z) * act.derivative(output: hh)
                        let dr = dhh * recH[j] * gate.derivative(output: r)
                        row[j] = dz; row[U + j] = dr; row[2 * U + j] = dhh
                        dr0[j] = dz; dr0[U + j] = dr; dr0[2 * U + j] = dhh * r
                        dhn[j] = dh * z
                    }
                }
                if t > 0 {
                    w.backpropagateRecurrent(
                        m: B, a: dRec, lda: G, k: G, into: s.hGradient, accumulate: true,
                        packed: packed)
                }
            } else {
                // r is still needed after dz and dh̃ are known, so two passes around the U_h product.
                let dRH = s.stepScratch  // (B, U): gradient of r ⊙ h_prev
                for b in 0..<B {
                    let row = x + b * G
                    let dOut = s.outputGradients + (t * B + b) * U, dhn = s.hGradient + b * U
                    let hp = hPrev + b * U
                    for j in 0..<U {
                        let dh = dOut[j] + dhn[j]
                        let z = row[j], hh = row[2 * U + j]
                        row[j] = dh * (hp[j] - hh) * gate.derivative(output: z)
                        row[2 * U + j] = dh * (1 - z) * act.derivative(output: hh)
                        dhn[j] = dh * z
                    }
                }
                w.backpropagateRecurrent(
                    m: B, a: x + 2 * U, lda: G, firstColumn: 2 * U, k: U, into: dRH,
                    accumulate: false, packed: packed)
                for b in 0..<B {
                    let row = x + b * G, hp = hPrev + b * U, drh = dRH + b * U, dhn = s.hGradient + b * U
                    for j in 0..<U {
                        let r = row[U + j]
                        dhn[j] += drh[j] * r
                        row[U + j] = drh[j] * hp[j] * gate.derivative(output: r)
                    }
                }
                if t > 0 {
                    w.backpropagateRecurrent(
                        m: B, a: x, lda: G, k: 2 * U, into: s.hGradient, accumulate: true,
                        packed: packed)
                }
            }
        }
    }

    /// The recurrent kernel's (and reset_after's recurrent bias's) gradient, columns `columns` of G·U, from
    /// what `backward` left: dRec for reset_after; otherwise dz, dr in `s.gates` against h_{t-1} and dh̃
    /// against r ⊙ h_{t-1} (`s.aux`).
    static func accumulateRecurrentGradient(
        _ w: RecurrentWeights, _ grad: RecurrentWeights, _ s: SequenceTensors,
        columns: Range<Int>
    ) {
        let U = s.units, G = s.width, n = s.steps * s.batch
        func product(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ range: Range<Int>) {
            addTransposedProduct(a, m: U, k: n, lda: U, b, ldb: G, into: grad.recurrentKernel, ldc: G, columns: range)
        }
        if w.config.resetAfter, let dRec = s.recurrentGradients {
            product(s.h, dRec, columns)
            if let db = grad.recurrentBias { columnSums(dRec, rows: n, columns: columns, rowStride: G, into: db) }
        } else if let aux = s.aux {
            product(s.h, s.gates, columns.clamped(to: 0..<(2 * U)))
            product(aux, s.gates, columns.clamped(to: (2 * U)..<G))
        }
    }
}
