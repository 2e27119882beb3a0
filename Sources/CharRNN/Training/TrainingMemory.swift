/// What a training run will allocate, estimated before anything is: a model too large for memory must be
/// refused with a message, not abort the process in malloc. Every trainer checks this estimate against
/// what the machine and the process's limits allow (`MemoryBudget`, in `Trainer.init`); the C API also
/// holds it to its documented fixed limit.
package enum TrainingMemory {
    /// The C API's limit on a run's estimate, in bytes (8 GiB).
    package static let limitBytes = 1 << 33

    /// A rough bound on training's memory, in bytes: activations, weights, gradients, optimizer moments
    /// and the recurrent kernels' packed copies.
    package static func estimatedBytes(_ config: ModelConfig, _ options: TrainingOptions) -> Double {
        // Per character: the dense input and its gradient (embedding), logits, and per layer the gates, h, c,
        // the outputs' gradients and dropout's two buffers.
        let perStep = config.layers.reduce(Double(2 * config.inputWidth + 2 * config.vocabSize)) {
            $0 + Double($1.cell.gateCount + 4) * Double($1.units)
        }
        let activations = Double(options.batchSize) * Double(options.seqLength) * perStep * 4 * 2
        // Weights, at most two optimizer moments, and the gradients (one buffer, shared by the worker threads).
        let buffers = 4.0
        let parameters = Double(config.parameterCount) * 4 * buffers
        return activations + parameters + PackedKernels.trainingBytes(config)
    }
}
