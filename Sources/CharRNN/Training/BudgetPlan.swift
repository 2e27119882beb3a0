#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The model, batch and learning rate a new run limited by time alone gets when the caller leaves them
/// open (`TrainingSettings.budgetChoosesShape`): the largest of a few tuned shapes that the budget can train
/// well on this machine, judged by timing a few training steps of each at the start of the run.
///
/// A larger model learns more per character but trains on fewer characters in the same time; each shape
/// is worth it only from a number of characters seen (`Shape.minChars`, about 9 per weight). Measured on
/// tinyshakespeare with the budget schedule, in the characters that 120 s train on a 2-core Zen 3: GRU
/// 2x192 on 4.4M reached 1.478 nats/char, 2x256 on 2.8M 1.495, 2x128 on 7.2M 1.501; in those of 60 s,
/// 2x128 on 4.1M 1.510 and 2x192 on 2.1M 1.541 (the two cross near 3.3M for 2x192). Batches of 32 train
/// as many characters a second as batches of 50, and the extra updates help (2x192: 1.499 with 50). The
/// timing takes under a second (a few steps of each shape in the running), taken from the budget.
public struct BudgetPlan: Sendable, Equatable {
    /// One shape the plan may choose, with the learning rate tuned for it under the budget schedule.
    public struct Shape: Sendable, Equatable {
        public var cell: CellKind
        public var layers: Int
        public var hidden: Int
        public var batchSize: Int
        public var seqLength: Int
        /// Adam's base rate under the budget schedule.
        public var learningRate: Float
        /// The characters a run must be able to train on for this shape to beat the smaller ones.
        public var minChars: Double

        /// "GRU 2x256, batch 32 × 100".
        public var description: String {
            "\(cell.rawValue.uppercased()) \(layers)x\(hidden), batch \(batchSize) × \(seqLength)"
        }
    }

    /// The shapes, smallest first.
    public static let shapes: [Shape] = [
        Shape(cell: .gru, layers: 2, hidden: 128, batchSize: 32, seqLength: 50, learningRate: 1e-2, minChars: 0),
        Shape(cell: .gru, layers: 2, hidden: 192, batchSize: 32, seqLength: 50, learningRate: 8e-3, minChars: 3.3e6),
        Shape(cell: .gru, layers: 2, hidden: 256, batchSize: 32, seqLength: 50, learningRate: 7e-3, minChars: 5.7e6),
        Shape(cell: .gru, layers: 2, hidden: 384, batchSize: 32, seqLength: 50, learningRate: 6e-3, minChars: 1.2e7),
        Shape(cell: .gru, layers: 2, hidden: 512, batchSize: 32, seqLength: 50, learningRate: 5e-3, minChars: 2.1e7)
    ]

    /// Adam's base rate under the budget schedule when the caller gave the model or batch: 1e-2 for layers
    /// of up to 128 units (the best of 5e-3, 1e-2 and 2e-2 for 2x128), falling as 1/√units beyond (the tuned
    /// shapes' rates follow it).
    public static func learningRate(hidden: Int) -> Float {
        1e-2 * Float((128 / Double(max(hidden, 128))).squareRoot())
    }

    /// The chosen shape.
    public var shape: Shape
    /// Its measured training speed, characters per second.
    public var charsPerSecond: Double
    /// How many times the run will see its training text: the measured speed over the time left, in
    /// training texts (0 when the budget was too short to time).
    public var passes: Double
    /// Seconds the timing took.
    public var calibrationSeconds: Double
    /// The seconds left for training.
    public var trainingSeconds: Double
    /// The next larger shape, which the budget could not train well, and why: its measured speed (0 when
    /// the chosen shape's speed already ruled it out), or nil for another reason (the text is too short
    /// for it, memory). Nil when the chosen shape is the largest.
    public var next: (shape: Shape, charsPerSecond: Double?)?

    /// Passes over the training text beyond which the plan adds dropout: a model that sees the same
    /// characters this often learns them rather than the language. On tinyshakespeare a GRU 2x256 given
    /// 600 s (22 passes) reached 1.540 nats/char without dropout, its training loss 1.03; the 2x192 of
    /// 120 s (7 passes) 1.481, still improving.
    public static let passesBeforeDropout = 10.0
    /// The dropout after each recurrent layer of a run over more than `passesBeforeDropout` passes.
    public static let dropoutForManyPasses: Float = 0.25

    /// Dropout for the run: `dropoutForManyPasses` when it will see its text more than
    /// `passesBeforeDropout` times, else none.
    public var dropout: Float { passes > Self.passesBeforeDropout ? Self.dropoutForManyPasses : 0 }

    public static func == (a: BudgetPlan, b: BudgetPlan) -> Bool {
        a.shape == b.shape && a.charsPerSecond == b.charsPerSecond && a.passes == b.passes
            && a.calibrationSeconds == b.calibrationSeconds
            && a.trainingSeconds == b.trainingSeconds && a.next?.shape == b.next?.shape
            && a.next?.charsPerSecond == b.next?.charsPerSecond
    }

