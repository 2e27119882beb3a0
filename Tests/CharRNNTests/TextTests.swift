@testable import CharRNN
import XCTest

final class TextTests: XCTestCase {
    func testVocabularyIsSortedByCodePointLikePython() throws {
        let v = try Vocabulary(corpus: Array("hello, World\né!".unicodeScalars))
        XCTAssertEqual(v.string, "\n !,Wdehlor\u{E9}")  // sorted(set(text))
    }

    func testInvalidUTF8NamesTheOffset() {
        XCTAssertThrowsError(try UTF8Text.decode([0x61, 0x62, 0xC3, 0x28])) { error in
            XCTAssertEqual(
                error as? CharRNNError,
                .invalidUTF8(offset: 2, "invalid UTF-8 at byte offset 2 (after 2 valid characters)"))
        }
        XCTAssertThrowsError(try UTF8Text.decode([0xED, 0xA0, 0x80]))  // a surrogate
        XCTAssertThrowsError(try UTF8Text.decode([0xC0, 0x80]))  // overlong
        XCTAssertEqual(try UTF8Text.decode(Array("ça".utf8)), ["ç", "a"])
    }

    func testReducedCharsetHas36Characters() {
        XCTAssertEqual(TextNormalization.reducedCharset.count, 36)
        let reduced = TextNormalization.reduceCharset.apply(Array("Hello, World! 42\"x\"".unicodeScalars))
        XCTAssertEqual(String(String.UnicodeScalarView(reduced)), "hello, world!    x ")
        XCTAssertEqual(
            String(String.UnicodeScalarView(TextNormalization.lowercase.apply(Array("ÀB".unicodeScalars)))), "àb")
    }

    func testUnknownCharactersAreNamedOrSkipped() throws {
        let v = Fixtures.vocabulary()
        XCTAssertThrowsError(try v.encode(Array("abz\u{1}".unicodeScalars), skipUnknown: false)) { error in
            XCTAssertEqual("\(error)", "characters not in the model's vocabulary: 'z' (U+007A), U+0001")
        }
        let encoded = try v.encode(Array("azbz".unicodeScalars), skipUnknown: true)
        XCTAssertEqual(encoded.indices, [0, 1])
        XCTAssertEqual(encoded.skipped, ["z"])
        XCTAssertEqual(encoded.skippedCount, 2)
    }

    func testCorpusSplitAndErrors() throws {
        var options = Corpus.Options()
        options.valFraction = 0.25
        let corpus = try Corpus(text: Array("abcdefgh".unicodeScalars), options: options)
        XCTAssertEqual(corpus.training.count, 6)
        XCTAssertEqual(corpus.validation.count, 2)
        XCTAssertThrowsError(try Corpus(text: [], options: options))
        XCTAssertThrowsError(
            try Corpus(text: Array("xyz".unicodeScalars), options: options, vocabulary: Fixtures.vocabulary())
        ) { error in
            XCTAssertTrue("\(error)".contains("'x'"), "\(error)")
        }
    }

    /// max_chars reads only 4 bytes per character and decodes no further than it needs: a prefix that ends
    /// inside the next (4-byte) character is not invalid UTF-8, and bad bytes past the limit are not read.
    func testMaxCharsStopsBeforeTheCharacterItCutsAndTheBytesBeyond() throws {
        let path = NSTemporaryDirectory() + "charrnn-maxchars-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let text = "é😀€😀ab" + String(repeating: "😀", count: 10)
        try FileIO.writeAtomically(Array(text.utf8) + [0xFF, 0xFE], to: path)  // invalid bytes at the end
        for maxChars in 1...8 {
            var options = Corpus.Options()
            options.maxChars = maxChars
            options.valFraction = 0
            if maxChars == 1 {
                XCTAssertThrowsError(try Corpus.load(path: path, options: options))  // one character is too few
                continue
            }
            let corpus = try Corpus.load(path: path, options: options)
            XCTAssertEqual(corpus.training.count, maxChars)
        }
        var whole = Corpus.Options()
        whole.valFraction = 0
        XCTAssertThrowsError(try Corpus.load(path: path, options: whole)) { error in
            XCTAssertTrue("\(error)".contains("invalid UTF-8"), "\(error)")
        }
    }
}
