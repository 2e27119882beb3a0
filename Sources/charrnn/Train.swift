import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(Glibc)
import Glibc
#endif

// Enum values in any case, as Keras users write them (--cell GRU, --optimizer RMSprop).
extension CellKind: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
extension Objective: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}
extension OptimizerConfig.Kind: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
}

/// `charrnn train CORPUS`: trains a new model, or resumes / fine-tunes from a checkpoint.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on a UTF-8 text file.",
        discussion: """
            Progress goes to stdout (a live bar on a terminal, plain lines otherwise); warnings and errors to \
            stderr. Checkpoints (latest.safetensors and the best epochNN-L.LLLL.safetensors) go to --out. \
            With --resume, training options not given on the command line are taken from the checkpoint; \
            the text options (--lowercase, --reduce-charset, --max-chars, --val-fraction) must be repeated for \
            the run to continue exactly, otherwise it fine-tunes. Ctrl-C or SIGTERM stops after writing a checkpoint (exit 130 / 143).

            A time budget: with --max-time and neither --epochs nor a --lr-decay, the run is tuned for the \
            time. The learning rate warms up over the first 2% of the budget and decays to 0 at its end \
            (cosine), from a higher Adam rate (unless --lr is given); and when no --cell, --layers, --hidden, \
            --embedding, --batch-size, --seq-length or --objective is given, under a second of timing chooses \
            the model and batch the budget trains best on this machine (a GRU, 2x128 to 2x512), taken from the \
            budget, and dropout 0.25 (unless --dropout is given) when it will see the text more than 10 times. \
            One line says what was chosen and why. Validation runs halfway and at the end (unless \
            --eval-every is given). --resume continues a budget to its end; with --max-time, a new budget \
            starts where it resumes.
            """)

    @Argument(help: "The training text (UTF-8).") var corpus: String

    // The model.
    @Option(help: "Recurrent cell: lstm, gru or rnn (default lstm).") var cell: CellKind?
    @Option(parsing: .unconditional, help: "Recurrent layers (default 2).") var layers: Int?
    @Option(parsing: .unconditional, help: "Units per layer (default 128).") var hidden: Int?
    @Option(parsing: .unconditional, help: "Embedding width; without it the input is one-hot.") var embedding: Int?
    @Option(parsing: .unconditional, help: "Dropout after each recurrent layer while training (default 0).")
    var dropout: Float?

    // The data.
    @Option(help: "sequence (truncated BPTT, state carried across batches) or window (default sequence).")
    var objective: Objective?
    @Option(parsing: .unconditional, help: "Characters per sequence / window (default 50).") var seqLength: Int?
    @Option(parsing: .unconditional, help: "Window objective: characters between window starts (default 3).") var step:
        Int?
    @Option(parsing: .unconditional, help: "Sequences per batch (default 50).") var batchSize: Int?
    @Flag(help: "Lowercase the text.") var lowercase = false
    @Flag(help: "Lowercase and keep only a-z and ,.?! \\n:;-' (others become spaces).") var reduceCharset = false
    @Option(parsing: .unconditional, help: "Use at most this many characters of the text (0 = all).") var maxChars: Int?
    @Option(parsing: .unconditional, help: "Fraction of the text, at its end, used for validation (default 0.1).")
    var valFraction: Double?

    // The update.
    @Option(help: "sgd, rmsprop, adam or adagrad (default adam).") var optimizer: OptimizerConfig.Kind?
    @Option(
        name: [.customLong("lr"), .customLong("learning-rate")], parsing: .unconditional,
        help: "Learning rate (default 2e-3 for adam and rmsprop, Keras' default otherwise).") var lr: Float?
    @Option(parsing: .unconditional, help: "SGD momentum.") var momentum: Float?
    @Flag(help: "SGD: Nesterov momentum.") var nesterov = false
    @Option(parsing: .unconditional, help: "RMSprop decay of the squared-gradient average.") var rho: Float?
    @Option(parsing: .unconditional, help: "Clip each gradient to ±VALUE (0 = off, the default).") var clipValue: Float?
    @Option(parsing: .unconditional, help: "Clip the global gradient norm to this (default 5; 0 = off).") var clipNorm:
        Float?
    @Option(parsing: .unconditional, help: "Learning-rate decay factor; needs --lr-decay-every or --lr-decay-after.")
    var lrDecay: Float?
    @Option(parsing: .unconditional, help: "Exponential decay: multiply by --lr-decay every this many steps.")
    var lrDecayEvery: Int?
    @Flag(help: "With --lr-decay-every: decay in steps rather than continuously.") var staircase = false
    @Option(
        parsing: .unconditional,
        help: "char-rnn decay: multiply by --lr-decay at the end of each epoch from this epoch on.")
    var lrDecayAfter: Int?

    // How long.
    @Option(parsing: .unconditional, help: "Epochs (default 10).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Stop after this many steps in all (0 = no limit).") var maxSteps: Int?
    @Option(
        parsing: .unconditional,
        help: "Stop after this many seconds of this run (0 = no limit); alone, a budget the run is tuned for (below).")
    var maxTime: Double?
    @Option(parsing: .unconditional, help: "Random seed (default 42).") var seed: UInt64?

    // Reporting and checkpoints.
    @Option(parsing: .unconditional, help: "Validate and checkpoint every this many steps (default: every epoch).")
    var evalEvery: Int?
    @Option(
        parsing: .unconditional, help: "Print samples at temperatures 0.5 and 1.2 every this many steps (0 = never).")
    var sampleEvery: Int = 0
    @Option(parsing: .unconditional, help: "Characters per sample.") var sampleLength: Int = 200
    @Option(
        parsing: .unconditional,
        help: "Without a terminal, print a progress line every this many steps (default: about 20 lines).")
    var printEvery: Int?
    @Option(help: "Checkpoint folder (default: checkpoints, or the resumed run's folder).") var out: String?
    @Option(help: "Continue from this checkpoint (or fine-tune a model file).") var resume: String?
    @OptionGroup var keras: KerasVocabularyOptions
    @Flag(help: "Replace the checkpoints of another run in the --out folder (refused without it).")
    var overwrite = false
    @Flag(help: "End with one JSON object on the last line of stdout.") var json = false

    func validate() throws {
        if let v = clipValue, !(v >= 0) { throw ValidationError("--clip-value must be >= 0") }
        if let v = clipNorm, !(v >= 0) { throw ValidationError("--clip-norm must be >= 0") }
        if lrDecay != nil && lrDecayEvery == nil && lrDecayAfter == nil {
            throw ValidationError("--lr-decay needs --lr-decay-every STEPS or --lr-decay-after EPOCHS")
        }
        if lrDecayEvery != nil && lrDecayAfter != nil {
            throw ValidationError("give either --lr-decay-every or --lr-decay-after, not both")
        }
        if (lrDecayEvery != nil || lrDecayAfter != nil) && lrDecay == nil {
            throw ValidationError("--lr-decay-every / --lr-decay-after need --lr-decay RATE")
        }
        if staircase && lrDecayEvery == nil { throw ValidationError("--staircase needs --lr-decay-every") }
        if sampleEvery < 0 { throw ValidationError("--sample-every must be >= 0") }
        if sampleLength < 1 { throw ValidationError("--sample-length must be >= 1") }
        if let p = printEvery, p < 1 { throw ValidationError("--print-every must be >= 1") }
        if let maxChars, maxChars < 0 { throw ValidationError("--max-chars must be >= 0") }
        if let t = maxTime, !(t >= 0 && t.isFinite) {
            throw ValidationError("--max-time must be a number of seconds >= 0")
        }
        // An empty folder name would put the checkpoints at the root ("/latest.safetensors").
        if let out, out.isEmpty { throw ValidationError("--out must name a folder; it is empty") }
    }

    func run() throws {
        try CLI.guarded { try train() }
    }

    private func train() throws {
        var settings = try self.settings()
        let imported = try importedResume()
        defer { imported?.remove() }
        if let imported { settings.resume = imported.path }
        let run = try TrainingRun(corpusPath: corpus, settings: settings)
        settings = TrainingSettings()  // everything is in `run` now
        let trainer = run.trainer, options = run.options, corpus = run.corpus
        if !run.ignored.isEmpty {
            CLI.warn(
                run.ignored.map { "--\($0)" }.joined(separator: ", ")
                    + " ignored with --resume: the architecture comes from \(resume ?? "")")
        }
        let model = trainer.model
        let arch =
            "\(model.config.layers.count)x\(model.config.layers.first?.units ?? 0) \(model.config.layers.first?.cell.rawValue ?? "")"
        CLI.note(
            "corpus \(self.corpus): \(corpus.training.count) training and \(corpus.validation.count) validation characters, vocabulary \(corpus.vocabulary.count)"
        )
        CLI.note(
            "model \(arch), \(model.config.input.rawValue) input, \(model.parameterCount) parameters; \(options.optimizer.kind.rawValue) lr \(options.optimizer.learningRate), batch \(options.batchSize) × \(options.seqLength), \(options.objective.rawValue) objective"
        )
        if let line = budgetLine(run) { CLI.note(line) }
        switch run.start {
        case .fresh: break
        case .resumed(let from, let step): CLI.note("resuming from \(from) (step \(step))")
        case .fineTuned(let from, let reason): CLI.note("fine-tuning \(from): \(reason)")
        }

        SignalFlag.install([SIGINT, SIGTERM], secondExits: true)
        let display = ProgressDisplay(terminal: CLI.stdoutIsTerminal, printEvery: printEvery, options: options)
        var bestCheckpoint: String?
        var latestCheckpoint: String?
        let summary = try trainer.run { event in
            switch event {
            case .step(let p):
                display.step(p)
                if sampleEvery > 0 && p.step % sampleEvery == 0 && SignalFlag.signal == 0 {
                    display.clearBar()
                    printSamples(model: trainer.model, step: p.step, seed: options.seed)
                }
            case .validation(let p):
                display.validation(p)
            case .checkpoint(_, let path):
                if path.hasSuffix("/latest.safetensors") {
                    latestCheckpoint = path
                } else {
                    bestCheckpoint = path
                }
            }
            return SignalFlag.signal == 0
        }
        display.finish()

        let p = summary.progress
        let checkpoint = summary.checkpoint ?? latestCheckpoint
        if json {
            var o = JSONObject()
            o.set("steps", p.step)
            o.set("epochs", p.epochProgress)
            o.set("train_loss", p.smoothedLoss)
            o.set("train_loss_last", p.loss)
            o.set("val_loss", p.valLoss)
            o.set("val_perplexity", p.valLoss.isFinite ? exp(p.valLoss) : nil)
            o.set("val_accuracy", p.valAccuracy)
            o.set("best_val_loss", summary.bestValLoss)
            o.set("chars_per_s", p.charsPerSecond)
            o.set("seconds", p.seconds)
            o.set("checkpoint", checkpoint)
            o.set("best_checkpoint", bestCheckpoint)
            o.set("parameters", model.parameterCount)
            o.set("cancelled", summary.cancelled)
            print(o.text)
        } else {
            print(
                "trained \(p.step) steps (\(CLI.fixed(p.epochProgress, 2)) epochs) in \(CLI.duration(p.seconds)), \(CLI.compact(p.charsPerSecond)) chars/s; train loss \(CLI.fixed(p.smoothedLoss, 4))"
            )
            if p.valLoss.isFinite {
                print(
                    "validation loss \(CLI.fixed(p.valLoss, 4)) nats/char, perplexity \(CLI.fixed(exp(p.valLoss), 3)), accuracy \(CLI.fixed(100 * p.valAccuracy, 2))%"
                )
            }
            if let checkpoint { print("checkpoint: \(checkpoint)") }
            if let bestCheckpoint {
                // The best checkpoint is the last validation's model unless an earlier one was better.
                let earlier =
                    summary.bestValLoss < p.valLoss ? " (validation loss \(CLI.fixed(summary.bestValLoss, 4)))" : ""
                print("best: \(bestCheckpoint)\(earlier)")
            }
        }
        StandardOutput.flush()
        if summary.cancelled {
            let sig = SignalFlag.signal
            let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
            CLI.note(
                "stopped by \(name) at step \(p.step); "
                    + (checkpoint.map { "checkpoint written to \($0); continue with --resume \($0)" }
                        ?? "no checkpoint written"))
            throw ExitCode(128 + (sig == 0 ? SIGINT : sig))
        }
    }

    /// What a budget schedule decided, in one line: the shape the budget chose and why, the rate and its
    /// decay; nil without a budget schedule.
    private func budgetLine(_ run: TrainingRun) -> String? {
        guard case .budget(let b) = run.options.schedule else { return nil }
        func seconds(_ s: Double) -> String { "\(CLI.fixed(s, s < 10 ? 1 : 0)) s" }
        var length: [String] = []
        if b.endSeconds > b.fromSeconds { length.append(seconds(b.endSeconds - b.fromSeconds)) }
        if b.endStep > b.fromStep { length.append("step \(b.endStep)") }
        let final = b.final == 0 ? "0" : "×\(b.final)"
        let rate =
            "\(run.options.optimizer.kind.rawValue) \(run.options.optimizer.learningRate), "
            + "warmup \(CLI.fixed(100 * b.warmup, 0))% then \(b.decay.rawValue) to \(final) at the budget's end"
        guard let plan = run.plan else {
            let start = b.fromSeconds > 0 ? " from \(seconds(b.fromSeconds)) of training" : ""
            var resumed = ""
            let renewed = (maxTime ?? 0) > 0 && epochs == nil && lrDecay == nil
            if case .resumed = run.start, !renewed { resumed = " (resumed: it ends where it did)" }
            return "budget \(length.joined(separator: " or "))\(start)\(resumed): \(rate)"
        }
        guard plan.charsPerSecond > 0 else {
            return "budget \(seconds(maxTime ?? 0)): \(plan.shape.description), \(rate); the smallest tuned shape "
                + "(a budget this short is not timed)"
        }
        let chars = plan.charsPerSecond * plan.trainingSeconds
        var why = "the largest tuned shape"
        if let (next, speed) = plan.next {
            let shape = "\(next.cell.rawValue.uppercased()) \(next.layers)x\(next.hidden)"
            let needs = "the \(CLI.compact(next.minChars)) it needs"
            if let speed, speed > 0 {
                why =
                    "\(shape) would train \(CLI.compact(speed * plan.trainingSeconds)) at \(CLI.compact(speed)) chars/s, under \(needs)"
            } else if speed == 0 {
                why = "\(shape) would train fewer than \(needs)"
            } else {
                why = "\(shape) does not suit this text or memory"
            }
        }
        var dropout = ""
        if run.options.dropout > 0 && run.options.dropout == plan.dropout {
            dropout = "; dropout \(run.options.dropout), as it sees the text \(CLI.fixed(plan.passes, 0)) times"
        }
        return "budget \(seconds(maxTime ?? 0)): \(plan.shape.description), \(rate); measured "
            + "\(CLI.compact(plan.charsPerSecond)) chars/s: \(CLI.compact(chars)) characters in the "
            + "\(seconds(plan.trainingSeconds)) left after timing (\(why))\(dropout)"
    }

    /// The options given on the command line; the core resolves them (`TrainingRun`).
    private func settings() throws -> TrainingSettings {
        var s = TrainingSettings()
        s.cell = cell
        s.layers = layers
        s.hidden = hidden
        s.embedding = embedding
        s.dropout = dropout
        s.objective = objective
        s.seqLength = seqLength
        s.windowStep = step
        s.batchSize = batchSize
        s.lowercase = lowercase ? true : nil
        s.reduceCharset = reduceCharset ? true : nil
        s.maxChars = maxChars
        s.valFraction = valFraction
        s.optimizer = optimizer
        s.learningRate = lr
        s.momentum = momentum
        s.nesterov = nesterov ? true : nil
        s.rho = rho
        s.clipValue = clipValue
        s.clipNorm = clipNorm
        s.schedule = try LearningRateSchedule.fromDecay(
            lrDecay, every: lrDecayEvery, staircase: staircase ? true : nil,
            after: lrDecayAfter)
        s.epochs = epochs
        s.maxSteps = maxSteps
        s.maxTime = maxTime
        s.seed = seed
        s.evalEvery = evalEvery
        s.resume = resume
        s.overwrite = overwrite
        s.outDir = out
        s.defaultOutDir = "checkpoints"
        return s
    }

    /// A Keras --resume (.keras, .h5) imported into a temporary model file to fine-tune; nil otherwise.
    private func importedResume() throws -> KerasImport.TemporaryModel? {
        guard let resume, KerasImport.isKerasFile(resume) else {
            if keras.request != nil { CLI.warn("--vocab-from and --vocab are for a Keras --resume: ignored") }
            return nil
        }
        guard var request = keras.request else { throw KerasImport.needsVocabulary(resume) }
        request.normalization = reduceCharset ? "reduce_charset" : lowercase ? "lowercase" : nil
        CLI.note("importing the Keras model \(resume)")
        return try KerasImport.importToTemporary(resume, request, note: CLI.note)
    }

    private func printSamples(model: Model, step: Int, seed: UInt64) {
        for temperature: Float in [0.5, 1.2] {
            let session = Session(model: model, seed: seed &+ UInt64(step) &* 1_000_003 &+ (temperature < 1 ? 0 : 1))
            session.feedStart()
            var text = String.UnicodeScalarView()
            // A long sample must not hold off Ctrl-C: the step's handler then stops the run and checkpoints.
            _ = try? session.generate(count: sampleLength, SamplingParameters(temperature: temperature)) { c, _ in
                text.append(c)
                return SignalFlag.signal == 0
            }
            if SignalFlag.signal != 0 { break }
            print("--- sample at step \(step), temperature \(temperature) ---")
            print(String(text))
            print("---")
        }
        StandardOutput.flush()
    }
}

