// Structs that cross the boundary and their `struct_size` (include/charrnn.h, Conventions): reading a
// caller's parameters, writing a caller's results, whatever version of the header the caller was built with.
import CCharRNNHeader
import CharRNN

/// A struct of the C ABI that starts with `uint32_t struct_size`.
protocol SizedStruct {
    /// Its name in the header, for messages.
    static var cName: String { get }
    /// Its size in 0.2.0, the first version with struct_size: the smallest struct_size the library accepts.
    /// Fixed forever (Tests/c pins the numbers): the end of the first version's last field, rounded up to
    /// the struct's alignment.
    static var firstSize: Int { get }
    /// How a caller gets a valid struct_size, for messages.
    static var howToFill: String { get }
    var struct_size: UInt32 { get set }
}

/// The largest struct_size accepted: bounds what the library reads past its own struct, so that an
/// uninitialised struct_size is refused instead of sending the library through the caller's memory.
let maxStructSize = 1024

/// The size of a first version whose last field is `last`.
private func firstVersionSize<T, V>(_ type: T.Type, endingWith last: KeyPath<T, V>) -> Int {
    let end = MemoryLayout<T>.offset(of: last)! + MemoryLayout<V>.size
    let alignment = MemoryLayout<T>.alignment
    return (end + alignment - 1) / alignment * alignment
}

extension charrnn_sample_params: SizedStruct {
    static let cName = "charrnn_sample_params"
    static let firstSize = firstVersionSize(charrnn_sample_params.self, endingWith: \.seed)
    static let howToFill = "get it from charrnn_default_sample_params()"
}

extension charrnn_train_params: SizedStruct {
    static let cName = "charrnn_train_params"
    static let firstSize = firstVersionSize(charrnn_train_params.self, endingWith: \.resume)
    static let howToFill = "get it from charrnn_default_train_params()"
}

extension charrnn_model_info: SizedStruct {
    static let cName = "charrnn_model_info"
    static let firstSize = firstVersionSize(charrnn_model_info.self, endingWith: \.state_size)
    static let howToFill = "set it with CHARRNN_INIT_SIZE() before the call"
}

extension charrnn_eval_result: SizedStruct {
    static let cName = "charrnn_eval_result"
    static let firstSize = firstVersionSize(charrnn_eval_result.self, endingWith: \.chars)
    static let howToFill = "set it with CHARRNN_INIT_SIZE() before the call"
}

extension charrnn_train_result: SizedStruct {
    static let cName = "charrnn_train_result"
    static let firstSize = firstVersionSize(charrnn_train_result.self, endingWith: \.seconds)
    static let howToFill = "set it with CHARRNN_INIT_SIZE() before the call"
}

extension charrnn_progress: SizedStruct {
    static let cName = "charrnn_progress"
    static let firstSize = firstVersionSize(charrnn_progress.self, endingWith: \.checkpoint)
    static let howToFill = "the library sets it"
}

/// The struct_size at `pointer`, checked: at least the first version's size, at most maxStructSize.
/// Reads only the first four bytes (an older caller's struct may be smaller than ours).
private func checkedSize<T: SizedStruct>(_ pointer: UnsafeRawPointer, _ type: T.Type, _ name: String) throws -> Int {
    let size = Int(pointer.load(as: UInt32.self))
    if size == 0 {
        throw APIError.invalid("\(name)->struct_size is 0 (not set): \(T.howToFill)")
    }
    guard size >= T.firstSize else {
        throw APIError.invalid(
            "\(name)->struct_size is \(size), smaller than any \(T.cName) (\(T.firstSize) bytes "
                + "in 0.2.0, the first version with struct_size): \(T.howToFill)")
    }
    guard size <= maxStructSize else {
        throw APIError.invalid(
            "\(name)->struct_size is \(size), larger than the \(maxStructSize) bytes the library "
                + "accepts: not a \(T.cName) (\(T.howToFill))")
    }
    return size
}

/// A size argument of an init function, checked as struct_size is.
private func checkedSizeArgument<T: SizedStruct>(_ size: Int, _ type: T.Type) throws -> Int {
    guard size >= T.firstSize, size <= maxStructSize else {
        throw APIError.invalid(
            "struct_size is \(UInt(bitPattern: size)): a \(T.cName) has at least \(T.firstSize) "
                + "bytes (0.2.0) and the library accepts at most \(maxStructSize); pass sizeof(*params)")
    }
    return size
}

/// A caller's parameters (NULL = `defaults`). The fields within the caller's struct_size are read over
/// `defaults` (an older caller has not got the later ones); bytes past ours (a newer caller's) must be zero.
/// The result has our struct_size.
func readParameters<T: SizedStruct>(_ pointer: UnsafePointer<T>?, defaults: T, _ name: String) throws -> T {
    var value = defaults
    value.struct_size = UInt32(MemoryLayout<T>.size)
    guard let pointer else { return value }
    let raw = UnsafeRawPointer(pointer)
    let size = try checkedSize(raw, T.self, name)
    let known = MemoryLayout<T>.size
    if size > known {
        let tail = UnsafeRawBufferPointer(start: raw + known, count: size - known)
        if let offset = tail.firstIndex(where: { $0 != 0 }) {
            throw APIError.invalid(
                "\(name)->struct_size is \(size) bytes but this library (\(String(cString: capi_version()!))) knows "
                    + "the first \(known) of a \(T.cName): byte \(known + offset) is not zero, so a "
                    + "field this library does not have is set (leave it zero, or use a newer libcharrnn)")
        }
    }
    withUnsafeMutableBytes(of: &value) { out in
        out.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: min(size, known)))
    }
    value.struct_size = UInt32(known)
    return value
}

/// The bytes of a caller's result struct the library will write (the caller's struct_size, or ours if
/// smaller), checked before any work is done; nil for a NULL pointer.
func resultSize<T: SizedStruct>(_ pointer: UnsafeMutablePointer<T>?, _ name: String) throws -> Int? {
    guard let pointer else { return nil }
    return min(try checkedSize(UnsafeRawPointer(pointer), T.self, name), MemoryLayout<T>.size)
}

/// Writes the first `count` bytes of `value` (from resultSize) to the caller's struct, with struct_size
/// set to `count`.
func writeResult<T: SizedStruct>(_ value: T, to pointer: UnsafeMutablePointer<T>, count: Int) {
    var value = value
    value.struct_size = UInt32(count)
    withUnsafeBytes(of: &value) { bytes in
        UnsafeMutableRawPointer(pointer).copyMemory(from: bytes.baseAddress!, byteCount: count)
    }
}

/// A `*_params_init` function: our defaults for the fields we know, zeros past them, and the caller's size.
func initParameters<T: SizedStruct>(_ pointer: UnsafeMutablePointer<T>?, size: Int, defaults: T) throws {
    guard let pointer else { throw APIError.invalid("params is NULL") }
    let size = try checkedSizeArgument(size, T.self)
    let raw = UnsafeMutableRawPointer(pointer)
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    var value = defaults
    value.struct_size = UInt32(size)
    withUnsafeBytes(of: &value) { bytes in
        raw.copyMemory(from: bytes.baseAddress!, byteCount: min(size, bytes.count))
    }
}
