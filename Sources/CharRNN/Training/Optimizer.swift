import CharRNNKernels
#if canImport(Glibc)
import Glibc
#endif

/// Which update rule, and its hyper-parameters. Defaults are Keras 3's; char-rnn's are reachable
/// (RMSprop with rho 0.95, epsilon 1e-8 outside the root, learning rate 2e-3).
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// The update rule.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Stochastic gradient descent, with optional (Nesterov) momentum.
        case sgd
        /// RMSprop: steps scaled by a moving average of squared gradients.
        case rmsprop
        /// Adam, with Keras's bias correction.
        case adam
        /// Adagrad: steps scaled by the sum of squared gradients.
        case adagrad
    }

    /// The update rule.
    public var kind: Kind
    /// The base learning rate, > 0 (the schedule scales it).
    public var learningRate: Float
    /// SGD: momentum in [0, 1); 0 = none.
    public var momentum: Float = 0
    /// SGD: Nesterov momentum.
    public var nesterov: Bool = false
    /// RMSprop: decay of the squared-gradient average.
    public var rho: Float = 0.9
    /// Adam: decay of the first moment.
    public var beta1: Float = 0.9
    /// Adam: decay of the second moment.
    public var beta2: Float = 0.999
    /// Adagrad: the accumulator's starting value.
    public var initialAccumulator: Float = 0.1
    /// Keeps the denominator away from zero (RMSprop, Adam, Adagrad).
    public var epsilon: Float = 1e-7
    /// RMSprop and Adagrad: g / √(v + ε) as Keras 3 computes it; false gives g / (√v + ε) as char-rnn
    /// and Keras 2 do. (Adam always adds ε after the root, as every Keras does.)
    public var epsilonInsideRoot = true

    /// The Keras defaults for `kind`.
    public init(kind: Kind, learningRate: Float? = nil) {
        self.kind = kind
        switch kind {
        case .sgd: self.learningRate = learningRate ?? 0.01
        case .rmsprop, .adam, .adagrad: self.learningRate = learningRate ?? 0.001
        }
    }

    /// Checks the ranges.
    /// - Throws: `CharRNNError.config`.
    public func validate() throws {
        guard learningRate.isFinite, learningRate > 0 else {
            throw CharRNNError.config("learning rate must be > 0, got \(learningRate)")
        }
        guard momentum >= 0, momentum < 1, rho > 0, rho < 1, beta1 >= 0, beta1 < 1, beta2 > 0, beta2 < 1,
            epsilon > 0, initialAccumulator >= 0
        else {
            throw CharRNNError.config("optimizer hyper-parameters out of range")
        }
    }

    /// Moment buffers the rule keeps per parameter.
    var slotCount: Int {
        switch kind {
        case .sgd: return momentum > 0 ? 1 : 0
        case .rmsprop, .adagrad: return 1
        case .adam: return 2
        }
    }
}

/// Applies one update rule to a flat parameter buffer, keeping its moment buffers.
package final class Optimizer {
    package let config: OptimizerConfig
    /// Moment buffers, in the parameter layout (saved in checkpoints).
    let slots: [ParameterBuffer]
    /// Updates applied so far (Adam's bias correction).
    private(set) var iterations: Int = 0

    package init(config: OptimizerConfig, parameterCount: Int) {
        self.config = config
        slots = (0..<config.slotCount).map { _ in ParameterBuffer(count: parameterCount) }
        if config.kind == .adagrad {
            slots[0].pointer.update(repeating: config.initialAccumulator, count: parameterCount)
        }
    }

    /// Restores moments and iteration count from a checkpoint.
    func restore(slots values: [[Float]], iterations: Int) throws {
        guard values.count == slots.count, zip(values, slots).allSatisfy({ $0.count == $1.count }) else {
            throw CharRNNError.format("the checkpoint's optimizer state does not fit this model and optimizer")
        }
        // Second moments and accumulators are sums of squares: never negative. Nothing may be NaN.
        let squares = config.kind == .adam ? [1] : (config.kind == .sgd ? [] : [0])
        for (i, v) in values.enumerated() where !v.allSatisfy({ $0.isFinite && (!squares.contains(i) || $0 >= 0) }) {
            throw CharRNNError.format("the checkpoint's optimizer state holds invalid values")
        }
        for (v, slot) in zip(values, slots) {
            v.withUnsafeBufferPointer { slot.pointer.update(from: $0.baseAddress!, count: v.count) }
        }
        self.iterations = iterations
    }

    /// `parameters -= update(gradients)` at `learningRate`. The loops run in CharRNNKernels, at the
    /// CPU's vector width, with the same operations as the formulas in `OptimizerConfig`'s rules.
    /// `parameters` and `gradients` must not overlap (the C loops take them as `restrict`).
    package func apply(
        parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, count n: Int,
        learningRate lr: Float
    ) {
        iterations += 1
        let c = config
        let inside: Int32 = c.epsilonInsideRoot ? 1 : 0
        switch c.kind {
        case .sgd:
            if c.momentum > 0 {
                crnn_momentum_update(p, g, slots[0].pointer, n, lr, c.momentum, c.nesterov ? 1 : 0)
            } else {
                crnn_sgd_update(p, g, n, lr)
            }
        case .rmsprop:
            crnn_rmsprop_update(p, g, slots[0].pointer, n, lr, c.rho, 1 - c.rho, c.epsilon, inside)
        case .adam:
            let t = Float(iterations)
            // Keras folds the bias corrections into the step size.
            let alpha = lr * (1 - powf(c.beta2, t)).squareRoot() / (1 - powf(c.beta1, t))
            crnn_adam_update(
                p, g, slots[0].pointer, slots[1].pointer, n, alpha, 1 - c.beta1, 1 - c.beta2,
                c.epsilon)
        case .adagrad:
            crnn_adagrad_update(p, g, slots[0].pointer, n, lr, c.epsilon, inside)
        }
    }
}

