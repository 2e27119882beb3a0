// Opaque handles: Swift objects boxed with Unmanaged. A handle owns one retain; *_free releases it.
import CharRNN

/// `charrnn_model *` (const or not) on the Swift side.
public typealias CModel = OpaquePointer
/// `charrnn_session *` (const or not) on the Swift side.
public typealias CSession = OpaquePointer

func box(_ model: Model) -> CModel { CModel(Unmanaged.passRetained(model).toOpaque()) }
func box(_ session: Session) -> CSession { CSession(Unmanaged.passRetained(session).toOpaque()) }

/// The model behind a handle (borrowed), or INVALID_ARGUMENT for NULL.
func model(_ handle: CModel?, _ name: String = "model") throws -> Model {
    guard let handle else { throw APIError.invalid("\(name) is NULL") }
    return Unmanaged<Model>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// The session behind a handle (borrowed), or INVALID_ARGUMENT for NULL.
func session(_ handle: CSession?) throws -> Session {
    guard let handle else { throw APIError.invalid("session is NULL") }
    return Unmanaged<Session>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

func releaseModel(_ handle: CModel?) {
    guard let handle else { return }
    Unmanaged<Model>.fromOpaque(UnsafeRawPointer(handle)).release()
}

func releaseSession(_ handle: CSession?) {
    guard let handle else { return }
    Unmanaged<Session>.fromOpaque(UnsafeRawPointer(handle)).release()
}
