/// Every failure the core reports. Each case carries a message meant for a person; the C ABI maps
/// the cases one-to-one onto `charrnn_status`.
public enum CharRNNError: Error, Equatable, CustomStringConvertible {
    /// A value out of range or an empty input where one is required.
    case invalidArgument(String)
    /// A file could not be opened, read, written or renamed.
    case io(String)
    /// A model, checkpoint or state buffer is corrupt or unsupported.
    case format(String)
    /// Text is not valid UTF-8; `offset` is the byte offset of the first bad byte.
    case invalidUTF8(offset: Int, String)
    /// Text holds characters outside the vocabulary.
    case unknownCharacter(String)
    /// A tensor's shape or size disagrees with the model.
    case shape(String)
    /// No such layer or tensor.
    case notFound(String)
    /// The call is not valid in the object's current state.
    case state(String)
    /// A callback asked to stop.
    case cancelled(String)
    /// Training produced a NaN or exploding loss.
    case diverged(String)
    /// A model or training configuration is invalid.
    case config(String)
    /// The work would need more memory than the machine or the process's limits allow: refused before
    /// allocating, since a failed allocation would abort the host process.
    case outOfMemory(String)
    /// The model's numbers are not finite: weights or a state so large that float32 overflows, so
    /// there is no distribution to report or sample from.
    case notFinite(String)

    /// The message, as the C ABI's `charrnn_last_error()` reports it.
    public var description: String {
        switch self {
        case .invalidArgument(let m), .io(let m), .format(let m), .invalidUTF8(_, let m),
            .unknownCharacter(let m), .shape(let m), .notFound(let m), .state(let m),
            .cancelled(let m), .diverged(let m), .config(let m), .outOfMemory(let m), .notFinite(let m):
            return m
        }
    }
}
