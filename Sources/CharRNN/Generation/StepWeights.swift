import CharRNNKernels
#if canImport(Glibc)
import Glibc  // memcmp
#elseif canImport(Darwin)
import Darwin
#endif

/// A (k, n) matrix as the batch-1 path multiplies it: packed float32 panels (the model's values, laid out
/// so that a product streams through memory in order), or an 8-bit copy.
final class StepMatrix {
    let k: Int, n: Int
    private let panels: UnsafeMutablePointer<Float>?
    private let quantized: QuantizedMatrix?

    /// Copies `w` (k, n), rows `rowStride` floats apart (n by default).
    init(_ w: UnsafePointer<Float>, k: Int, n: Int, rowStride: Int? = nil, precision: WeightPrecision) {
        self.k = k
        self.n = n
        switch precision {
        case .float32:
            let count = max(1, crnn_packed_size(k, n, Int(CRNN_PANEL))), bytes = count * MemoryLayout<Float>.stride
            let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: HugePages.size)
            HugePages.advise(raw, bytes: bytes)
            let packed = raw.bindMemory(to: Float.self, capacity: count)
            crnn_pack_panels(w, k, n, rowStride ?? n, Int(CRNN_PANEL), packed)
            panels = packed
            quantized = nil
        case .int8:
            panels = nil
            quantized = QuantizedMatrix(w, k: k, n: n, rowStride: rowStride ?? n)
        }
    }

    deinit { panels?.deallocate() }

    /// The product term x (k) · W; for int8, with x quantized (or its quantized copy reused) by `scratch`.
    func term(_ x: UnsafePointer<Float>, scratch: StepScratch) -> crnn_product_term {
        if let quantized { return quantized.term(scratch.quantized(x, count: k)) }
        return crnn_product_term(
            k: k, x: x, panels: panels, x_values: nil, x_scales: nil, values: nil, scales: nil,
            column_sums: nil)
    }

    /// `y (n) += x (k) · W`, then `gates` on the columns (crnn_sum_products).
    func accumulate(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, scratch: StepScratch,
        activation gates: crnn_gate_activations? = nil
    ) {
        var t = term(x, scratch: scratch)
        Self.withGates(gates) { crnn_sum_products(&t, 1, n, y, $0) }
    }

    /// `y (n) += x · W + h · other`, in one pass over the columns (`other` has n columns and the same
    /// precision), then `gates` on the columns (crnn_sum_products).
    func accumulate(
        _ x: UnsafePointer<Float>, plus other: StepMatrix, _ h: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Float>, scratch: StepScratch, activation gates: crnn_gate_activations? = nil
    ) {
        withUnsafeTemporaryAllocation(of: crnn_product_term.self, capacity: 2) { terms in  // on the stack
            terms.initializeElement(at: 0, to: term(x, scratch: scratch))
            terms.initializeElement(at: 1, to: other.term(h, scratch: scratch))
            Self.withGates(gates) { crnn_sum_products(terms.baseAddress, 2, n, y, $0) }
        }
    }

    /// Many streams' `accumulate` at once (crnn_sum_products_many): for each stream s, `ys[s] (n) +=` the
    /// sum over `products` of `inputs[s] · matrix`, in that order, then `gates` with `addends[s]` (nil: none)
    /// on its columns — the bits of each stream's own `accumulate`, every row of weights read once for
    /// several streams. Every matrix has n columns and the same precision; `scratches[s]` quantizes stream
    /// s's vectors for 8-bit products.
    static func accumulateMany(
        _ products: [(matrix: StepMatrix, inputs: [UnsafePointer<Float>])], into ys: [UnsafeMutablePointer<Float>],
        scratches: [StepScratch], activation gates: crnn_gate_activations? = nil,
        addends: [UnsafePointer<Float>?]? = nil
    ) {
        guard let n = products.first?.matrix.n, !ys.isEmpty else { return }
        var terms: [crnn_product_term] = []
        terms.reserveCapacity(ys.count * products.count)
        for s in ys.indices {
            for product in products { terms.append(product.matrix.term(product.inputs[s], scratch: scratches[s])) }
        }
        let outputs: [UnsafeMutablePointer<Float>?] = ys
        let added: [UnsafePointer<Float>?]? = addends
        withGates(gates) { gates in
            // An optional array does not convert to a C pointer argument: each case passes its own.
            if let added {
                crnn_sum_products_many(terms, products.count, ys.count, n, outputs, gates, added)
            } else {
                crnn_sum_products_many(terms, products.count, ys.count, n, outputs, gates, nil)
            }
        }
    }

    private static func withGates(
        _ gates: crnn_gate_activations?, _ body: (UnsafePointer<crnn_gate_activations>?) -> Void
    ) {
        guard var gates else { return body(nil) }
        withUnsafePointer(to: &gates) { body($0) }
    }
}

