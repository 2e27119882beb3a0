/// Decoding of UTF-8 bytes into Unicode scalars, strict and with the byte offset of any error.
package enum UTF8Text {
    /// Decodes `bytes` into Unicode scalar values, refusing overlong forms, surrogates and
    /// truncated sequences.
    /// - Throws: `CharRNNError.invalidUTF8` naming the byte offset of the first bad sequence.
    /// - Parameter limit: stop after this many scalars; the bytes after them are not decoded (a prefix
    ///   read for `limit` characters may end inside the next one).
    package static func decode(_ bytes: UnsafeBufferPointer<UInt8>, limit: Int = .max) throws -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(min(bytes.count, max(limit, 0)))
        var iterator = bytes.makeIterator()
        var decoder = Unicode.UTF8()
        var offset = 0
        var lastOffset = 0
        // Track the offset of each scalar by counting the bytes of each decoded scalar.
        while scalars.count < limit {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                scalars.append(scalar)
                lastOffset = offset
                offset += UTF8.width(scalar)
            case .emptyInput:
                return scalars
            case .error:
                _ = lastOffset
                throw CharRNNError.invalidUTF8(
                    offset: offset, "invalid UTF-8 at byte offset \(offset) (after \(scalars.count) valid characters)")
            }
        }
        return scalars
    }

    /// Decodes a byte array; see `decode(_:)`.
    package static func decode(_ bytes: [UInt8], limit: Int = .max) throws -> [Unicode.Scalar] {
        try bytes.withUnsafeBufferPointer { try decode($0, limit: limit) }
    }

    /// Decodes a raw pointer and length (from C); see `decode(_:)`.
    package static func decode(_ pointer: UnsafePointer<UInt8>, count: Int) throws -> [Unicode.Scalar] {
        try decode(UnsafeBufferPointer(start: pointer, count: count))
    }

    /// The UTF-8 encoding of scalars.
    package static func encode<S: Sequence>(_ scalars: S) -> [UInt8] where S.Element == Unicode.Scalar {
        var bytes: [UInt8] = []
        for scalar in scalars { UTF8.encode(scalar) { bytes.append($0) } }
        return bytes
    }
}
