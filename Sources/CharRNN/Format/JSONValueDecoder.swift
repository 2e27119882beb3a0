/// Decodes `Decodable` types from a `JSONValue` that `StrictJSON` read, so that a value of the wrong
/// kind is named with its path and its text ("layers[0].units: 8.5 is not a whole number") — Foundation's
/// decoder reports every such number as "The given data was not valid JSON".
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// Decodes `T` from JSON text: strict reading first, then the typed decoding.
    /// - Throws: `CharRNNError.format` from the reader, `DecodingError` naming the path of a bad value.
    static func decode<T: Decodable>(_ type: T.Type, from text: String, maxValues: Int) throws -> T {
        try T(from: JSONValueDecoder(value: StrictJSON.parse(text, maxValues: maxValues), codingPath: []))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw Self.mismatch(value, "an object", codingPath) }
        var byKey: [String: JSONValue] = [:]
        for member in members { byKey[member.key] = member.value }  // keys are unique: StrictJSON refuses duplicates
        return KeyedDecodingContainer(Keyed<Key>(members: byKey, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw Self.mismatch(value, "an array", codingPath) }
        return Unkeyed(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { Single(value: value, codingPath: codingPath) }

    // MARK: scalars

    /// The scalar `T` that `value` holds, or a `DecodingError` naming what it is instead.
    static func scalar<T>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> T {
        switch (type, value) {
        case (is String.Type, .string(let s)): return s as! T
        case (is Bool.Type, .bool(let b)): return b as! T
        case (_, .number(let text)):
            if let number = number(type, text) { return number }
            let isWhole = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
            let expected =
                isWhole || type == Float.self || type == Double.self ? "within the range of \(type)" : "a whole number"
            throw DecodingError.typeMismatch(
                type, .init(codingPath: path, debugDescription: "\(text.prefix(40)) is not \(expected)"))
        default:
            throw mismatch(value, "\(type)", path)
        }
    }

    private static func number<T>(_ type: T.Type, _ text: String) -> T? {
        switch type {
        case is Int.Type: return Int(text) as? T
        case is Int32.Type: return Int32(text) as? T
        case is Int64.Type: return Int64(text) as? T
        case is UInt32.Type: return UInt32(text) as? T
        case is UInt64.Type: return UInt64(text) as? T
        case is UInt.Type: return UInt(text) as? T
        case is Double.Type: return Double(text).flatMap { representable($0, text) ? $0 : nil } as? T
        case is Float.Type: return Float(text).flatMap { representable($0, text) ? $0 : nil } as? T
        default: return nil
        }
    }

    /// Finite, and not a non-zero number that underflowed to zero (1e-400).
    private static func representable<F: BinaryFloatingPoint>(_ x: F, _ text: String) -> Bool {
        guard x.isFinite else { return false }
        let mantissa = text.prefix { $0 != "e" && $0 != "E" }
        return x != 0 || !mantissa.contains(where: { ("1"..."9").contains($0) })
    }

    static func mismatch(_ value: JSONValue, _ expected: String, _ path: [CodingKey]) -> DecodingError {
        DecodingError.typeMismatch(
            Any.self, .init(codingPath: path, debugDescription: "expected \(expected), found \(value.kindName)"))
    }

    static func isScalar<T>(_ type: T.Type) -> Bool {
        type == String.self || type == Bool.self || type == Int.self || type == Int32.self || type == Int64.self
            || type == UInt32.self || type == UInt64.self || type == UInt.self || type == Double.self
            || type == Float.self
    }

    /// A value of any Decodable type: scalars directly, the rest through their own `init(from:)`.
    static func decodeValue<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> T {
        if isScalar(type) { return try scalar(type, value, path) }
        return try T(from: JSONValueDecoder(value: value, codingPath: path))
    }

    // MARK: containers

    private struct IndexKey: CodingKey {
        let intValue: Int?
        var stringValue: String { "[\(intValue ?? 0)]" }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    private struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let codingPath: [CodingKey]
        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        func member(_ key: Key) throws -> JSONValue {
            guard let value = members[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONValueDecoder.decodeValue(type, member(key), codingPath + [key])
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            try JSONValueDecoder(value: member(key), codingPath: codingPath + [key]).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
            try JSONValueDecoder(value: member(key), codingPath: codingPath + [key]).unkeyedContainer()
        }

        func superDecoder() throws -> Decoder {
            JSONValueDecoder(value: .object(members.map { ($0.key, $0.value) }), codingPath: codingPath)
        }

        func superDecoder(forKey key: Key) throws -> Decoder {
            JSONValueDecoder(value: try member(key), codingPath: codingPath + [key])
        }
    }

    private struct Unkeyed: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let codingPath: [CodingKey]
        var currentIndex = 0
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        init(elements: [JSONValue], codingPath: [CodingKey]) {
            self.elements = elements
            self.codingPath = codingPath
        }

        mutating func next() throws -> (JSONValue, [CodingKey]) {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(
                    Any.self, .init(codingPath: codingPath, debugDescription: "the array is too short"))
            }
            defer { currentIndex += 1 }
            return (elements[currentIndex], codingPath + [IndexKey(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd, elements[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = try next()
            return try JSONValueDecoder.decodeValue(type, value, path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
            -> KeyedDecodingContainer<NestedKey>
        {
            let (value, path) = try next()
            return try JSONValueDecoder(value: value, codingPath: path).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
            let (value, path) = try next()
            return try JSONValueDecoder(value: value, codingPath: path).unkeyedContainer()
        }

        mutating func superDecoder() throws -> Decoder {
            let (value, path) = try next()
            return JSONValueDecoder(value: value, codingPath: path)
        }
    }

    private struct Single: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [CodingKey]

        func decodeNil() -> Bool { value == .null }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try JSONValueDecoder.decodeValue(type, value, codingPath)
        }
    }
}
