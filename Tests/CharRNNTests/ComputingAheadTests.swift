@testable import CharRNN
import Dispatch
import XCTest

/// A small model's sessions compute each layer's b + h · U ahead, on a worker, while they go on with the
/// layers above and the head. That must give the bits of computing it when it is needed, here, and must
/// not depend on other threads' sessions competing for the same worker.
final class ComputingAheadTests: XCTestCase {
    let text = "abcdefg" + "gfedcba" + "agbfcedd"

    /// The distribution after each character of `text`, as bits, then 60 drawn characters.
    func trace(_ session: Session) throws -> ([[UInt32]], String) {
        var distributions: [[UInt32]] = []
        for character in text {
            try session.feed(String(character))
            distributions.append(try session.probabilities().map(\.bitPattern))
        }
        var drawn = ""
        try session.generate(count: 60) { c, _ in
            drawn.unicodeScalars.append(c); return true
        }
        return (distributions, drawn)
    }

    func testAheadGivesTheBitsOfComputingWhenNeeded() throws {
        let configs = [
            Fixtures.config(.lstm, layers: 3, units: 40),
            Fixtures.config(.lstm, layers: 1, units: 160),  // 400 KB: the product may still run at the next step
            Fixtures.config(.rnn, layers: 2, units: 33),
            Fixtures.config(.lstm, layers: 2, input: .embedding),
            Fixtures.config(.lstm, layers: 2, gate: .hardSigmoidKeras2, activation: .relu),
            Fixtures.config(.rnn, layers: 1, input: .scalar, activation: .relu),
            Fixtures.config(.gru, layers: 2, units: 30),
            Fixtures.config(.gru, layers: 1, units: 200)  // 480 KB: the product may still run at the next step
        ]
        for config in configs {
            let model = Fixtures.model(config)
            for precision in WeightPrecision.allCases {
                let ahead = Session(
                    model: model, seed: 1, precision: precision, aheadLimitBytes: ComputingAhead.limitBytes)
                let whenNeeded = Session(model: model, seed: 1, precision: precision, aheadLimitBytes: 0)
                XCTAssertNotNil(ahead.ahead)
                XCTAssertNil(whenNeeded.ahead)
                let (a, drawnA) = try trace(ahead), (b, drawnB) = try trace(whenNeeded)
                XCTAssertEqual(a, b, "\(config.layers.map(\.cell)) \(precision)")
                XCTAssertEqual(drawnA, drawnB)
            }
        }
    }

    /// A GRU without reset_after multiplies r ⊙ h by its candidate's kernel, which needs step t's reset
    /// gate: a model with one computes nothing ahead. With reset_after, and mixed with LSTM layers, it does.
    func testGRUsComputeAheadWithResetAfterOnly() throws {
        var mixed = Fixtures.config(.lstm, layers: 2, units: 20)
        mixed.layers[1].cell = .gru
        let model = Fixtures.model(mixed)
        XCTAssertTrue(
            Session(model: model, seed: 1, precision: .float32, aheadLimitBytes: ComputingAhead.limitBytes).ahead != nil
        )
        let (a, drawnA) = try trace(
            Session(model: model, seed: 1, precision: .float32, aheadLimitBytes: ComputingAhead.limitBytes))
        let (b, drawnB) = try trace(Session(model: model, seed: 1, precision: .float32, aheadLimitBytes: 0))
        XCTAssertEqual(a, b)
        XCTAssertEqual(drawnA, drawnB)
        XCTAssertFalse(
            Session(
                model: Fixtures.model(Fixtures.config(.gru, layers: 2, resetAfter: false)), seed: 1,
                precision: .float32, aheadLimitBytes: ComputingAhead.limitBytes
            ).ahead != nil)
    }

    /// Sessions on several threads at once: one holds the worker, the others compute alone; every one
    /// gives the bits of a session that ran by itself, whichever way each step went.
    func testSessionsOnSeveralThreadsGiveTheBitsOfOneAlone() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2, units: 48))
        for precision in WeightPrecision.allCases {
            let expected = try trace(Session(model: model, seed: 4, precision: precision, aheadLimitBytes: 0))
            let threads = 4
            let results = UnsafeMutablePointer<([[UInt32]], String)?>.allocate(capacity: threads)
            results.initialize(repeating: nil, count: threads)
            defer { results.deallocate() }
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                var last: ([[UInt32]], String)?
                for _ in 0..<10 {
                    last = try? self.trace(
                        Session(model: model, seed: 4, precision: precision, aheadLimitBytes: ComputingAhead.limitBytes)
                    )
                }
                results[i] = last
            }
            for i in 0..<threads {
                XCTAssertEqual(results[i]?.0, expected.0, "thread \(i), \(precision)")
                XCTAssertEqual(results[i]?.1, expected.1, "thread \(i), \(precision)")
            }
        }
    }

    /// A session dropped, reset or restored right after a step, with its next product still on the
    /// worker, neither crashes nor lets the late product reach the new state.
    func testStateChangesWaitForTheProductInFlight() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2, units: 64))
        for _ in 0..<200 {
            let dropped = Session(
                model: model, seed: 1, precision: .float32, aheadLimitBytes: ComputingAhead.limitBytes)
            try dropped.feed("abc")
        }
        let a = Session(model: model, seed: 1, precision: .float32, aheadLimitBytes: ComputingAhead.limitBytes),
            fresh = Session(model: model, seed: 1, precision: .float32, aheadLimitBytes: 0)
        try a.feed("abcdef")
        a.reset()
        try a.feed("gfe")
        try fresh.feed("gfe")
        XCTAssertEqual(try a.probabilities().map(\.bitPattern), try fresh.probabilities().map(\.bitPattern))
        let saved = fresh.stateBytes()
        try a.feed("ba")
        try saved.withUnsafeBytes { try a.setState($0) }
        try a.feed("c")
        try fresh.feed("c")
        XCTAssertEqual(try a.probabilities().map(\.bitPattern), try fresh.probabilities().map(\.bitPattern))
    }
}
