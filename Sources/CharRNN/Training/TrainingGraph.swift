#if canImport(Glibc)
import Glibc
#endif

/// Loss and accuracy of predicting characters: what an evaluation returns, and the figures of one
/// training batch.
public struct BatchResult: Sendable {
    /// Sum of the cross-entropy over the predicted characters, in nats.
    public var lossSum: Double = 0
    /// Predictions whose most probable character was the target.
    public var correct: Int = 0
    /// Characters predicted.
    public var count: Int = 0

    /// Cross-entropy per character, nats (NaN when nothing was predicted).
    public var meanLoss: Double { count > 0 ? lossSum / Double(count) : .nan }

    /// Counts one prediction that gave the target `probability` (cross-entropy −log p, p floored at the
    /// smallest normal float so a zero is a large finite loss).
    mutating func add(probability: Float, correct: Bool) {
        // A NaN must reach the sum (max would drop it): it marks a distribution that is not finite.
        lossSum += probability.isNaN ? .nan : Double(-logf(max(probability, Float.leastNormalMagnitude)))
        if correct { self.correct += 1 }
        count += 1
    }

    static func += (a: inout BatchResult, b: BatchResult) {
        a.lossSum += b.lossSum
        a.correct += b.correct
        a.count += b.count
    }
}

/// The forward and backward pass of a model over batches of (B, T) character indices, with every buffer
/// allocated once up front. Buffers are time-major so that each step is one GEMM over the batch, and the
/// input projections and weight gradients of a whole sequence are one GEMM each.
///
/// The recurrent state can be carried from one batch to the next (truncated BPTT over a stream).
final class TrainingGraph {
    let model: Model
    let batch: Int
    /// Maximum steps per batch; a run may use fewer.
    let capacity: Int
    /// Only the last step of each sequence is predicted (the Keras "window" objective).
    let lastStepOnly: Bool
    /// Gradients of the last backward pass, in the model's parameter layout (shared by the parts of a
    /// ParallelGraph, which add into it together).
    let gradients: ParameterBuffer

    let weights: [RecurrentWeights]
    let gradientViews: [RecurrentWeights]
    let head: HeadWeights
    let headGradient: HeadWeights
    let layers: [SequenceBuffers]
    /// Packed copies of the small recurrent kernels, and whether this graph refreshes them itself (a
    /// ParallelGraph refreshes one shared instance for all its parts).
    let packedKernels: PackedKernels?
    private let refreshesPackedKernels: Bool
    /// (T·B) time-major indices of the current batch.
    let tokens: UnsafeMutablePointer<Int32>
    /// (N) targets, −1 for none.
    let targets: UnsafeMutablePointer<Int32>
    /// (T·B, inputWidth) dense first-layer input for embedding and scalar encodings.
    let denseInput: UnsafeMutablePointer<Float>?
    /// Per layer (T·B, U): dropout masks (already scaled by 1/(1−p)) and the dropped outputs.
    let dropoutMasks: [UnsafeMutablePointer<Float>]
    let droppedOutputs: [UnsafeMutablePointer<Float>]
    /// (N, V): logits, then probabilities, then gradients of the logits.
    let logits: UnsafeMutablePointer<Float>
    /// (T·B, embeddingDim): the embedding input's gradient, for the embedding encoding only.
    let denseInputGradient: UnsafeMutablePointer<Float>?
    /// What a backward pass left for `accumulateWeightGradients`.
    private struct PendingWeightGradients {
        let steps: Int, rows: Int, applyDropout: Bool
    }
    /// Set by a backward pass whose weight gradients `accumulateWeightGradients` has yet to add, until
    /// `weightGradientsAdded`.
    private var pendingWeightGradients: PendingWeightGradients?
    private var config: ModelConfig { model.config }
    private var allocations: [UnsafeMutableRawPointer] = []

    /// - Parameters:
    ///   - batch: sequences per batch (B).
    ///   - steps: the longest sequence (T).
    ///   - lastStepOnly: predict only after the last character of each sequence.
    ///   - computesGradients: allocate the gradient buffer (evaluation-only graphs do without).
    convenience init(
        model: Model, batch: Int, steps: Int, lastStepOnly: Bool = false,
        computesGradients: Bool = true
    ) {
        self.init(
            model: model, batch: batch, steps: steps, lastStepOnly: lastStepOnly,
            computesGradients: computesGradients, sharedPackedKernels: nil)
    }

