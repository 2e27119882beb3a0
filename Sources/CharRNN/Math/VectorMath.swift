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

/// out[columns] += the sum of the rows of a (rows, ·) matrix, rows `rowStride` floats apart, over `columns`:
/// each column summed in row order (CharRNNKernels, at the CPU's vector width).
@inline(__always)
func columnSums(
    _ m: UnsafePointer<Float>, rows: Int, columns: Range<Int>, rowStride: Int,
    into out: UnsafeMutablePointer<Float>
) {
    guard !columns.isEmpty, rows > 0 else { return }
    crnn_column_sums(m + columns.lowerBound, rows, columns.count, rowStride, out + columns.lowerBound)
}

/// dst[indices[r]][columns] += src[r][columns] for each of `rows` rows, in order: the gradient of a
/// gathered row goes back to that row (one-hot input, embedding lookup).
@inline(__always)
func scatterAddRows(
    _ src: UnsafePointer<Float>, rows: Int, columns: Range<Int>, srcStride: Int,
    indices: UnsafePointer<Int32>, into dst: UnsafeMutablePointer<Float>, dstStride: Int
) {
    guard !columns.isEmpty, rows > 0 else { return }
    crnn_scatter_add_rows(
        src + columns.lowerBound, rows, columns.count, srcStride, indices,
        dst + columns.lowerBound, dstStride)
}
