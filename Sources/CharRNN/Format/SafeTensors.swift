#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The safetensors container: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw little-endian data. Only F32 tensors are used here.
///
/// Reading trusts nothing: every length, offset and shape is checked against the file before use.
enum SafeTensors {
    /// One float32 tensor.
    struct Tensor: Equatable {
        var shape: [Int]
        var values: [Float]

        init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// The largest header accepted (the format's own reference limit is 100 MB).
    static let maxHeaderSize = 100_000_000

    // MARK: writing

    /// Serialises tensors and string metadata. Tensors are laid out in name order.
    static func encode(tensors: [String: Tensor], metadata: [String: String]) -> [UInt8] {
        let names = tensors.keys.sorted()
        var header = "{\"__metadata__\":" + jsonObject(metadata)
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.values.count * 4
            header +=
                ",\(JSONString.quoted(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}"
            offset += size
        }
        header += "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }  // pad with spaces, as the format allows
        var out = ByteWriter(capacity: 8 + headerBytes.count + offset)
        out.append(UInt64(headerBytes.count))
        out.append(headerBytes)
        for name in names {
            for v in tensors[name]!.values { out.append(v.bitPattern) }
        }
        return out.bytes
    }

    static func jsonObject(_ d: [String: String]) -> String {
        "{" + d.keys.sorted().map { "\(JSONString.quoted($0)):\(JSONString.quoted(d[$0]!))" }.joined(separator: ",")
            + "}"
    }

    // MARK: reading

    /// The largest number of JSON values a header may hold: far above what any charrnn file needs
    /// (a few per tensor), low enough that parsing a lying header costs little memory.
    static let maxHeaderValues = 100_000

    /// A file's header, checked completely before any tensor is read: every entry well formed, names
    /// unique, byte ranges in order, back to back from the start of the data to the end of the file
    /// (no overlap, no gap, nothing after), so no byte can be read twice and the tensors never hold
    /// more than the file does.
    struct Index {
        /// One tensor's description; `begin` and `end` are byte offsets into the whole file.
        struct Entry {
            let name: String
            let shape: [Int]
            let begin: Int
            let end: Int
            var elementCount: Int { (end - begin) / 4 }
        }

        let metadata: [String: String]
        /// In the order of their data in the file.
        let entries: [Entry]

        /// The entry called `name`, if any.
        func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

        /// Reads and checks the header of the file held in `bytes`.
        /// - Throws: `CharRNNError.format` naming the first inconsistency.
        init(_ raw: UnsafeRawBufferPointer) throws {
            guard raw.count >= 8 else {
                throw CharRNNError.format("file too short for a safetensors header (\(raw.count) bytes)")
            }
            var reader = ByteReader(raw)
            let headerLength: UInt64 = try reader.read()
            guard headerLength <= UInt64(maxHeaderSize), Int(headerLength) <= raw.count - 8 else {
                throw CharRNNError.format("header length \(headerLength) exceeds the file (\(raw.count) bytes)")
            }
            let header: JSONValue
            do {
                header = try StrictJSON.parse(try reader.bytes(Int(headerLength)), maxValues: maxHeaderValues)
            } catch CharRNNError.format(let message) {
                throw CharRNNError.format("invalid safetensors header: \(message)")
            }
            guard case .object(let members) = header else {
                throw CharRNNError.format("invalid safetensors header: \(header.kindName), not an object")
            }
            var metadata: [String: String] = [:]
            var entries: [Entry] = []
            let dataStart = 8 + Int(headerLength)
            for (name, value) in members {
                if name == "__metadata__" {
                    metadata = try Index.metadata(value)
                } else {
                    entries.append(try Index.entry(name, value, dataStart: dataStart, fileSize: raw.count))
                }
            }
            entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
            var expected = dataStart
            for e in entries {
                guard e.begin == expected else {
                    let previous = entries.last { $0.end <= e.begin && $0.name != e.name }?.name
                    throw CharRNNError.format(
                        e.begin < expected
                            ? "tensor \(e.name) overlaps the data of another tensor\(previous.map { " (\($0))" } ?? "")"
                            : "tensor \(e.name): \(e.begin - expected) bytes before its data belong to no tensor")
                }
                expected = e.end
            }
            guard expected == raw.count else {
                throw CharRNNError.format("\(raw.count - expected) bytes after the last tensor belong to no tensor")
            }
            self.metadata = metadata
            self.entries = entries
        }