    /// - Parameters:
    ///   - sharedPackedKernels: kept up to date by the caller; nil makes the graph its own.
    ///   - sharedGradients: the buffer the weight gradients go to, shared with other graphs (ParallelGraph);
    ///     nil makes the graph its own.
    init(
        model: Model, batch: Int, steps: Int, lastStepOnly: Bool, computesGradients: Bool,
        sharedPackedKernels: PackedKernels?, sharedGradients: ParameterBuffer? = nil
    ) {
        precondition(batch >= 1 && steps >= 1, "validated by callers")
        self.model = model
        self.batch = batch
        self.capacity = steps
        self.lastStepOnly = lastStepOnly
        let config = model.config
        gradients = sharedGradients ?? ParameterBuffer(count: computesGradients ? model.layout.totalCount : 0)
        weights = RecurrentWeights.views(of: model.parameters.pointer, layout: model.layout, config: config)
        gradientViews = RecurrentWeights.views(of: gradients.pointer, layout: model.layout, config: config)
        head = HeadWeights(base: model.parameters.pointer, layout: model.layout)
        headGradient = HeadWeights(base: gradients.pointer, layout: model.layout)
        layers = config.layers.map { SequenceBuffers(layer: $0, steps: steps, batch: batch) }
        packedKernels =
            sharedPackedKernels ?? PackedKernels(config: config, rows: batch, computesGradients: computesGradients)
        refreshesPackedKernels = sharedPackedKernels == nil

        var allocations: [UnsafeMutableRawPointer] = []
        func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            allocations.append(UnsafeMutableRawPointer(p))
            return p
        }
        let tb = steps * batch
        let ints = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * tb)
        ints.initialize(repeating: 0, count: 2 * tb)
        allocations.append(UnsafeMutableRawPointer(ints))
        tokens = ints
        targets = ints + tb
        denseInput = config.input == .onehot ? nil : floats(tb * config.inputWidth)
        if config.dropout > 0 {
            dropoutMasks = config.layers.map { floats(tb * $0.units) }
            droppedOutputs = config.layers.map { floats(tb * $0.units) }
        } else {
            dropoutMasks = []
            droppedOutputs = []
        }
        logits = floats((lastStepOnly ? batch : tb) * config.vocabSize)
        denseInputGradient = config.input == .embedding && computesGradients ? floats(tb * config.embeddingDim) : nil
        self.allocations = allocations
    }

    deinit { for p in allocations { p.deallocate() } }

    /// Zeroes the carried recurrent state.
    func resetState() { for layer in layers { layer.resetState() } }

    /// Runs one batch.
    /// - Parameters:
    ///   - inputs: (B, T) character indices, batch-major, each in 0..<vocab (validated by the caller).
    ///   - targets: (B, T) next-character indices, or (B) with `lastStepOnly`; −1 predicts nothing.
    ///   - steps: T for this batch, at most `capacity`.
    ///   - training: apply dropout (drawn from `rng`).
    ///   - computeGradients: run backward into `gradients` (zeroed first).
    ///   - carryState: start from the state the previous batch ended in, instead of zeros.
    ///   - probabilities: when non-nil, receives the (N, V) output distributions, N = T·B time-major
    ///     (or B with `lastStepOnly`).
    func run(
        inputs: UnsafePointer<Int32>, targets batchTargets: UnsafePointer<Int32>?, steps: Int,
        training: Bool, computeGradients: Bool, carryState: Bool,
        rng: inout RandomGenerator,
        probabilities: UnsafeMutablePointer<Float>? = nil
    ) -> BatchResult {
        if computeGradients { gradients.zero() }
        let result = run(
            inputs: inputs, targets: batchTargets, steps: steps, training: training,
            backward: computeGradients ? .ownPredictions : nil, carryState: carryState,
            rng: &rng, probabilities: probabilities)
        accumulateWeightGradients(share: 0, of: 1)
        weightGradientsAdded()
        return result
    }

    /// What a backward pass divides the loss's gradient by (the loss is a mean): the predictions of this
    /// graph's batch, or those of the whole batch a ParallelGraph split between graphs.
    enum LossDivisor {
        case ownPredictions
        case predictions(Int)
    }

    /// Runs one batch as `run(…computeGradients:…)`, with backward (when `backward` is not nil) stopping
    /// short of the weight gradients: those are left for `accumulateWeightGradients`, which adds them to
    /// `gradients` without zeroing it first.
    func run(
        inputs: UnsafePointer<Int32>, targets batchTargets: UnsafePointer<Int32>?, steps: Int,
        training: Bool, backward divisor: LossDivisor?, carryState: Bool, rng: inout RandomGenerator,
        probabilities: UnsafeMutablePointer<Float>? = nil
    ) -> BatchResult {
        let B = batch, T = steps, V = model.config.vocabSize
        for layer in layers { layer.startRun(steps: T, carry: carryState) }
        for b in 0..<B { for t in 0..<T { tokens[t * B + b] = inputs[b * T + t] } }
        let n = lastStepOnly ? B : T * B
        if let batchTargets {
            if lastStepOnly {
                for b in 0..<B { targets[b] = batchTargets[b] }
            } else {
                for b in 0..<B { for t in 0..<T { targets[t * B + b] = batchTargets[b * T + t] } }
            }
        } else {
            targets.update(repeating: -1, count: n)
        }

        let applyDropout = training && model.config.dropout > 0
        if refreshesPackedKernels { packedKernels?.refresh(from: weights) }  // the weights may have changed
        forward(steps: T, applyDropout: applyDropout, rng: &rng)
        let result = headForward(steps: T, rows: n, applyDropout: applyDropout)
        if let probabilities { probabilities.update(from: logits, count: n * V) }
        pendingWeightGradients = nil
        if let divisor, gradients.count == model.layout.totalCount, result.count > 0 {
            let predictions =
                switch divisor {
                case .ownPredictions: result.count
                case .predictions(let count): count
                }
            backward(steps: T, rows: n, dividingBy: predictions, applyDropout: applyDropout)
            pendingWeightGradients = PendingWeightGradients(steps: T, rows: n, applyDropout: applyDropout)
        }
        for layer in layers { layer.finishRun() }
        return result
    }

    // MARK: forward

    private func forward(steps T: Int, applyDropout: Bool, rng: inout RandomGenerator) {
        let B = batch, tb = T * B
        for (l, w) in weights.enumerated() {
            let s = layers[l]
            w.fillInputBias(s.gates, rows: tb)
            if l == 0 {
                firstLayerProjection(w, into: s.gates, rows: tb)
            } else {
                sgemm(
                    m: tb, n: w.width, k: w.inputWidth, a: layerOutput(l - 1, applyDropout), lda: w.inputWidth,
                    b: w.kernel, ldb: w.width, beta: 1, c: s.gates, ldc: w.width)
            }
            w.forward(s.tensors, packed: packedKernels?.layer(l))
            if applyDropout {
                let rate = model.config.dropout, scale = 1 / (1 - rate)
                let mask = dropoutMasks[l], out = droppedOutputs[l], h = s.outputs
                for i in 0..<(tb * w.units) {
                    let keep: Float = rng.nextUniform() >= rate ? scale : 0
                    mask[i] = keep
                    out[i] = h[i] * keep
                }
            }
        }
    }

    /// The output of layer `l` as the next layer sees it: (T·B, U).
    private func layerOutput(_ l: Int, _ applyDropout: Bool) -> UnsafeMutablePointer<Float> {
        applyDropout ? droppedOutputs[l] : layers[l].outputs
    }

    /// Adds the first layer's input projection to `gates` (already holding the bias).
    private func firstLayerProjection(_ w: RecurrentWeights, into gates: UnsafeMutablePointer<Float>, rows: Int) {
        let G = w.width, config = model.config
        switch config.input {
        case .onehot:  // a row gather: x·W for a one-hot x is the row of W at the index
            for r in 0..<rows {
                let src = w.kernel + Int(tokens[r]) * G, dst = gates + r * G
                for j in 0..<G { dst[j] += src[j] }
            }
        case .embedding:
            guard let x = denseInput, let table = head.embedding else { return }
            let E = config.embeddingDim
            for r in 0..<rows { (x + r * E).update(from: table + Int(tokens[r]) * E, count: E) }
            sgemm(m: rows, n: G, k: E, a: x, lda: E, b: w.kernel, ldb: G, beta: 1, c: gates, ldc: G)
        case .scalar:
            guard let x = denseInput else { return }
            let scale = 1 / Float(config.vocabSize)
            for r in 0..<rows {
                let v = Float(tokens[r]) * scale
                x[r] = v
                let dst = gates + r * G
                for j in 0..<G { dst[j] += v * w.kernel[j] }
            }
        }
    }

    /// Logits, probabilities and the loss over `rows` predictions.
    private func headForward(steps T: Int, rows n: Int, applyDropout: Bool) -> BatchResult {
        let V = model.config.vocabSize
        let U = weights[weights.count - 1].units
        let input = headInput(steps: T, applyDropout: applyDropout)
        if let bias = head.bias {
            for r in 0..<n { (logits + r * V).update(from: bias, count: V) }
        } else {
            logits.update(repeating: 0, count: n * V)
        }
        sgemm(m: n, n: V, k: U, a: input, lda: U, b: head.kernel, ldb: V, beta: 1, c: logits, ldc: V)
        var result = BatchResult()
        for r in 0..<n {
            let row = logits + r * V
            var maxValue = -Float.infinity, best = 0  // the prediction, on the logits (as Keras's argmax)
            for j in 0..<V where row[j] > maxValue { maxValue = row[j]; best = j }
            softmaxInPlace(row, count: V)
            let target = Int(targets[r])
            if target >= 0 { result.add(probability: row[target], correct: best == target) }
        }
        return result
    }

    /// The rows the head reads: all outputs of the last layer, or only those of its last step.
    private func headInput(steps T: Int, applyDropout: Bool) -> UnsafeMutablePointer<Float> {
        let last = weights.count - 1
        let all = layerOutput(last, applyDropout)
        return lastStepOnly ? all + (T - 1) * batch * weights[last].units : all
    }

    // MARK: backward

    /// Backward through the head and every layer down to the input: leaves the logits' gradient in
    /// `logits`, each layer's input-projection gradient in its `gates` and the embedding input's in
    /// `denseInputGradient`. The weight gradients are `accumulateWeightGradients`' work.
    private func backward(steps T: Int, rows n: Int, dividingBy predictions: Int, applyDropout: Bool) {
        let B = batch, V = model.config.vocabSize, tb = T * B
        // dL/dlogits = (p − onehot(target)) / predictions, for rows with a target.
        let inv = 1 / Float(predictions)
        for r in 0..<n {
            let row = logits + r * V
            let target = Int(targets[r])
            if target < 0 {
                row.update(repeating: 0, count: V)
                continue
            }
            for j in 0..<V { row[j] *= inv }
            row[target] -= inv
        }
        // dL/dh of the last layer.
        let last = weights.count - 1, U = weights[last].units
        let top = layers[last]
        if lastStepOnly {
            top.outputGradients.update(repeating: 0, count: tb * U)
            sgemm(
                transB: true, m: B, n: U, k: V, a: logits, lda: V, b: head.kernel, ldb: V, beta: 0,
                c: top.outputGradients + (T - 1) * B * U, ldc: U)
        } else {
            sgemm(
                transB: true, m: n, n: U, k: V, a: logits, lda: V, b: head.kernel, ldb: V, beta: 0,
                c: top.outputGradients, ldc: U)
        }
        if applyDropout { multiply(top.outputGradients, by: dropoutMasks[last], count: tb * U) }

        for l in stride(from: last, through: 0, by: -1) {
            let w = weights[l], s = layers[l]
            w.backward(s.tensors, packed: packedKernels?.layer(l))
            // s.gates now holds dL/d(input projection) (T·B, G·U).
            if l > 0 {
                let below = layers[l - 1]
                sgemm(
                    transB: true, m: tb, n: w.inputWidth, k: w.width, a: s.gates, lda: w.width,
                    b: w.kernel, ldb: w.width, beta: 0, c: below.outputGradients, ldc: w.inputWidth)
                if applyDropout { multiply(below.outputGradients, by: dropoutMasks[l - 1], count: tb * w.inputWidth) }
            } else if let dx = denseInputGradient {
                sgemm(
                    transB: true, m: tb, n: config.embeddingDim, k: w.width, a: s.gates, lda: w.width,
                    b: w.kernel, ldb: w.width, beta: 0, c: dx, ldc: config.embeddingDim)
            }
        }
    }

    /// Whether a backward pass left weight gradients for `accumulateWeightGradients`.
    var hasPendingWeightGradients: Bool { pendingWeightGradients != nil }

    /// Adds the weight gradients of the last backward pass to `gradients`: of every tensor, the columns of
    /// share `share` of `shares`, so that graphs sharing one gradient buffer can fill it from several
    /// threads at once, each thread owning its columns. Does nothing if no backward pass is pending.
    func accumulateWeightGradients(share: Int, of shares: Int) {
        guard let pending = pendingWeightGradients else { return }
        let T = pending.steps, n = pending.rows, applyDropout = pending.applyDropout
        /// The columns of a tensor `width` wide that this share owns: cut at multiples of 16 floats (a
        /// cache line), so that two threads never write one line.
        func ownedColumns(_ width: Int) -> Range<Int> {
            func cut(_ s: Int) -> Int { s == shares ? width : min(width, (width * s / shares) & ~15) }
            return cut(share)..<cut(share + 1)
        }
        let V = config.vocabSize, tb = T * batch
        let last = weights.count - 1, U = weights[last].units
        let headColumns = ownedColumns(V)
        addTransposedProduct(
            headInput(steps: T, applyDropout: applyDropout), m: U, k: n, lda: U, logits, ldb: V,
            into: headGradient.kernel, ldc: V, columns: headColumns)
        if let db = headGradient.bias { columnSums(logits, rows: n, columns: headColumns, rowStride: V, into: db) }
        for l in 0...last {
            let w = weights[l], g = gradientViews[l], s = layers[l], G = w.width
            let columns = ownedColumns(G)
            if let db = g.inputBias { columnSums(s.gates, rows: tb, columns: columns, rowStride: G, into: db) }
            w.accumulateRecurrentGradient(into: g, s.tensors, columns: columns)
            if l > 0 {
                addTransposedProduct(
                    layerOutput(l - 1, applyDropout), m: w.inputWidth, k: tb, lda: w.inputWidth,
                    s.gates, ldb: G, into: g.kernel, ldc: G, columns: columns)
            } else {
                firstLayerWeightGradients(
                    g, dz: s.gates, width: G, rows: tb, columns: columns,
                    embeddingColumns: ownedColumns(config.embeddingDim))
            }
        }
    }

    /// The pending weight gradients have been added (by every share): a later call adds nothing, and the
    /// buffers they were read from may change.
    func weightGradientsAdded() { pendingWeightGradients = nil }

    /// The first layer's input kernel gradient (columns `columns`), and the embedding table's (columns
    /// `embeddingColumns` of the embedding).
    private func firstLayerWeightGradients(
        _ g: RecurrentWeights, dz: UnsafePointer<Float>, width G: Int, rows: Int,
        columns: Range<Int>, embeddingColumns: Range<Int>
    ) {
        switch config.input {
        case .onehot:  // scatter-add: the gradient of a gathered row goes back to that row
            scatterAddRows(
                dz, rows: rows, columns: columns, srcStride: G, indices: tokens, into: g.kernel, dstStride: G)
        case .embedding:
            guard let x = denseInput, let dx = denseInputGradient, let dTable = headGradient.embedding else { return }
            let E = config.embeddingDim
            addTransposedProduct(x, m: E, k: rows, lda: E, dz, ldb: G, into: g.kernel, ldc: G, columns: columns)
            scatterAddRows(
                dx, rows: rows, columns: embeddingColumns, srcStride: E, indices: tokens, into: dTable,
                dstStride: E)
        case .scalar:
            guard let x = denseInput else { return }
            let j0 = columns.lowerBound, width = columns.count, dst = g.kernel + j0
            for r in 0..<rows {
                let v = x[r], src = dz + r * G + j0
                for j in 0..<width { dst[j] += v * src[j] }
            }
        }
    }

    private func multiply(_ a: UnsafeMutablePointer<Float>, by mask: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { a[i] *= mask[i] }
    }
}