/// The quantized input vectors of a session's 8-bit products. Each source buffer (a layer's h, a GRU's
/// r ⊙ h) keeps its own quantized copy together with the floats it was made from, so a vector multiplied
/// twice without changing is quantized once: a layer's h, by the layer above's input kernel and then by
/// its own recurrent kernel at the next step (the last layer's by the head's kernel). A quantized vector is
/// a function of the floats' bits alone, so reusing it gives the bits quantizing again would.
final class StepScratch {
    private final class Entry {
        let source: UnsafePointer<Float>
        let count: Int
        /// The floats `vector` was made from, once `filled`.
        let floats: UnsafeMutablePointer<Float>
        var filled = false
        let vector: QuantizedVector

        init(source: UnsafePointer<Float>, count: Int, capacity: Int) {
            self.source = source
            self.count = count
            floats = .allocate(capacity: capacity)
            vector = QuantizedVector(capacity: capacity)
        }

        deinit { floats.deallocate() }
    }

    /// The longest vector it quantizes.
    let capacity: Int
    /// One per source buffer and length seen: a session has a few (its layers' h and scratch buffers).
    private var entries: [Entry] = []

    init(capacity: Int) { self.capacity = capacity }

    /// x (count values, at most `capacity`) quantized, reusing the copy made last time from the same
    /// buffer and length when its floats have not changed since. Keyed by length as well, so that two
    /// terms of one product never share a copy.
    func quantized(_ x: UnsafePointer<Float>, count: Int) -> QuantizedVector {
        precondition(count <= capacity, "quantization scratch for \(capacity) values, a vector of \(count)")
        let entry: Entry
        if let known = entries.first(where: { $0.source == x && $0.count == count }) {
            entry = known
            if known.filled && memcmp(known.floats, x, count * MemoryLayout<Float>.stride) == 0 { return known.vector }
        } else {
            entry = Entry(source: x, count: count, capacity: capacity)
            entries.append(entry)
        }
        crnn_q8_quantize_vector(x, count, entry.vector.values, entry.vector.scales)
        entry.floats.update(from: x, count: count)
        entry.filled = true
        return entry.vector
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

/// Everything a model's sessions of one precision multiply with, made once and shared by them (see
/// `Model.stepWeights(_:)`): the layers' matrices and the head's kernel, as packed float32 or 8-bit copies.
final class StepWeights: @unchecked Sendable {
    let layers: [LayerStepMatrices]
    let head: StepMatrix
    /// The widest input of any product, for the quantization scratch.
    let widestInput: Int

    init(model: Model, precision: WeightPrecision) {
        let weights = RecurrentWeights.views(of: model.parameters.pointer, layout: model.layout, config: model.config)
        layers = weights.enumerated().map { LayerStepMatrices($1, isFirst: $0 == 0, precision: precision) }
        let headWeights = HeadWeights(base: model.parameters.pointer, layout: model.layout)
        head = StepMatrix(
            headWeights.kernel, k: weights.last?.units ?? 1, n: model.config.vocabSize, precision: precision)
        widestInput = weights.map { max($0.inputWidth, $0.units) }.max() ?? 1
    }
}
