// Sessions: feeding, distributions, sampling, generation and saved states.
import CCharRNNHeader
import CharRNN

/// The most characters one generate call may ask for.
let maxGenerate = 1 << 32

/// The default sampling parameters, struct_size aside.
func defaultSampleParams() -> charrnn_sample_params {
    var p = charrnn_sample_params()
    p.temperature = 1
    p.top_k = 0
    p.top_p = 1
    p.greedy = 0
    p.seed = UInt64.max  // CHARRNN_SEED_CONTINUE
    return p
}

@_cdecl("charrnn_sample_params_init")
public func capi_sample_params_init(_ params: UnsafeMutablePointer<charrnn_sample_params>?, _ structSize: Int)
    -> CStatus
{
    guarded { try initParameters(params, size: structSize, defaults: defaultSampleParams()) }
}

/// Validated sampling parameters from C (NULL = defaults) and the seed to apply, if any. `name` is the
/// argument's name in messages ("params", "params[3]").
func samplingParameters(_ params: UnsafePointer<charrnn_sample_params>?, name: String = "params") throws -> (
    SamplingParameters, UInt64?
) {
    let p = try readParameters(params, defaults: defaultSampleParams(), name)
    let parameters = SamplingParameters(
        temperature: p.temperature, topK: Int(p.top_k), topP: p.top_p, greedy: p.greedy != 0)
    do {
        try parameters.validate()
    } catch CharRNNError.invalidArgument(let message) where name != "params" {
        throw CharRNNError.invalidArgument("\(name): \(message)")
    }
    return (parameters, p.seed == UInt64.max ? nil : p.seed)
}

@_cdecl("charrnn_session_new")
public func capi_session_new(_ handle: CModel?, _ out: UnsafeMutablePointer<CSession?>?) -> CStatus {
    capi_session_new_with_precision(handle, CHARRNN_PRECISION_FLOAT32, out)
}

@_cdecl("charrnn_session_new_with_precision")
public func capi_session_new_with_precision(
    _ handle: CModel?, _ precision: charrnn_precision,
    _ out: UnsafeMutablePointer<CSession?>?
) -> CStatus {
    guarded {
        let model = try model(handle)
        guard let out else { throw APIError.invalid("out is NULL") }
        let weights: WeightPrecision
        switch precision {
        case CHARRNN_PRECISION_FLOAT32: weights = .float32
        case CHARRNN_PRECISION_INT8: weights = .int8
        default:
            throw APIError.invalid("precision \(precision.rawValue) is not a charrnn_precision (0 float32, 1 int8)")
        }
        out.pointee = box(try Session.checked(model: model, seed: 0, precision: weights))
    }
}

@_cdecl("charrnn_session_free")
public func capi_session_free(_ handle: CSession?) {
    releaseSession(handle)
}

@_cdecl("charrnn_session_reset")
public func capi_session_reset(_ handle: CSession?) -> CStatus {
    guarded { try session(handle).reset() }
}

@_cdecl("charrnn_session_seed")
public func capi_session_seed(_ handle: CSession?, _ seed: UInt64) -> CStatus {
    guarded { try session(handle).rng = RandomGenerator(seed: seed) }
}

@_cdecl("charrnn_session_set_window")
public func capi_session_set_window(_ handle: CSession?, _ window: UInt32) -> CStatus {
    guarded { try session(handle).setWindow(Int(window)) }
}

@_cdecl("charrnn_session_get_window")
public func capi_session_get_window(_ handle: CSession?, _ window: UnsafeMutablePointer<UInt32>?) -> CStatus {
    guarded {
        let value = try session(handle).window
        guard let window else { throw APIError.invalid("window is NULL") }
        window.pointee = UInt32(value)
    }
}

@_cdecl("charrnn_session_feed")
public func capi_session_feed(
    _ handle: CSession?, _ textPointer: UnsafePointer<CChar>?, _ len: Int, _ flags: UInt32,
    _ fed: UnsafeMutablePointer<Int>?, _ skipped: UnsafeMutablePointer<Int>?
) -> CStatus {
    capi_session_feed_interruptible(handle, textPointer, len, flags, nil, nil, fed, skipped)
}

@_cdecl("charrnn_session_feed_interruptible")
public func capi_session_feed_interruptible(
    _ handle: CSession?, _ textPointer: UnsafePointer<CChar>?, _ len: Int,
    _ flags: UInt32, _ interrupt: charrnn_interrupt_callback?,
    _ userData: UnsafeMutableRawPointer?, _ fed: UnsafeMutablePointer<Int>?,
    _ skipped: UnsafeMutablePointer<Int>?
) -> CStatus {
    guarded {
        let session = try session(handle)
        let skip = try skipFlag(flags)
        let scalars = try text(textPointer, len)
        let result = try session.feed(
            scalars, skipUnknown: skip, interrupt: interrupt.map { callback in { callback(userData) != 0 } })
        fed?.pointee = result.fed
        skipped?.pointee = result.skippedCount
    }
}

