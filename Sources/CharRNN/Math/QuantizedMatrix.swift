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
    private let values: UnsafeMutablePointer<Int8>
    private let scales: UnsafeMutablePointer<Float>
    private let columnSums: UnsafeMutablePointer<Int32>

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

    /// `y (n) += x (k) · W`, quantizing x into `scratch` (room for at least k values) first.
    func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, scratch: QuantizedVector) {
        precondition(k <= scratch.capacity, "quantization scratch for \(scratch.capacity) values, matrix has \(k) rows")
        crnn_q8_quantize_vector(x, k, scratch.values, scratch.scales)
        crnn_q8_vecmat_accumulate(scratch.values, scratch.scales, k, values, scales, columnSums, n, y)
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

/// A (k, n) matrix as the batch-1 path multiplies it: a view of the model's float weights, or an 8-bit copy.
struct StepMatrix {
    let k: Int, n: Int
    private let weights: UnsafePointer<Float>
    private let rowStride: Int
    private let quantized: QuantizedMatrix?

    init(_ w: UnsafePointer<Float>, k: Int, n: Int, rowStride: Int? = nil, precision: WeightPrecision) {
        self.k = k
        self.n = n
        weights = w
        self.rowStride = rowStride ?? n
        quantized = precision == .int8 ? QuantizedMatrix(w, k: k, n: n, rowStride: rowStride ?? n) : nil
    }

    /// `y (n) += x (k) · W`; `scratch` must hold k values (used for int8 only).
    @inline(__always)
    func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, scratch: QuantizedVector) {
        if let quantized {
            quantized.accumulate(x, into: y, scratch: scratch)
        } else {
            vecMatAccumulate(x, k: k, weights, n: n, rowStride: rowStride, into: y)
        }
    }
}

/// The matrices one layer multiplies by in a batch-1 step.
struct LayerStepMatrices {
    /// The input kernel (In, G·U) for layers above the first; the first layer's input is a lookup.
    let input: StepMatrix?
    /// The recurrent kernel (U, G·U); for a GRU without reset_after only its z and r columns (U, 2U).
    let recurrent: StepMatrix
    /// A GRU without reset_after: the candidate's columns of the recurrent kernel (U, U).
    let candidate: StepMatrix?

    init(_ w: RecurrentWeights, isFirst: Bool, precision: WeightPrecision) {
        let U = w.units, G = w.width
        input = isFirst ? nil : StepMatrix(w.kernel, k: w.inputWidth, n: G, precision: precision)
        if w.config.cell == .gru && !w.config.resetAfter {
            recurrent = StepMatrix(w.recurrentKernel, k: U, n: 2 * U, rowStride: G, precision: precision)
            candidate = StepMatrix(w.recurrentKernel + 2 * U, k: U, n: U, rowStride: G, precision: precision)
        } else {
            recurrent = StepMatrix(w.recurrentKernel, k: U, n: G, precision: precision)
            candidate = nil
        }
    }
}