/// Gradient clipping, applied before the update.
public struct GradientClipping: Codable, Equatable, Sendable {
    /// Clip each gradient to ±value; nil = off.
    public var value: Float?
    /// Scale all gradients so that their global L2 norm is at most this; nil = off.
    public var globalNorm: Float?

    /// Clipping by value, by global norm, both (value first) or neither.
    public init(value: Float? = nil, globalNorm: Float? = nil) {
        self.value = value
        self.globalNorm = globalNorm
    }

    /// Clips in place and returns the global norm before clipping.
    @discardableResult
    func apply(_ g: UnsafeMutablePointer<Float>, count n: Int) -> Float {
        if let value {
            for i in 0..<n { g[i] = min(max(g[i], -value), value) }
        }
        var sum: Double = 0
        for i in 0..<n { sum += Double(g[i] * g[i]) }
        let norm = Float(sum.squareRoot())
        if let limit = globalNorm, norm > limit {
            let scale = limit / norm
            for i in 0..<n { g[i] *= scale }
        }
        return norm
    }
}

/// How the learning rate changes during training.
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// rate · decay^(step / every), with the exponent floored when `staircase`
    /// (the TensorFlow tutorial: 10.0 × 0.1 every 5000 steps, staircase).
    case exponential(decay: Float, every: Int, staircase: Bool)
    /// char-rnn: multiply by `decay` at the end of each epoch from epoch `after` on.
    case perEpoch(decay: Float, after: Int)
    /// A schedule that knows the run's budget (time, steps or both): a linear warmup, then a decay to the
    /// budget's end. What a run limited by time alone gets (`BudgetSchedule`).
    case budget(BudgetSchedule)

    /// The schedule of a decay factor and when it applies, as `charrnn train --lr-decay` and
    /// `charrnn_train_params` give them; nil when none is given.
    /// - Throws: `CharRNNError.config` for a contradictory or incomplete combination.
    public static func fromDecay(_ decay: Float?, every: Int?, staircase: Bool?, after: Int?) throws
        -> LearningRateSchedule?
    {
        if every != nil && after != nil {
            throw CharRNNError.config("give either lr_decay_every or lr_decay_after, not both")
        }
        if staircase == true && every == nil { throw CharRNNError.config("lr_decay_staircase needs lr_decay_every") }
        guard let decay else {
            if every != nil || after != nil {
                throw CharRNNError.config("lr_decay_every / lr_decay_after need lr_decay")
            }
            return nil
        }
        if decay == 1 { return .constant }
        if let every { return .exponential(decay: decay, every: every, staircase: staircase ?? false) }
        if let after { return .perEpoch(decay: decay, after: after) }
        throw CharRNNError.config("lr_decay needs lr_decay_every (steps) or lr_decay_after (epochs)")
    }

    /// The rate at `step` (updates done) in epoch `epoch` (1-based), after `seconds` of training (counting
    /// those of the runs a resumed run continues; only a budget schedule reads it).
    public func rate(base: Float, step: Int, epoch: Int, seconds: Double = 0) -> Float {
        switch self {
        case .budget(let budget):
            return base * budget.factor(at: budget.progress(step: step, seconds: seconds))
        case .constant:
            return base
        case .exponential(let decay, let every, let staircase):
            let exponent = Double(step) / Double(max(every, 1))
            return base * Float(pow(Double(decay), staircase ? exponent.rounded(.down) : exponent))
        case .perEpoch(let decay, let after):
            // Each completed epoch e ≥ after has applied one decay.
            let times = max(0, epoch - max(after, 1))
            return base * Float(pow(Double(decay), Double(times)))
        }
    }
}

