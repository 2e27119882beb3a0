/// The model's characters, each once, in index order. Built from a corpus it is ordered by code point,
/// like Python's `sorted(set(text))`, so indices match the Keras scripts.
public struct Vocabulary: Equatable, Sendable {
    /// The characters; a character's index is its position here.
    public let characters: [Unicode.Scalar]
    private let indexOf: [Unicode.Scalar: Int32]
    /// How text is normalised before its characters are looked up (the model's `normalization`).
    public private(set) var normalization: TextNormalization = .none

    /// The same characters, reading text normalised by `normalization`.
    public func normalizing(_ normalization: TextNormalization) -> Vocabulary {
        var copy = self
        copy.normalization = normalization
        return copy
    }

    /// A vocabulary in the given order.
    /// - Throws: `CharRNNError.format` when a character repeats or the list is empty.
    public init(characters: [Unicode.Scalar]) throws {
        guard !characters.isEmpty else { throw CharRNNError.format("the vocabulary is empty") }
        var index: [Unicode.Scalar: Int32] = [:]
        for (i, c) in characters.enumerated() {
            if index[c] != nil {
                throw CharRNNError.format("the vocabulary holds \(Vocabulary.describe(c)) twice")
            }
            index[c] = Int32(i)
        }
        self.characters = characters
        self.indexOf = index
    }

    /// The sorted set of characters of a text.
    public init(corpus: [Unicode.Scalar]) throws {
        try self.init(characters: Set(corpus).sorted { $0.value < $1.value })
    }

    /// The number of characters: the model's `vocabSize`.
    public var count: Int { characters.count }

    /// The index of a character, or nil when the vocabulary lacks it.
    @inline(__always) public func index(of c: Unicode.Scalar) -> Int32? { indexOf[c] }

    /// The UTF-8 string of all characters in order (as stored in model files).
    public var string: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: characters)
        return String(s)
    }

    /// Maps text to indices, normalised first, either refusing or skipping characters the vocabulary lacks.
    /// - Returns: the indices and the distinct skipped characters, in order of appearance.
    /// - Throws: `CharRNNError.unknownCharacter` listing them, unless `skipUnknown`.
    public func encode(_ text: [Unicode.Scalar], skipUnknown: Bool) throws -> (
        indices: [Int32], skipped: [Unicode.Scalar], skippedCount: Int
    ) {
        var indices: [Int32] = []
        indices.reserveCapacity(text.count)
        var skipped: [Unicode.Scalar] = []
        var seen = Set<Unicode.Scalar>()
        var skippedCount = 0
        for c in normalization.apply(text) {
            if let i = indexOf[c] {
                indices.append(i)
            } else {
                skippedCount += 1
                if seen.insert(c).inserted { skipped.append(c) }
            }
        }
        if !skipped.isEmpty && !skipUnknown {
            throw CharRNNError.unknownCharacter(
                "characters not in the model's vocabulary: \(skipped.prefix(10).map(Vocabulary.describe).joined(separator: ", "))"
                    + (skipped.count > 10 ? " and \(skipped.count - 10) more" : ""))
        }
        return (indices, skipped, skippedCount)
    }

    /// A readable name for a character: quoted, with whitespace and controls spelled out.
    public static func describe(_ c: Unicode.Scalar) -> String {
        switch c {
        case "\n": return "'\\n'"
        case "\t": return "'\\t'"
        case "\r": return "'\\r'"
        case " ": return "' '"
        default:
            let hex = String(c.value, radix: 16, uppercase: true)
            let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            if c.properties.generalCategory == .control || c.value < 0x20 { return code }
            return "'\(c)' (\(code))"
        }
    }
}
