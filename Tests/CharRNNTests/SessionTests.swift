@testable import CharRNN
import XCTest

final class SessionTests: XCTestCase {
    let model = Fixtures.model(Fixtures.config(.lstm, layers: 2))

    func generate(_ session: Session, _ n: Int, _ p: SamplingParameters = SamplingParameters()) throws -> String {
        var out = ""
        try session.generate(count: n, p) { c, _ in
            out.unicodeScalars.append(c); return true
        }
        return out
    }

    func testSameSeedSameText() throws {
        let a = Session(model: model, seed: 5), b = Session(model: model, seed: 5), c = Session(model: model, seed: 6)
        for s in [a, b, c] { try s.feed("ab") }
        let ta = try generate(a, 200), tb = try generate(b, 200), tc = try generate(c, 200)
        XCTAssertEqual(ta, tb)
        XCTAssertNotEqual(ta, tc)
    }

    func testStateRoundTripContinuesIdentically() throws {
        let a = Session(model: model, seed: 1)
        try a.feed("abc")
        _ = try generate(a, 10)
        let saved = a.stateBytes()
        XCTAssertEqual(saved.count, Session.stateSize(for: model))
        let expected = try generate(a, 50)
        let b = Session(model: model, seed: 99)
        try saved.withUnsafeBytes { try b.setState($0) }
        XCTAssertEqual(try generate(b, 50), expected)
    }

    /// A restored session computes every later step with the same bits as the one it was saved from (the
    /// first layer's look-ahead product included), in both precisions; so does a reset one.
    func testRestoredAndResetSessionsGiveTheSameBits() throws {
        for precision in WeightPrecision.allCases {
            let a = Session(model: model, seed: 1, precision: precision)
            try a.feed("abcabd")
            let b = Session(model: model, seed: 2, precision: precision)
            try b.feed("gfe")
            try a.stateBytes().withUnsafeBytes { try b.setState($0) }
            try a.feed("dce")
            try b.feed("dce")
            XCTAssertEqual(
                try a.probabilities().map(\.bitPattern), try b.probabilities().map(\.bitPattern), "\(precision)")
            let fresh = Session(model: model, seed: 3, precision: precision)
            a.reset()
            try a.feed("bad")
            try fresh.feed("bad")
            XCTAssertEqual(
                try a.probabilities().map(\.bitPattern), try fresh.probabilities().map(\.bitPattern), "\(precision)")
        }
    }

    /// A session that copies another's state goes on with the bits feeding it the same text gives, in
    /// both precisions and in window mode (whose characters come along), with its own generator.
    func testCopiedStateGoesOnAsIfFed() throws {
        for precision in WeightPrecision.allCases {
            for window in [0, 3] {
                let label = "\(precision) window \(window)"
                let source = Session(model: model, seed: 1, precision: precision)
                let fed = Session(model: model, seed: 2, precision: precision)
                let copied = Session(model: model, seed: 2, precision: precision)
                for s in [source, fed, copied] { try s.setWindow(window) }
                try source.feed("abcabd")
                try fed.feed("abcabd")
                try copied.feed("gfe")  // overwritten
                try copied.copyState(from: source)
                XCTAssertTrue(copied.hasInput)
                XCTAssertEqual(
                    try copied.probabilities().map(\.bitPattern), try fed.probabilities().map(\.bitPattern), label)
                XCTAssertEqual(try generate(copied, 40), try generate(fed, 40), label)
            }
        }
    }

    func testCopyingStateAcrossModelsPrecisionsOrWindowsIsRefused() throws {
        let source = Session(model: model, seed: 1)
        try source.feed("abc")
        let other = Fixtures.model(Fixtures.config(.lstm, layers: 2), seed: 1234)
        let int8 = Session(model: model, seed: 1, precision: .int8)
        let windowed = Session(model: model, seed: 1)
        try windowed.setWindow(4)
        for target in [Session(model: other), int8, windowed] {
            let before = target.stateBytes()
            XCTAssertThrowsError(try target.copyState(from: source)) { error in
                guard case CharRNNError.invalidArgument = error else { return XCTFail("\(error)") }
            }
            XCTAssertEqual(target.stateBytes(), before)
        }
    }

