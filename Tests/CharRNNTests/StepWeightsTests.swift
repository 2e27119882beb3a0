@testable import CharRNN
import XCTest

/// Sessions multiply with copies of the model's weights, made once per precision and shared; a change of
/// the weights reaches the sessions created after it.
final class StepWeightsTests: XCTestCase {
    func testSessionsOfOnePrecisionShareOneCopy() {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2))
        let a = Session(model: model), b = Session(model: model), q = Session(model: model, precision: .int8)
        XCTAssertTrue(a.stepWeights === b.stepWeights)
        XCTAssertFalse(a.stepWeights === q.stepWeights)
    }

    func testChangedWeightsReachNewSessionsOnly() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2))
        let before = Session(model: model)
        try before.feed("abc")
        let original = try before.probabilities()

        let (bias, shape) = try model.weights(layer: "dense", weight: "bias")
        let raised = bias.enumerated().map { $0.offset == 0 ? $0.element + 2 : $0.element }
        try raised.withUnsafeBufferPointer {
            try model.setWeights(layer: "dense", weight: "bias", values: $0, shape: shape)
        }
        let (kernel, kernelShape) = try model.weights(layer: "rnn1", weight: "recurrent_kernel")
        let doubled = kernel.map { $0 * 2 }
        try doubled.withUnsafeBufferPointer {
            try model.setWeights(layer: "rnn1", weight: "recurrent_kernel", values: $0, shape: kernelShape)
        }

        let after = Session(model: model)
        try after.feed("abc")
        XCTAssertNotEqual(try after.probabilities(), original)
        // The batched path reads the weights in place: the new session agrees with it.
        let batched = try model.probabilities(Array("abc".unicodeScalars)).suffix(model.config.vocabSize)
        for (x, y) in zip(try after.probabilities(), batched) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        XCTAssertFalse(after.stepWeights === before.stepWeights)
    }

    func testTrainingRefreshesTheCopies() throws {
        var options = TrainingOptions()
        options.hidden = 8
        options.batchSize = 2
        options.seqLength = 5
        options.maxSteps = 2
        let text = Array(String(repeating: "the cat sat on a mat. ", count: 20).unicodeScalars)
        let trainer = try Trainer(corpus: try Corpus(text: text, options: Corpus.Options()), options: options)
        let before = Session(model: trainer.model).stepWeights
        _ = try trainer.run()
        XCTAssertFalse(Session(model: trainer.model).stepWeights === before)
    }
}
