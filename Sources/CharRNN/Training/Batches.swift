/// The order in which training sees the text.
public enum Objective: String, Codable, Sendable, CaseIterable {
    /// Every step predicts the next character; the text is cut into B contiguous streams read T characters
    /// at a time, with the state carried from one batch to the next (char-rnn, the TensorFlow tutorial).
    case sequence
    /// A window of T characters predicts the one after it; windows start every `step` characters and are
    /// shuffled each epoch (the Keras tutorials).
    case window
}

/// Cuts a text into batches for one objective.
struct Batches {
    let data: [Int32]
    let objective: Objective
    let batch: Int
    let steps: Int
    /// Sequence objective: characters per stream.
    let streamLength: Int
    /// Window objective: the start of every window, in this epoch's order.
    private(set) var windowStarts: [Int]
    let windowStep: Int

    init(data: [Int32], objective: Objective, batch: Int, steps: Int, windowStep: Int) throws {
        self.data = data
        self.objective = objective
        self.batch = batch
        self.steps = steps
        self.windowStep = windowStep
        switch objective {
        case .sequence:
            streamLength = (data.count - 1) / batch
            windowStarts = []
        case .window:
            streamLength = 0
            windowStarts = data.count > steps ? Array(stride(from: 0, to: data.count - steps, by: windowStep)) : []
        }
        if objective == .window && windowStarts.count < batch {
            // With step 1 there are data.count − steps windows: only when that is enough does the step matter.
            guard data.count - steps >= batch else {
                throw CharRNNError.invalidArgument(
                    "the training text (\(data.count) characters) is shorter than one batch: \(batch) windows of \(steps) characters need at least \(batch + steps) characters"
                )
            }
            let windows = windowStarts.count == 1 ? "1 window" : "\(windowStarts.count) windows"
            throw CharRNNError.invalidArgument(
                "the window step \(windowStep) leaves \(windows) of \(steps) characters in the training text (\(data.count) characters), fewer than the \(batch) one batch needs (reduce the step or the batch size)"
            )
        }
        guard batchesPerEpoch >= 1 else {
            throw CharRNNError.invalidArgument(
                "the training text (\(data.count) characters) is shorter than one batch: batch size \(batch) × sequence length \(steps) needs at least \(batch * steps + 1) characters"
            )
        }
    }

    var batchesPerEpoch: Int {
        switch objective {
        case .sequence: return streamLength / steps
        case .window: return windowStarts.count / batch
        }
    }

    /// Orders the windows for a new epoch: a permutation of the text order drawn from `rng` alone, so that
    /// a resumed run can replay it (the sequence objective keeps its order).
    mutating func shuffle(using rng: inout RandomGenerator) {
        guard objective == .window else { return }
        for i in windowStarts.indices { windowStarts[i] = i * windowStep }
        for i in stride(from: windowStarts.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            windowStarts.swapAt(i, j)
        }
    }

    /// Writes batch `k` of the epoch: inputs (B, T), targets (B, T) or, for windows, (B).
    func fill(_ k: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        let B = batch, T = steps
        for b in 0..<B {
            switch objective {
            case .sequence:
                let start = b * streamLength + k * T
                for t in 0..<T {
                    inputs[b * T + t] = data[start + t]
                    targets[b * T + t] = data[start + t + 1]
                }
            case .window:
                let start = windowStarts[k * B + b]
                for t in 0..<T { inputs[b * T + t] = data[start + t] }
                targets[b] = data[start + T]
            }
        }
    }
}