/// Training progress on stdout: a bar redrawn in place on a terminal, plain lines otherwise.
final class ProgressDisplay {
    let terminal: Bool
    let printEvery: Int?
    let options: TrainingOptions
    var barShown = false
    var lastDraw = 0.0
    var firstStep: Int?
    var start = 0.0

    init(terminal: Bool, printEvery: Int?, options: TrainingOptions) {
        self.terminal = terminal
        self.printEvery = printEvery
        self.options = options
        start = ProgressDisplay.now()
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    private func eta(_ p: TrainingProgress) -> Double {
        guard let first = firstStep, p.step > first else { return .nan }
        let elapsed = ProgressDisplay.now() - start
        var remaining = Double(p.totalSteps - p.step) * elapsed / Double(p.step - first)
        if options.maxTime > 0 { remaining = min(remaining, max(0, options.maxTime - elapsed)) }
        return remaining
    }

    func step(_ p: TrainingProgress) {
        if firstStep == nil { firstStep = p.step - 1 }
        let epochs = options.epochs
        // When time decides, the epochs and steps have no real total: say where the run is, not out of what.
        let timeDecides = epochs >= TrainingSettings.epochsWhenTimeDecides && options.maxTime > 0
        let position =
            timeDecides
            ? "epoch \(p.epoch) step \(p.step)"
            : "epoch \(min(p.epoch, epochs))/\(epochs) step \(p.step)/\(p.totalSteps)"
        if terminal {
            let t = ProgressDisplay.now()
            guard t - lastDraw >= 0.1 || p.step == p.totalSteps else { return }
            lastDraw = t
            let width = 20
            let fraction =
                timeDecides
                ? min(1, (t - start) / options.maxTime)
                : p.totalSteps > 0 ? Double(p.step) / Double(p.totalSteps) : 0
            let filled = min(width, Int(fraction * Double(width)))
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line =
                "\(position) \(bar) loss \(CLI.fixed(p.smoothedLoss, 4)) \(CLI.compact(p.charsPerSecond)) chars/s ETA \(CLI.duration(eta(p)))"
            CLI.out("\r\u{1B}[K" + line)
            barShown = true
        } else {
            guard shouldPrint(p) else { return }
            print(
                "\(position) loss \(CLI.fixed(p.loss, 4)) avg \(CLI.fixed(p.smoothedLoss, 4)) lr \(p.learningRate) \(CLI.compact(p.charsPerSecond)) chars/s elapsed \(CLI.duration(p.seconds)) ETA \(CLI.duration(eta(p)))"
            )
            StandardOutput.flush()
        }
    }

    /// Without a terminal: every --print-every steps, else about 20 lines a run — by steps, or by time
    /// when the time limit ends the run first.
    private var nextPrintTime = 0.0
    private func shouldPrint(_ p: TrainingProgress) -> Bool {
        if p.step == p.totalSteps { return true }
        if let printEvery { return p.step % printEvery == 0 }
        let elapsed = ProgressDisplay.now() - start
        let secondsByStepsLeft = Double(p.totalSteps - p.step) * elapsed / Double(max(p.step - (firstStep ?? 0), 1))
        let timeDecides = options.maxTime > 0 && secondsByStepsLeft > options.maxTime - elapsed
        if timeDecides {
            guard elapsed >= nextPrintTime else { return false }
            nextPrintTime = elapsed + options.maxTime / 20
            return true
        }
        return p.step % max(1, p.totalSteps / 20) == 0
    }

    func validation(_ p: TrainingProgress) {
        clearBar()
        print(
            "validation at step \(p.step) (epoch \(CLI.fixed(p.epochProgress, 2))): loss \(CLI.fixed(p.valLoss, 4)) nats/char, perplexity \(CLI.fixed(exp(p.valLoss), 3)), accuracy \(CLI.fixed(100 * p.valAccuracy, 2))%"
        )
        StandardOutput.flush()
    }

    func clearBar() {
        if barShown {
            CLI.out("\r\u{1B}[K")
            barShown = false
            lastDraw = 0
        }
    }

    func finish() { clearBar() }
}
