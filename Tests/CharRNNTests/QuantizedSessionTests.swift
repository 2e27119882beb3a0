@testable import CharRNN
import CharRNNKernels
import XCTest

/// 8-bit generation (`WeightPrecision.int8`): close to float32 for every layer type, deterministic, and
/// measured through the same stepwise evaluation the CLI reports.
final class QuantizedSessionTests: XCTestCase {
    /// Sizes that are not multiples of the 32-row blocks or 16-column groups, two layers, every cell.
    static let configs: [(String, ModelConfig)] = [
        ("lstm", Fixtures.config(.lstm, layers: 2, units: 37)),
        ("gru reset_after", Fixtures.config(.gru, layers: 2, units: 37, resetAfter: true)),
        ("gru reset_before", Fixtures.config(.gru, layers: 2, units: 37, resetAfter: false)),
        ("simple rnn", Fixtures.config(.rnn, layers: 2, units: 37)),
        ("embedding", Fixtures.config(.lstm, layers: 2, units: 37, input: .embedding))
    ]

    func testInt8DistributionsStayCloseToFloat32() throws {
        let text = Array("abcab gfe\ndcba ggg abcdefg".unicodeScalars)
        for (name, config) in Self.configs {
            let model = Fixtures.model(config)
            let exact = Session(model: model), quantized = Session(model: model, precision: .int8)
            var worst: Float = 0
            for c in text {
                try exact.feed([c])
                try quantized.feed([c])
                let p = try exact.probabilities(), q = try quantized.probabilities()
                XCTAssertEqual(q.reduce(0, +), 1, accuracy: 1e-5, name)
                for i in p.indices { worst = max(worst, abs(p[i] - q[i])) }
            }
            // Half a quantization step per operand moves these small random models' probabilities by 1e-3
            // to 3e-2 (the simple RNN's state is the most sensitive); a wrong scale, column or sign by ~0.1–1.
            XCTAssertLessThan(worst, 0.05, name)
            XCTAssertGreaterThan(worst, 0, "\(name): int8 gave float32's exact distribution; was it used?")
        }
    }

    func testInt8SessionsAreDeterministic() throws {
        let model = Fixtures.model(Self.configs[0].1)
        let a = Session(model: model, seed: 3, precision: .int8), b = Session(model: model, seed: 3, precision: .int8)
        for s in [a, b] { try s.feed("ab") }
        var ta = "", tb = ""
        try a.generate(count: 300) { c, _ in
            ta.unicodeScalars.append(c); return true
        }
        try b.generate(count: 300) { c, _ in
            tb.unicodeScalars.append(c); return true
        }
        XCTAssertEqual(ta, tb)
        XCTAssertEqual(a.precision, .int8)
    }

    func testStepwiseEvaluationMatchesTheBatchedOneAndMeasuresInt8() throws {
        var rng = RandomGenerator(seed: 11)
        let text = (0..<400).map { _ in Fixtures.alphabet[Int(rng.next() % 9)] }
        for (name, config) in Self.configs {
            let model = Fixtures.model(config)
            let batched = try model.evaluate(text)
            let stepwise = try model.evaluateStepwise(text, precision: .float32)
            XCTAssertEqual(stepwise.count, batched.count, name)
            XCTAssertEqual(stepwise.meanLoss, batched.meanLoss, accuracy: 1e-5, name)
            let int8 = try model.evaluateStepwise(text, precision: .int8)
            XCTAssertEqual(int8.meanLoss, stepwise.meanLoss, accuracy: 0.01, name)
        }
    }

    /// A buffer's quantized copy is reused only while its floats are unchanged: after any one value
    /// changes, or the count does, the result is what quantizing afresh gives.
    func testQuantizedInputsFollowTheirBuffers() {
        let count = 70, capacity = 96
        let x = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        defer { x.deallocate() }
        for i in 0..<capacity { x[i] = Float(i % 13) / 7 - 0.9 }
        let scratch = StepScratch(capacity: capacity)
        func blocks(_ v: QuantizedVector, _ n: Int) -> ([UInt8], [Float]) {  // the blocks n values fill
            let b = (n + Int(CRNN_Q8_BLOCK) - 1) / Int(CRNN_Q8_BLOCK)
            return (
                Array(UnsafeBufferPointer(start: v.values, count: b * Int(CRNN_Q8_BLOCK))),
                Array(UnsafeBufferPointer(start: v.scales, count: b))
            )
        }
        func fresh(_ n: Int) -> ([UInt8], [Float]) {
            let v = QuantizedVector(capacity: capacity)
            crnn_q8_quantize_vector(x, n, v.values, v.scales)
            return blocks(v, n)
        }
        func current(_ n: Int) -> ([UInt8], [Float]) {
            blocks(scratch.quantized(x, count: n), n)
        }
        XCTAssertTrue(current(count) == fresh(count))
        XCTAssertTrue(scratch.quantized(x, count: count) === scratch.quantized(x, count: count), "unchanged: reused")
        x[65] = 3  // the last block's largest value: its scale and every value of the block change
        XCTAssertTrue(current(count) == fresh(count), "a changed value must be quantized again")
        x[0] = 0
        XCTAssertTrue(current(count) == fresh(count))
        x[0] = -0.0  // equal as floats, other bits: quantized again, to the same values
        XCTAssertTrue(current(count) == fresh(count))
        XCTAssertTrue(current(40) == fresh(40), "another count must be quantized again")
        XCTAssertTrue(current(count) == fresh(count))
        XCTAssertFalse(
            scratch.quantized(x, count: 40) === scratch.quantized(x, count: count),
            "two lengths of one buffer: two copies, so that two terms never share one")
        // Another buffer gets its own copy: the first one's stays valid.
        let y = UnsafeMutablePointer<Float>.allocate(capacity: capacity)
        defer { y.deallocate() }
        y.initialize(repeating: 0.5, count: capacity)
        let first = scratch.quantized(x, count: count), second = scratch.quantized(y, count: count)
        XCTAssertFalse(first === second)
        XCTAssertTrue(scratch.quantized(x, count: count) === first)
        XCTAssertTrue(current(count) == fresh(count))
        for i in 0..<count { x[i] = .nan }  // a diverged state: every output NaN, never a stale vector
        XCTAssertTrue(scratch.quantized(x, count: count).scales[0].isNaN)
    }
}
