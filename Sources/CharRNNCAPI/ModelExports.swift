// Models: load, create, save, free, and what a model can tell about itself.
import CCharRNNHeader
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// The most parameters a model created through the C ABI may have (2 GiB of float32).
let maxParameters = 1 << 29

@_cdecl("charrnn_model_load")
public func capi_model_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<CModel?>?) -> CStatus {
    guarded {
        let path = try string(path, "path")
        guard let out else { throw APIError.invalid("out is NULL") }
        let model = try ModelFile.load(path).model
        out.pointee = box(model)
    }
}

@_cdecl("charrnn_model_create")
public func capi_model_create(
    _ configJSON: UnsafePointer<CChar>?, _ vocab: UnsafePointer<CChar>?, _ vocabLen: Int,
    _ seed: UInt64, _ out: UnsafeMutablePointer<CModel?>?
) -> CStatus {
    guarded {
        let json = try string(configJSON, "config_json")
        guard vocabLen != 0 else { throw APIError.invalid("vocab is empty (vocab_len is 0)") }
        let characters = try text(vocab, vocabLen, "vocab")
        guard let out else { throw APIError.invalid("out is NULL") }
        let vocabulary: Vocabulary
        do { vocabulary = try Vocabulary(characters: characters) } catch CharRNNError.format(let message) {
            throw APIError.invalid("vocab: \(message)")
        }
        let config = try ModelConfig.fromJSON(json, vocabSize: vocabulary.count)
        let count = config.parameterCount
        guard count <= maxParameters else {
            throw APIError.outOfMemory("the model would have \(count) parameters; the limit is \(maxParameters)")
        }
        out.pointee = box(try Model(config: config, vocabulary: vocabulary, seed: seed))
    }
}

@_cdecl("charrnn_model_save")
public func capi_model_save(_ handle: CModel?, _ path: UnsafePointer<CChar>?) -> CStatus {
    guarded {
        let model = try model(handle)
        let path = try string(path, "path")
        guard !path.isEmpty else { throw APIError.invalid("path is empty") }
        try model.save(to: path)
    }
}

@_cdecl("charrnn_model_free")
public func capi_model_free(_ handle: CModel?) {
    releaseModel(handle)
}

@_cdecl("charrnn_model_get_info")
public func capi_model_get_info(_ handle: CModel?, _ info: UnsafeMutablePointer<charrnn_model_info>?) -> CStatus {
    guarded {
        let model = try model(handle)
        guard let info else { throw APIError.invalid("info is NULL") }
        let bytes = try resultSize(info, "info")!
        var result = charrnn_model_info()
        result.vocab_size = UInt32(model.config.vocabSize)
        result.num_layers = UInt32(model.config.layers.count)
        result.hidden_size = UInt32(model.config.layers.last?.units ?? 0)
        result.parameter_count = UInt64(model.parameterCount)
        result.state_size = UInt64(Session.stateSize(for: model))
        writeResult(result, to: info, count: bytes)
    }
}

/// A string the model is described by, copied into the caller's buffer as `fillString` does.
private func modelString(
    _ handle: CModel?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int, _ needed: UnsafeMutablePointer<Int>?,
    what: String, _ string: (Model) -> String
) -> CStatus {
    guarded { try fillString(string(try model(handle)), into: buf, capacity: capacity, needed: needed, what: what) }
}

@_cdecl("charrnn_model_get_vocab")
public func capi_model_get_vocab(
    _ handle: CModel?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
    _ needed: UnsafeMutablePointer<Int>?
) -> CStatus {
    modelString(handle, buf, capacity, needed, what: "the vocabulary") { $0.vocabulary.string }
}

@_cdecl("charrnn_model_get_config")
public func capi_model_get_config(
    _ handle: CModel?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
    _ needed: UnsafeMutablePointer<Int>?
) -> CStatus {
    modelString(handle, buf, capacity, needed, what: "the config") { $0.config.jsonString }
}

@_cdecl("charrnn_model_summary")
public func capi_model_summary(
    _ handle: CModel?, _ buf: UnsafeMutablePointer<CChar>?, _ capacity: Int,
    _ needed: UnsafeMutablePointer<Int>?
) -> CStatus {
    modelString(handle, buf, capacity, needed, what: "the summary") { $0.summary }
}

@_cdecl("charrnn_model_tensor_count")
public func capi_model_tensor_count(_ handle: CModel?, _ count: UnsafeMutablePointer<Int>?) -> CStatus {
    guarded {
        let model = try model(handle)
        guard let count else { throw APIError.invalid("count is NULL") }
        count.pointee = model.layout.tensors.count
    }
}

