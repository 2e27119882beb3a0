/// x(t) of one layer's step, and how its input term x(t)·W reaches the layer's sums.
enum StepInput {
    /// Above the first layer: the new h of the layer below, multiplied by the layer's input kernel
    /// together with the step's other products.
    case below(UnsafePointer<Float>)
    /// A one-hot character: x(t)·W is a row of the first layer's kernel.
    case row(UnsafePointer<Float>)
    /// The first layer's embedding of the character (`count` values; nil when the model has no table,
    /// which its layout rules out).
    case embedding(UnsafePointer<Float>?, count: Int)
    /// The first layer's scalar input: the character's index over the vocabulary size.
    case scalar(Float)

    /// The one-hot row, for the product kernels to add before they activate.
    var row: UnsafePointer<Float>? {
        if case .row(let row) = self { return row }
        return nil
    }

    /// The layer below's h, for a layer above the first.
    var below: UnsafePointer<Float>? {
        if case .below(let below) = self { return below }
        return nil
    }

    /// Whether the term is a product (the layer below's h times the input kernel).
    var isProduct: Bool {
        if case .below = self { return true }
        return false
    }

    /// z (the layer's G·U columns) += x(t)·W, with `w`'s kernel and, above the first layer, `m`'s copy of it.
    func add(
        into z: UnsafeMutablePointer<Float>, _ w: RecurrentWeights, _ m: LayerStepMatrices,
        scratch: StepScratch
    ) {
        let n = w.width
        switch self {
        case .below(let below):
            m.input?.accumulate(below, into: z, scratch: scratch)
        case .row(let row):
            for j in 0..<n { z[j] += row[j] }
        case .embedding(let embedding, let count):
            if let embedding { vecMatAccumulate(embedding, k: count, w.kernel, n: n, into: z) }
        case .scalar(let v):
            for j in 0..<n { z[j] += v * w.kernel[j] }
        }
    }
}
