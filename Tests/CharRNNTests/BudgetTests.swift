@testable import CharRNN
import XCTest

/// A run limited by time alone: the budget schedule's shape, which settings it applies to (a given option
/// always wins), the plan's choice, and runs that end with the budget.
final class BudgetTests: XCTestCase {
    var folder: String!

    override func setUp() {
        folder = NSTemporaryDirectory() + "charrnn-budget-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func corpus(_ n: Int = 6000) throws -> Corpus {
        var rng = RandomGenerator(seed: 5)
        let words = ["the ", "cat ", "sat ", "on ", "a ", "mat", ".\n", "and ", "dog "]
        var text: [Unicode.Scalar] = []
        while text.count < n { text += words[Int(rng.next() % UInt64(words.count))].unicodeScalars }
        return try Corpus(text: text, options: Corpus.Options())
    }

    // MARK: the schedule

    func testScheduleWarmsUpThenDecaysToTheEndOfTheBudget() {
        let b = BudgetSchedule(seconds: 100, warmup: 0.1, final: 0)
        // Warmup: linear from 1% of the base rate to the base rate.
        XCTAssertEqual(b.factor(at: 0), 0.01, accuracy: 1e-6)
        XCTAssertEqual(b.factor(at: 0.05), 0.5, accuracy: 1e-6)
        XCTAssertEqual(b.factor(at: 0.1), 1, accuracy: 1e-6)
        var previous = Float.infinity
        for i in 0...1000 {
            let p = 0.1 + 0.9 * Double(i) / 1000
            let f = b.factor(at: p)
            XCTAssertLessThanOrEqual(f, previous, "monotone after the warmup, at \(p)")
            XCTAssertGreaterThanOrEqual(f, 0)
            previous = f
        }
        XCTAssertEqual(b.factor(at: 1), 0, accuracy: 1e-7)
        XCTAssertEqual(b.factor(at: 0.55), 0.5, accuracy: 1e-6, "cosine: half way down at the middle of the decay")
        // A floor, a linear decay; progress beyond the budget stays at the end.
        let floor = BudgetSchedule(steps: 10, warmup: 0, final: 0.1, decay: .linear)
        XCTAssertEqual(floor.factor(at: 0), 1, accuracy: 1e-7)
        XCTAssertEqual(floor.factor(at: 0.5), 0.55, accuracy: 1e-6)
        XCTAssertEqual(floor.factor(at: 1), 0.1, accuracy: 1e-7)
        XCTAssertEqual(floor.factor(at: 7), 0.1, accuracy: 1e-7)
    }

    func testProgressIsTheLargerOfTimeAndSteps() {
        let b = BudgetSchedule(seconds: 100, steps: 1000)
        XCTAssertEqual(b.progress(step: 100, seconds: 50), 0.5, accuracy: 1e-12)
        XCTAssertEqual(b.progress(step: 800, seconds: 50), 0.8, accuracy: 1e-12)
        XCTAssertEqual(b.progress(step: 2000, seconds: 500), 1)
        XCTAssertFalse(b.isSpent(step: 999, seconds: 99.9))
        XCTAssertTrue(b.isSpent(step: 1000, seconds: 0))
        XCTAssertTrue(b.isSpent(step: 0, seconds: 100))
        // A budget started by a resumed run counts from where it started.
        let later = BudgetSchedule(seconds: 60, fromSeconds: 120, fromStep: 500)
        XCTAssertEqual(later.progress(step: 700, seconds: 150), 0.5, accuracy: 1e-12)
        XCTAssertEqual(later.endSeconds, 180)
        let rate = LearningRateSchedule.budget(b).rate(base: 4e-3, step: 1000, epoch: 3, seconds: 10)
        XCTAssertEqual(rate, 0, accuracy: 1e-9, "the rate is 0 at the budget's end")
    }

    // MARK: which settings it applies to

    func testTimeAloneGetsTheBudgetScheduleAndRate() throws {
        var s = TrainingSettings()
        s.maxTime = 120
        XCTAssertTrue(s.budgetDecides)
        XCTAssertTrue(s.budgetChoosesShape)
        let o = try s.options()
        XCTAssertEqual(o.schedule, .budget(BudgetSchedule(seconds: 120)))
        XCTAssertEqual(o.optimizer.learningRate, 1e-2)
        XCTAssertEqual(o.epochs, TrainingSettings.epochsWhenTimeDecides)
        // With a step limit too, the budget ends at whichever comes first.
        s.maxSteps = 500
        XCTAssertEqual(try s.options().schedule, .budget(BudgetSchedule(seconds: 120, steps: 500)))
    }

