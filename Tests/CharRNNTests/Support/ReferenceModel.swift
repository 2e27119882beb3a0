import CharRNN
import Foundation

/// An independent, deliberately plain implementation of the Keras recurrent equations in double
/// precision: scalar loops, one sequence at a time, no BLAS, no shared code with the library beyond the
/// parameter layout. The library's forward values and gradients are checked against it.
struct ReferenceModel {
    let config: ModelConfig
    let layout: ParameterLayout
    var params: [Double]

    init(model: Model) {
        config = model.config
        layout = model.layout
        params = model.parameters.array.map(Double.init)
    }

    private func offset(_ name: String) -> Int { layout.tensor(named: name)!.offset }

    private func gate(_ kind: GateActivation, _ x: Double) -> Double {
        switch kind {
        case .sigmoid: return 1 / (1 + exp(-x))
        case .hardSigmoidKeras2: return min(max(0.2 * x + 0.5, 0), 1)
        case .hardSigmoidKeras3: return min(max(x / 6 + 0.5, 0), 1)
        }
    }

    private func act(_ kind: Activation, _ x: Double) -> Double {
        switch kind {
        case .tanh: return tanh(x)
        case .relu: return max(x, 0)
        case .linear: return x
        }
    }

    /// x (n) · M (n, m) where M starts at `base` with row stride `stride` and column offset `column`.
    private func vecMat(_ x: [Double], _ base: Int, rows: Int, columns: Int, stride: Int, column: Int = 0) -> [Double] {
        var out = [Double](repeating: 0, count: columns)
        for i in 0..<rows where x[i] != 0 {
            for j in 0..<columns { out[j] += x[i] * params[base + i * stride + column + j] }
        }
        return out
    }

    /// The output distributions after each character of one sequence, from a zero state.
    /// - Parameter masks: per step, per layer, the dropout multipliers of that layer's output (or nil).
    func distributions(_ sequence: [Int32], masks: [[[Double]]]? = nil) -> [[Double]] {
        let V = config.vocabSize
        var h = config.layers.map { [Double](repeating: 0, count: $0.units) }
        var c = h
        var out: [[Double]] = []
        for (t, token) in sequence.enumerated() {
            var x: [Double]
            switch config.input {
            case .onehot:
                x = [Double](repeating: 0, count: V)
                x[Int(token)] = 1
            case .embedding:
                let E = config.embeddingDim, base = offset("embedding.embeddings") + Int(token) * E
                x = Array(params[base..<(base + E)])
            case .scalar:
                x = [Double(token) / Double(V)]
            }
            for (l, layer) in config.layers.enumerated() {
                let U = layer.units, G = layer.cell.gateCount * U
                let W = offset("rnn\(l).kernel"), R = offset("rnn\(l).recurrent_kernel")
                let bias = layer.useBias ? offset("rnn\(l).bias") : nil
                var xw = vecMat(x, W, rows: x.count, columns: G, stride: G)
                if let bias { for j in 0..<G { xw[j] += params[bias + j] } }
                switch layer.cell {
                case .lstm:
                    let hr = vecMat(h[l], R, rows: U, columns: G, stride: G)
                    for j in 0..<U {
                        let i = gate(layer.recurrentActivation, xw[j] + hr[j])
                        let f = gate(layer.recurrentActivation, xw[U + j] + hr[U + j])
                        let g = act(layer.activation, xw[2 * U + j] + hr[2 * U + j])
                        let o = gate(layer.recurrentActivation, xw[3 * U + j] + hr[3 * U + j])
                        c[l][j] = f * c[l][j] + i * g
                        h[l][j] = o * act(layer.activation, c[l][j])
                    }
                case .gru:
                    var next = h[l]
                    if layer.resetAfter {
                        var rec = vecMat(h[l], R, rows: U, columns: G, stride: G)
                        if let bias { for j in 0..<G { rec[j] += params[bias + G + j] } }
                        for j in 0..<U {
                            let z = gate(layer.recurrentActivation, xw[j] + rec[j])
                            let r = gate(layer.recurrentActivation, xw[U + j] + rec[U + j])
                            let hh = act(layer.activation, xw[2 * U + j] + r * rec[2 * U + j])
                            next[j] = z * h[l][j] + (1 - z) * hh
                        }
                    } else {
                        let rec = vecMat(h[l], R, rows: U, columns: 2 * U, stride: G)
                        var z = [Double](repeating: 0, count: U), rh = z
                        for j in 0..<U {
                            z[j] = gate(layer.recurrentActivation, xw[j] + rec[j])
                            let r = gate(layer.recurrentActivation, xw[U + j] + rec[U + j])
                            rh[j] = r * h[l][j]
                        }
                        let candidate = vecMat(rh, R, rows: U, columns: U, stride: G, column: 2 * U)
                        for j in 0..<U {
                            let hh = act(layer.activation, xw[2 * U + j] + candidate[j])
                            next[j] = z[j] * h[l][j] + (1 - z[j]) * hh
                        }
                    }
                    h[l] = next
                case .rnn:
                    let hr = vecMat(h[l], R, rows: U, columns: U, stride: U)
                    for j in 0..<U { h[l][j] = act(layer.activation, xw[j] + hr[j]) }
                }
                x = h[l]
                if let masks { for j in 0..<U { x[j] *= masks[t][l][j] } }
            }
            let units = config.layers.last!.units
            var logits = vecMat(x, offset("dense.kernel"), rows: units, columns: V, stride: V)
            if config.head.useBias { for j in 0..<V { logits[j] += params[offset("dense.bias") + j] } }
            let m = logits.max()!
            let e = logits.map { exp($0 - m) }
            let s = e.reduce(0, +)
            out.append(e.map { $0 / s })
        }
        return out
    }

    /// Mean cross-entropy over a batch of sequences: every step predicts `targets[b][t]`, or with
    /// `lastStepOnly` only the last step predicts `targets[b][0]`.
    func loss(inputs: [[Int32]], targets: [[Int32]], lastStepOnly: Bool, masks: [[[[Double]]]]? = nil) -> Double {
        var total = 0.0, count = 0
        for (b, sequence) in inputs.enumerated() {
            let p = distributions(sequence, masks: masks?[b])
            if lastStepOnly {
                total -= log(p[p.count - 1][Int(targets[b][0])])
                count += 1
            } else {
                for t in 0..<sequence.count {
                    total -= log(p[t][Int(targets[b][t])])
                    count += 1
                }
            }
        }
        return total / Double(count)
    }
}
