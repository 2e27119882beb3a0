@testable import CharRNN
import XCTest

/// `Model.trace`: every distribution and state along a text, as a session fed one character at a time
/// computes them.
final class TraceTests: XCTestCase {
    /// Longer than one chunk (256), so the state carried between chunks is checked too.
    let text = Array(String(repeating: "abc de\nfg a", count: 30).unicodeScalars)

    func testAgreesWithASessionForEveryConfiguration() throws {
        for (name, config) in Fixtures.allConfigs {
            let model = Fixtures.model(config)
            let trace = try model.trace(text)
            let n = text.count, V = config.vocabSize
            XCTAssertEqual(trace.characters, text, name)
            XCTAssertEqual(trace.probabilities.count, n * V, name)
            let session = Session(model: model)
            var worst: Float = 0
            for t in 0..<n {
                try session.feed([text[t]])
                let p = try session.probabilities()
                for j in 0..<V { worst = max(worst, abs(p[j] - trace.probabilities[t * V + j])) }
                for (l, layer) in trace.layers.enumerated() {
                    let U = layer.units
                    for u in 0..<U {
                        worst = max(worst, abs(session.h[l][u] - layer.hidden[t * U + u]))
                        if let c = session.c[l], let cells = layer.cellState {
                            worst = max(worst, abs(c[u] - cells[t * U + u]))
                        }
                    }
                    XCTAssertEqual(layer.cellState != nil, config.layers[l].cell == .lstm, name)
                }
            }
            // Batched products against vector-matrix products: rounding only.
            XCTAssertLessThan(worst, 1e-5, name)
            let evaluated = try model.evaluate(text)
            XCTAssertEqual(trace.result.count, n - 1, name)
            XCTAssertEqual(trace.result.meanLoss, evaluated.meanLoss, accuracy: 1e-9, name)
            XCTAssertEqual(trace.probabilityOfCharacter(at: 0), nil)
            let index = Int(try model.vocabulary.encode([text[5]], skipUnknown: false).indices[0])
            XCTAssertEqual(trace.probabilityOfCharacter(at: 5), trace.probabilities[4 * V + index])
        }
    }

    func testUnknownCharactersAndEmptyText() throws {
        let model = Fixtures.model(Fixtures.config(.gru))
        XCTAssertThrowsError(try model.trace(Array("abz".unicodeScalars))) { error in
            guard case CharRNNError.unknownCharacter = error else { return XCTFail("\(error)") }
        }
        let skipped = try model.trace(Array("abzzc".unicodeScalars), skipUnknown: true)
        XCTAssertEqual(String(String.UnicodeScalarView(skipped.characters)), "abc")
        XCTAssertEqual(skipped.skippedCount, 2)
        XCTAssertThrowsError(try model.trace([]))
        XCTAssertThrowsError(try model.trace(Array("zz".unicodeScalars), skipUnknown: true))
        let one = try model.trace(Array("a".unicodeScalars))
        XCTAssertEqual(one.result.count, 0)
        XCTAssertTrue(one.result.meanLoss.isNaN)
    }

    func testAnInterruptedTraceStops() throws {
        let model = Fixtures.model(Fixtures.config(.lstm))
        var asked = 0
        XCTAssertThrowsError(
            try model.trace(
                text,
                interrupt: {
                    asked += 1; return asked == 2
                })
        ) { error in
            guard case CharRNNError.cancelled = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(asked, 2)
    }

    func testOverflowingWeightsAreAnError() throws {
        let model = Fixtures.model(Fixtures.config(.lstm))
        for i in 0..<model.parameterCount { model.parameters[i] = 3e38 }
        XCTAssertThrowsError(try model.trace(text)) { error in
            guard case CharRNNError.notFinite = error else { return XCTFail("\(error)") }
        }
    }
}
