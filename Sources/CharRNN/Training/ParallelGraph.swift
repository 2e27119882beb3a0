/// Data parallelism over the batch: the batch's sequences are split between part graphs that run forward
/// and backward at the same time on the worker pool's threads (`WorkerPool`, whose jobs keep OpenBLAS
/// single-threaded while they run). Per-step matrix products of a char-RNN are small (B × U by U × 4U),
/// so independent parts keep every core busy without the synchronisation BLAS's own threads pay on every
/// call; the per-step ones run in CharRNNKernels (`gemmRows`), which is single-threaded by design.
///
/// The weight gradients are whole-sequence GEMMs. They wait until every part's backward has finished
/// and then go into one buffer shared by the parts, each share of the pool's job taking a share of every
/// tensor's columns over all the parts' sequences: one gradient buffer for the model, however many
/// parts, and nothing to combine. The result equals one graph over the whole batch up to float rounding,
/// and is the same whichever threads ran which part or share.
package final class ParallelGraph {
    let parts: [TrainingGraph]
    /// First sequence of each part in the batch.
    let starts: [Int]
    let batch: Int
    let lastStepOnly: Bool
    /// Packed copies of the small recurrent kernels, shared by the parts; refreshed at the start of each run.
    private let packedKernels: PackedKernels?
    /// The gradients of the whole batch, in the model's parameter layout; every part writes here.
    package let gradients: ParameterBuffer
    /// One result per part, written by the thread that ran the part.
    private let results: UnsafeMutablePointer<BatchResult>

    /// - Parameter parts: graphs to split the batch between (at most one per sequence); by default the
    ///   pool's planned parts, one per CPU (at most 8: past that the parts get too small to keep a core
    ///   busy). The split, not the threads that run it, decides the result.
    package init(
        model: Model, batch: Int, steps: Int, lastStepOnly: Bool = false,
        parts: Int = WorkerPool.parts, computesGradients: Bool = true
    ) {
        let n = max(1, min(parts, batch))
        var starts: [Int] = []
        var parts: [TrainingGraph] = []
        var start = 0
        let packed = PackedKernels(config: model.config, rows: batch / n, computesGradients: computesGradients)
        let gradients = ParameterBuffer(count: computesGradients ? model.layout.totalCount : 0)
        for i in 0..<n {
            let size = batch / n + (i < batch % n ? 1 : 0)
            starts.append(start)
            parts.append(
                TrainingGraph(
                    model: model, batch: size, steps: steps, lastStepOnly: lastStepOnly,
                    computesGradients: computesGradients, sharedPackedKernels: packed,
                    sharedGradients: gradients))
            start += size
        }
        packedKernels = packed
        self.parts = parts
        self.starts = starts
        self.batch = batch
        self.lastStepOnly = lastStepOnly
        self.gradients = gradients
        results = .allocate(capacity: n)
        results.initialize(repeating: BatchResult(), count: n)
    }

    deinit { results.deallocate() }

    /// Runs one batch as `TrainingGraph.run` does. One number is drawn from `rng` per batch, whatever the
    /// number of parts; each part's dropout generator is derived from it and the part's first sequence.
    /// Dropout masks therefore depend on how the batch is split: runs are reproducible for a given
    /// number of parts (`WorkerPool.parts` by default), whichever threads run them.
    package func run(
        inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?, steps: Int, training: Bool,
        computeGradients: Bool = true, carryState: Bool, rng: inout RandomGenerator
    ) -> BatchResult {
        let seed = rng.next()
        let targetsPerSequence = lastStepOnly ? 1 : steps
        packedKernels?.refresh(from: parts[0].weights)  // the weights may have changed; before the parts read it
        if parts.count == 1 {  // on this thread, with OpenBLAS as a pool job has it
            var partRNG = RandomGenerator(seed: seed)
            return BLASThreads.singleThreaded {
                parts[0].run(
                    inputs: inputs, targets: targets, steps: steps, training: training,
                    computeGradients: computeGradients, carryState: carryState, rng: &partRNG)
            }
        }
        // Every part divides its loss gradient by the whole batch's predictions, so that the parts'
        // weight gradients simply add up.
        var predictions = 0
        if let targets { for i in 0..<(batch * targetsPerSequence) where targets[i] >= 0 { predictions += 1 } }
        WorkerPool.forEach(parts.count) { i in
            var partRNG = RandomGenerator(seed: seed ^ (UInt64(starts[i]) &* 0x9E37_79B9_7F4A_7C15))
            results[i] = parts[i].run(
                inputs: inputs + starts[i] * steps, targets: targets.map { $0 + starts[i] * targetsPerSequence },
                steps: steps, training: training, backward: computeGradients ? .predictions(predictions) : nil,
                carryState: carryState, rng: &partRNG)
        }
        if computeGradients {
            gradients.zero()
            if parts.contains(where: \.hasPendingWeightGradients) {
                WorkerPool.forEach(parts.count) { share in
                    for part in parts { part.accumulateWeightGradients(share: share, of: parts.count) }
                }
                for part in parts { part.weightGradientsAdded() }
            }
        }
        var total = BatchResult()
        for i in 0..<parts.count { total += results[i] }
        return total
    }

    package func resetState() { for part in parts { part.resetState() } }
}
