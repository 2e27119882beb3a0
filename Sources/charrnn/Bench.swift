import ArgumentParser
import CharRNN
import CommandLineSupport
#if canImport(FoundationEssentials)
import FoundationEssentials  // JSONDecoder, without the rest of Foundation (see Subprocess)
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn bench`: training and generation throughput, each workload in a child process so that its
/// peak memory is its own.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training and generation speed (chars/s) and peak memory per workload.",
        discussion: "Workloads: \(Workload.all.map(\.name).joined(separator: ", ")).")

    @Option(help: "Text to train on (default ../shared/data/tinyshakespeare.txt).")
    var corpus: String = "../shared/data/tinyshakespeare.txt"
    @Option(parsing: .unconditional, help: "Timed seconds per workload.") var seconds: Double = 10
    @Option(help: "Comma-separated workload names (default: all).") var only: String?
    @Flag(help: "End with one JSON object on the last line of stdout.") var json = false
    @Option(help: .hidden) var worker: String?

    func validate() throws {
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be > 0") }
        if let only {
            let names = only.split(separator: ",").map(String.init)
            if names.isEmpty {
                throw ValidationError(
                    "--only names no workload; give one or more of \(Workload.all.map(\.name).joined(separator: ", "))")
            }
            var seen = Set<String>()
            for name in names {
                guard Workload.named(name) != nil else {
                    throw ValidationError(
                        "unknown workload \"\(name)\"; the workloads are \(Workload.all.map(\.name).joined(separator: ", "))"
                    )
                }
                // Each workload is one pair of JSON keys: a repeat would print them twice.
                guard seen.insert(name).inserted else { throw ValidationError("--only names \"\(name)\" twice") }
            }
        }
    }

    func run() throws {
        try CLI.guarded {
            if let worker {
                guard let workload = Workload.named(worker) else {
                    throw CharRNNError.invalidArgument("unknown workload \(worker)")
                }
                let corpus = try Corpus.load(path: self.corpus, options: Corpus.Options())
                let rate = try workload.measure(corpus: corpus, seconds: seconds)
                var o = JSONObject()
                o.set("chars_per_s", rate)
                o.set("peak_rss_mb", Bench.peakRSSMegabytes())
                print(o.text)
                return
            }
            guard FileIO.exists(corpus) else { throw CharRNNError.io("cannot open \(corpus): no such file") }
            let names = only.map { $0.split(separator: ",").map(String.init) } ?? Workload.all.map(\.name)
            var o = JSONObject()
            o.set("blas_core", blasCoreName)
            if !json { print("BLAS: \(blasDescription)") }
            var gflops: Double?
            for name in names {
                guard let workload = Workload.named(name) else { continue }
                CLI.note("bench: \(name) (\(CLI.fixed(seconds, 1)) s)")
                let (rate, rss) = try runWorker(name)
                o.set("\(name)_chars_per_s", rate)
                o.set("\(name)_peak_rss_mb", rss)
                if name == "train_lstm2x512_T50_B50" {
                    gflops = rate * workload.trainingFlopsPerChar(vocabSize: try vocabularySize()) / 1e9
                    o.set("train_lstm2x512_T50_B50_gflops", gflops)
                }
                if !json {
                    print(
                        "\(name): \(CLI.fixed(rate, 0)) chars/s, peak RSS \(CLI.fixed(rss, 1)) MB"
                            + (name == "train_lstm2x512_T50_B50" ? ", \(CLI.fixed(gflops ?? .nan, 2)) GFLOP/s" : ""))
                }
            }
            if json { print(o.text) }
        }
    }

    private func vocabularySize() throws -> Int {
        try Corpus.load(path: corpus, options: Corpus.Options()).vocabulary.count
    }

    /// Runs one workload in a child process of this executable; returns chars/s and peak RSS (MB).
    private func runWorker(_ name: String) throws -> (Double, Double) {
        guard let exe = Executable.path() else { throw CharRNNError.io("cannot find this executable (/proc/self/exe)") }
        let run = try Subprocess.run(
            // One argument "--corpus=PATH": as two, a path starting with "-" would be read as an option.
            exe, ["bench", "--worker", name, "--corpus=\(corpus)", "--seconds", String(seconds)])
        guard run.ending == .exited(0) else {
            throw CharRNNError.state("bench worker \(name) failed (\(run.ending))")
        }
        guard let line = run.output.split(separator: UInt8(ascii: "\n")).last,
            let result = try? JSONDecoder().decode(WorkerResult.self, from: Data(line))
        else {
            throw CharRNNError.format("bench worker \(name) printed no result")
        }
        let rate = result.charsPerSecond
        var rss = result.peakRSSMegabytes ?? .nan
        if !rss.isFinite {
            var usage = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &usage)
            rss = Double(usage.ru_maxrss) / 1024
        }
        return (rate, rss)
    }

    /// The line a worker prints.
    private struct WorkerResult: Decodable {
        let charsPerSecond: Double
        let peakRSSMegabytes: Double?

        enum CodingKeys: String, CodingKey {
            case charsPerSecond = "chars_per_s"
            case peakRSSMegabytes = "peak_rss_mb"
        }
    }

    /// This process's peak resident set (VmHWM), in MB.
    static func peakRSSMegabytes() -> Double {
        if let file = fopen("/proc/self/status", "r") {
            defer { fclose(file) }
            var line = [CChar](repeating: 0, count: 256)
            while fgets(&line, Int32(line.count), file) != nil {
                let s = String(cString: line)
                if s.hasPrefix("VmHWM:") {
                    let digits = s.filter(\.isNumber)
                    if let kb = Double(digits) { return kb / 1024 }
                }
            }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }
}

/// One benchmark workload.
struct Workload {
    enum Kind { case train, generate }
    let name: String
    let kind: Kind
    let cell: CellKind
    let layers: Int
    let units: Int
    let batch: Int
    let steps: Int
    /// The weights generation multiplies with (the `_int8` workloads: the optional 8-bit path).
    var precision: WeightPrecision = .float32

    static let all: [Workload] = [
        Workload(
            name: "train_lstm2x128_T50_B50", kind: .train, cell: .lstm, layers: 2, units: 128, batch: 50, steps: 50),
        Workload(name: "train_gru2x128_T50_B50", kind: .train, cell: .gru, layers: 2, units: 128, batch: 50, steps: 50),
        Workload(
            name: "train_lstm2x512_T50_B50", kind: .train, cell: .lstm, layers: 2, units: 512, batch: 50, steps: 50),
        Workload(name: "gen_lstm2x512_b1", kind: .generate, cell: .lstm, layers: 2, units: 512, batch: 1, steps: 1),
        Workload(name: "gen_lstm2x128_b1", kind: .generate, cell: .lstm, layers: 2, units: 128, batch: 1, steps: 1),
        Workload(
            name: "gen_lstm2x512_b1_int8", kind: .generate, cell: .lstm, layers: 2, units: 512, batch: 1, steps: 1,
            precision: .int8),
        Workload(
            name: "gen_lstm2x128_b1_int8", kind: .generate, cell: .lstm, layers: 2, units: 128, batch: 1, steps: 1,
            precision: .int8),
        // 64 sessions of one model stepped together (Session.sampleMany): aggregate chars/s.
        Workload(name: "gen_lstm2x512_b64", kind: .generate, cell: .lstm, layers: 2, units: 512, batch: 64, steps: 1),
        Workload(name: "gen_lstm2x128_b64", kind: .generate, cell: .lstm, layers: 2, units: 128, batch: 64, steps: 1),
        Workload(
            name: "gen_lstm2x512_b64_int8", kind: .generate, cell: .lstm, layers: 2, units: 512, batch: 64, steps: 1,
            precision: .int8),
        Workload(
            name: "gen_lstm2x128_b64_int8", kind: .generate, cell: .lstm, layers: 2, units: 128, batch: 64, steps: 1,
            precision: .int8)
    ]

    static func named(_ name: String) -> Workload? { all.first { $0.name == name } }

    /// FLOPs per character of forward + backward: 2 × multiply-adds of the forward pass (the first
    /// layer's one-hot input is a gather and counts 0), × 3.
    func trainingFlopsPerChar(vocabSize: Int) -> Double {
        let gates = cell.gateCount
        var macs = 0
        for l in 0..<layers {
            if l > 0 { macs += units * gates * units }  // input projection
            macs += units * gates * units  // recurrent
        }
        macs += units * vocabSize  // dense
        return 2 * Double(macs) * 3
    }

    static func now() -> Double { ProgressDisplay.now() }

    /// Chars per second over `seconds`, after warm-up.
    func measure(corpus: Corpus, seconds: Double) throws -> Double {
        let config = ModelConfig.stacked(cell: cell, layers: layers, units: units, vocabSize: corpus.vocabulary.count)
        let model = try Model(config: config, vocabulary: corpus.vocabulary, seed: 42)
        switch kind {
        case .train: return try measureTraining(model: model, corpus: corpus, seconds: seconds)
        case .generate: return try measureGeneration(model: model, seconds: seconds)
        }
    }

    /// Times the trainer's own update (`Trainer.update`): the batch, forward and backward, clipping to a
    /// global norm of 5 and Adam at 2e-3 — the defaults of `charrnn train`.
    private func measureTraining(model: Model, corpus: Corpus, seconds: Double) throws -> Double {
        var options = TrainingOptions()
        options.batchSize = batch
        options.seqLength = steps
        options.epochs = TrainingSettings.epochsWhenTimeDecides
        let trainer = try Trainer(corpus: corpus, options: options, model: model)
        try trainer.update(); try trainer.update()  // warm-up
        let start = Workload.now()
        var done = 0
        var elapsed = 0.0
        repeat {
            try trainer.update()
            done += 1
            elapsed = Workload.now() - start
        } while elapsed < seconds
        return Double(done * batch * steps) / elapsed
    }

    /// Characters per second of `batch` sessions; batch 1 samples one session, more step together.
    private func measureGeneration(model: Model, seconds: Double) throws -> Double {
        guard batch > 1 else { return try measureOneSession(model: model, seconds: seconds) }
        let sessions = (0..<batch).map { Session(model: model, seed: UInt64(7 + $0), precision: precision) }
        for (s, session) in sessions.enumerated() { session.step(Int32(s % model.config.vocabSize)) }
        let parameters = [SamplingParameters()]
        for _ in 0..<3 { _ = try Session.sampleMany(sessions, parameters) }  // warm-up
        let start = Workload.now()
        var done = 0
        var elapsed = 0.0
        repeat {
            _ = try Session.sampleMany(sessions, parameters)
            done += batch
            elapsed = Workload.now() - start
        } while elapsed < seconds
        return Double(done) / elapsed
    }

    private func measureOneSession(model: Model, seconds: Double) throws -> Double {
        let session = Session(model: model, seed: 7, precision: precision)
        session.step(0)
        let parameters = SamplingParameters()
        for _ in 0..<10 { _ = try session.sample(parameters) }  // warm-up
        let start = Workload.now()
        var done = 0
        var elapsed = 0.0
        repeat {
            for _ in 0..<100 { _ = try session.sample(parameters) }
            done += 100
            elapsed = Workload.now() - start
        } while elapsed < seconds
        return Double(done) / elapsed
    }
}
