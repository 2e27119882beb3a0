// Training: charrnn_train_params -> TrainingOptions, progress callbacks, checkpoints and resuming.
import CCharRNNHeader
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// The default training parameters, struct_size aside.
func defaultTrainParams() -> charrnn_train_params {
    let o = TrainingOptions()
    var p = charrnn_train_params()
    p.cell = CHARRNN_CELL_LSTM
    p.layers = UInt32(o.layers)
    p.hidden = UInt32(o.hidden)
    p.embedding = UInt32(o.embedding)
    p.dropout = o.dropout
    p.objective = CHARRNN_OBJECTIVE_SEQUENCE
    p.seq_length = UInt32(o.seqLength)
    p.step = UInt32(o.windowStep)
    p.batch_size = UInt32(o.batchSize)
    p.optimizer = CHARRNN_OPTIMIZER_ADAM
    p.learning_rate = o.optimizer.learningRate
    p.clip_value = 0
    p.clip_norm = o.clipping.globalNorm ?? 0
    p.lr_decay = 1
    p.lr_decay_every = 0
    p.lr_decay_staircase = 0
    p.lr_decay_after = 0
    p.epochs = UInt32(o.epochs)
    p.max_steps = 0
    p.max_time = 0
    p.seed = o.seed
    p.lowercase = 0
    p.reduce_charset = 0
    p.max_chars = 0
    p.val_fraction = 0.1
    p.eval_every = 0
    p.out_dir = nil
    p.resume = nil
    return p
}

@_cdecl("charrnn_train_params_init")
public func capi_train_params_init(_ params: UnsafeMutablePointer<charrnn_train_params>?, _ structSize: Int) -> CStatus {
    guarded { try initParameters(params, size: structSize, defaults: defaultTrainParams()) }
}

/// A uint64 field as an Int.
private func int(_ value: UInt64, _ name: String) throws -> Int {
    guard value <= UInt64(Int.max) else { throw APIError.config("\(name) is too large (\(value))") }
    return Int(value)
}

/// Training and corpus options from C; enums are read as raw integers and checked.
func trainingOptions(_ p: charrnn_train_params) throws -> (TrainingOptions, Corpus.Options, resume: String?) {
    var o = TrainingOptions()
    switch p.cell.rawValue {
    case CHARRNN_CELL_LSTM.rawValue: o.cell = .lstm
    case CHARRNN_CELL_GRU.rawValue: o.cell = .gru
    case CHARRNN_CELL_RNN.rawValue: o.cell = .rnn
    default: throw APIError.config("cell \(p.cell.rawValue) is not one of CHARRNN_CELL_LSTM (0), GRU (1), RNN (2)")
    }
    o.layers = Int(p.layers)
    o.hidden = Int(p.hidden)
    o.embedding = Int(p.embedding)
    o.dropout = p.dropout
    switch p.objective.rawValue {
    case CHARRNN_OBJECTIVE_SEQUENCE.rawValue: o.objective = .sequence
    case CHARRNN_OBJECTIVE_WINDOW.rawValue: o.objective = .window
    default: throw APIError.config("objective \(p.objective.rawValue) is not one of CHARRNN_OBJECTIVE_SEQUENCE (0), WINDOW (1)")
    }
    o.seqLength = Int(p.seq_length)
    o.windowStep = Int(p.step)
    o.batchSize = Int(p.batch_size)
    let kind: OptimizerConfig.Kind
    switch p.optimizer.rawValue {
    case CHARRNN_OPTIMIZER_ADAM.rawValue: kind = .adam
    case CHARRNN_OPTIMIZER_RMSPROP.rawValue: kind = .rmsprop
    case CHARRNN_OPTIMIZER_SGD.rawValue: kind = .sgd
    case CHARRNN_OPTIMIZER_ADAGRAD.rawValue: kind = .adagrad
    default: throw APIError.config("optimizer \(p.optimizer.rawValue) is not one of CHARRNN_OPTIMIZER_ADAM (0), RMSPROP (1), SGD (2), ADAGRAD (3)")
    }
    o.optimizer = OptimizerConfig(kind: kind, learningRate: p.learning_rate)
    o.clipping = GradientClipping(value: p.clip_value == 0 ? nil : p.clip_value,
                                  globalNorm: p.clip_norm == 0 ? nil : p.clip_norm)
    if p.lr_decay == 1 {
        o.schedule = .constant
    } else if p.lr_decay_every > 0 {
        o.schedule = .exponential(decay: p.lr_decay, every: Int(p.lr_decay_every), staircase: p.lr_decay_staircase != 0)
    } else {
        o.schedule = .perEpoch(decay: p.lr_decay, after: Int(p.lr_decay_after))
    }
    o.epochs = Int(p.epochs)
    o.maxSteps = try int(p.max_steps, "max_steps")
    o.maxTime = p.max_time
    o.seed = p.seed
    o.evalEvery = try int(p.eval_every, "eval_every")
    o.outDir = try optionalString(p.out_dir, "out_dir")
    if o.outDir?.isEmpty == true { throw APIError.config("out_dir is empty (use NULL for no checkpoints)") }
    try o.validate()

    var c = Corpus.Options()
    c.lowercase = p.lowercase != 0
    c.reduceCharset = p.reduce_charset != 0
    c.maxChars = try int(p.max_chars, "max_chars")
    guard p.val_fraction.isFinite, p.val_fraction >= 0, p.val_fraction < 1 else {
        throw APIError.config("val_fraction must be in [0, 1), got \(p.val_fraction)")
    }
    c.valFraction = Double(p.val_fraction)
    let resume = try optionalString(p.resume, "resume")
    return (o, c, resume)
}

/// Refuses a run whose buffers would obviously not fit in memory (instead of aborting in malloc), with
/// the C API's own status.
private func checkMemory(_ config: ModelConfig, _ o: TrainingOptions) throws {
    if let refusal = TrainingMemory.refusal(config, o) { throw APIError.outOfMemory(refusal) }
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
public func capi_train(_ corpusPath: UnsafePointer<CChar>?, _ params: UnsafePointer<charrnn_train_params>?,
                       _ callback: charrnn_progress_callback?, _ userData: UnsafeMutableRawPointer?,
                       _ out: UnsafeMutablePointer<CModel?>?, _ result: UnsafeMutablePointer<charrnn_train_result>?) -> CStatus {
    guarded {
        let path = try string(corpusPath, "corpus_path")
        let (options, corpusOptions, resume) = try trainingOptions(readParameters(params, defaults: defaultTrainParams(), "params"))
        let resultBytes = try resultSize(result, "result")  // refused now rather than after the training
        let trainer: Trainer
        if let resume {
            let checkpoint = try ModelFile.load(resume)
            try checkMemory(checkpoint.model.config, options)
            let corpus = try Corpus.load(path: path, options: corpusOptions, vocabulary: checkpoint.model.vocabulary)
            trainer = try Trainer(resuming: checkpoint, from: resume, corpus: corpus, options: options)
        } else {
            let corpus = try Corpus.load(path: path, options: corpusOptions)
            try checkMemory(options.modelConfig(vocabSize: corpus.vocabulary.count), options)
            trainer = try Trainer(corpus: corpus, options: options)
        }
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
            r.chars_per_s = p.charsPerSecond
            r.seconds = p.seconds
            writeResult(r, to: result, count: resultBytes)
        }
        out?.pointee = box(trainer.model)
        if summary.cancelled {
            throw CharRNNError.cancelled("training was cancelled by the progress callback after step \(p.step)"
                                         + (summary.checkpoint.map { "; the last checkpoint is \($0)" } ?? ""))
        }
    }
}