    func testGivenOptionsWin() throws {
        // Without a time limit nothing changes.
        XCTAssertEqual(try TrainingSettings().options(), TrainingOptions())
        var s = TrainingSettings()
        s.maxSteps = 100
        XCTAssertFalse(s.budgetDecides)
        XCTAssertEqual(try s.options().schedule, .constant)
        XCTAssertEqual(try s.options().optimizer.learningRate, 2e-3)

        var given = TrainingSettings()
        given.maxTime = 60
        given.learningRate = 1e-3
        XCTAssertEqual(try given.options().optimizer.learningRate, 1e-3)
        XCTAssertEqual(try given.options().schedule, .budget(BudgetSchedule(seconds: 60)))
        given.learningRate = nil
        given.hidden = 512
        XCTAssertEqual(try given.options().optimizer.learningRate, 5e-3, "a wider model gets a lower rate")

        var epochs = TrainingSettings()
        epochs.maxTime = 60
        epochs.epochs = 3
        XCTAssertFalse(epochs.budgetDecides)
        XCTAssertEqual(try epochs.options().schedule, .constant)
        XCTAssertEqual(try epochs.options().optimizer.learningRate, 2e-3)

        var decay = TrainingSettings()
        decay.maxTime = 60
        decay.schedule = .perEpoch(decay: 0.97, after: 10)
        XCTAssertFalse(decay.budgetDecides)
        XCTAssertEqual(try decay.options().schedule, .perEpoch(decay: 0.97, after: 10))

        var rmsprop = TrainingSettings()
        rmsprop.maxTime = 60
        rmsprop.optimizer = .rmsprop
        XCTAssertEqual(try rmsprop.options().optimizer.learningRate, 2e-3, "the budget's rate is Adam's")

        let shapeFlags: [(String, (inout TrainingSettings) -> Void)] = [
            ("cell", { $0.cell = .lstm }), ("layers", { $0.layers = 3 }), ("hidden", { $0.hidden = 64 }),
            ("embedding", { $0.embedding = 16 }), ("batch", { $0.batchSize = 10 }), ("seq", { $0.seqLength = 20 }),
            ("objective", { $0.objective = .sequence })
        ]
        for (name, set) in shapeFlags {
            var t = TrainingSettings()
            t.maxTime = 60
            set(&t)
            XCTAssertTrue(t.budgetDecides, name)
            XCTAssertFalse(t.budgetChoosesShape, "\(name) given: the model and batch are the caller's")
        }
        var resumed = TrainingSettings()
        resumed.maxTime = 60
        resumed.resume = "x.safetensors"
        XCTAssertFalse(resumed.budgetChoosesShape)
    }

    func testAPlanFillsTheShapeAndTakesItsTimingFromTheBudget() throws {
        var s = TrainingSettings()
        s.maxTime = 120
        s.dropout = 0.1
        let shape = BudgetPlan.shapes[2]
        let plan = BudgetPlan(shape: shape, charsPerSecond: 1e4, calibrationSeconds: 1.5, trainingSeconds: 118.5)
        let o = try s.options(plan: plan)
        XCTAssertEqual(o.cell, shape.cell)
        XCTAssertEqual(o.layers, shape.layers)
        XCTAssertEqual(o.hidden, shape.hidden)
        XCTAssertEqual(o.batchSize, shape.batchSize)
        XCTAssertEqual(o.seqLength, shape.seqLength)
        XCTAssertEqual(o.dropout, 0.1, "a given option the plan does not choose is kept")
        XCTAssertEqual(o.optimizer.learningRate, shape.learningRate)
        XCTAssertEqual(o.maxTime, 118.5)
        XCTAssertEqual(o.schedule, .budget(BudgetSchedule(seconds: 118.5)))
        s.learningRate = 1e-3
        XCTAssertEqual(try s.options(plan: plan).optimizer.learningRate, 1e-3)
    }

    func testARunThatSeesItsTextManyTimesGetsDropout() throws {
        var s = TrainingSettings()
        s.maxTime = 600
        let shape = BudgetPlan.shapes[2]
        let few = BudgetPlan(
            shape: shape, charsPerSecond: 1e4, calibrationSeconds: 1, trainingSeconds: 599, passes: 7)
        XCTAssertEqual(few.dropout, 0)
        XCTAssertEqual(try s.options(plan: few).dropout, 0, "7 passes: no dropout")
        let many = BudgetPlan(
            shape: shape, charsPerSecond: 3.4e4, calibrationSeconds: 1, trainingSeconds: 599, passes: 22)
        XCTAssertEqual(many.dropout, BudgetPlan.dropoutForManyPasses)
        XCTAssertEqual(try s.options(plan: many).dropout, BudgetPlan.dropoutForManyPasses, "22 passes: dropout")
        s.dropout = 0
        XCTAssertEqual(try s.options(plan: many).dropout, 0, "a given dropout wins")
    }

    func testResumeKeepsTheBudgetOrStartsANewOne() throws {
        var first = TrainingSettings()
        first.maxTime = 120
        let saved = try first.options()
        let model = saved.modelConfig(vocabSize: 10)
        // Without a time limit: the saved budget, which ends where it did.
        let kept = try TrainingSettings().options(over: saved, model: model, resumedAt: (300, 60))
        XCTAssertEqual(kept.schedule, saved.schedule)
        // With one: a new budget from where the run resumes.
        var more = TrainingSettings()
        more.maxTime = 30
        let renewed = try more.options(over: saved, model: model, resumedAt: (300, 60))
        XCTAssertEqual(renewed.schedule, .budget(BudgetSchedule(seconds: 30, fromSeconds: 60, fromStep: 300)))
        XCTAssertEqual(renewed.optimizer.learningRate, saved.optimizer.learningRate)
        // A run resumed without a budget schedule keeps its own.
        var constant = TrainingOptions()
        constant.maxTime = 10
        XCTAssertEqual(try more.options(over: constant, model: model, resumedAt: (5, 1)).schedule, .constant)
    }