@_cdecl("charrnn_model_tensor_info")
public func capi_model_tensor_info(
    _ handle: CModel?, _ index: Int, _ name: UnsafeMutablePointer<CChar>?,
    _ nameCapacity: Int, _ nameNeeded: UnsafeMutablePointer<Int>?,
    _ shape: UnsafeMutablePointer<Int64>?, _ rank: UnsafeMutablePointer<Int>?
) -> CStatus {
    guarded {
        let model = try model(handle)
        let tensors = model.layout.tensors
        guard index >= 0, index < tensors.count else {
            throw CharRNNError.notFound(
                "tensor index \(UInt(bitPattern: index)) is out of range: the model has \(tensors.count) tensors")
        }
        let tensor = tensors[index]
        guard name != nil || nameNeeded != nil || shape != nil || rank != nil else {
            throw APIError.invalid("name, name_needed, shape and rank are all NULL: nothing to report")
        }
        if name != nil || nameCapacity != 0 || nameNeeded != nil {
            try fillString(tensor.name, into: name, capacity: nameCapacity, needed: nameNeeded, what: "the tensor name")
        }
        if let shape {
            for (i, d) in tensor.shape.prefix(4).enumerated() { shape[i] = Int64(d) }
        }
        rank?.pointee = min(tensor.shape.count, 4)
    }
}

@_cdecl("charrnn_model_get_weights")
public func capi_model_get_weights(
    _ handle: CModel?, _ layer: UnsafePointer<CChar>?, _ weight: UnsafePointer<CChar>?,
    _ data: UnsafeMutablePointer<Float>?, _ capacity: Int,
    _ needed: UnsafeMutablePointer<Int>?
) -> CStatus {
    guarded {
        let model = try model(handle)
        let layer = try string(layer, "layer"), weight = try string(weight, "weight")
        let (values, shape) = try model.weights(layer: layer, weight: weight)
        try fill(
            values.count, into: data, capacity: capacity, needed: needed, unit: "floats",
            what: "\(layer).\(weight) \(shape)"
        ) { out in
            values.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: values.count) }
        }
    }
}

@_cdecl("charrnn_model_set_weights")
public func capi_model_set_weights(
    _ handle: CModel?, _ layer: UnsafePointer<CChar>?, _ weight: UnsafePointer<CChar>?,
    _ data: UnsafePointer<Float>?, _ count: Int, _ shape: UnsafePointer<Int64>?,
    _ rank: Int
) -> CStatus {
    guarded {
        let model = try model(handle)
        let layer = try string(layer, "layer"), weight = try string(weight, "weight")
        let count = try length(count, "count")
        let rank = try length(rank, "rank")
        guard rank >= 1, rank <= 4 else { throw CharRNNError.shape("rank must be in 1...4, got \(rank)") }
        guard let shape else { throw APIError.invalid("shape is NULL") }
        var dims: [Int] = []
        for i in 0..<rank {
            guard shape[i] >= 0, shape[i] <= Int64(Int32.max) else {
                throw CharRNNError.shape("shape[\(i)] is \(shape[i])")
            }
            dims.append(Int(shape[i]))
        }
        guard count == 0 || data != nil else { throw APIError.invalid("data is NULL but count is \(count)") }
        // The shape is checked (naming both shapes) before the count and the data.
        let expected = try model.weights(layer: layer, weight: weight).shape
        guard dims == expected else {
            throw CharRNNError.shape("\(layer).\(weight) has shape \(expected), got \(dims)")
        }
        guard count == expected.reduce(1, *), let data else {
            throw CharRNNError.shape(
                "\(layer).\(weight) \(expected) needs \(expected.reduce(1, *)) values, got \(count)")
        }
        try model.setWeights(
            layer: layer, weight: weight, values: UnsafeBufferPointer(start: data, count: count), shape: dims)
    }
}

@_cdecl("charrnn_model_evaluate")
public func capi_model_evaluate(
    _ handle: CModel?, _ textPointer: UnsafePointer<CChar>?, _ len: Int, _ flags: UInt32,
    _ result: UnsafeMutablePointer<charrnn_eval_result>?
) -> CStatus {
    capi_model_evaluate_interruptible(handle, textPointer, len, flags, nil, nil, result)
}

@_cdecl("charrnn_model_evaluate_interruptible")
public func capi_model_evaluate_interruptible(
    _ handle: CModel?, _ textPointer: UnsafePointer<CChar>?, _ len: Int,
    _ flags: UInt32, _ interrupt: charrnn_interrupt_callback?,
    _ userData: UnsafeMutableRawPointer?,
    _ result: UnsafeMutablePointer<charrnn_eval_result>?
) -> CStatus {
    guarded {
        let model = try model(handle)
        let skip = try skipFlag(flags)
        let scalars = try text(textPointer, len)
        guard let result else { throw APIError.invalid("result is NULL") }
        let bytes = try resultSize(result, "result")!
        let r = try model.evaluate(
            scalars, skipUnknown: skip, interrupt: interrupt.map { callback in { callback(userData) != 0 } })
        var out = charrnn_eval_result()
        out.loss = r.meanLoss
        out.perplexity = exp(r.meanLoss)
        out.accuracy = r.count > 0 ? Double(r.correct) / Double(r.count) : .nan
        out.chars = UInt64(r.count)
        writeResult(out, to: result, count: bytes)
    }
}

/// The flags of feed and evaluate: only CHARRNN_SKIP_UNKNOWN is defined.
func skipFlag(_ flags: UInt32) throws -> Bool {
    guard flags & ~UInt32(CHARRNN_SKIP_UNKNOWN) == 0 else {
        throw APIError.invalid("unknown flags 0x\(String(flags, radix: 16)) (only CHARRNN_SKIP_UNKNOWN = 1 is defined)")
    }
    return flags & UInt32(CHARRNN_SKIP_UNKNOWN) != 0
}
