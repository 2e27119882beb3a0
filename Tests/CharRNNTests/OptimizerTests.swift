@testable import CharRNN
import XCTest

/// One or two update steps of each rule against values computed by hand from the Keras formulas.
final class OptimizerTests: XCTestCase {
    func step(_ config: OptimizerConfig, _ p: [Float], _ grads: [[Float]], lr: Float) -> [Float] {
        var params = p
        let optimizer = Optimizer(config: config, parameterCount: p.count)
        for g in grads { optimizer.apply(parameters: &params, gradients: g, count: p.count, learningRate: lr) }
        return params
    }

    func testSGD() {
        XCTAssertEqual(step(OptimizerConfig(kind: .sgd), [1, -2], [[0.5, -1]], lr: 0.1), [0.95, -1.9])
        var momentum = OptimizerConfig(kind: .sgd)
        momentum.momentum = 0.9
        // v1 = -0.1·0.5 = -0.05; p = 0.95. v2 = 0.9·(-0.05) - 0.1·0.5 = -0.095; p = 0.855.
        XCTAssertEqual(step(momentum, [1], [[0.5], [0.5]], lr: 0.1)[0], 0.855, accuracy: 1e-6)
    }

    func testRMSprop() {
        // Keras 3: v = 0.1·0.25 = 0.025; p = 1 - 0.01·0.5/√(0.025 + 1e-7).
        let expected = 1 - 0.01 * 0.5 / Float(0.025 + 1e-7).squareRoot()
        XCTAssertEqual(step(OptimizerConfig(kind: .rmsprop), [1], [[0.5]], lr: 0.01)[0], expected, accuracy: 1e-7)
        var charRNN = OptimizerConfig(kind: .rmsprop, learningRate: 2e-3)  // char-rnn: decay 0.95, eps 1e-8
        charRNN.rho = 0.95
        charRNN.epsilon = 1e-8
        charRNN.epsilonInsideRoot = false
        let v: Float = 0.05 * 4
        XCTAssertEqual(step(charRNN, [0], [[2]], lr: 2e-3)[0], -2e-3 * 2 / (v.squareRoot() + 1e-8), accuracy: 1e-8)
    }

    func testAdam() {
        // Step 1: m = 0.1·g, v = 0.001·g², α = lr·√(1-0.999)/(1-0.9); update = α·m/(√v + ε) ≈ lr.
        let p1 = step(OptimizerConfig(kind: .adam), [1], [[0.5]], lr: 0.001)[0]
        let alpha = 0.001 * Float(0.001).squareRoot() / 0.1
        XCTAssertEqual(p1, 1 - alpha * 0.05 / (Float(0.00025).squareRoot() + 1e-7), accuracy: 1e-7)
        // Step 2 with g = -1: m = 0.9·0.05 + 0.1·(-1) = -0.055; v = 0.999·0.00025 + 0.001 = 0.00124975.
        let p2 = step(OptimizerConfig(kind: .adam), [1], [[0.5], [-1]], lr: 0.001)[0]
        let alpha2 = 0.001 * (1 - 0.999 * 0.999 as Float).squareRoot() / (1 - 0.81)
        XCTAssertEqual(p2, p1 + alpha2 * 0.055 / (Float(0.00124975).squareRoot() + 1e-7), accuracy: 1e-6)
    }

    func testAdagrad() {
        // Keras 3: acc = 0.1 + 0.25; p = 1 - 0.01·0.5/√(0.35 + 1e-7).
        XCTAssertEqual(
            step(OptimizerConfig(kind: .adagrad), [1], [[0.5]], lr: 0.01)[0],
            1 - 0.01 * 0.5 / Float(0.35 + 1e-7).squareRoot(), accuracy: 1e-7)
    }

