#if canImport(Glibc)
import Glibc
#endif

/// The record a run keeps in its checkpoint folder: `metrics.jsonl`, one JSON object per line, and
/// `loss.svg`, the chart drawn from it (`LossChart`).
///
/// Lines (every field always present; a number that is not finite is written as null):
/// `{"kind": "train"|"validation", "step", "epoch", "seconds", "train_loss", "val_loss", "val_accuracy",
/// "learning_rate", "chars_per_s", "best_checkpoint"}` — `epoch` is the epochs done (fractional),
/// `seconds` the training time counting the runs a resumed run continues, `train_loss` the smoothed
/// training loss (nats per character), `val_loss`/`val_accuracy` those of the last validation, and
/// `best_checkpoint` the file name of the best checkpoint when this validation wrote one (else null).
///
/// When: a "train" line at every step that is a multiple of `reportInterval` (at most about 50 per epoch,
/// on a grid of global steps so that a resumed run keeps it), and a "validation" line at every
/// validation. The chart is redrawn after each validation and at the end of the run.
///
/// A new run starts the log afresh; a resumed run keeps the lines up to the step it continues from
/// (taking them from the checkpoint's folder when it writes to another) and appends: its curve continues.
/// Each line is one `write` to a descriptor opened with O_APPEND.
package final class RunRecord {
    /// The log's file name in the checkpoint folder.
    package static let metricsName = "metrics.jsonl"
    /// The chart's file name in the checkpoint folder.
    package static let chartName = "loss.svg"

    let folder: String
    /// A "train" line at every multiple of this step.
    let reportEvery: Int
    var metricsPath: String { "\(folder)/\(RunRecord.metricsName)" }

    init(folder: String, reportEvery: Int) {
        self.folder = folder
        self.reportEvery = max(1, reportEvery)
    }

    /// The step between "train" lines: the smallest of 1, 2, 5, 10, 20, 50, … that leaves at most 50
    /// per epoch.
    package static func reportInterval(batchesPerEpoch: Int) -> Int {
        var scale = 1
        while true {
            for factor in [1, 2, 5] {
                let (k, overflow) = factor.multipliedReportingOverflow(by: scale)
                if overflow || batchesPerEpoch / k + (batchesPerEpoch % k == 0 ? 0 : 1) <= 50 {
                    return overflow ? Int.max : k
                }
            }
            scale *= 10
        }
    }

    /// The record of `trainer`'s run, with the log prepared (see the type's description); nil without
    /// a checkpoint folder.
    static func start(for trainer: Trainer) throws -> RunRecord? {
        guard let dir = trainer.options.outDir else { return nil }
        let record = RunRecord(
            folder: dir, reportEvery: reportInterval(batchesPerEpoch: trainer.progress.batchesPerEpoch))
        try record.prepare(resumedStep: trainer.resumedStep, resumedFrom: trainer.resumedFrom)
        return record
    }

    /// Starts the log: empty for a new run, the lines up to `resumedStep` for a resumed one.
    func prepare(resumedStep: Int?, resumedFrom: String?) throws {
        let path = metricsPath
        try checkRegularOrAbsent(path)
        guard let step = resumedStep else {
            if FileIO.exists(path) { try FileIO.writeAtomically([], to: path) }
            return
        }
        let checkpointFolder = resumedFrom.map(FileIO.directory(of:)) ?? folder
        let source =
            FileIO.sameDirectory(checkpointFolder, folder) ? path : "\(checkpointFolder)/\(RunRecord.metricsName)"
        // An unreadable earlier log must not stop the run: the curve then starts here.
        let earlier = (try? FileIO.read(source)) ?? []
        var kept: [UInt8] = []
        for line in earlier.split(separator: 0x0A) where (MetricsLog.row(Array(line))?.step ?? Int.max) <= step {
            kept += line
            kept.append(0x0A)
        }
        if kept != earlier || !FileIO.exists(path) { try FileIO.writeAtomically(kept, to: path) }
    }

    /// Appends a "train" line when `p.step` is on the reporting grid.
    func stepped(_ p: TrainingProgress) throws {
        guard p.step % reportEvery == 0 else { return }
        try append(RunRecord.line(kind: "train", p, bestCheckpoint: nil))
    }

    /// After a validation point: appends a "validation" line when there was validation text, then
    /// redraws the chart.
    func evaluated(_ p: TrainingProgress, validated: Bool, bestCheckpoint: String?) throws {
        if validated { try append(RunRecord.line(kind: "validation", p, bestCheckpoint: bestCheckpoint)) }
        try drawChart()
    }

    /// Redraws `loss.svg` from the whole log, atomically.
    func drawChart() throws {
        let rows = MetricsLog.rows((try? FileIO.read(metricsPath)) ?? [])
        let name = RunRecord.folderName(folder)
        let chart = LossChart(title: "Loss: \(name)", runs: [LossChart.Run(label: name, rows: rows)])
        try FileIO.writeAtomically(Array(chart.svg().utf8), to: "\(folder)/\(RunRecord.chartName)")
    }

    /// The folder's own name (resolved, so that "." is named too).
    static func folderName(_ folder: String) -> String {
        var full = folder
        if let resolved = realpath(folder, nil) {
            full = String(cString: resolved)
            free(resolved)
        }
        return full.split(separator: "/").last.map(String.init) ?? full
    }

    /// One JSON line, newline included.
    static func line(kind: String, _ p: TrainingProgress, bestCheckpoint: String?) -> String {
        let fields: [(String, String)] = [
            ("kind", JSONString.quoted(kind)), ("step", "\(p.step)"), ("epoch", number(p.epochProgress, 4)),
            ("seconds", number(p.seconds, 3)), ("train_loss", number(p.smoothedLoss, 6)),
            ("val_loss", number(p.valLoss, 6)),
            ("val_accuracy", number(p.valAccuracy, 6)),
            ("learning_rate", p.learningRate.isFinite ? "\(p.learningRate)" : "null"),
            ("chars_per_s", number(p.charsPerSecond, 1)),
            ("best_checkpoint", bestCheckpoint.map(JSONString.quoted) ?? "null")
        ]
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}\n"
    }

    /// A finite number rounded to `decimals` places, in Swift's shortest form (valid JSON), else null.
    static func number(_ x: Double, _ decimals: Int) -> String {
        guard x.isFinite else { return "null" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = abs(x) < 1e12 ? (x * scale).rounded() / scale : x
        return "\(rounded)"
    }

    /// Appends one line with a single write. A log whose last line was torn (a crash in the middle of
    /// a write) gets a newline first, so the new line stays whole.
    private func append(_ line: String) throws {
        let path = metricsPath
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0o644)
        guard fd >= 0 else { throw CharRNNError.io("cannot open \(path): \(FileIO.openFailure())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CharRNNError.io("cannot stat \(path): \(FileIO.lastErrorString())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CharRNNError.io("\(path) is \(FileIO.fileKind(st.st_mode)), not a regular file")
        }
        var bytes = Array(line.utf8)
        if st.st_size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, off_t(st.st_size - 1)) == 1, last != 0x0A { bytes.insert(0x0A, at: 0) }
        }
        let written = bytes.withUnsafeBytes { raw -> Int in
            var n = -1
            repeat { n = write(fd, raw.baseAddress, raw.count) } while n < 0 && errno == EINTR
            return n
        }
        guard written == bytes.count else {
            let reason = written < 0 ? FileIO.lastErrorString() : "wrote \(written) of \(bytes.count) bytes"
            throw CharRNNError.io("cannot append to \(path): \(reason)")
        }
    }

    /// Refuses a log path that names a pipe, a device or a folder (before the run starts).
    private func checkRegularOrAbsent(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw CharRNNError.io("\(path) is \(FileIO.fileKind(st.st_mode)), not a regular file")
        }
    }
}