        private static func metadata(_ value: JSONValue) throws -> [String: String] {
            guard case .object(let members) = value else {
                throw CharRNNError.format("__metadata__ is \(value.kindName), not an object of strings")
            }
            var out: [String: String] = [:]
            for (key, item) in members {
                guard case .string(let text) = item else {
                    throw CharRNNError.format(
                        "__metadata__ entry \"\(key.prefix(80))\" is \(item.kindName), not a string")
                }
                out[key] = text
            }
            return out
        }

        private static func entry(_ name: String, _ value: JSONValue, dataStart: Int, fileSize: Int) throws -> Entry {
            let label = "tensor \(name.prefix(200))"
            guard case .object(let fields) = value else {
                throw CharRNNError.format("\(label) is \(value.kindName), not an object")
            }
            if let unknown = fields.first(where: { !["dtype", "shape", "data_offsets"].contains($0.key) }) {
                throw CharRNNError.format("\(label): unknown field \"\(unknown.key.prefix(80))\"")
            }
            guard case .string(let dtype)? = value["dtype"] else {
                throw CharRNNError.format("\(label): dtype is missing or not a string")
            }
            guard dtype == "F32" else {
                throw CharRNNError.format("\(label): dtype \(dtype.prefix(20)) is not supported (expected F32)")
            }
            guard case .array(let dims)? = value["shape"], dims.count <= 8 else {
                throw CharRNNError.format("\(label): shape is missing, not an array or of more than 8 dimensions")
            }
            var shape: [Int] = []
            var elements = 1
            for d in dims {
                guard let n = d.exactInt else {
                    throw CharRNNError.format("\(label): shape holds \(d.kindName), not a size")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: n)
                guard !overflow, product <= Int(Int32.max) else {
                    throw CharRNNError.format("\(label): shape \(dims.map(\.kindName)) is too large")
                }
                shape.append(n)
                elements = product
            }
            guard case .array(let offsets)? = value["data_offsets"], offsets.count == 2 else {
                throw CharRNNError.format("\(label): data_offsets must be an array of two entries")
            }
            let dataSize = fileSize - dataStart
            guard let begin = offsets[0].exactInt, let end = offsets[1].exactInt, begin <= end, end <= dataSize else {
                throw CharRNNError.format(
                    "\(label): data_offsets [\(offsets[0].kindName), \(offsets[1].kindName)] lie outside the data (\(dataSize) bytes)"
                )
            }
            guard end - begin == elements * 4 else {
                throw CharRNNError.format(
                    "\(label): shape \(shape) needs \(elements * 4) bytes, data_offsets give \(end - begin)")
            }
            return Entry(name: name, shape: shape, begin: dataStart + begin, end: dataStart + end)
        }

        /// Copies one entry's values out of the file's bytes (the ones this index was read from).
        func tensor(_ entry: Entry, in raw: UnsafeRawBufferPointer) -> Tensor {
            var values = [Float](repeating: 0, count: entry.elementCount)
            values.withUnsafeMutableBytes { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[entry.begin..<entry.end]))
            }
            for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
            return Tensor(shape: entry.shape, values: values)
        }
    }

    /// Parses a safetensors file held in memory: the checked index, then every tensor.
    /// - Throws: `CharRNNError.format` naming the first inconsistency.
    static func decode(_ bytes: [UInt8]) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try bytes.withUnsafeBytes { raw in
            let index = try Index(raw)
            var tensors: [String: Tensor] = [:]
            for e in index.entries { tensors[e.name] = index.tensor(e, in: raw) }
            return (tensors, index.metadata)
        }
    }
}
