@testable import CharRNN
import XCTest

/// Analytic gradients (float32 BPTT) against central finite differences of the double-precision
/// reference loss.
final class GradientTests: XCTestCase {
    /// The finite differences are exact to ~1e-9 in double; what remains is float32 rounding in the
    /// library's forward and backward, a few 1e-4 relative at most for these sizes. Gradients smaller
    /// than the 1e-3 floor compare absolutely.
    let bound = 1e-3

    /// - Parameter packed: the recurrent kernels' copies the graph reads (default: its own).
    func check(
        _ name: String, _ config: ModelConfig, lastStepOnly: Bool = false, dropout masksSeed: UInt64? = nil,
        packed: PackedKernels? = nil, file: StaticString = #filePath, line: UInt = #line
    ) {
        let B = 5, T = 5  // 5 rows: the per-step kernels' blocks of 4 and a remainder row
        let model = Fixtures.model(config)
        let (inputs, fullTargets) = Fixtures.batch(B, T)
        let targets = lastStepOnly ? fullTargets.map { [$0[0]] } : fullTargets
        let graph = TrainingGraph(
            model: model, batch: B, steps: T, lastStepOnly: lastStepOnly, computesGradients: true,
            sharedPackedKernels: packed)
        packed?.refresh(from: graph.weights)
        var rng = RandomGenerator(seed: masksSeed ?? 0)
        // Replay the graph's dropout draws: per layer, time-major (t, b, j).
        var masks: [[[[Double]]]]? = nil
        if let seed = masksSeed, config.dropout > 0 {
            var replay = RandomGenerator(seed: seed)
            let scale = 1 / Double(1 - config.dropout)
            var m = (0..<B).map { _ in
                (0..<T).map { _ in config.layers.map { [Double](repeating: 0, count: $0.units) } }
            }
            for (l, layer) in config.layers.enumerated() {
                for t in 0..<T {
                    for b in 0..<B {
                        for j in 0..<layer.units {
                            m[b][t][l][j] = replay.nextUniform() >= config.dropout ? scale : 0
                        }
                    }
                }
            }
            masks = m
        }
        _ = graph.run(
            inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: T,
            training: masksSeed != nil, computeGradients: true, carryState: false, rng: &rng)
        var reference = ReferenceModel(model: model)
        var worst = 0.0, worstIndex = 0
        let eps = 1e-5
        for i in 0..<model.parameterCount {
            let saved = reference.params[i]
            reference.params[i] = saved + eps
            let plus = reference.loss(inputs: inputs, targets: targets, lastStepOnly: lastStepOnly, masks: masks)
            reference.params[i] = saved - eps
            let minus = reference.loss(inputs: inputs, targets: targets, lastStepOnly: lastStepOnly, masks: masks)
            reference.params[i] = saved
            let numeric = (plus - minus) / (2 * eps)
            let error = relativeError(Double(graph.gradients[i]), numeric)
            if error > worst { worst = error; worstIndex = i }
        }
        let tensor = model.layout.tensors.last { $0.offset <= worstIndex }!
        XCTAssertLessThan(
            worst, bound, "\(name): worst relative error at \(tensor.name)[\(worstIndex - tensor.offset)]",
            file: file, line: line)
    }

    func testEveryLayerTypeAndEncoding() {
        for (name, config) in Fixtures.allConfigs { check(name, config) }
    }

