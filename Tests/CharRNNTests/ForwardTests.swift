@testable import CharRNN
import XCTest

/// The library's forward values against the independent double-precision reference.
final class ForwardTests: XCTestCase {
    /// float32 arithmetic over a few dozen terms: agreement to 1e-5 in probability.
    let tolerance = 1e-5

    func testBatchedForwardMatchesReference() throws {
        for (name, config) in Fixtures.allConfigs {
            let model = Fixtures.model(config)
            let reference = ReferenceModel(model: model)
            let (inputs, _) = Fixtures.batch(3, 6)
            let graph = TrainingGraph(model: model, batch: 3, steps: 6)
            var probs = [Float](repeating: 0, count: 3 * 6 * 9)
            var rng = RandomGenerator(seed: 0)
            _ = graph.run(
                inputs: inputs.flatMap { $0 }, targets: nil, steps: 6, training: false,
                computeGradients: false, carryState: false, rng: &rng, probabilities: &probs)
            for b in 0..<3 {
                let expected = reference.distributions(inputs[b])
                for t in 0..<6 {
                    for v in 0..<9 {
                        let got = Double(probs[(t * 3 + b) * 9 + v])
                        XCTAssertEqual(got, expected[t][v], accuracy: tolerance, "\(name) b\(b) t\(t) v\(v)")
                    }
                }
            }
        }
    }

    func testSessionStepMatchesReference() throws {
        for (name, config) in Fixtures.allConfigs {
            let model = Fixtures.model(config)
            let expected = ReferenceModel(model: model).distributions([1, 4, 2, 8, 0, 3, 3])
            let session = Session(model: model)
            for (t, index) in [Int32(1), 4, 2, 8, 0, 3, 3].enumerated() {
                session.step(index)
                let p = try session.probabilities()
                for v in 0..<9 { XCTAssertEqual(Double(p[v]), expected[t][v], accuracy: tolerance, "\(name) t\(t)") }
            }
        }
    }

    /// Sessions agree with the batched path for wider layers too: products over several panels of columns,
    /// and an embedding's product through BLAS.
    func testSessionMatchesBatchedForwardForWideLayers() throws {
        for config in [
            Fixtures.config(.lstm, layers: 2, units: 64),
            Fixtures.config(.gru, layers: 2, units: 64, resetAfter: false),
            Fixtures.config(.gru, layers: 2, units: 64), Fixtures.config(.rnn, layers: 2, units: 80, input: .embedding)
        ] {
            let model = Fixtures.model(config)
            let indices: [Int32] = [1, 4, 2, 8, 0, 3, 3, 5, 6, 7]
            var probs = [Float](repeating: 0, count: indices.count * 9)
            try model.probabilities(indices: indices, into: &probs)
            let expected = ReferenceModel(model: model).distributions(indices)
            let session = Session(model: model)
            for (t, index) in indices.enumerated() {
                session.step(index)
                let p = try session.probabilities()
                for v in 0..<9 {
                    XCTAssertEqual(p[v], probs[t * 9 + v], accuracy: 1e-5, "\(config.layers[0].cell) t\(t)")
                    XCTAssertEqual(Double(p[v]), expected[t][v], accuracy: tolerance)
                }
            }
        }
    }

    func testProbabilitiesOfTextAcrossChunksMatchSession() throws {
        let model = Fixtures.model(Fixtures.config(.gru, layers: 2))
        var rng = RandomGenerator(seed: 5)
        let text = (0..<600).map { _ in Fixtures.alphabet[Int(rng.next() % 9)] }  // spans three chunks
        let all = try model.probabilities(text)
        let session = Session(model: model)
        for (t, c) in text.enumerated() {
            try session.feed([c])
            let p = try session.probabilities()
            for v in 0..<9 { XCTAssertEqual(all[t * 9 + v], p[v], accuracy: 1e-5) }
        }
    }

    func testEvaluateMatchesReferenceLoss() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2))
        let text = Array("abc defg\nabba cafe\n".unicodeScalars)
        let result = try model.evaluate(text)
        let indices = text.map { Int32(model.vocabulary.index(of: $0)!) }
        let p = ReferenceModel(model: model).distributions(indices)
        var loss = 0.0
        for t in 0..<(indices.count - 1) { loss -= log(p[t][Int(indices[t + 1])]) }
        XCTAssertEqual(result.count, indices.count - 1)
        XCTAssertEqual(result.meanLoss, loss / Double(indices.count - 1), accuracy: 1e-5)
    }

    func testSummaryCountsMatchKeras() {
        // LSTM(128) on 36 characters then Dense(36): Keras reports 84,480 and 4,644.
        let vocab = try! Vocabulary(characters: Array("abcdefghijklmnopqrstuvwxyz,.?! \n:;-'".unicodeScalars))
        let model = try! Model(
            config: ModelConfig.stacked(cell: .lstm, layers: 1, units: 128, vocabSize: 36), vocabulary: vocab)
        XCTAssertEqual(model.layout.tensors.filter { $0.layer == "rnn0" }.reduce(0) { $0 + $1.count }, 84_480)
        XCTAssertEqual(model.layout.tensors.filter { $0.layer == "dense" }.reduce(0) { $0 + $1.count }, 4_644)
        XCTAssertTrue(model.summary.contains("84,480"))
        XCTAssertTrue(model.summary.contains("4,644"))
        XCTAssertTrue(model.summary.contains("Total params: 89,124"))
        // GRU(128) reset_after on 36 inputs: 3·128·(36 + 128 + 2) = 63,744 as in Keras 2.3+.
        let gru = try! Model(
            config: ModelConfig.stacked(cell: .gru, layers: 1, units: 128, vocabSize: 36), vocabulary: vocab)
        XCTAssertEqual(gru.layout.tensors.filter { $0.layer == "rnn0" }.reduce(0) { $0 + $1.count }, 63_744)
    }
}
