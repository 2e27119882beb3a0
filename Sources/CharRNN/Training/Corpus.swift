/// A training text: decoded, optionally transformed, split into training and validation indices.
public struct Corpus {
    /// The characters of the text (sorted by code point), or the vocabulary it was indexed with.
    public let vocabulary: Vocabulary
    /// Indices of the training part (the first 1 − valFraction of the text).
    public let training: [Int32]
    /// Indices of the validation part (the last valFraction).
    public let validation: [Int32]
    /// Identifies the text, so a resumed run knows whether it sees the same data.
    let fingerprint: UInt64

    /// How to read the text.
    public struct Options: Equatable, Sendable {
        /// Lowercase the text, as Python's `str.lower` does for characters with a one-character lowercase.
        public var lowercase = false
        /// The 36-character reduction of one tutorial: lowercase, keep a–z and `,.?! \n:;-'`, and turn every
        /// other character into a space. Implies `lowercase`.
        public var reduceCharset = false
        /// The normalisation these options ask for, which the trained model stores.
        public var normalization: TextNormalization {
            TextNormalization(lowercase: lowercase, reduceCharset: reduceCharset)
        }
        /// Use at most this many characters (0 = all).
        public var maxChars = 0
        /// The fraction of the text, from its end, kept for validation, in [0, 1); a split that would hold
        /// fewer than 2 characters is none.
        public var valFraction: Double = 0.1
        /// The defaults: the whole text as it is, the last 10% for validation.
        public init() {}
    }

    /// Reads a UTF-8 text file.
    /// - Parameter vocabulary: index the text with this vocabulary (fine-tuning, resuming); every character
    ///   must be in it. nil derives the sorted character set.
    /// - Throws: `CharRNNError.io` when the file cannot be read, `CharRNNError.invalidUTF8` with the byte
    ///   offset, and what `init(text:options:vocabulary:)` throws.
    public static func load(path: String, options: Options, vocabulary: Vocabulary? = nil) throws -> Corpus {
        // With max_chars only the bytes those characters can take are read (at most 4 each), and decoding
        // stops after them: a small run on a huge file costs the prefix's memory, not the file's.
        let limit = options.maxChars > 0 ? options.maxChars : Int.max
        let prefix = limit < Int.max / 4 ? limit * 4 : nil
        let bytes = try FileIO.read(path, prefix: prefix, memoryPerByte: memoryPerTextByte)
        let scalars: [Unicode.Scalar]
        do { scalars = try UTF8Text.decode(bytes, limit: limit) } catch CharRNNError.invalidUTF8(let offset, _) {
            throw CharRNNError.invalidUTF8(offset: offset, "\(path): invalid UTF-8 at byte offset \(offset)")
        }
        return try Corpus(text: scalars, options: options, vocabulary: vocabulary)
    }

    /// Peak memory per byte of an ASCII text while a corpus is built, about 21 bytes: the bytes, the
    /// decoded scalars and their transformed copy (4 bytes each), the indices, their split and the
    /// fingerprint's copy (4 each); with some slack.
    static let memoryPerTextByte: Double = 24

    /// A corpus from text already decoded.
    /// - Parameter fixed: index the text with this vocabulary; every character must be in it. nil derives
    ///   the sorted character set.
    /// - Throws: `CharRNNError.config` for a bad `valFraction`, `CharRNNError.invalidArgument` for fewer
    ///   than 2 characters, `CharRNNError.unknownCharacter` for characters outside `fixed`.
    public init(text: [Unicode.Scalar], options: Options, vocabulary fixed: Vocabulary? = nil) throws {
        guard options.valFraction >= 0, options.valFraction < 1 else {
            throw CharRNNError.config("val_fraction must be in [0, 1), got \(options.valFraction)")
        }
        var text = text
        if options.maxChars > 0 && text.count > options.maxChars { text = Array(text[0..<options.maxChars]) }
        text = options.normalization.apply(text)
        guard text.count >= 2 else {
            throw CharRNNError.invalidArgument("the corpus is empty or has a single character; it needs at least 2")
        }
        let vocabulary = try fixed ?? Vocabulary(corpus: text).normalizing(options.normalization)
        if let fixed {
            let missing = Set(text).filter { fixed.index(of: $0) == nil }.sorted { $0.value < $1.value }
            if !missing.isEmpty {
                throw CharRNNError.unknownCharacter(
                    "the corpus has \(missing.count) character(s) the model's vocabulary lacks: "
                        + missing.prefix(20).map(Vocabulary.describe).joined(separator: ", "))
            }
        }
        let indices = try vocabulary.encode(text, skipUnknown: false).indices
        // One character cannot be predicted from anything: a split that small means no validation.
        let wanted = Int(Double(indices.count) * options.valFraction)
        let validationCount = wanted >= 2 ? wanted : 0
        self.vocabulary = vocabulary
        training = Array(indices[0..<(indices.count - validationCount)])
        validation = Array(indices[(indices.count - validationCount)...])
        fingerprint = indices.withUnsafeBytes { fnv1a(Array($0)) }
    }

    /// Describes how two vocabularies differ, for refusing a resume on another text.
    static func difference(_ expected: Vocabulary, _ found: Vocabulary) -> String {
        let a = Set(expected.characters), b = Set(found.characters)
        let missing = a.subtracting(b).sorted { $0.value < $1.value }
        let extra = b.subtracting(a).sorted { $0.value < $1.value }
        var parts: [String] = []
        if !extra.isEmpty {
            parts.append("the corpus adds \(extra.prefix(20).map(Vocabulary.describe).joined(separator: ", "))")
        }
        if !missing.isEmpty {
            parts.append("lacks \(missing.prefix(20).map(Vocabulary.describe).joined(separator: ", "))")
        }
        if parts.isEmpty && expected.normalization != found.normalization {
            parts.append(
                "the model reads text normalised as \(expected.normalization.rawValue), the corpus as \(found.normalization.rawValue)"
            )
        }
        if parts.isEmpty { parts.append("the same characters in a different order") }
        return "the checkpoint's vocabulary has \(expected.count) characters, the corpus \(found.count): "
            + parts.joined(separator: "; ")
    }
}