@_cdecl("charrnn_session_probabilities")
public func capi_session_probabilities(
    _ handle: CSession?, _ probs: UnsafeMutablePointer<Float>?, _ capacity: Int,
    _ needed: UnsafeMutablePointer<Int>?
) -> CStatus {
    guarded {
        let session = try session(handle)
        guard session.hasInput else {
            throw CharRNNError.state(
                "no character has been fed since the session was created or reset: feed at least one character first")
        }
        var failure: Error?
        try fill(
            session.model.config.vocabSize, into: probs, capacity: capacity, needed: needed, unit: "floats",
            what: "the distribution"
        ) { out in
            do { try session.probabilities(into: out) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

@_cdecl("charrnn_session_sample")
public func capi_session_sample(
    _ handle: CSession?, _ params: UnsafePointer<charrnn_sample_params>?,
    _ codepoint: UnsafeMutablePointer<UInt32>?, _ probability: UnsafeMutablePointer<Float>?
) -> CStatus {
    guarded {
        let session = try session(handle)
        let (parameters, seed) = try samplingParameters(params)
        guard session.hasInput else {
            throw CharRNNError.state(
                "no character has been fed since the session was created or reset: feed at least one character first")
        }
        if let seed { session.rng = RandomGenerator(seed: seed) }
        let next = try session.sample(parameters)
        codepoint?.pointee = next.character.value
        probability?.pointee = next.probability
    }
}

/// The most sessions one charrnn_session_sample_many call may step.
let maxSessionsTogether = 1 << 20

@_cdecl("charrnn_session_sample_many")
public func capi_session_sample_many(
    _ handles: UnsafePointer<CSession?>?, _ count: Int, _ params: UnsafePointer<UnsafePointer<charrnn_sample_params>?>?,
    _ codepoints: UnsafeMutablePointer<UInt32>?, _ probabilities: UnsafeMutablePointer<Float>?
) -> CStatus {
    guarded {
        let count = try length(count, "count")
        guard count > 0, count <= maxSessionsTogether else {
            throw APIError.invalid("count is \(count); give 1 to \(maxSessionsTogether) sessions")
        }
        guard let handles else { throw APIError.invalid("sessions is NULL") }
        let sessions = try (0..<count).map { i in
            guard handles[i] != nil else { throw APIError.invalid("sessions[\(i)] is NULL") }
            return try session(handles[i])
        }
        var parameters: [SamplingParameters] = [], seeds: [UInt64?] = []
        for i in 0..<count {
            let (p, seed) = try samplingParameters(params?[i], name: "params[\(i)]")
            parameters.append(p)
            seeds.append(seed)
        }
        let drawn = try Session.sampleMany(sessions, parameters, seeds: seeds)
        for (i, next) in drawn.enumerated() {
            codepoints?[i] = next.character.value
            probabilities?[i] = next.probability
        }
    }
}

@_cdecl("charrnn_session_generate")
public func capi_session_generate(
    _ handle: CSession?, _ n: Int, _ params: UnsafePointer<charrnn_sample_params>?,
    _ callback: charrnn_token_callback?, _ userData: UnsafeMutableRawPointer?,
    _ generated: UnsafeMutablePointer<Int>?
) -> CStatus {
    guarded {
        let session = try session(handle)
        let n = try length(n, "n")
        guard n <= maxGenerate else {
            throw APIError.invalid("n is \(n); one call generates at most \(maxGenerate) characters")
        }
        let (parameters, seed) = try samplingParameters(params)
        guard n > 0 else { generated?.pointee = 0; return }
        guard session.hasInput else {
            throw CharRNNError.state(
                "no character has been fed since the session was created or reset: feed at least one character first")
        }
        if let seed { session.rng = RandomGenerator(seed: seed) }
        var count = 0
        var utf8: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        while count < n {
            let next = try session.sample(parameters)
            count += 1
            guard let callback else { continue }
            var width = 0
            withUnsafeMutableBytes(of: &utf8) { bytes in
                UTF8.encode(next.character) { byte in
                    bytes[width] = byte; width += 1
                }
            }
            let stop = withUnsafeBytes(of: &utf8) { bytes in
                callback(
                    next.character.value, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), width,
                    next.probability, userData)
            }
            if stop != 0 { break }
        }
        generated?.pointee = count
    }
}

@_cdecl("charrnn_session_get_state")
public func capi_session_get_state(
    _ handle: CSession?, _ buf: UnsafeMutableRawPointer?, _ capacity: Int,
    _ needed: UnsafeMutablePointer<Int>?
) -> CStatus {
    guarded {
        let session = try session(handle)
        let size = Session.stateSize(for: session.model)
        try fill(
            size, into: buf?.assumingMemoryBound(to: UInt8.self), capacity: capacity, needed: needed,
            unit: "bytes", what: "the session state"
        ) { out in
            let bytes = session.stateBytes()
            bytes.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: min(bytes.count, size)) }
        }
    }
}

@_cdecl("charrnn_session_set_state")
public func capi_session_set_state(_ handle: CSession?, _ buf: UnsafeRawPointer?, _ len: Int) -> CStatus {
    guarded {
        let session = try session(handle)
        let len = try length(len, "len")
        guard len == 0 || buf != nil else { throw APIError.invalid("buf is NULL but len is \(len)") }
        try session.setState(UnsafeRawBufferPointer(start: len == 0 ? nil : buf, count: len))
    }
}
