// Argument conversion: C strings, lengths, and the (buf, capacity, needed) convention.
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// The largest text one call accepts (decoding holds 4 bytes per character).
let maxTextBytes = 1 << 31

/// A size_t as a Swift Int: values above Int.max arrive negative and are refused.
func length(_ value: Int, _ name: String) throws -> Int {
    guard value >= 0 else { throw APIError.invalid("\(name) is larger than the largest supported size (\(Int.max))") }
    return value
}

/// A required NUL-terminated UTF-8 argument.
func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
    guard let pointer else { throw APIError.invalid("\(name) is NULL") }
    guard let s = String(validatingCString: pointer) else {
        throw CharRNNError.invalidUTF8(offset: firstInvalidOffset(pointer), "\(name) is not valid UTF-8")
    }
    return s
}

/// An optional NUL-terminated UTF-8 argument (NULL = nil).
func optionalString(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String? {
    guard pointer != nil else { return nil }
    return try string(pointer, name)
}

private func firstInvalidOffset(_ pointer: UnsafePointer<CChar>) -> Int {
    let count = strlen(pointer)
    let bytes = UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self)
    do { _ = try UTF8Text.decode(bytes, count: count) } catch CharRNNError.invalidUTF8(let offset, _) {
        return offset
    } catch {}
    return 0
}

/// `len` bytes of UTF-8 text decoded into scalars; NULL is accepted only with len 0.
func text(_ pointer: UnsafePointer<CChar>?, _ len: Int, _ name: String = "text") throws -> [Unicode.Scalar] {
    let len = try length(len, "len")
    guard len <= maxTextBytes else {
        throw APIError.outOfMemory("\(name) has \(len) bytes; one call takes at most \(maxTextBytes)")
    }
    if len == 0 { return [] }
    guard let pointer else { throw APIError.invalid("\(name) is NULL but len is \(len)") }
    // At most one scalar per byte, then one index per scalar where the text is encoded for a model.
    try MemoryBudget.ensure(
        count: len, bytesEach: MemoryLayout<Unicode.Scalar>.size + MemoryLayout<Int32>.size,
        for: "decoding \(name) (\(len) bytes)")
    let bytes = UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self)
    do {
        return try UTF8Text.decode(bytes, count: len)
    } catch CharRNNError.invalidUTF8(let offset, _) {
        throw CharRNNError.invalidUTF8(
            offset: offset, "\(name) is not valid UTF-8: bad byte sequence at byte offset \(offset)")
    }
}

/// Fills a caller's buffer of `T` with `count` values written by `write`.
///
/// `buf == NULL, capacity == 0` is a size query: `*needed` is set and the call succeeds. A smaller
/// buffer fails with BUFFER_TOO_SMALL and `*needed` set. `needed` may be NULL except for a query.
func fill<T>(
    _ count: Int, into buf: UnsafeMutablePointer<T>?, capacity: Int, needed: UnsafeMutablePointer<Int>?,
    unit: String, what: String, write: (UnsafeMutablePointer<T>) -> Void
) throws {
    let capacity = try length(capacity, "capacity")
    guard let buf else {
        guard capacity == 0 else { throw APIError.invalid("buf is NULL but capacity is \(capacity)") }
        guard let needed else { throw APIError.invalid("buf and needed are both NULL: nothing to fill or report") }
        needed.pointee = count
        return
    }
    guard capacity >= count else {
        needed?.pointee = count
        throw APIError.tooSmall("\(what) needs \(count) \(unit), the buffer holds \(capacity)")
    }
    write(buf)
    needed?.pointee = count
}

/// Copies a string's UTF-8 bytes and a terminating NUL (so a string holding U+0000 survives in full).
func fillString(
    _ s: String, into buf: UnsafeMutablePointer<CChar>?, capacity: Int,
    needed: UnsafeMutablePointer<Int>?, what: String
) throws {
    let bytes = Array(s.utf8)
    try fill(bytes.count + 1, into: buf, capacity: capacity, needed: needed, unit: "bytes (with the NUL)", what: what) {
        out in
        bytes.withUnsafeBufferPointer { src in
            if let base = src.baseAddress {
                UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: bytes.count)
            }
        }
        out[bytes.count] = 0
    }
}