    /// Each kind of copy on its own, and none: a kernel above the limit (larger than 2x512) is multiplied in
    /// place forward and goes to BLAS backward; graphs without gradients copy only U.
    func testEveryLayerTypeWithEachKindOfKernelCopy() {
        let all = PackedKernels.maximumFloats
        for (name, config) in Fixtures.allConfigs {
            let transposedOnly = PackedKernels(config: config, forwardLimit: 0, transposedLimit: all)
            let forwardOnly = PackedKernels(config: config, forwardLimit: all, transposedLimit: 0)
            XCTAssertTrue(transposedOnly.layer(0)!.forward.isEmpty && transposedOnly.layer(0)!.backward != nil)
            XCTAssertTrue(!forwardOnly.layer(0)!.forward.isEmpty && forwardOnly.layer(0)!.backward == nil)
            XCTAssertNil(PackedKernels(config: config, forwardLimit: 0, transposedLimit: 0).layer(0))
            check(name + ", Uᵀ copied only", config, packed: transposedOnly)
            check(name + ", U copied only", config, packed: forwardOnly)
            check(
                name + ", no copies", config, packed: PackedKernels(config: config, forwardLimit: 0, transposedLimit: 0)
            )
        }
    }

    func testWindowObjective() {
        check("lstm window", Fixtures.config(.lstm, layers: 2), lastStepOnly: true)
        check("gru window", Fixtures.config(.gru), lastStepOnly: true)
    }

    func testDropout() {
        check("lstm dropout", Fixtures.config(.lstm, layers: 2, dropout: 0.3), dropout: 11)
        check("gru dropout window", Fixtures.config(.gru, layers: 2, dropout: 0.5), lastStepOnly: true, dropout: 12)
    }

    /// Training reads packed copies of the recurrent kernels: after the weights change, both a graph and a
    /// parallel graph that ran before must use the new weights (the copies are refreshed per run).
    func testGradientsFollowWeightUpdates() {
        for config in [Fixtures.config(.lstm, layers: 2), Fixtures.config(.gru, resetAfter: false)] {
            let model = Fixtures.model(config)
            let (inputs, targets) = Fixtures.batch(6, 5)
            let old = TrainingGraph(model: model, batch: 6, steps: 5)
            let parallel = ParallelGraph(model: model, batch: 6, steps: 5, parts: 2)
            var rng = RandomGenerator(seed: 0)
            func run(_ graph: TrainingGraph) {
                _ = graph.run(
                    inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 5, training: false,
                    computeGradients: true, carryState: false, rng: &rng)
            }
            run(old)
            _ = parallel.run(
                inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 5, training: false,
                carryState: false, rng: &rng)
            for i in 0..<model.parameterCount { model.parameters[i] *= 1.5 }  // as an optimizer step would
            run(old)
            _ = parallel.run(
                inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 5, training: false,
                carryState: false, rng: &rng)
            let fresh = TrainingGraph(model: model, batch: 6, steps: 5)
            run(fresh)
            var worstOld: Float = 0, worstParallel: Float = 0
            for i in 0..<model.parameterCount {
                worstOld = max(worstOld, abs(old.gradients[i] - fresh.gradients[i]))
                worstParallel = max(worstParallel, abs(parallel.gradients[i] - fresh.gradients[i]))
            }
            XCTAssertEqual(worstOld, 0, "a graph kept the old weights' copies")
            XCTAssertLessThan(worstParallel, 1e-5, "a parallel graph kept the old weights' copies")
        }
    }