    /// The rules written out as scalar Swift, operation for operation as `OptimizerConfig` documents them:
    /// the vectorized loops must give the same bits, over a vector body and a ragged tail, every variant.
    func testUpdateRulesMatchTheirFormulasBitForBit() {
        let n = 1003
        var generator = RandomGenerator(seed: 11)
        let start = (0..<n).map { _ in Float(generator.nextUniform() * 2 - 1) }
        let gradients = (0..<3).map { _ in (0..<n).map { i in i % 97 == 0 ? 0 : Float(generator.nextUniform() * 4 - 2) }
        }
        var configs: [OptimizerConfig] = OptimizerConfig.Kind.allCases.map {
            OptimizerConfig(kind: $0, learningRate: 0.01)
        }
        var momentum = OptimizerConfig(kind: .sgd, learningRate: 0.01)
        momentum.momentum = 0.9
        var nesterov = momentum
        nesterov.nesterov = true
        var outside = OptimizerConfig(kind: .rmsprop, learningRate: 2e-3)
        outside.rho = 0.95
        outside.epsilon = 1e-8
        outside.epsilonInsideRoot = false
        var adagradOutside = OptimizerConfig(kind: .adagrad, learningRate: 0.05)
        adagradOutside.epsilonInsideRoot = false
        configs += [momentum, nesterov, outside, adagradOutside]
        for c in configs {
            let optimizer = Optimizer(config: c, parameterCount: n)
            var p = start
            var expected = start
            var s0 = [Float](repeating: c.kind == .adagrad ? c.initialAccumulator : 0, count: n)
            var s1 = [Float](repeating: 0, count: n)
            for (step, g) in gradients.enumerated() {
                optimizer.apply(parameters: &p, gradients: g, count: n, learningRate: c.learningRate)
                let lr = c.learningRate
                func root(_ v: Float) -> Float {
                    c.epsilonInsideRoot ? (v + c.epsilon).squareRoot() : v.squareRoot() + c.epsilon
                }
                for i in 0..<n {
                    switch c.kind {
                    case .sgd where c.momentum > 0:
                        s0[i] = c.momentum * s0[i] - lr * g[i]
                        expected[i] += c.nesterov ? c.momentum * s0[i] - lr * g[i] : s0[i]
                    case .sgd:
                        expected[i] -= lr * g[i]
                    case .rmsprop:
                        s0[i] = c.rho * s0[i] + (1 - c.rho) * g[i] * g[i]
                        expected[i] -= lr * g[i] / root(s0[i])
                    case .adam:
                        let t = Float(step + 1)
                        let alpha = lr * (1 - powf(c.beta2, t)).squareRoot() / (1 - powf(c.beta1, t))
                        s0[i] += (g[i] - s0[i]) * (1 - c.beta1)
                        s1[i] += (g[i] * g[i] - s1[i]) * (1 - c.beta2)
                        expected[i] -= alpha * s0[i] / (s1[i].squareRoot() + c.epsilon)
                    case .adagrad:
                        s0[i] += g[i] * g[i]
                        expected[i] -= lr * g[i] / root(s0[i])
                    }
                }
                XCTAssertEqual(p.map(\.bitPattern), expected.map(\.bitPattern), "\(c.kind) step \(step + 1): \(c)")
                for (slot, expectedSlot) in zip(optimizer.slots, [s0, s1]) {
                    let values = UnsafeBufferPointer(start: slot.pointer, count: n)
                    XCTAssertEqual(values.map(\.bitPattern), expectedSlot.map(\.bitPattern), "\(c.kind) state")
                }
            }
        }
    }

    func testClipping() {
        var g: [Float] = [3, -4, 0.5]
        let norm = GradientClipping(value: 1).apply(&g, count: 3)
        XCTAssertEqual(g, [1, -1, 0.5])
        XCTAssertEqual(norm, 1.5, accuracy: 1e-6)
        var h: [Float] = [3, 4]
        GradientClipping(globalNorm: 1).apply(&h, count: 2)
        XCTAssertEqual(h[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(h[1], 0.8, accuracy: 1e-6)
    }

    func testSchedules() {
        // The TensorFlow tutorial: 10.0 × 0.1 every 5000 steps, staircase.
        let staircase = LearningRateSchedule.exponential(decay: 0.1, every: 5000, staircase: true)
        XCTAssertEqual(staircase.rate(base: 10, step: 4999, epoch: 1), 10, accuracy: 1e-5)
        XCTAssertEqual(staircase.rate(base: 10, step: 5000, epoch: 1), 1, accuracy: 1e-6)
        XCTAssertEqual(staircase.rate(base: 10, step: 12000, epoch: 1), 0.1, accuracy: 1e-7)
        let smooth = LearningRateSchedule.exponential(decay: 0.5, every: 100, staircase: false)
        XCTAssertEqual(smooth.rate(base: 1, step: 50, epoch: 1), Float(0.5.squareRoot()), accuracy: 1e-6)
        // char-rnn: decay 0.97 per epoch after epoch 10.
        let perEpoch = LearningRateSchedule.perEpoch(decay: 0.97, after: 10)
        XCTAssertEqual(perEpoch.rate(base: 2e-3, step: 0, epoch: 10), 2e-3)
        XCTAssertEqual(perEpoch.rate(base: 2e-3, step: 0, epoch: 11), 2e-3 * 0.97, accuracy: 1e-9)
        XCTAssertEqual(perEpoch.rate(base: 2e-3, step: 0, epoch: 13), 2e-3 * 0.97 * 0.97 * 0.97, accuracy: 1e-9)
    }
}