    func testPlanChoosesAShapeThatFitsTheText() throws {
        let data = try corpus()
        var s = TrainingSettings()
        s.maxTime = 0.5
        let short = try BudgetPlan.choose(seconds: 0.5, corpus: data, base: try s.options())
        XCTAssertEqual(short.shape.hidden, BudgetPlan.shapes[0].hidden, "a tiny budget gets the smallest shape")
        XCTAssertLessThanOrEqual(short.shape.batchSize * short.shape.seqLength * 4, data.training.count)
        XCTAssertEqual(short.charsPerSecond, 0, "untimed")
        XCTAssertEqual(short.trainingSeconds, 0.5)
        s.maxTime = 6
        let timed = try BudgetPlan.choose(seconds: 6, corpus: data, base: try s.options())
        XCTAssertEqual(timed.shape.hidden, BudgetPlan.shapes[0].hidden, "six seconds train the smallest shape best")
        XCTAssertGreaterThan(timed.charsPerSecond, 0)
        XCTAssertGreaterThan(timed.calibrationSeconds, 0)
        XCTAssertGreaterThanOrEqual(timed.trainingSeconds, 3, "the timing takes at most half of the budget")
        XCTAssertLessThan(timed.trainingSeconds, 6)
    }

    // MARK: runs

    func testAStepBudgetEndsWithTheScheduleAndValidatesHalfWayAndAtTheEnd() throws {
        var s = TrainingSettings()
        s.maxTime = 1e6
        s.maxSteps = 40
        s.cell = .gru
        s.layers = 1
        s.hidden = 8
        s.batchSize = 4
        s.seqLength = 10
        s.outDir = "\(folder!)/steps"
        let o = try s.options()
        let trainer = try Trainer(corpus: try corpus(), options: o)
        var rates: [Float] = []
        var validations: [Int] = []
        let summary = try trainer.run { event in
            switch event {
            case .step(let p): rates.append(p.learningRate)
            case .validation(let p): validations.append(p.step)
            case .checkpoint: break
            }
            return true
        }
        XCTAssertEqual(summary.progress.step, 40)
        XCTAssertEqual(validations, [20, 40])
        XCTAssertEqual(summary.bestValLoss, summary.progress.valLoss)
        let peak = rates.firstIndex(of: rates.max()!)!
        XCTAssertLessThanOrEqual(peak, 2, "a short warmup")
        for i in (peak + 1)..<rates.count { XCTAssertLessThanOrEqual(rates[i], rates[i - 1]) }
        XCTAssertLessThan(rates.last!, rates.max()! * 0.01, "close to 0 at the end")
    }

    func testATimeBudgetRunEndsOnTime() throws {
        var s = TrainingSettings()
        s.maxTime = 1
        s.layers = 1
        s.hidden = 8
        s.batchSize = 4
        s.seqLength = 10
        let trainer = try Trainer(corpus: try corpus(), options: try s.options())
        var last: Float = .nan
        let summary = try trainer.run { event in
            if case .step(let p) = event { last = p.learningRate }
            return true
        }
        XCTAssertGreaterThan(summary.progress.step, 10)
        XCTAssertLessThan(summary.progress.seconds, 5)
        XCTAssertLessThan(last, 1e-2 * 0.05, "the rate has decayed by the end")
        XCTAssertFalse(summary.bestValLoss.isNaN)
    }

    func testTrainingRunChoosesAndSaysWhy() throws {
        let path = "\(folder!)/text.txt"
        var words = ""
        var rng = RandomGenerator(seed: 3)
        let pool = ["to ", "be ", "or ", "not ", "that ", "is ", "the ", "question", ".\n"]
        while words.count < 12000 { words += pool[Int(rng.next() % UInt64(pool.count))] }
        try words.write(toFile: path, atomically: true, encoding: .utf8)
        var s = TrainingSettings()
        s.maxTime = 1
        let run = try TrainingRun(corpusPath: path, settings: s)
        let plan = try XCTUnwrap(run.plan)
        XCTAssertEqual(run.options.cell, plan.shape.cell)
        XCTAssertEqual(run.options.hidden, plan.shape.hidden)
        XCTAssertEqual(run.options.maxTime, plan.trainingSeconds)
        s.hidden = 16
        let given = try TrainingRun(corpusPath: path, settings: s)
        XCTAssertNil(given.plan)
        XCTAssertEqual(given.options.hidden, 16)
        XCTAssertEqual(given.options.cell, .lstm, "the defaults, not the plan's, for what was not given")
    }
}
