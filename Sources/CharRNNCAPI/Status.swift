// Status codes, the thread-local last error, and the wrapper every fallible export runs its body in.
import CCharRNNHeader
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// The integer a `charrnn_status` travels as (the C enum's underlying type).
public typealias CStatus = charrnn_status.RawValue

/// Failures the core does not model (they exist only at the C boundary).
struct APIError: Error {
    let status: charrnn_status
    let message: String

    static func invalid(_ message: String) -> APIError {
        APIError(status: CHARRNN_ERR_INVALID_ARGUMENT, message: message)
    }
    static func tooSmall(_ message: String) -> APIError {
        APIError(status: CHARRNN_ERR_BUFFER_TOO_SMALL, message: message)
    }
    static func outOfMemory(_ message: String) -> APIError {
        APIError(status: CHARRNN_ERR_OUT_OF_MEMORY, message: message)
    }
    static func config(_ message: String) -> APIError { APIError(status: CHARRNN_ERR_CONFIG, message: message) }
}

/// The status a core error maps to (one-to-one).
func status(of error: CharRNNError) -> charrnn_status {
    switch error {
    case .invalidArgument: return CHARRNN_ERR_INVALID_ARGUMENT
    case .io: return CHARRNN_ERR_IO
    case .format: return CHARRNN_ERR_FORMAT
    case .invalidUTF8: return CHARRNN_ERR_UTF8
    case .unknownCharacter: return CHARRNN_ERR_UNKNOWN_CHARACTER
    case .shape: return CHARRNN_ERR_SHAPE
    case .notFound: return CHARRNN_ERR_NOT_FOUND
    case .state: return CHARRNN_ERR_STATE
    case .cancelled: return CHARRNN_ERR_CANCELLED
    case .diverged: return CHARRNN_ERR_DIVERGED
    case .config: return CHARRNN_ERR_CONFIG
    case .outOfMemory: return CHARRNN_ERR_OUT_OF_MEMORY
    case .notFinite: return CHARRNN_ERR_NOT_FINITE
    }
}

// MARK: - thread-local last error

/// One malloc'd C string per thread (NULL = no error), freed by the key's destructor at thread exit.
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

private let emptyString: StaticString = ""

func setLastError(_ message: String) {
    let old = pthread_getspecific(errorKey)
    // strdup stops at an interior NUL, which only shortens the message.
    pthread_setspecific(errorKey, strdup(message))
    free(old)
}

func clearLastError() {
    if let old = pthread_getspecific(errorKey) {
        pthread_setspecific(errorKey, nil)
        free(old)
    }
}

/// A pointer to NUL-terminated static storage.
func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

/// Runs the body of a fallible export: success clears the last error, every failure sets it and
/// becomes a status. Nothing thrown escapes to C.
@inline(__always)
func guarded(_ body: () throws -> Void) -> CStatus {
    do {
        try body()
        clearLastError()
        return CHARRNN_OK.rawValue
    } catch let error as CharRNNError {
        setLastError(error.description)
        return status(of: error).rawValue
    } catch let error as APIError {
        setLastError(error.message)
        return error.status.rawValue
    } catch {
        setLastError("internal error: \(error)")
        return CHARRNN_ERR_INTERNAL.rawValue
    }
}

// MARK: - exports

@_cdecl("charrnn_last_error")
public func capi_last_error() -> UnsafePointer<CChar>? {
    if let message = pthread_getspecific(errorKey) {
        return UnsafePointer(message.assumingMemoryBound(to: CChar.self))
    }
    return cString(emptyString)
}

@_cdecl("charrnn_status_name")
public func capi_status_name(_ status: CStatus) -> UnsafePointer<CChar>? {
    switch status {
    case CHARRNN_OK.rawValue: return cString("OK")
    case CHARRNN_ERR_INVALID_ARGUMENT.rawValue: return cString("INVALID_ARGUMENT")
    case CHARRNN_ERR_IO.rawValue: return cString("IO")
    case CHARRNN_ERR_FORMAT.rawValue: return cString("FORMAT")
    case CHARRNN_ERR_UTF8.rawValue: return cString("UTF8")
    case CHARRNN_ERR_UNKNOWN_CHARACTER.rawValue: return cString("UNKNOWN_CHARACTER")
    case CHARRNN_ERR_BUFFER_TOO_SMALL.rawValue: return cString("BUFFER_TOO_SMALL")
    case CHARRNN_ERR_SHAPE.rawValue: return cString("SHAPE")
    case CHARRNN_ERR_NOT_FOUND.rawValue: return cString("NOT_FOUND")
    case CHARRNN_ERR_STATE.rawValue: return cString("STATE")
    case CHARRNN_ERR_CANCELLED.rawValue: return cString("CANCELLED")
    case CHARRNN_ERR_DIVERGED.rawValue: return cString("DIVERGED")
    case CHARRNN_ERR_CONFIG.rawValue: return cString("CONFIG")
    case CHARRNN_ERR_OUT_OF_MEMORY.rawValue: return cString("OUT_OF_MEMORY")
    case CHARRNN_ERR_NOT_FINITE.rawValue: return cString("NOT_FINITE")
    case CHARRNN_ERR_INTERNAL.rawValue: return cString("INTERNAL")
    default: return cString("UNKNOWN")
    }
}
