// charrnn_model_trace and charrnn_model_get_layer_info: the distributions and states along a text.
import CCharRNNHeader
import CharRNN

extension charrnn_layer_info: SizedStruct {
    static let cName = "charrnn_layer_info"
    /// Its size in the version that introduced it (four 4-byte fields); fixed forever.
    static let firstSize = 16
    static let howToFill = "set it with CHARRNN_INIT_SIZE() before the call"
}

extension charrnn_trace_info: SizedStruct {
    static let cName = "charrnn_trace_info"
    /// Its size in the version that introduced it, up to `accuracy`; fixed forever.
    static let firstSize = 64
    static let howToFill = "set it with CHARRNN_INIT_SIZE() before the call"
}

@_cdecl("charrnn_model_get_layer_info")
public func capi_model_get_layer_info(
    _ handle: CModel?, _ layer: Int,
    _ info: UnsafeMutablePointer<charrnn_layer_info>?
) -> CStatus {
    guarded {
        let model = try model(handle)
        guard let info, let bytes = try resultSize(info, "info") else { throw APIError.invalid("info is NULL") }
        let layers = model.config.layers
        // A size_t above Int.max arrives negative: no such layer either.
        guard layer >= 0, layer < layers.count else {
            throw CharRNNError.notFound(
                "layer \(UInt(bitPattern: layer)): the model has \(layers.count) recurrent layers (0...\(layers.count - 1))"
            )
        }
        var result = charrnn_layer_info()
        switch layers[layer].cell {
        case .lstm: result.cell = CHARRNN_CELL_LSTM
        case .gru: result.cell = CHARRNN_CELL_GRU
        case .rnn: result.cell = CHARRNN_CELL_RNN
        }
        result.units = UInt32(layers[layer].units)
        result.state_offset = UInt32(model.traceStateOffset(layer: layer))
        writeResult(result, to: info, count: bytes)
    }
}

@_cdecl("charrnn_model_trace")
public func capi_model_trace(
    _ handle: CModel?, _ textPointer: UnsafePointer<CChar>?, _ len: Int, _ flags: UInt32,
    _ interrupt: charrnn_interrupt_callback?, _ userData: UnsafeMutableRawPointer?,
    _ probs: UnsafeMutablePointer<Float>?, _ probsCapacity: Int,
    _ states: UnsafeMutablePointer<Float>?, _ statesCapacity: Int,
    _ info: UnsafeMutablePointer<charrnn_trace_info>?
) -> CStatus {
    guarded {
        let model = try model(handle)
        let skip = try skipFlag(flags)
        guard let info, let bytes = try resultSize(info, "info") else { throw APIError.invalid("info is NULL") }
        let probsCapacity = try length(probsCapacity, "probs_capacity")
        let statesCapacity = try length(statesCapacity, "states_capacity")
        guard probs != nil || probsCapacity == 0 else {
            throw APIError.invalid("probs is NULL but probs_capacity is \(probsCapacity)")
        }
        guard states != nil || statesCapacity == 0 else {
            throw APIError.invalid("states is NULL but states_capacity is \(statesCapacity)")
        }
        let encoded = try model.vocabulary.encode(try text(textPointer, len), skipUnknown: skip)
        let indices = encoded.indices
        let n = indices.count
        guard n >= 1 else { throw APIError.invalid("a trace needs at least 1 known character, got 0") }
        // At most 2^31 characters: n * V < 2^52 and n * width < 2^53, no overflow.
        let V = model.config.vocabSize, width = model.traceStateWidth
        var sizes = charrnn_trace_info()
        sizes.vocab_size = UInt32(V)
        sizes.chars = UInt64(n)
        sizes.skipped = UInt64(encoded.skippedCount)
        sizes.probs_needed = UInt64(n * V)
        sizes.states_needed = UInt64(n * width)
        sizes.num_layers = UInt32(model.config.layers.count)
        sizes.state_width = UInt32(width)
        sizes.loss = .nan
        sizes.accuracy = .nan
        if probs == nil && states == nil {  // a size query
            writeResult(sizes, to: info, count: bytes)
            return
        }
        for (buffer, capacity, needed, name) in [
            (probs != nil, probsCapacity, n * V, "probs"),
            (states != nil, statesCapacity, n * width, "states")
        ]
        where buffer && capacity < needed {
            writeResult(sizes, to: info, count: bytes)
            throw APIError.tooSmall("\(name) needs \(needed) floats for \(n) characters, the buffer holds \(capacity)")
        }
        let layers = model.config.layers
        let offsets = layers.indices.map { model.traceStateOffset(layer: $0) }
        let stop = interrupt.map { callback in { callback(userData) != 0 } }
        let result = try model.trace(indices: indices, interrupt: stop) { chunk in
            if let probs {
                (probs + chunk.start * V).update(from: chunk.probabilities, count: chunk.count * V)
            }
            guard let states else { return }
            for (l, layer) in layers.enumerated() {
                let U = layer.units
                (states + n * offsets[l] + chunk.start * U).update(from: chunk.hidden[l], count: chunk.count * U)
                if let cells = chunk.cells[l] {
                    (states + n * (offsets[l] + U) + chunk.start * U).update(from: cells, count: chunk.count * U)
                }
            }
        }
        if result.count > 0 {
            sizes.loss = result.meanLoss
            sizes.accuracy = Double(result.correct) / Double(result.count)
        }
        writeResult(sizes, to: info, count: bytes)
    }
}
