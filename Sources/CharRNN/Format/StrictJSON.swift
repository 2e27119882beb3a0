/// A strict JSON reader for what files and callers hand the library: safetensors headers, model
/// configurations, training states.
///
/// Foundation's decoders keep one of two duplicate keys (which one differs between parsers: Python's
/// `json` keeps the last) and report a number beyond Double's range as "not valid JSON". A file whose
/// meaning depends on the parser is refused here instead, and every refusal names the byte and the reason.
/// Objects keep their keys in file order.
enum JSONValue: Equatable {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text as written (valid JSON syntax, within Double's range).
    case number(String)
    case bool(Bool)
    case null

    static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value for `key` of an object (nil for other values or a missing key).
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// A non-negative integer written without fraction or exponent, if it fits in `Int`.
    var exactInt: Int? {
        guard case .number(let text) = self, !text.hasPrefix("-"), text.allSatisfy(\.isASCIIDigitCharacter) else {
            return nil
        }
        return Int(text)
    }

    /// A short description of the kind of value, for messages.
    var kindName: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number(let text): return "the number \(text.prefix(40))"
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}

enum StrictJSON {
    /// Nesting deeper than this is refused (recursion must not exhaust the host's stack).
    static let maxDepth = 64

    /// Parses one JSON value filling all of `bytes` (white space around it allowed).
    /// - Parameter maxValues: the most values (objects, arrays, strings, numbers, literals) accepted, so
    ///   that a small text cannot cost much more memory as a tree than it takes as text.
    /// - Throws: `CharRNNError.format` naming the byte offset and what is wrong there.
    static func parse(_ bytes: [UInt8], maxValues: Int = 1_000_000) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, valuesLeft: maxValues)
            parser.skipSpace()
            let value = try parser.value(depth: 0)
            parser.skipSpace()
            guard parser.offset == buffer.count else { throw parser.failure("unexpected text after the JSON value") }
            return value
        }
    }

    /// Parses a string; see `parse(_:)`.
    static func parse(_ text: String, maxValues: Int = 1_000_000) throws -> JSONValue {
        try parse(Array(text.utf8), maxValues: maxValues)
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var offset = 0
        var valuesLeft: Int

        init(bytes: UnsafeBufferPointer<UInt8>, valuesLeft: Int) {
            self.bytes = bytes
            self.valuesLeft = valuesLeft
        }

        func failure(_ what: String) -> CharRNNError { .format("invalid JSON at byte \(offset): \(what)") }

        var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipSpace() {
            while let b = current, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { offset += 1 }
        }

        mutating func expect(_ literal: StaticString) throws {
            let start = offset
            for byte in UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
                guard current == byte else {
                    offset = start
                    throw failure("expected \(literal)")
                }
                offset += 1
            }
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < StrictJSON.maxDepth else { throw failure("nested deeper than \(StrictJSON.maxDepth) levels") }
            guard valuesLeft > 0 else { throw failure("more values than a file of this kind can need") }
            valuesLeft -= 1
            switch current {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case .some(let b) where b == UInt8(ascii: "-") || (0x30...0x39).contains(b): return try number()
            case nil: throw failure("unexpected end of the text")
            default: throw failure("unexpected character")
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            offset += 1
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<String>()
            skipSpace()
            if current == UInt8(ascii: "}") { offset += 1; return .object(members) }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw failure("expected a key in quotes") }
                let keyOffset = offset
                let key = try string()
                guard seen.insert(key).inserted else {
                    offset = keyOffset
                    throw failure("duplicate key \"\(key.prefix(80))\" (parsers disagree on which one counts)")
                }
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw failure("expected ':' after a key") }
                offset += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"): offset += 1; return .object(members)
                default: throw failure("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            offset += 1
            var elements: [JSONValue] = []
            skipSpace()
            if current == UInt8(ascii: "]") { offset += 1; return .array(elements) }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"): offset += 1; return .array(elements)
                default: throw failure("expected ',' or ']' in an array")
                }
            }
        }

        mutating func number() throws -> JSONValue {
            let start = offset
            func digits() -> Int {
                let from = offset
                while let b = current, (0x30...0x39).contains(b) { offset += 1 }
                return offset - from
            }
            if current == UInt8(ascii: "-") { offset += 1 }
            let leadingZero = current == UInt8(ascii: "0")
            let integerDigits = digits()
            guard integerDigits > 0 else { throw failure("a number needs digits") }
            guard !(leadingZero && integerDigits > 1) else {
                offset = start
                throw failure("a number may not start with 0")
            }
            if current == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw failure("a number needs digits after '.'") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                offset += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
                guard digits() > 0 else { throw failure("a number needs digits in its exponent") }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else {
                offset = start
                throw failure("the number \(text.prefix(40)) is out of range (beyond ±1.8e308)")
            }
            return .number(text)
        }

        mutating func hexDigit() throws -> UInt32 {
            guard let b = current else { throw failure("unexpected end in a \\u escape") }
            offset += 1
            switch b {
            case 0x30...0x39: return UInt32(b - 0x30)
            case 0x41...0x46: return UInt32(b - 0x41 + 10)
            case 0x61...0x66: return UInt32(b - 0x61 + 10)
            default:
                offset -= 1
                throw failure("invalid hex digit in a \\u escape")
            }
        }

        mutating func escapedUnit() throws -> UInt32 {
            var unit: UInt32 = 0
            for _ in 0..<4 { unit = unit << 4 | (try hexDigit()) }
            return unit
        }

        /// A string's value, built as UTF-8 bytes (escapes decoded) and turned into a String once: linear
        /// in its length, about a byte of memory per byte of text.
        mutating func string() throws -> String {
            offset += 1  // the opening quote
            var utf8: [UInt8] = []
            var runStart = offset
            func flushRun() { utf8.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<offset])) }
            while true {
                guard let b = current else { throw failure("unterminated string") }
                switch b {
                case UInt8(ascii: "\""):
                    flushRun()
                    offset += 1
                    return String(decoding: utf8, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    flushRun()
                    offset += 1
                    guard let e = current else { throw failure("unterminated escape") }
                    offset += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(e)
                    case UInt8(ascii: "b"): utf8.append(0x08)
                    case UInt8(ascii: "f"): utf8.append(0x0C)
                    case UInt8(ascii: "n"): utf8.append(0x0A)
                    case UInt8(ascii: "r"): utf8.append(0x0D)
                    case UInt8(ascii: "t"): utf8.append(0x09)
                    case UInt8(ascii: "u"):
                        let escapeStart = offset - 2
                        var unit = try escapedUnit()
                        if (0xD800..<0xDC00).contains(unit), current == UInt8(ascii: "\\"),
                            offset + 1 < bytes.count, bytes[offset + 1] == UInt8(ascii: "u")
                        {
                            offset += 2
                            let low = try escapedUnit()
                            guard (0xDC00..<0xE000).contains(low) else {
                                offset = escapeStart
                                throw failure("a high surrogate escape must be followed by a low one")
                            }
                            unit = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(unit) else {
                            offset = escapeStart
                            throw failure("\\u escape of a lone surrogate")
                        }
                        utf8.append(contentsOf: UTF8.encode(scalar)!)
                    default:
                        offset -= 1
                        throw failure("invalid escape")
                    }
                    runStart = offset
                case 0x00..<0x20:
                    throw failure("control character in a string (must be escaped)")
                default:
                    // Validate UTF-8 sequence by sequence: a decoder would silently replace bad bytes.
                    offset += try utf8Width(b)
                }
            }
        }

        /// The length of the well-formed UTF-8 sequence starting with `lead` at `offset`.
        func utf8Width(_ lead: UInt8) throws -> Int {
            let width: Int, lower: UInt8, upper: UInt8
            switch lead {
            case 0x00...0x7F: return 1
            case 0xC2...0xDF: (width, lower, upper) = (2, 0x80, 0xBF)
            case 0xE0: (width, lower, upper) = (3, 0xA0, 0xBF)
            case 0xED: (width, lower, upper) = (3, 0x80, 0x9F)
            case 0xE1...0xEF: (width, lower, upper) = (3, 0x80, 0xBF)
            case 0xF0: (width, lower, upper) = (4, 0x90, 0xBF)
            case 0xF4: (width, lower, upper) = (4, 0x80, 0x8F)
            case 0xF1...0xF3: (width, lower, upper) = (4, 0x80, 0xBF)
            default: throw failure("invalid UTF-8 in a string")
            }
            guard offset + width <= bytes.count else { throw failure("truncated UTF-8 in a string") }
            guard (lower...upper).contains(bytes[offset + 1]) else { throw failure("invalid UTF-8 in a string") }
            for k in 2..<max(width, 2) where !(0x80...0xBF).contains(bytes[offset + k]) {
                throw failure("invalid UTF-8 in a string")
            }
            return width
        }
    }
}
