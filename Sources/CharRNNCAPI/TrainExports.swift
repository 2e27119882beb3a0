// Training: charrnn_train_params -> TrainingOptions, progress callbacks, checkpoints and resuming.
import CCharRNNHeader
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// Training parameters with no option given, struct_size aside: `TrainingSettings` resolves them.
func unsetTrainParams() -> charrnn_train_params {
    var p = charrnn_train_params()
    p.cell = CHARRNN_CELL_UNSET
    p.layers = UInt32.max
    p.hidden = UInt32.max
    p.embedding = UInt32.max
    p.dropout = .nan
    p.objective = CHARRNN_OBJECTIVE_UNSET
    p.seq_length = UInt32.max
    p.step = UInt32.max
    p.batch_size = UInt32.max
    p.optimizer = CHARRNN_OPTIMIZER_UNSET
    p.learning_rate = .nan
    p.clip_value = .nan
    p.clip_norm = .nan
    p.lr_decay = .nan
    p.lr_decay_every = UInt32.max
    p.lr_decay_staircase = -1
    p.lr_decay_after = UInt32.max
    p.epochs = UInt32.max
    p.max_steps = UInt64.max
    p.max_time = .nan
    p.seed = UInt64.max
    p.lowercase = -1
    p.reduce_charset = -1
    p.max_chars = UInt64.max
    p.val_fraction = .nan
    p.eval_every = UInt64.max
    p.out_dir = nil
    p.resume = nil
    p.momentum = .nan
    p.nesterov = -1
    p.rho = .nan
    p.beta1 = .nan
    p.beta2 = .nan
    p.epsilon = .nan
    p.overwrite = -1
    return p
}

@_cdecl("charrnn_train_params_init")
public func capi_train_params_init(_ params: UnsafeMutablePointer<charrnn_train_params>?, _ structSize: Int) -> CStatus
{
    guarded { try initParameters(params, size: structSize, defaults: unsetTrainParams()) }
}

/// A uint32 option, nil when unset.
private func given(_ value: UInt32) -> Int? { value == UInt32.max ? nil : Int(value) }

/// A uint64 option as an Int, nil when unset.
private func given(_ value: UInt64, _ name: String) throws -> Int? {
    guard value != UInt64.max else { return nil }
    guard value <= UInt64(Int.max) else { throw APIError.config("\(name) is too large (\(value))") }
    return Int(value)
}

/// A float option, nil when unset (NaN).
private func given(_ value: Float) -> Float? { value.isNaN ? nil : value }

/// A flag, nil when unset (negative).
private func given(_ value: Int32) -> Bool? { value < 0 ? nil : value > 0 }

/// The options C gave, as the core's settings; enums are read as raw integers and checked.
func trainingSettings(_ p: charrnn_train_params) throws -> TrainingSettings {
    var s = TrainingSettings()
    switch p.cell.rawValue {
    case CHARRNN_CELL_UNSET.rawValue: break
    case CHARRNN_CELL_LSTM.rawValue: s.cell = .lstm
    case CHARRNN_CELL_GRU.rawValue: s.cell = .gru
    case CHARRNN_CELL_RNN.rawValue: s.cell = .rnn
    default: throw APIError.config("cell \(p.cell.rawValue) is not one of CHARRNN_CELL_LSTM (0), GRU (1), RNN (2)")
    }
    s.layers = given(p.layers)
    s.hidden = given(p.hidden)
    s.embedding = given(p.embedding)
    s.dropout = given(p.dropout)
    switch p.objective.rawValue {
    case CHARRNN_OBJECTIVE_UNSET.rawValue: break
    case CHARRNN_OBJECTIVE_SEQUENCE.rawValue: s.objective = .sequence
    case CHARRNN_OBJECTIVE_WINDOW.rawValue: s.objective = .window
    default:
        throw APIError.config(
            "objective \(p.objective.rawValue) is not one of CHARRNN_OBJECTIVE_SEQUENCE (0), WINDOW (1)")
    }
    s.seqLength = given(p.seq_length)
    s.windowStep = given(p.step)
    s.batchSize = given(p.batch_size)
    switch p.optimizer.rawValue {
    case CHARRNN_OPTIMIZER_UNSET.rawValue: break
    case CHARRNN_OPTIMIZER_ADAM.rawValue: s.optimizer = .adam
    case CHARRNN_OPTIMIZER_RMSPROP.rawValue: s.optimizer = .rmsprop
    case CHARRNN_OPTIMIZER_SGD.rawValue: s.optimizer = .sgd
    case CHARRNN_OPTIMIZER_ADAGRAD.rawValue: s.optimizer = .adagrad
    default:
        throw APIError.config(
            "optimizer \(p.optimizer.rawValue) is not one of CHARRNN_OPTIMIZER_ADAM (0), RMSPROP (1), SGD (2), ADAGRAD (3)"
        )
    }
    s.learningRate = given(p.learning_rate)
    s.momentum = given(p.momentum)
    s.nesterov = given(p.nesterov)
    s.rho = given(p.rho)
    s.beta1 = given(p.beta1)
    s.beta2 = given(p.beta2)
    s.epsilon = given(p.epsilon)
    s.clipValue = given(p.clip_value)
    s.clipNorm = given(p.clip_norm)
    s.schedule = try LearningRateSchedule.fromDecay(
        given(p.lr_decay), every: given(p.lr_decay_every), staircase: given(p.lr_decay_staircase),
        after: given(p.lr_decay_after))
    s.epochs = given(p.epochs)
    s.maxSteps = try given(p.max_steps, "max_steps")
    s.maxTime = p.max_time.isNaN ? nil : p.max_time
    s.seed = p.seed == UInt64.max ? nil : p.seed
    s.lowercase = given(p.lowercase)
    s.reduceCharset = given(p.reduce_charset)
    s.maxChars = try given(p.max_chars, "max_chars")
    s.valFraction = given(p.val_fraction).map(Double.init)
    s.evalEvery = try given(p.eval_every, "eval_every")
    s.outDir = try optionalString(p.out_dir, "out_dir")
    s.resume = try optionalString(p.resume, "resume")
    s.overwrite = given(p.overwrite) ?? false
    return s
}