    public init(
        shape: Shape, charsPerSecond: Double, calibrationSeconds: Double, trainingSeconds: Double,
        next: (shape: Shape, charsPerSecond: Double?)? = nil, passes: Double = 0
    ) {
        self.shape = shape
        self.charsPerSecond = charsPerSecond
        self.passes = passes
        self.calibrationSeconds = calibrationSeconds
        self.trainingSeconds = trainingSeconds
        self.next = next
    }

    /// Times the shapes on `corpus` and chooses one for `seconds` of training.
    /// - Parameter base: the run's options (the text, the seed) that the timed trainers share.
    /// - Throws: what `Trainer` throws for a shape that cannot be built at all.
    /// - Parameter memoryLimitBytes: shapes whose training would need more are left out.
    package static func choose(
        seconds: Double, corpus: Corpus, base: TrainingOptions, memoryLimitBytes: Int? = nil
    ) throws -> BudgetPlan {
        let start = now()
        let vocabSize = corpus.vocabulary.count
        var chosen = fitted(shapes[0], to: corpus)
        var speed = 0.0
        // A budget this short trains the smallest shape; timing it would only take from the budget.
        guard seconds >= minimumTimedBudget else {
            return BudgetPlan(shape: chosen, charsPerSecond: 0, calibrationSeconds: 0, trainingSeconds: seconds)
        }
        if let measured = try measure(chosen, corpus: corpus, base: base) { speed = measured }
        var next: (shape: Shape, charsPerSecond: Double?)?
        for candidate in shapes.dropFirst() {
            let shape = fitted(candidate, to: corpus)
            let left = seconds - (now() - start)
            // A larger shape is slower: when the last one's speed could not reach this one's need, nor can it.
            guard speed * left >= shape.minChars else {
                next = (shape, 0)
                break
            }
            next = (shape, nil)
            // A model with more weights than the text has characters learns the text rather than the language.
            guard Double(parameters(shape, vocabSize: vocabSize)) <= Double(corpus.training.count) else { break }
            if let limit = memoryLimitBytes {
                var o = base
                apply(shape, to: &o)
                guard TrainingMemory.estimatedBytes(o.modelConfig(vocabSize: vocabSize), o) <= Double(limit) else {
                    break
                }
            }
            guard let measured = try measure(shape, corpus: corpus, base: base) else { break }
            guard measured * (seconds - (now() - start)) >= shape.minChars else {
                next = (shape, measured)
                break
            }
            chosen = shape
            speed = measured
            next = nil
        }
        let spent = now() - start
        // The timing never takes more than half of the budget (a budget too short to time is not timed).
        let training = max(seconds - spent, seconds / 2)
        return BudgetPlan(
            shape: chosen, charsPerSecond: speed, calibrationSeconds: spent, trainingSeconds: training,
            next: next, passes: speed * training / Double(max(corpus.training.count, 1)))
    }

    /// Budgets shorter than this, in seconds, get the smallest shape untimed.
    static let minimumTimedBudget = 5.0

    /// The shape with its batch made small enough for a short text to give several batches an epoch.
    static func fitted(_ shape: Shape, to corpus: Corpus) -> Shape {
        var s = shape
        let n = corpus.training.count
        while s.batchSize > 1 && s.batchSize * s.seqLength * 4 > n { s.batchSize = max(1, s.batchSize / 2) }
        while s.seqLength > 2 && s.batchSize * s.seqLength * 4 > n { s.seqLength = max(2, s.seqLength / 2) }
        return s
    }

    static func parameters(_ shape: Shape, vocabSize: Int) -> Int {
        var o = TrainingOptions()
        apply(shape, to: &o)
        return o.modelConfig(vocabSize: vocabSize).parameterCount
    }

    static func apply(_ shape: Shape, to o: inout TrainingOptions) {
        o.cell = shape.cell
        o.layers = shape.layers
        o.hidden = shape.hidden
        o.batchSize = shape.batchSize
        o.seqLength = shape.seqLength
    }

    /// Training characters per second of `shape`: the median of five timed steps after two untimed (which
    /// start the worker threads and touch the buffers); nil when the shape cannot train here.
    static func measure(_ shape: Shape, corpus: Corpus, base: TrainingOptions) throws -> Double? {
        var o = base
        apply(shape, to: &o)
        o.outDir = nil
        o.maxSteps = 0
        o.schedule = .constant
        o.optimizer.learningRate = shape.learningRate
        guard (try? o.validate()) != nil, let trainer = try? Trainer(corpus: corpus, options: o),
            (try? trainer.update()) != nil, (try? trainer.update()) != nil
        else { return nil }
        var times: [Double] = []
        for _ in 0..<5 {
            let t = now()
            guard (try? trainer.update()) != nil else { return nil }
            times.append(now() - t)
        }
        times.sort()
        return Double(shape.batchSize * shape.seqLength) / max(times[times.count / 2], 1e-9)
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
