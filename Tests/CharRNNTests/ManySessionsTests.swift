@testable import CharRNN
import XCTest

/// Sessions advanced together (`Session.sampleMany`) must give, bit for bit, what each gives stepped
/// alone: the characters, their probabilities, the distributions and the states, for every cell, input
/// and precision, any number of sessions (the kernel sums streams four at a time), and models large enough
/// for the products to be split over the threads.
final class ManySessionsTests: XCTestCase {
    let prompts = ["abc", "g", "fedcba ", "\nab", "ccc", "a", "bag", "dd", "e\n", "fa", "gab"]

    /// Per-session parameters: plain, hot, top-k, top-p and greedy draws side by side.
    func parameters(_ count: Int) -> [SamplingParameters] {
        let kinds = [
            SamplingParameters(), SamplingParameters(temperature: 1.7), SamplingParameters(topK: 3),
            SamplingParameters(temperature: 0.6, topP: 0.8), SamplingParameters(greedy: true)
        ]
        return (0..<count).map { kinds[$0 % kinds.count] }
    }

    func sessions(_ model: Model, _ count: Int, _ precision: WeightPrecision) throws -> [Session] {
        try (0..<count).map { s in
            let session = Session(model: model, seed: UInt64(11 + s), precision: precision)
            try session.feed(prompts[s % prompts.count])
            return session
        }
    }

    /// Steps `count` sessions together and alone for `steps` characters and compares everything.
    func checkTogetherEqualsAlone(_ model: Model, count: Int, steps: Int, _ label: String) throws {
        let params = parameters(count)
        for precision in WeightPrecision.allCases {
            let together = try sessions(model, count, precision), alone = try sessions(model, count, precision)
            for t in 0..<steps {
                let many = try Session.sampleMany(together, params)
                for s in 0..<count {
                    let one = try alone[s].sample(params[s])
                    let what = "\(label) \(precision) session \(s) step \(t)"
                    XCTAssertEqual(many[s].index, one.index, what)
                    XCTAssertEqual(many[s].probability.bitPattern, one.probability.bitPattern, what)
                }
            }
            for s in 0..<count {
                XCTAssertEqual(together[s].stateBytes(), alone[s].stateBytes(), "\(label) \(precision) state \(s)")
                XCTAssertEqual(
                    try together[s].probabilities().map(\.bitPattern), try alone[s].probabilities().map(\.bitPattern),
                    "\(label) \(precision) distribution \(s)")
            }
        }
    }

    func testEveryCellTogetherGivesTheBitsOfAlone() throws {
        for (name, config) in Fixtures.allConfigs {
            try checkTogetherEqualsAlone(Fixtures.model(config), count: 6, steps: 12, name)
        }
    }

    /// 1 to 9 sessions: every remainder of the kernel's blocks of four; units that leave partial panels.
    func testAnyNumberOfSessions() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2, units: 37))
        for count in 1...9 { try checkTogetherEqualsAlone(model, count: count, steps: 5, "\(count) sessions") }
    }

    /// Products large enough to be split over the pool's threads, for each cell.
    func testLargeModelsSplitOverThreads() throws {
        let configs = [
            Fixtures.config(.lstm, layers: 2, units: 150), Fixtures.config(.gru, layers: 2, units: 170),
            Fixtures.config(.gru, layers: 1, units: 160, resetAfter: false), Fixtures.config(.rnn, units: 300)
        ]
        for config in configs {
            try checkTogetherEqualsAlone(Fixtures.model(config), count: 7, steps: 4, "\(config.layers.map(\.cell))")
        }
    }

    /// A session in window mode among stateful ones re-runs its window, and still matches stepping alone.
    func testWindowSessionsAmongStatefulOnes() throws {
        let model = Fixtures.model(Fixtures.config(.gru, layers: 2, units: 12))
        let together = try sessions(model, 3, .float32), alone = try sessions(model, 3, .float32)
        try together[1].setWindow(4)
        try alone[1].setWindow(4)
        let params = parameters(3)
        for _ in 0..<10 {
            let many = try Session.sampleMany(together, params)
            for s in 0..<3 { XCTAssertEqual(many[s].index, try alone[s].sample(params[s]).index) }
        }
        XCTAssertEqual(
            try together[1].probabilities().map(\.bitPattern), try alone[1].probabilities().map(\.bitPattern))
    }

    /// Sessions that cannot step together are refused, naming why, and nothing changes.
    func testRefusalsChangeNothing() throws {
        let model = Fixtures.model(Fixtures.config(.lstm, units: 8))
        let other = Fixtures.model(Fixtures.config(.lstm, units: 8), seed: 99)
        let a = try sessions(model, 2, .float32)
        let int8 = try sessions(model, 1, .int8)[0]
        let foreign = try sessions(other, 1, .float32)[0]
        let idle = Session(model: model, seed: 5)
        let before = a.map { $0.stateBytes() }
        let cases: [([Session], [SamplingParameters], String)] = [
            ([], [SamplingParameters()], "no sessions"),
            ([a[0], a[0]], [SamplingParameters()], "twice"),
            ([a[0], foreign], [SamplingParameters()], "another model"),
            ([a[0], int8], [SamplingParameters()], "precision"),
            ([a[0], a[1]], parameters(3), "parameters for 3"),
            ([a[0], a[1]], [SamplingParameters(temperature: 0)], "temperature"),
            ([a[0], idle], [SamplingParameters()], "no input")
        ]
        for (group, params, message) in cases {
            XCTAssertThrowsError(try Session.sampleMany(group, params), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error) should say \(message)")
            }
        }
        XCTAssertEqual(a.map { $0.stateBytes() }, before)
        // the generators are untouched too: the next draws are those of fresh copies
        let fresh = try sessions(model, 2, .float32)
        let next = try Session.sampleMany(a, [SamplingParameters()])
        XCTAssertEqual(next.map(\.index), try fresh.map { try $0.sample().index })
        // a session made after the weights changed multiplies with another copy of them
        model.parameters[0] += 1
        model.weightsDidChange()
        let later = try sessions(model, 1, .float32)[0]
        XCTAssertThrowsError(try Session.sampleMany([a[0], later], [SamplingParameters()])) { error in
            XCTAssertTrue("\(error)".contains("other weights"), "\(error)")
        }
    }
}