private func progress(_ kind: charrnn_progress_kind, _ p: TrainingProgress, epochs: Int) -> charrnn_progress {
    var c = charrnn_progress()
    c.struct_size = UInt32(MemoryLayout<charrnn_progress>.size)
    c.kind = kind
    c.step = UInt64(max(p.step, 0))
    c.total_steps = UInt64(max(p.totalSteps, 0))
    c.epoch = UInt32(clamping: min(p.epoch, epochs))
    c.train_loss = Float(p.smoothedLoss)
    c.val_loss = Float(p.valLoss)
    c.val_accuracy = Float(p.valAccuracy)
    c.chars_per_s = p.charsPerSecond
    c.seconds = p.seconds
    c.learning_rate = p.learningRate
    c.checkpoint = nil
    return c
}

@_cdecl("charrnn_train")
public func capi_train(
    _ corpusPath: UnsafePointer<CChar>?, _ params: UnsafePointer<charrnn_train_params>?,
    _ callback: charrnn_progress_callback?, _ userData: UnsafeMutableRawPointer?,
    _ out: UnsafeMutablePointer<CModel?>?, _ result: UnsafeMutablePointer<charrnn_train_result>?
) -> CStatus {
    guarded {
        let path = try string(corpusPath, "corpus_path")
        let settings = try trainingSettings(readParameters(params, defaults: unsetTrainParams(), "params"))
        let resultBytes = try resultSize(result, "result")  // refused now rather than after the training
        let run = try TrainingRun(corpusPath: path, settings: settings, memoryLimitBytes: TrainingMemory.limitBytes)
        let trainer = run.trainer, options = run.options
        let epochs = options.epochs
        let summary = try trainer.run { event in
            guard let callback else { return true }
            var stop: Int32 = 0
            switch event {
            case .step(let p):
                var c = progress(CHARRNN_PROGRESS_STEP, p, epochs: epochs)
                stop = callback(&c, userData)
            case .validation(let p):
                var c = progress(CHARRNN_PROGRESS_VALIDATION, p, epochs: epochs)
                stop = callback(&c, userData)
            case .checkpoint(let p, let written):
                var c = progress(CHARRNN_PROGRESS_CHECKPOINT, p, epochs: epochs)
                stop = written.withCString { pathPointer in
                    c.checkpoint = pathPointer
                    return callback(&c, userData)
                }
            }
            return stop == 0
        }
        let p = summary.progress
        if let result, let resultBytes {
            var r = charrnn_train_result()
            r.steps = UInt64(max(p.step, 0))
            let perEpoch = max(p.batchesPerEpoch, 1)
            r.epochs = UInt32(clamping: min((p.step + perEpoch - 1) / perEpoch, epochs))
            r.train_loss = Float(p.smoothedLoss)
            r.val_loss = Float(p.valLoss)
            r.val_perplexity = Float(exp(p.valLoss))
            r.val_accuracy = Float(p.valAccuracy)
            r.best_val_loss = Float(summary.bestValLoss)
            r.chars_per_s = p.charsPerSecond
            r.seconds = p.seconds
            switch run.start {
            case .fresh: r.start = CHARRNN_START_FRESH
            case .resumed(_, let step):
                r.start = CHARRNN_START_RESUMED
                r.resumed_step = UInt64(max(step, 0))
            case .fineTuned: r.start = CHARRNN_START_FINE_TUNED
            }
            writeResult(r, to: result, count: resultBytes)
        }
        out?.pointee = box(trainer.model)
        if summary.cancelled {
            throw CharRNNError.cancelled(
                "training was cancelled by the progress callback after step \(p.step)"
                    + (summary.checkpoint.map { "; the last checkpoint is \($0)" } ?? ""))
        }
    }
}