    /// Splitting the batch across worker threads changes only the order of float sums: the workers'
    /// weight gradients go into one shared buffer, each thread owning a share of every tensor's columns.
    func testParallelGraphMatchesOneGraph() {
        // Shares are cut at multiples of 16 columns: the small configurations leave every column to one
        // thread, the wide ones (G·U = 60 to 84) split every layer's tensors between threads.
        let cases =
            Fixtures.allConfigs.map { ($0.0, $0.1, false, 2) }
            + [
                ("lstm 2 layers", Fixtures.config(.lstm, layers: 2), false, 3),
                ("lstm 2 layers window", Fixtures.config(.lstm, layers: 2), true, 2),
                ("gru reset_before 2 layers", Fixtures.config(.gru, layers: 2, resetAfter: false), false, 2),
                ("wide lstm", Fixtures.config(.lstm, layers: 2, units: 20), false, 2),
                ("wide lstm window, 3 workers", Fixtures.config(.lstm, layers: 2, units: 20), true, 3),
                ("wide gru reset_before", Fixtures.config(.gru, layers: 2, units: 20, resetAfter: false), false, 2),
                ("wide gru reset_after", Fixtures.config(.gru, layers: 2, units: 20), false, 3),
                ("wide rnn embedding", Fixtures.config(.rnn, layers: 2, units: 40, input: .embedding), false, 2),
                ("wide lstm scalar input", Fixtures.config(.lstm, units: 20, input: .scalar), false, 2)
            ]
        for (name, config, lastStepOnly, workers) in cases {
            let model = Fixtures.model(config)
            let (inputs, fullTargets) = Fixtures.batch(5, 6)
            var targets = lastStepOnly ? fullTargets.map { [$0[0]] } : fullTargets
            let single = TrainingGraph(model: model, batch: 5, steps: 6, lastStepOnly: lastStepOnly)
            let parallel = ParallelGraph(model: model, batch: 5, steps: 6, lastStepOnly: lastStepOnly, parts: workers)
            var rng = RandomGenerator(seed: 0)
            for batch in 0..<3 {  // later batches start from the carried state
                if batch == 2 {  // the first worker's sequences predict nothing, the others some of the time
                    for b in 0..<5 {
                        for t in targets[b].indices where b < 3 || (t % 2 == 0 && !lastStepOnly) { targets[b][t] = -1 }
                    }
                }
                let a = single.run(
                    inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 6, training: false,
                    computeGradients: true, carryState: batch > 0, rng: &rng)
                let b = parallel.run(
                    inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 6,
                    training: false, carryState: batch > 0, rng: &rng)
                XCTAssertEqual(a.count, b.count, name)
                XCTAssertEqual(a.lossSum, b.lossSum, accuracy: 1e-4, name)
                var worst: Float = 0, largest: Float = 0
                for i in 0..<model.parameterCount {
                    worst = max(worst, abs(single.gradients[i] - parallel.gradients[i]))
                    largest = max(largest, abs(single.gradients[i]))
                }
                XCTAssertGreaterThan(largest, 1e-3, "\(name), batch \(batch): no gradient to compare")
                // Only the order of float sums differs: a few units in the last place of the largest.
                XCTAssertLessThan(
                    worst, 4e-6 * max(1, largest),
                    "\(name), batch \(batch), workers \(workers), last step only \(lastStepOnly)")
            }
        }
    }

    /// Shorter runs than the graphs were made for, and a batch without a single prediction (its gradients
    /// are zero, whatever the batch before left).
    func testParallelGraphShortRunsAndBatchesWithoutPredictions() {
        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2, units: 20))
        let (inputs, targets) = Fixtures.batch(5, 4)
        let single = TrainingGraph(model: model, batch: 5, steps: 6)
        let parallel = ParallelGraph(model: model, batch: 5, steps: 6, parts: 2)
        var rng = RandomGenerator(seed: 0)
        _ = single.run(
            inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 4, training: false,
            computeGradients: true, carryState: false, rng: &rng)
        _ = parallel.run(
            inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 4, training: false,
            carryState: false, rng: &rng)
        var worst: Float = 0, largest: Float = 0
        for i in 0..<model.parameterCount {
            worst = max(worst, abs(single.gradients[i] - parallel.gradients[i]))
            largest = max(largest, abs(single.gradients[i]))
        }
        XCTAssertGreaterThan(largest, 1e-3)
        XCTAssertLessThan(worst, 4e-6 * max(1, largest), "4 steps of 6")

        let none = [Int32](repeating: -1, count: 5 * 4)
        let result = parallel.run(
            inputs: inputs.flatMap { $0 }, targets: none, steps: 4, training: false,
            carryState: true, rng: &rng)
        XCTAssertEqual(result.count, 0)
        XCTAssertEqual(
            (0..<model.parameterCount).filter { parallel.gradients[$0] != 0 }.count, 0,
            "a batch without predictions left gradients")
    }
}
