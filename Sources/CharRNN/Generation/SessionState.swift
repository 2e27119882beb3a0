/// The session's state as a byte buffer, so that a conversation can be saved and resumed.
///
/// Layout (little-endian): "CRNS", format version (u32), model fingerprint (u64), flags (u32: bit 0 =
/// has input), reserved (u32), generator state (4 × u64), then h (and c for LSTM) of each layer as f32.
extension Session {
    static let stateMagic: [UInt8] = Array("CRNS".utf8)
    static let stateVersion: UInt32 = 1
    static let stateHeaderSize = 4 + 4 + 8 + 4 + 4 + 32

    /// Bytes of a state buffer for `model`.
    public static func stateSize(for model: Model) -> Int {
        stateHeaderSize + 4 * model.recurrentStateCount
    }

    /// The state as bytes.
    public func stateBytes() -> [UInt8] {
        var out = ByteWriter(capacity: Session.stateSize(for: model))
        out.append(Session.stateMagic)
        out.append(Session.stateVersion)
        out.append(model.fingerprint)
        out.append(UInt32(hasInput ? 1 : 0))
        out.append(UInt32(0))
        for word in rng.words { out.append(word) }
        for (l, layer) in model.config.layers.enumerated() {
            out.append(floats: h[l], count: layer.units)
            if let cl = c[l] { out.append(floats: cl, count: layer.units) }
        }
        return out.bytes
    }

    /// Restores a state from `stateBytes()`; the session is unchanged when the buffer is refused.
    /// - Throws: `CharRNNError.format` for a buffer of the wrong size, from another model, or corrupt.
    public func setState(_ bytes: UnsafeRawBufferPointer) throws {
        guard window == 0 else {
            throw CharRNNError.state(
                "a session with a window of \(window) computes its state from its last \(window) characters: feed them instead of setting a state (or set the window to 0)"
            )
        }
        let expected = Session.stateSize(for: model)
        guard bytes.count == expected else {
            throw CharRNNError.format("a state buffer for this model has \(expected) bytes, got \(bytes.count)")
        }
        var r = ByteReader(bytes)
        guard try r.bytes(4) == Session.stateMagic else {
            throw CharRNNError.format("not a charrnn session state (bad magic)")
        }
        let version: UInt32 = try r.read()
        guard version == Session.stateVersion else {
            throw CharRNNError.format(
                "session state version \(version) is not supported (expected \(Session.stateVersion))")
        }
        let fingerprint: UInt64 = try r.read()
        guard fingerprint == model.fingerprint else {
            throw CharRNNError.format("this session state belongs to a different model")
        }
        let flags: UInt32 = try r.read()
        _ = try r.read() as UInt32
        let words = try (0..<4).map { _ in try r.read() as UInt64 }
        // Validate every value before touching the session.
        var values = [Float](repeating: 0, count: model.recurrentStateCount)
        for i in 0..<values.count {
            let v = Float(bitPattern: try r.read() as UInt32)
            guard v.isFinite else { throw CharRNNError.format("session state holds a non-finite value") }
            values[i] = v
        }
        ahead?.invalidate()  // before h changes: a worker may be reading it
        var offset = 0
        for (l, layer) in model.config.layers.enumerated() {
            for j in 0..<layer.units { h[l][j] = values[offset + j] }
            offset += layer.units
            if let cl = c[l] {
                for j in 0..<layer.units { cl[j] = values[offset + j] }
                offset += layer.units
            }
        }
        rng = RandomGenerator(state: words)
        hasInput = flags & 1 != 0
        probabilitiesValid = false
    }

    /// Takes up where `other` is in its text: its recurrent state, its window's characters, and whether it
    /// has had input — the bits that feeding this session the same characters would give, without running
    /// them (many streams that share a prime feed it once). The generator stays this session's own.
    /// - Throws: `CharRNNError.invalidArgument` when `other` runs another model (or other weights of it),
    ///   another precision or another window; this session is then unchanged.
    public func copyState(from other: Session) throws {
        guard other !== self else { return }
        guard other.model === model, other.stepWeights === stepWeights else {
            throw CharRNNError.invalidArgument(
                "a session's state can only be copied from a session of the same model and weights")
        }
        guard other.precision == precision, other.window == window else {
            throw CharRNNError.invalidArgument(
                "a session's state can only be copied from a session of the same precision and window (\(precision), \(window)); the other has \(other.precision), \(other.window)"
            )
        }
        ahead?.invalidate()  // before h changes: a worker may be reading it
        for (l, layer) in model.config.layers.enumerated() {
            h[l].update(from: other.h[l], count: layer.units)
            if let cl = c[l], let from = other.c[l] { cl.update(from: from, count: layer.units) }
        }
        history = other.history
        hasInput = other.hasInput
        probabilitiesValid = false
    }
}
