/// Little-endian serialisation helpers, bounds-checked on read.
struct ByteWriter {
    var bytes: [UInt8]

    init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(floats p: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { append(p[i].bitPattern) }
    }
}

struct ByteReader {
    let data: UnsafeRawBufferPointer
    var offset = 0

    init(_ data: UnsafeRawBufferPointer) { self.data = data }

    var remaining: Int { data.count - offset }

    mutating func bytes(_ n: Int) throws -> [UInt8] {
        guard n >= 0, n <= remaining else { throw CharRNNError.format("unexpected end of data at byte \(offset)") }
        defer { offset += n }
        return Array(data[offset..<(offset + n)])
    }

    mutating func read<T: FixedWidthInteger>() throws -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw CharRNNError.format("unexpected end of data at byte \(offset)") }
        var value: T = 0
        withUnsafeMutableBytes(of: &value) {
            $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: data[offset..<(offset + size)]))
        }
        offset += size
        return T(littleEndian: value)
    }
}

/// FNV-1a, 64-bit: a stable fingerprint of bytes (not for security).
func fnv1a(_ bytes: [UInt8], seed: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
    var hash = seed
    for b in bytes {
        hash ^= UInt64(b)
        hash = hash &* 0x100_0000_01B3
    }
    return hash
}
