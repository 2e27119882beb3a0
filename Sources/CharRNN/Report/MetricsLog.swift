/// One line of a run's `metrics.jsonl` (see `RunRecord` for the format); NaN where the line has null.
package struct MetricsRow: Equatable, Sendable {
    /// What the line reports.
    package enum Kind: String, Sendable {
        /// A progress report during training.
        case train
        /// A validation.
        case validation
    }

    package var kind: Kind
    package var step: Int
    package var epoch: Double = .nan
    package var seconds: Double = .nan
    package var trainLoss: Double = .nan
    package var valLoss: Double = .nan
    package var valAccuracy: Double = .nan
    package var learningRate: Double = .nan
    package var charsPerSecond: Double = .nan
    /// The best checkpoint this validation wrote, if it wrote one.
    package var bestCheckpoint: String?

    package init(kind: Kind, step: Int) {
        self.kind = kind
        self.step = step
    }

    package static func == (a: MetricsRow, b: MetricsRow) -> Bool {
        func same(_ x: Double, _ y: Double) -> Bool { x == y || (x.isNaN && y.isNaN) }
        return a.kind == b.kind && a.step == b.step && same(a.epoch, b.epoch) && same(a.seconds, b.seconds)
            && same(a.trainLoss, b.trainLoss) && same(a.valLoss, b.valLoss) && same(a.valAccuracy, b.valAccuracy)
            && same(a.learningRate, b.learningRate) && same(a.charsPerSecond, b.charsPerSecond)
            && a.bestCheckpoint == b.bestCheckpoint
    }
}

/// Reads `metrics.jsonl` back, tolerating what a crash or a person may leave in it.
package enum MetricsLog {
    /// The log's largest size read (about 200 bytes a line: a million lines).
    static let maxBytes = 200_000_000

    /// The rows of the log at `path`.
    /// - Throws: `CharRNNError.io` when the file cannot be read.
    package static func read(_ path: String) throws -> [MetricsRow] {
        rows(try FileIO.read(path, prefix: maxBytes, memoryPerByte: 3))
    }

    /// The rows of a log's bytes, in order. Lines that are not whole records (a torn last line, a blank
    /// or edited line) are skipped. A row at a step at or before the previous row of its kind starts
    /// that kind over from there: a run resumed from an earlier checkpoint supersedes what followed it.
    package static func rows(_ bytes: [UInt8]) -> [MetricsRow] {
        var train: [MetricsRow] = []
        var validation: [MetricsRow] = []
        for line in bytes.split(separator: 0x0A) {
            guard let row = MetricsLog.row(Array(line)) else { continue }
            if row.kind == .train {
                if let last = train.last, row.step <= last.step { train.removeAll { $0.step >= row.step } }
                train.append(row)
            } else {
                if let last = validation.last, row.step <= last.step { validation.removeAll { $0.step >= row.step } }
                validation.append(row)
            }
        }
        // Merged by step; at the same step the progress report comes first, as the run wrote them.
        var merged: [MetricsRow] = []
        merged.reserveCapacity(train.count + validation.count)
        var i = 0, j = 0
        while i < train.count || j < validation.count {
            if j == validation.count || (i < train.count && train[i].step <= validation[j].step) {
                merged.append(train[i]); i += 1
            } else {
                merged.append(validation[j]); j += 1
            }
        }
        return merged
    }

    /// One line's row; nil unless it is a JSON object with a known `kind` and a whole `step` ≥ 0.
    static func row(_ line: [UInt8]) -> MetricsRow? {
        guard let value = try? StrictJSON.parse(line, maxValues: 100), case .object = value,
            case .string(let kindName)? = value["kind"], let kind = MetricsRow.Kind(rawValue: kindName),
            let step = value["step"]?.exactInt
        else { return nil }
        func number(_ key: String) -> Double {
            guard case .number(let text)? = value[key], let x = Double(text), x.isFinite else { return .nan }
            return x
        }
        var row = MetricsRow(kind: kind, step: step)
        row.epoch = number("epoch")
        row.seconds = number("seconds")
        row.trainLoss = number("train_loss")
        row.valLoss = number("val_loss")
        row.valAccuracy = number("val_accuracy")
        row.learningRate = number("learning_rate")
        row.charsPerSecond = number("chars_per_s")
        if case .string(let name)? = value["best_checkpoint"] { row.bestCheckpoint = name }
        return row
    }
}
