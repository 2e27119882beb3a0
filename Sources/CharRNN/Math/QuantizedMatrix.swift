import CharRNNKernels

/// Number precision of the weights a generation session multiplies with.
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// The model's own float32 weights: exactly the model.
    case float32
    /// 8-bit copies of the recurrent kernels, the input kernels of the layers above the first and the
    /// head's kernel (blocks of 32 rows with one scale per column, as ggml's Q8_0), and their input vectors
    /// quantized alike per block. A quarter of the memory traffic per character; the first layer's input
    /// (a row lookup, or the small embedding product), biases, state and activations stay float32.
    case int8
}

/// A (k, n) matrix in 8-bit integers, laid out for CharRNNKernels' crnn_q8_vecmat_accumulate.
final class QuantizedMatrix {
    let k: Int, n: Int
    let values: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let columnSums: UnsafeMutablePointer<Int32>

    /// Quantizes `w` (k, n), rows `rowStride` floats apart.
    init(_ w: UnsafePointer<Float>, k: Int, n: Int, rowStride: Int) {
        self.k = k
        self.n = n
        values = .allocate(capacity: crnn_q8_matrix_bytes(k, n))
        let scaleCount = crnn_q8_scale_count(k, n)
        scales = .allocate(capacity: scaleCount)
        columnSums = .allocate(capacity: scaleCount)
        crnn_q8_quantize_matrix(w, k, n, rowStride, values, scales, columnSums)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
        columnSums.deallocate()
    }

    /// The product term x · W for CharRNNKernels' crnn_sum_products, with x (k values) already quantized.
    func term(_ x: QuantizedVector) -> crnn_product_term {
        precondition(k <= x.capacity, "a quantized vector of \(x.capacity) values, matrix has \(k) rows")
        return crnn_product_term(
            k: k, x: nil, panels: nil, x_values: x.values, x_scales: x.scales,
            values: values, scales: scales, column_sums: columnSums)
    }
}

/// Room for one quantized input vector of up to `capacity` values.
final class QuantizedVector {
    let capacity: Int
    /// The quantized values plus 128, as CharRNNKernels takes them.
    let values: UnsafeMutablePointer<UInt8>
    let scales: UnsafeMutablePointer<Float>

    init(capacity: Int) {
        self.capacity = capacity
        let blocks = max(1, (capacity + Int(CRNN_Q8_BLOCK) - 1) / Int(CRNN_Q8_BLOCK))
        values = .allocate(capacity: blocks * Int(CRNN_Q8_BLOCK))
        scales = .allocate(capacity: blocks)
    }

    deinit {
        values.deallocate()
        scales.deallocate()
    }
}
