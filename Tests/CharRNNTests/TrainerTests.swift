@testable import CharRNN
import XCTest

final class TrainerTests: XCTestCase {
    var folder: String!

    override func setUp() {
        folder = NSTemporaryDirectory() + "charrnn-trainer-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func corpus(_ n: Int = 4000) throws -> Corpus {
        var rng = RandomGenerator(seed: 9)
        let words = ["the ", "cat ", "sat ", "on ", "a ", "mat", ".\n", "and ", "dog "]
        var text: [Unicode.Scalar] = []
        while text.count < n { text += words[Int(rng.next() % UInt64(words.count))].unicodeScalars }
        return try Corpus(text: text, options: Corpus.Options())
    }

    func options(_ objective: Objective, dropout: Float, out: String) -> TrainingOptions {
        var o = TrainingOptions()
        o.cell = .gru
        o.hidden = 8
        o.layers = 2
        o.dropout = dropout
        o.objective = objective
        o.batchSize = 4
        o.seqLength = 10
        o.windowStep = 7
        o.evalEvery = 10
        o.outDir = out
        o.epochs = 100
        return o
    }

    func testLossDecreases() throws {
        var o = options(.sequence, dropout: 0, out: "\(folder!)/a")
        o.maxSteps = 150
        o.optimizer = OptimizerConfig(kind: .adam, learningRate: 1e-2)
        let trainer = try Trainer(corpus: try corpus(), options: o)
        var first = Double.nan
        let summary = try trainer.run { event in
            if case .validation(let p) = event, first.isNaN { first = p.valLoss }
            return true
        }
        XCTAssertLessThan(summary.progress.valLoss, first - 0.5)
        XCTAssertEqual(summary.progress.step, 150)
    }

    func resumeIsExact(_ objective: Objective, dropout: Float) throws {
        let data = try corpus()
        var whole = options(objective, dropout: dropout, out: "\(folder!)/whole-\(objective)")
        whole.maxSteps = 37
        let uninterrupted = try Trainer(corpus: data, options: whole)
        _ = try uninterrupted.run()

        var first = options(objective, dropout: dropout, out: "\(folder!)/split-\(objective)")
        first.maxSteps = 16
        let part = try Trainer(corpus: data, options: first)
        let firstSummary = try part.run()
        XCTAssertEqual(firstSummary.progress.step, 16)
        var second = first
        second.maxSteps = 37
        let resumed = try Trainer(resuming: firstSummary.checkpoint!, corpus: data, options: second)
        let summary = try resumed.run()
        XCTAssertEqual(summary.progress.step, 37)
        let differing = zip(resumed.model.parameters.array, uninterrupted.model.parameters.array)
            .filter { $0.bitPattern != $1.bitPattern }.count
        XCTAssertEqual(differing, 0, "\(objective) dropout \(dropout): weights differ from the uninterrupted run")
        XCTAssertEqual(summary.progress.valLoss, uninterrupted.progress.valLoss)
    }

    func testResumeIsBitExactForSequences() throws { try resumeIsExact(.sequence, dropout: 0.2) }
    func testResumeIsBitExactForWindows() throws { try resumeIsExact(.window, dropout: 0) }

    func testCheckpointsAreNamedByEpochAndLoss() throws {
        var o = options(.sequence, dropout: 0, out: "\(folder!)/named")
        o.maxSteps = 20
        let summary = try Trainer(corpus: try corpus(), options: o).run()
        let all = try FileManager.default.contentsOfDirectory(atPath: "\(folder!)/named").sorted()
        XCTAssertEqual(all.filter { !$0.hasSuffix(".safetensors") }, ["loss.svg", "metrics.jsonl"], "\(all)")
        let files = all.filter { $0.hasSuffix(".safetensors") }
        XCTAssertEqual(files.count, 2, "\(files)")
        XCTAssertTrue(files.contains("latest.safetensors"))
        let best = files.first { $0.hasPrefix("epoch01-") }
        XCTAssertNotNil(best, "\(files)")
        XCTAssertTrue(best!.hasSuffix(".safetensors"))
        XCTAssertEqual(summary.checkpoint, "\(folder!)/named/latest.safetensors")
    }

    func testResumeRefusesAnotherVocabulary() throws {
        var o = options(.sequence, dropout: 0, out: "\(folder!)/v")
        o.maxSteps = 5
        let summary = try Trainer(corpus: try corpus(), options: o).run()
        let other = try Corpus(
            text: Array(String(repeating: "xyz the cat\n", count: 300).unicodeScalars), options: Corpus.Options())
        XCTAssertThrowsError(try Trainer(resuming: summary.checkpoint!, corpus: other, options: o)) { error in
            XCTAssertTrue("\(error)".contains("'x'"), "\(error)")
        }
    }

    func testDivergenceStopsWithTheLastGoodCheckpoint() throws {
        var o = options(.sequence, dropout: 0, out: "\(folder!)/nan")
        o.maxSteps = 200
        o.evalEvery = 5
        o.clipping = GradientClipping()
        o.optimizer = OptimizerConfig(kind: .sgd, learningRate: 1e4)
        XCTAssertThrowsError(try Trainer(corpus: try corpus(), options: o).run()) { error in
            guard case CharRNNError.diverged(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("diverged at step"), message)
        }
    }

    func testCancelWritesACheckpoint() throws {
        var o = options(.sequence, dropout: 0, out: "\(folder!)/cancel")
        o.evalEvery = 1000
        let summary = try Trainer(corpus: try corpus(), options: o).run { event in
            if case .step(let p) = event { return p.step < 3 }
            return true
        }
        XCTAssertTrue(summary.cancelled)
        XCTAssertEqual(summary.progress.step, 3)
        XCTAssertNotNil(summary.checkpoint)
        XCTAssertNoThrow(try Model.load(summary.checkpoint!))
    }

    func testCorpusShorterThanABatchIsRefused() throws {
        let small = try Corpus(text: Array("the cat sat".unicodeScalars), options: Corpus.Options())
        XCTAssertThrowsError(try Trainer(corpus: small, options: options(.sequence, dropout: 0, out: folder))) {
            error in
            XCTAssertTrue("\(error)".contains("shorter than one batch"), "\(error)")
        }
    }
}
