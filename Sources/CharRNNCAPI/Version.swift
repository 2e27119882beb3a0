// The library version.
import CCharRNNHeader

private let versionString: StaticString = "0.4.0"  // CHARRNN_VERSION_STRING: test_capi.c checks they agree

@_cdecl("charrnn_version")
public func capi_version() -> UnsafePointer<CChar>? { cString(versionString) }

@_cdecl("charrnn_version_number")
public func capi_version_number() -> UInt32 {
    UInt32(CHARRNN_VERSION_MAJOR * 10000 + CHARRNN_VERSION_MINOR * 100 + CHARRNN_VERSION_PATCH)
}