    func testStateFromAnotherModelOrCorruptIsRefused() throws {
        let other = Fixtures.model(Fixtures.config(.lstm, layers: 2), seed: 1234)
        let otherConfig = Fixtures.model(Fixtures.config(.gru, layers: 2))
        let s = Session(model: model)
        try s.feed("a")
        let before = try s.probabilities()
        let foreign = Session(model: otherConfig).stateBytes()
        XCTAssertThrowsError(try foreign.withUnsafeBytes { try s.setState($0) })
        var corrupt = s.stateBytes()
        corrupt[0] = 0
        XCTAssertThrowsError(try corrupt.withUnsafeBytes { try s.setState($0) })
        var nan = s.stateBytes()
        nan.replaceSubrange((nan.count - 4)..<nan.count, with: [0, 0, 0xC0, 0x7F])
        XCTAssertThrowsError(try nan.withUnsafeBytes { try s.setState($0) })
        XCTAssertEqual(try s.probabilities(), before, "a refused state leaves the session unchanged")
        _ = other
    }

    func testProbabilitiesNeedInput() {
        XCTAssertThrowsError(try Session(model: model).probabilities()) { error in
            guard case CharRNNError.state = error else { return XCTFail("\(error)") }
        }
    }

    func testUnknownCharacterLeavesStateUnchanged() throws {
        let s = Session(model: model)
        try s.feed("ab")
        let before = try s.probabilities()
        XCTAssertThrowsError(try s.feed("abZ"))
        XCTAssertEqual(try s.probabilities(), before)
        let result = try s.feed("aZbZ", skipUnknown: true)
        XCTAssertEqual(result.fed, 2)
        XCTAssertEqual(result.skipped, ["Z"])
    }

    func testSamplerHonoursGreedyTopKAndTopP() throws {
        let probs: [Float] = [0.5, 0.3, 0.15, 0.05]
        let sampler = Sampler(count: 4)
        defer { sampler.deallocate() }
        var rng = RandomGenerator(seed: 1)
        XCTAssertEqual(sampler.draw(from: probs, SamplingParameters(greedy: true), rng: &rng).0, 0)
        var seen = Set<Int>()
        for _ in 0..<500 { seen.insert(sampler.draw(from: probs, SamplingParameters(topK: 2), rng: &rng).0) }
        XCTAssertEqual(seen, [0, 1])
        seen = []
        for _ in 0..<500 { seen.insert(sampler.draw(from: probs, SamplingParameters(topP: 0.9), rng: &rng).0) }
        XCTAssertEqual(seen, [0, 1, 2])
        let (index, p) = sampler.draw(from: probs, SamplingParameters(topK: 1), rng: &rng)
        XCTAssertEqual(index, 0)
        XCTAssertEqual(p, 1)
        // A low temperature sharpens: p(0) = 0.5^10 / Σ p^10.
        let sharp = sampler.draw(from: probs, SamplingParameters(temperature: 0.1, topK: 0), rng: &rng)
        if sharp.0 == 0 { XCTAssertGreaterThan(sharp.1, 0.99) }
        XCTAssertThrowsError(try SamplingParameters(temperature: 0).validate())
        XCTAssertThrowsError(try SamplingParameters(topP: 1.5).validate())
        XCTAssertThrowsError(try SamplingParameters(topK: -1).validate())
    }

    /// A temperature whose inverse is finite but turns every log-probability below 0 into -inf (a flat
    /// distribution, T = 1e-38) is the greedy limit, as an infinite 1/T is: the most probable index, with
    /// probability 1, never NaN.
    func testTinyTemperatureIsGreedy() throws {
        var probs = [Float](repeating: 0.97 / 39, count: 40)  // every log(p) · 1e38 overflows to -inf
        probs[7] = 0.03
        let sampler = Sampler(count: 40)
        defer { sampler.deallocate() }
        var rng = RandomGenerator(seed: 5)
        for topP: Float in [1, 0.5] {
            let parameters = SamplingParameters(temperature: 1e-38, topP: topP)
            try parameters.validate()
            let (index, p) = sampler.draw(from: probs, parameters, rng: &rng)
            XCTAssertEqual(index, 7)
            XCTAssertEqual(p, 1)
        }
    }

    func testTopKKeepsExactlyTheMostProbable() {
        var rng = RandomGenerator(seed: 3)
        var probs = (0..<50).map { _ in Float(rng.next() % 1000) + 1 }  // ties are likely
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        let sampler = Sampler(count: 50)
        defer { sampler.deallocate() }
        let ranked = probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
        var seen = Set<Int>()
        for _ in 0..<3000 { seen.insert(sampler.draw(from: probs, SamplingParameters(topK: 5), rng: &rng).0) }
        XCTAssertEqual(seen, Set(ranked.prefix(5)))
    }
}
