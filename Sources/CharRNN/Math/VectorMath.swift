import CharRNNKernels

// The elementwise activations run in CharRNNKernels: C compiled for AVX-512, AVX2 and the baseline,
// chosen for the CPU at load time. The exponential is the Cephes single-precision polynomial (within
// 2 ulp of expf), so sigmoid and tanh agree with libm to about 1e-7 — far inside the Keras parity
// budget — at a fraction of the cost of a libm call per element, and every variant rounds alike.

extension Activation {
    /// Applies the activation to `count` floats in place.
    func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .tanh: crnn_tanh(p, n)
        case .relu: for i in 0..<n { p[i] = max(p[i], 0) }
        case .linear: break
        }
    }
}

extension GateActivation {
    /// Applies the gate activation to `count` floats in place.
    func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .sigmoid: crnn_sigmoid(p, n)
        case .hardSigmoidKeras2: for i in 0..<n { p[i] = min(max(0.2 * p[i] + 0.5, 0), 1) }
        case .hardSigmoidKeras3: for i in 0..<n { p[i] = min(max(p[i] / 6 + 0.5, 0), 1) }
        }
    }
}

/// out[columns] += the sum of the rows of a (rows, ·) matrix, rows `rowStride` floats apart, over `columns`.
@inline(__always)
func columnSums(_ m: UnsafePointer<Float>, rows: Int, columns: Range<Int>, rowStride: Int,
                into out: UnsafeMutablePointer<Float>) {
    let j0 = columns.lowerBound, width = columns.count, dst = out + j0  // 0..<width: a loop that vectorizes
    for r in 0..<rows {
        let row = m + r * rowStride + j0
        for j in 0..<width { dst[j] += row[j] }
    }
}
