#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The safetensors container: an 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw little-endian data. Only F32 tensors are used here.
///
/// Reading trusts nothing: every length, offset and shape is checked against the file before use.
public enum SafeTensors {
    /// One float32 tensor.
    public struct Tensor: Equatable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// The largest header accepted (the format's own reference limit is 100 MB).
    static let maxHeaderSize = 100_000_000

    // MARK: writing

    /// Serialises tensors and string metadata. Tensors are laid out in name order.
    public static func encode(tensors: [String: Tensor], metadata: [String: String]) -> [UInt8] {
        let names = tensors.keys.sorted()
        var header = "{\"__metadata__\":" + jsonObject(metadata)
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let size = t.values.count * 4
            header += ",\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}"
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

    static func jsonString(_ s: String) -> String {
        let data = (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func jsonObject(_ d: [String: String]) -> String {
        "{" + d.keys.sorted().map { "\(jsonString($0)):\(jsonString(d[$0]!))" }.joined(separator: ",") + "}"
    }

    // MARK: reading

    private struct Entry: Decodable {
        let dtype: String
        let shape: [Int]
        let dataOffsets: [Int]
        enum CodingKeys: String, CodingKey {
            case dtype, shape
            case dataOffsets = "data_offsets"
        }
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// The header's entries: metadata strings and tensor descriptions, decoded loosely so that each
    /// problem can be reported with the tensor's name.
    private struct Header: Decodable {
        var metadata: [String: String] = [:]
        var entries: [String: Entry] = [:]

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyKey.self)
            for key in c.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try c.decode([String: String].self, forKey: key)
                } else {
                    entries[key.stringValue] = try c.decode(Entry.self, forKey: key)
                }
            }
        }
    }

    /// Parses a safetensors file held in memory.
    /// - Throws: `CharRNNError.format` naming the first inconsistency.
    public static func decode(_ bytes: [UInt8]) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            guard raw.count >= 8 else {
                throw CharRNNError.format("file too short for a safetensors header (\(raw.count) bytes)")
            }
            let headerLength: UInt64 = try reader.read()
            guard headerLength <= UInt64(maxHeaderSize), Int(headerLength) <= raw.count - 8 else {
                throw CharRNNError.format("header length \(headerLength) exceeds the file (\(raw.count) bytes)")
            }
            let headerBytes = try reader.bytes(Int(headerLength))
            let header: Header
            do {
                header = try JSONDecoder().decode(Header.self, from: Data(headerBytes))
            } catch let error as DecodingError {
                throw CharRNNError.format("invalid safetensors header: \(describe(error))")
            } catch {
                throw CharRNNError.format("invalid safetensors header: not JSON")
            }
            let dataStart = 8 + Int(headerLength)
            let dataSize = raw.count - dataStart
            var ranges: [(Int, Int, String)] = []
            var tensors: [String: Tensor] = [:]
            for (name, e) in header.entries {
                guard e.dtype == "F32" else {
                    throw CharRNNError.format("tensor \(name): dtype \(e.dtype) is not supported (expected F32)")
                }
                guard e.shape.count <= 8, e.shape.allSatisfy({ $0 >= 0 }) else {
                    throw CharRNNError.format("tensor \(name): invalid shape \(e.shape)")
                }
                var elements = 1
                for d in e.shape {
                    let (product, overflow) = elements.multipliedReportingOverflow(by: d)
                    guard !overflow, product <= Int(Int32.max) else {
                        throw CharRNNError.format("tensor \(name): shape \(e.shape) is too large")
                    }
                    elements = product
                }
                guard e.dataOffsets.count == 2 else {
                    throw CharRNNError.format("tensor \(name): data_offsets must have two entries")
                }
                let begin = e.dataOffsets[0], end = e.dataOffsets[1]
                guard begin >= 0, begin <= end, end <= dataSize else {
                    throw CharRNNError.format("tensor \(name): data_offsets [\(begin), \(end)] lie outside the data (\(dataSize) bytes)")
                }
                guard end - begin == elements * 4 else {
                    throw CharRNNError.format("tensor \(name): shape \(e.shape) needs \(elements * 4) bytes, data_offsets give \(end - begin)")
                }
                ranges.append((begin, end, name))
                var values = [Float](repeating: 0, count: elements)
                values.withUnsafeMutableBytes { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(dataStart + begin)..<(dataStart + end)]))
                }
                for i in 0..<elements { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
                tensors[name] = Tensor(shape: e.shape, values: values)
            }
            ranges.sort { $0.0 < $1.0 }
            for i in ranges.indices.dropFirst() where ranges[i].0 < ranges[i - 1].1 {
                throw CharRNNError.format("tensors \(ranges[i - 1].2) and \(ranges[i].2) overlap")
            }
            return (tensors, header.metadata)
        }
    }
}
