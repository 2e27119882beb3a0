/// What a model computes along a text, character by character: the distribution it predicts the next
/// character from, and every layer's hidden (and, for LSTM, cell) state after reading each character.
/// The numbers behind `charrnn explain`'s page and `charrnn_model_trace`.
public struct Trace: Sendable {
    /// One recurrent layer's states along the text.
    public struct Layer: Sendable {
        /// The layer's cell.
        public let cell: CellKind
        /// Its units, U.
        public let units: Int
        /// (n, U) row-major: row t is h after reading character t.
        public let hidden: [Float]
        /// (n, U) row-major: row t is the LSTM cell state c after reading character t; nil for GRU and
        /// SimpleRNN layers.
        public let cellState: [Float]?
    }

    /// The characters traced: the text's, less those skipped as unknown.
    public let characters: [Unicode.Scalar]
    /// Their vocabulary indices.
    public let indices: [Int32]
    /// Characters of the text left out because the vocabulary lacks them (with `skipUnknown`).
    public let skippedCount: Int
    /// V, the width of a distribution.
    public let vocabularySize: Int
    /// (n, V) row-major: row t is the distribution over the character after characters[0...t].
    public let probabilities: [Float]
    /// Per recurrent layer, bottom first.
    public let layers: [Layer]
    /// Loss and accuracy of the n − 1 predictions the text allows.
    public let result: BatchResult

    /// The probability the model gave character `t` before reading it (row t − 1 at its index); nil for
    /// the first character, which nothing predicted.
    public func probabilityOfCharacter(at t: Int) -> Float? {
        guard t >= 1, t < indices.count else { return nil }
        return probabilities[(t - 1) * vocabularySize + Int(indices[t])]
    }
}

/// One chunk of a trace as it is computed: characters `start ..< start + count`. The pointers are valid
/// only during the call that receives the chunk.
package struct TraceChunk {
    package let start: Int
    package let count: Int
    /// (count, V): the distribution after each character of the chunk.
    package let probabilities: UnsafePointer<Float>
    /// Per layer (count, U): h after each character.
    package let hidden: [UnsafePointer<Float>]
    /// Per layer (count, U): c after each character, for LSTM layers; nil for the others.
    package let cells: [UnsafePointer<Float>?]
}

extension Model {
    /// Floats of state per character in a trace: every layer's units, twice for LSTM layers (h and c).
    package var traceStateWidth: Int { recurrentStateCount }

    /// Where layer `l`'s states start in one character's state (in floats): the layers below it, h then
    /// (for LSTM) c of each, the order of a session's state buffer.
    package func traceStateOffset(layer l: Int) -> Int {
        config.layers.prefix(l).reduce(0) { $0 + $1.units * ($1.cell == .lstm ? 2 : 1) }
    }

    /// Bytes a trace's pass allocates besides its results: one chunk's activations and distributions.
    private var traceWorkingBytes: Double {
        let perStep = config.layers.reduce(Double(config.inputWidth + config.vocabSize)) {
            $0 + Double($1.cell.gateCount + 4) * Double($1.units)
        }
        return Double(Model.evaluationChunk + 1) * perStep * 4
    }

    /// Runs the model over `indices` (each in the vocabulary) from a fresh state and hands `body` each
    /// chunk of distributions and states as it is computed, so that a caller keeps only what it needs.
    /// - Parameter interrupt: asked before each chunk of 256 characters; returning true stops the pass
    ///   with `CharRNNError.cancelled`.
    /// - Returns: loss and accuracy of the count − 1 predictions.
    /// - Throws: `CharRNNError.outOfMemory` when the pass's buffers would not fit,
    ///   `CharRNNError.notFinite` when a distribution overflows, what `body` throws.
    package func trace(
        indices: [Int32], interrupt: (() -> Bool)? = nil,
        body: (TraceChunk) throws -> Void
    ) throws -> BatchResult {
        try MemoryBudget.ensure(traceWorkingBytes, for: "tracing a text")
        let V = config.vocabSize
        let result = try sequentialPass(indices, probabilities: nil, interrupt: interrupt) { start, steps, graph in
            let probabilities = UnsafePointer(graph.logits)  // softmaxed in place by the pass
            for i in 0..<(steps * V) where !probabilities[i].isFinite {
                throw CharRNNError.notFinite(
                    "the model's numbers overflow float32 on this text (its weights or state are too large): "
                        + "no distribution after character \(start + i / V)")
            }
            // Batch 1: row t of a layer's outputs is step t; c[0] is the state the chunk started from.
            let hidden = graph.layers.map { UnsafePointer($0.outputs) }
            let cells = graph.layers.map { s in s.c.map { UnsafePointer($0 + s.units) } }
            try body(TraceChunk(start: start, count: steps, probabilities: probabilities, hidden: hidden, cells: cells))
        }
        return result
    }

    /// The trace of `text` from a fresh state: every distribution and every layer's states.
    /// - Parameters:
    ///   - skipUnknown: leave out characters outside the vocabulary instead of refusing the text.
    ///   - interrupt: asked every 256 characters; returning true stops with `CharRNNError.cancelled`.
    /// - Throws: `CharRNNError.unknownCharacter` (without `skipUnknown`), `CharRNNError.invalidArgument`
    ///   when no character is left, `CharRNNError.outOfMemory` when the results (n × (V + state width)
    ///   floats) would not fit, `CharRNNError.notFinite` when the model's numbers overflow on this text.
    public func trace(
        _ text: [Unicode.Scalar], skipUnknown: Bool = false,
        interrupt: (() -> Bool)? = nil
    ) throws -> Trace {
        let encoded = try vocabulary.encode(text, skipUnknown: skipUnknown)
        let indices = encoded.indices
        let n = indices.count
        guard n >= 1 else { throw CharRNNError.invalidArgument("a trace needs at least 1 known character, got 0") }
        let V = config.vocabSize
        try MemoryBudget.ensure(
            Double(n) * Double(V + traceStateWidth) * 4 + Double(n) * 4,
            for: "the trace of \(n) characters")
        var probabilities = [Float](repeating: 0, count: n * V)
        var hidden = config.layers.map { [Float](repeating: 0, count: n * $0.units) }
        var cells: [[Float]?] = config.layers.map {
            $0.cell == .lstm ? [Float](repeating: 0, count: n * $0.units) : nil
        }
        /// Copies a chunk's rows (`width` floats each) to their place in `array`.
        func place(_ rows: UnsafePointer<Float>, _ chunk: TraceChunk, width: Int, into array: inout [Float]) {
            array.withUnsafeMutableBufferPointer { out in
                (out.baseAddress.map { $0 + chunk.start * width })?.update(from: rows, count: chunk.count * width)
            }
        }
        let result = try trace(indices: indices, interrupt: interrupt) { chunk in
            place(chunk.probabilities, chunk, width: V, into: &probabilities)
            for (l, layer) in config.layers.enumerated() {
                place(chunk.hidden[l], chunk, width: layer.units, into: &hidden[l])
                if let source = chunk.cells[l], var states = cells[l] {
                    cells[l] = nil  // one owner while it is written: no copy
                    place(source, chunk, width: layer.units, into: &states)
                    cells[l] = states
                }
            }
        }
        let layers = config.layers.enumerated().map { l, layer in
            Trace.Layer(cell: layer.cell, units: layer.units, hidden: hidden[l], cellState: cells[l])
        }
        return Trace(
            characters: indices.map { vocabulary.characters[Int($0)] }, indices: indices,
            skippedCount: encoded.skippedCount, vocabularySize: V, probabilities: probabilities,
            layers: layers, result: result)
    }
}