/// A learning-rate schedule over a budget — seconds of training, a number of steps, or both, whichever runs
/// out first — as modern recipes use it: a linear warmup over the first `warmup` of the budget, then a
/// cosine (or linear) decay from the base rate to `final` × the base rate at the budget's end. Progress is
/// the fraction of the budget spent, measured from where the schedule started (`fromStep`, `fromSeconds`:
/// 0 for a new run; a resumed run given a new time limit starts a new budget where it resumes).
public struct BudgetSchedule: Codable, Equatable, Sendable {
    /// How the rate falls after the warmup.
    public enum Decay: String, Codable, Sendable, CaseIterable {
        /// Half a cosine period: slow at first and at the end.
        case cosine
        /// A straight line.
        case linear
    }

    /// The budget's end in seconds of training, counted as `TrainingProgress.seconds` is (resumed runs
    /// included); 0 = no time budget.
    public var endSeconds: Double
    /// The budget's end in steps (updates done in all); 0 = no step budget.
    public var endStep: Int
    /// Where the budget started, in seconds of training.
    public var fromSeconds: Double
    /// Where the budget started, in steps.
    public var fromStep: Int
    /// The fraction of the budget spent warming up, in [0, 1).
    public var warmup: Double
    /// The rate at the end, as a fraction of the base rate, in [0, 1].
    public var final: Float
    /// The shape of the decay.
    public var decay: Decay

    /// A budget of `seconds` of training and/or `steps` updates (0 = none) from the start of a run.
    public init(
        seconds: Double = 0, steps: Int = 0, fromSeconds: Double = 0, fromStep: Int = 0,
        warmup: Double = BudgetSchedule.defaultWarmup, final: Float = BudgetSchedule.defaultFinal,
        decay: Decay = .cosine
    ) {
        endSeconds = seconds > 0 ? fromSeconds + seconds : 0
        endStep = steps > 0 ? steps : 0
        self.fromSeconds = fromSeconds
        self.fromStep = fromStep
        self.warmup = warmup
        self.final = final
        self.decay = decay
    }

    /// The warmup of a run whose time limit chose the schedule.
    public static let defaultWarmup = 0.02
    /// The final rate of a run whose time limit chose the schedule, as a fraction of the base rate.
    public static let defaultFinal: Float = 0

    /// The fraction of the budget spent after `step` updates and `seconds` of training, in [0, 1]: the larger
    /// of the time and step fractions.
    public func progress(step: Int, seconds: Double) -> Double {
        var p = 0.0
        if endSeconds > fromSeconds { p = max(p, (seconds - fromSeconds) / (endSeconds - fromSeconds)) }
        if endStep > fromStep { p = max(p, Double(step - fromStep) / Double(endStep - fromStep)) }
        return p.isFinite ? min(max(p, 0), 1) : 1
    }

    /// Whether the budget is spent: the run stops there.
    public func isSpent(step: Int, seconds: Double) -> Bool {
        (endSeconds > fromSeconds && seconds >= endSeconds) || (endStep > fromStep && step >= endStep)
    }

    /// The multiple of the base rate at `progress`: rising linearly through the warmup (from 1% of the base
    /// rate), then falling to `final` at 1.
    public func factor(at progress: Double) -> Float {
        let p = min(max(progress, 0), 1)
        if warmup > 0 && p < warmup { return Float(max(p / warmup, 0.01)) }
        let x = warmup < 1 ? (p - warmup) / (1 - warmup) : 1
        let shape: Double
        switch decay {
        case .cosine: shape = 0.5 * (1 + cos(Double.pi * x))
        case .linear: shape = 1 - x
        }
        return final + (1 - final) * Float(shape)
    }

    /// Checks the ranges.
    func validate() throws {
        guard warmup >= 0, warmup < 1, final >= 0, final <= 1, endSeconds >= 0, endSeconds.isFinite,
            fromSeconds >= 0, fromSeconds.isFinite, endStep >= 0, fromStep >= 0
        else {
            throw CharRNNError.config("the budget schedule is out of range")
        }
    }
}
