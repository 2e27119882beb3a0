import CharRNNKernels

/// Copies of a model's recurrent kernels packed for CharRNNKernels' `crnn_gemm_panels`, for the per-step
/// products of training: h·U forward and dz·Uᵀ backward. Packed, a block of rows streams through 16-column
/// panels in memory order instead of touching a row of U per 64 bytes; without a copy, forward reads U in
/// place and backward goes to BLAS's sgemm, which packs all of Uᵀ again on every call. Copies are made
/// of kernels of at most `maximumFloats` (2x512: 4 MB a layer for each copy): a 2x512 LSTM's per-step
/// products ran 1.5x faster from them, for 16 MB of memory (161 MB in all, against Keras's 671–681).
/// One instance serves every part of a ParallelGraph: refreshed before the parts start, read-only
/// while they run.
final class PackedKernels {
    static let maximumFloats = 1_048_576

    private let layers: [RecurrentKernelPanels?]

    /// Copies for graphs whose parts have `rows` rows (sequences) each: none below 4 rows, where the
    /// products go to BLAS's matrix–vector kernel (batch-1 evaluation), and no Uᵀ without gradients.
    convenience init(config: ModelConfig, rows: Int, computesGradients: Bool) {
        self.init(
            config: config, forwardLimit: rows >= 4 ? PackedKernels.maximumFloats : 0,
            transposedLimit: rows >= 4 && computesGradients ? PackedKernels.maximumFloats : 0)
    }

    /// - Parameters: forwardLimit, transposedLimit: the largest kernels (floats) copied forward and
    ///   transposed; tests lower them to reach every path with small models.
    init(config: ModelConfig, forwardLimit: Int, transposedLimit: Int) {
        layers = config.layers.map { layer in
            let U = layer.units, G = layer.cell.gateCount * U
            let copiesForward = U * G <= forwardLimit, copiesTransposed = U * G <= transposedLimit
            guard copiesForward || copiesTransposed else { return nil }
            func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
                let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
                p.initialize(repeating: 0, count: max(count, 1))  // never read before a refresh, never undefined
                return p
            }
            let panel = Int(CRNN_GEMM_PANEL)
            let ranges = layer.cell == .gru && !layer.resetAfter ? [(0, 2 * U), (2 * U, U)] : [(0, G)]
            let forward = (copiesForward ? ranges : []).map { ($0.0, $0.1, zeros(crnn_packed_size(U, $0.1, panel))) }
            return RecurrentKernelPanels(
                forward: forward,
                backward: copiesTransposed ? zeros(crnn_packed_size(G, U, panel)) : nil)
        }
    }

    /// The bytes of the copies a training run's graph makes (both ways) of `config`'s kernels.
    static func trainingBytes(_ config: ModelConfig) -> Double {
        config.layers.reduce(0) { total, layer in
            let floats = layer.units * layer.cell.gateCount * layer.units
            return total + (floats <= maximumFloats ? 2 * Double(floats) * 4 : 0)
        }
    }

    deinit {
        for layer in layers {
            guard let layer else { continue }
            for range in layer.forward { range.panels.deallocate() }
            layer.backward?.deallocate()
        }
    }

    /// Copies the current recurrent kernels (call after every weight update, before the graphs run).
    func refresh(from weights: [RecurrentWeights]) {
        for (w, layer) in zip(weights, layers) {
            guard let layer else { continue }
            let U = w.units, G = w.width, kernel = w.recurrentKernel
            let panel = Int(CRNN_GEMM_PANEL)
            for range in layer.forward {
                crnn_pack_panels(kernel + range.first, U, range.count, G, panel, range.panels)
            }
            if let backward = layer.backward {
                crnn_pack_panels_transposed(kernel, U, G, G, panel, backward)  // Uᵀ, straight into its panels
            }
        }
    }

    /// Layer `l`'s copies, or nil when it has none.
    func layer(_ l: Int) -> RecurrentKernelPanels? { layers[l] }
}
