import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Data parallelism over the batch: the batch's sequences are split between worker graphs that run
/// forward and backward at the same time on their own threads, each with single-threaded BLAS (see
/// BLASThreads: a Trainer sets it for its whole run). Per-step
/// matrix products of a char-RNN are small (B × U by U × 4U), so two independent halves keep both cores
/// busy without the synchronisation BLAS's own threads pay on every call; the forward ones run in
/// CharRNNKernels (`gemmRows`), which is single-threaded by design.
///
/// The weight gradients are whole-sequence GEMMs. They wait until every worker's backward has finished
/// and then go into one buffer shared by the workers, each thread taking a share of every tensor's
/// columns over all the workers' sequences: one gradient buffer for the model, however many workers,
/// and nothing to combine. The result equals one graph over the whole batch up to float rounding.
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
    /// One result per part, written by the part's own thread.
    private let results: UnsafeMutablePointer<BatchResult>

    /// Worker threads by default: one per online processor, at most 8 (past that the parts get too small
    /// to keep a core busy).
    package static var defaultWorkers: Int { min(max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1), 8) }

    /// - Parameter workers: threads to use (at most one per sequence).
    package init(model: Model, batch: Int, steps: Int, lastStepOnly: Bool = false,
                workers: Int = ParallelGraph.defaultWorkers, computesGradients: Bool = true) {
        let n = max(1, min(workers, batch))
        var starts: [Int] = []
        var parts: [TrainingGraph] = []
        var start = 0
        let packed = PackedKernels(config: model.config, rows: batch / n, computesGradients: computesGradients)
        let gradients = ParameterBuffer(count: computesGradients ? model.layout.totalCount : 0)
        for i in 0..<n {
            let size = batch / n + (i < batch % n ? 1 : 0)
            starts.append(start)
            parts.append(TrainingGraph(model: model, batch: size, steps: steps, lastStepOnly: lastStepOnly,
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
    /// number of workers.
    package func run(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>?, steps: Int, training: Bool,
                    computeGradients: Bool = true, carryState: Bool, rng: inout RandomGenerator) -> BatchResult {
        let seed = rng.next()
        let targetsPerSequence = lastStepOnly ? 1 : steps
        packedKernels?.refresh(from: parts[0].weights)  // the weights may have changed; before the parts read it
        if parts.count == 1 {
            var partRNG = RandomGenerator(seed: seed)
            return parts[0].run(inputs: inputs, targets: targets, steps: steps, training: training,
                                computeGradients: computeGradients, carryState: carryState, rng: &partRNG)
        }
        // Every part divides its loss gradient by the whole batch's predictions, so that the parts'
        // weight gradients simply add up.
        var predictions = 0
        if let targets { for i in 0..<(batch * targetsPerSequence) where targets[i] >= 0 { predictions += 1 } }
        // Inside a Trainer's run this is already so and costs nothing; elsewhere it lasts for this batch.
        BLASThreads.singleThreaded {
            runConcurrently(count: parts.count) { i in
                var partRNG = RandomGenerator(seed: seed ^ (UInt64(self.starts[i]) &* 0x9E37_79B9_7F4A_7C15))
                self.results[i] = self.parts[i].run(
                    inputs: inputs + self.starts[i] * steps, targets: targets.map { $0 + self.starts[i] * targetsPerSequence },
                    steps: steps, training: training, backward: computeGradients ? .predictions(predictions) : nil,
                    carryState: carryState, rng: &partRNG)
            }
            if computeGradients {
                gradients.zero()
                if parts.contains(where: \.hasPendingWeightGradients) {
                    runConcurrently(count: parts.count) { share in
                        for part in self.parts { part.accumulateWeightGradients(share: share, of: self.parts.count) }
                    }
                    for part in parts { part.weightGradientsAdded() }
                }
            }
        }
        var total = BatchResult()
        for i in 0..<parts.count { total += results[i] }
        return total
    }

    package func resetState() { for part in parts { part.resetState() } }
}

/// Runs `body(0..<count)` with index 0 on the calling thread and the others on new threads, and waits.
func runConcurrently(count: Int, _ body: @escaping (Int) -> Void) {
    final class Job {
        let body: (Int) -> Void
        let index: Int
        init(_ body: @escaping (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
    }
    var threads: [pthread_t] = []
    for i in 1..<count {
        let job = Unmanaged.passRetained(Job(body, i)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            job.body(job.index)
            return nil
        }, job)
        if created == 0 {
            threads.append(thread)
        } else {  // no thread to be had: do the work here
            let job = Unmanaged<Job>.fromOpaque(job).takeRetainedValue()
            job.body(job.index)
        }
    }
    body(0)
    for thread in threads { pthread_join(thread, nil) }
}
