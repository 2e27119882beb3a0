/// Keras-like initialisation: Glorot-uniform kernels, orthogonal recurrent kernels, zero biases with
/// the LSTM forget gate's at one, uniform(±0.05) embeddings. Seeded, so reproducible.
enum Initialization {
    static func initialize(
        _ params: UnsafeMutablePointer<Float>, layout: ParameterLayout,
        config: ModelConfig, seed: UInt64
    ) {
        var rng = RandomGenerator(seed: seed)
        for tensor in layout.tensors {
            let p = params + tensor.offset
            switch tensor.weight {
            case "embeddings":
                for i in 0..<tensor.count { p[i] = rng.uniform(-0.05, 0.05) }
            case "kernel":
                let fanIn = tensor.shape[0], fanOut = tensor.shape[1]
                let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
                for i in 0..<tensor.count { p[i] = rng.uniform(-limit, limit) }
            case "recurrent_kernel":
                orthogonalRows(p, rows: tensor.shape[0], columns: tensor.shape[1], rng: &rng)
            default:  // bias
                p.update(repeating: 0, count: tensor.count)
                if let index = Int(tensor.layer.dropFirst(3)), tensor.layer.hasPrefix("rnn"),
                    config.layers[index].cell == .lstm
                {
                    let units = config.layers[index].units
                    (p + units).update(repeating: 1, count: units)  // gates i, f, c, o: f is the second
                }
            }
        }
    }

    /// Fills a (rows, columns) matrix, rows ≤ columns, with orthonormal rows: Gram–Schmidt on normal
    /// samples in double precision, as Keras' Orthogonal does with a QR decomposition.
    static func orthogonalRows(
        _ p: UnsafeMutablePointer<Float>, rows: Int, columns: Int,
        rng: inout RandomGenerator
    ) {
        // Gram–Schmidt costs rows² · columns; past about 1e10 (units ≈ 1400) it would take minutes. Rows of
        // independent normal samples scaled by 1/√columns are then nearly orthonormal already.
        guard Double(rows) * Double(rows) * Double(columns) <= 1e10 else {
            let scale = 1 / Double(columns).squareRoot()
            for i in 0..<(rows * columns) { p[i] = Float(rng.nextNormal() * scale) }
            return
        }
        // A raw buffer, not an Array: no bounds checks in the inner loops (2x512: 3.5 → 1.6 s of CPU).
        let m = UnsafeMutablePointer<Double>.allocate(capacity: rows * columns)
        defer { m.deallocate() }
        for i in 0..<(rows * columns) { m[i] = rng.nextNormal() }
        let independent = min(rows, columns)
        for r in 0..<rows {
            let row = m + r * columns
            if r < independent {
                for _ in 0..<2 {  // twice is enough for orthogonality in floating point
                    for q in 0..<r {
                        let other = m + q * columns
                        var dot = 0.0
                        for j in 0..<columns { dot += row[j] * other[j] }
                        for j in 0..<columns { row[j] -= dot * other[j] }
                    }
                }
            }
            var norm = 0.0
            for j in 0..<columns { norm += row[j] * row[j] }
            let scale = norm > 0 ? 1 / norm.squareRoot() : 0
            for j in 0..<columns {
                row[j] *= scale  // later rows project onto the normalised row
                p[r * columns + j] = Float(row[j])
            }
        }
    }
}
