/// Transposed copies of a model's recurrent kernels, (G·U, U) each, for backpropagation's per-step
/// product dh = dz · Uᵀ: with Uᵀ in memory order it runs in CharRNNKernels (`gemmRows`) instead of
/// BLAS's transposed sgemm, which repacks U on every step. Only kernels of at most `maximumFloats` are
/// copied; larger ones stay with BLAS, since a 2x512 LSTM's copies would take 8 MB of its memory budget.
/// One instance serves every worker of a ParallelGraph: refreshed before the workers start, read-only
/// while they run.
final class TransposedKernels {
    static let maximumFloats = 262_144
    /// Per layer: the copy, or nil for a kernel left to BLAS.
    private let copies: [UnsafeMutablePointer<Float>?]

    init(config: ModelConfig) {
        copies = config.layers.map { layer in
            let count = layer.units * layer.cell.gateCount * layer.units
            guard count <= TransposedKernels.maximumFloats else { return nil }
            let copy = UnsafeMutablePointer<Float>.allocate(capacity: count)
            copy.initialize(repeating: 0, count: count)  // never read before a refresh, but never undefined
            return copy
        }
    }

    deinit { for copy in copies { copy?.deallocate() } }

    /// Copies the current recurrent kernels (call after every weight update, before backward).
    func refresh(from weights: [RecurrentWeights]) {
        for (w, copy) in zip(weights, copies) {
            guard let copy else { continue }
            let U = w.units, G = w.width, kernel = w.recurrentKernel
            for u in 0..<U {
                for g in 0..<G { copy[g * U + u] = kernel[u * G + g] }
            }
        }
    }

    /// Layer `l`'s Uᵀ, or nil when that layer is left to BLAS.
    func transposed(layer l: Int) -> UnsafePointer<Float>? { copies[l].map { UnsafePointer($0) } }
}

extension RecurrentWeights {
    /// `c (m, U) = a (m, k) · U[:, columns]ᵀ` (`+=` with `accumulate`), for the k columns of the recurrent
    /// kernel from `firstColumn`: the gradient flowing back through the recurrence. Uses the transposed
    /// copy when the layer has one, else BLAS's transposed product.
    func backpropagateRecurrent(m: Int, a: UnsafePointer<Float>, lda: Int, firstColumn: Int = 0, k: Int,
                                into c: UnsafeMutablePointer<Float>, accumulate: Bool,
                                transposed: UnsafePointer<Float>?) {
        let U = units
        if let transposed {
            gemmRows(m: m, n: U, k: k, a: a, lda: lda, b: transposed + firstColumn * U, ldb: U, c: c, ldc: U,
                     accumulate: accumulate)
        } else {
            sgemm(transB: true, m: m, n: U, k: k, a: a, lda: lda, b: recurrentKernel + firstColumn, ldb: width,
                  beta: accumulate ? 1 : 0, c: c, ldc: U)
        }
    }
}
