import CharRNNKernels

/// Packed copies of one layer's recurrent kernel for the per-step products of its batched forward and
/// backward (made and kept up to date by training's `PackedKernels`), read by CharRNNKernels'
/// `crnn_gemm_panels`.
struct RecurrentKernelPanels {
    /// Column ranges of U (k = units rows) packed each on its own, as forward multiplies them: the
    /// whole kernel, or for a GRU without reset_after its z and r columns and its candidate's. Empty
    /// when the kernel is above the forward limit.
    let forward: [(first: Int, count: Int, panels: UnsafeMutablePointer<Float>)]
    /// Uᵀ (G·U rows, U columns), packed; nil above the transposed limit.
    let backward: UnsafeMutablePointer<Float>?
}

extension RecurrentWeights {
    /// `c (m, n) = a (m, U) · U[:, firstColumn ..< firstColumn + n]` (`+=` with `accumulate`): the
    /// recurrent product of one step. Uses the packed copy of those columns when there is one (and at least
    /// 4 rows).
    func multiplyRecurrent(
        m: Int, a: UnsafePointer<Float>, firstColumn: Int = 0, n: Int,
        into c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
        packed: RecurrentKernelPanels?
    ) {
        // Fewer than 4 rows (batch-1 evaluation) go to BLAS's matrix–vector product through gemmRows.
        if m >= 4, let range = packed?.forward.first(where: { $0.first == firstColumn && $0.count == n }) {
            crnn_gemm_panels(m, n, units, a, units, range.panels, units, c, ldc, accumulate ? 1 : 0)
        } else {
            gemmRows(
                m: m, n: n, k: units, a: a, lda: units, b: recurrentKernel + firstColumn, ldb: width, c: c,
                ldc: ldc, accumulate: accumulate)
        }
    }

    /// `c (m, U) = a (m, k) · U[:, columns]ᵀ` (`+=` with `accumulate`), for the k columns of the recurrent
    /// kernel from `firstColumn`: the gradient flowing back through the recurrence. Uses the packed Uᵀ
    /// when the layer has one (and at least 4 rows), else BLAS's transposed product.
    func backpropagateRecurrent(
        m: Int, a: UnsafePointer<Float>, lda: Int, firstColumn: Int = 0, k: Int,
        into c: UnsafeMutablePointer<Float>, accumulate: Bool,
        packed: RecurrentKernelPanels?
    ) {
        let U = units
        if m >= 4, let backward = packed?.backward {
            crnn_gemm_panels(
                m, U, k, a, lda, backward + firstColumn * Int(CRNN_GEMM_PANEL), width, c, U,
                accumulate ? 1 : 0)
        } else {
            sgemm(
                transB: true, m: m, n: U, k: k, a: a, lda: lda, b: recurrentKernel + firstColumn, ldb: width,
                beta: accumulate ? 1 : 0, c: c, ldc: U)
        }
    }
}
