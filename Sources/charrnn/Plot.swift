import ArgumentParser
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn plot DIR...`: the loss curves of one or several runs on one chart, from the metrics.jsonl
/// each run keeps in its checkpoint folder.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the loss curves of one or several training runs on one chart.",
        discussion: """
            Each run is a checkpoint folder that `charrnn train --out DIR` wrote (or its metrics.jsonl). \
            Every run's training loss (thin) and validation loss (thick) are drawn against steps, its best \
            checkpoint circled. Runs are labelled with their folder names and, when their checkpoints say, the \
            training options in which they differ. A .png is rendered from the SVG with rsvg-convert or a \
            headless Chromium, whichever is installed.
            """)

    @Argument(help: "Checkpoint folders written by `charrnn train --out` (or their metrics.jsonl files).")
    var runs: [String]
    @Option(help: "The chart to write: FILE.svg or FILE.png.") var out = "loss.svg"
    @Option(help: "Comma-separated labels, one per run (default: the folder names, with the options that differ).")
    var labels: String?
    @Option(help: "The chart's title.") var title: String?
    @Option(parsing: .unconditional, help: "Width in pixels.") var width = 800
    @Option(parsing: .unconditional, help: "Height in pixels.") var height = 500
    @Option(help: "For a PNG: auto (rsvg-convert, else Chromium), rsvg-convert or chromium.")
    var renderer: SVGRenderer.Kind = .auto

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name at least one run folder") }
        if let labels, labels.split(separator: ",", omittingEmptySubsequences: false).count != runs.count {
            throw ValidationError(
                "--labels gives \(labels.split(separator: ",", omittingEmptySubsequences: false).count) labels for \(runs.count) runs"
            )
        }
        if !(200...8000).contains(width) { throw ValidationError("--width must be in 200...8000") }
        if !(150...8000).contains(height) { throw ValidationError("--height must be in 150...8000") }
        if format == nil { throw ValidationError("--out must end in .svg or .png, got \(out)") }
    }

    private var format: String? {
        let lower = out.lowercased()
        return lower.hasSuffix(".svg") ? "svg" : lower.hasSuffix(".png") ? "png" : nil
    }

    func run() throws {
        try CLI.guarded {
            let folders = runs.map(Plot.folder(of:))
            var chartRuns: [LossChart.Run] = []
            for (given, folder) in zip(runs, folders) {
                let path = Plot.metricsPath(given)
                guard FileIO.exists(path) else {
                    throw CharRNNError.io(
                        "\(given) has no \(RunRecord.metricsName): runs write it into their "
                            + "checkpoint folder (charrnn train --out \(given))")
                }
                let rows = try MetricsLog.read(path)
                guard !rows.isEmpty else { throw CharRNNError.format("\(path) holds no metrics yet") }
                chartRuns.append(LossChart.Run(label: folder, rows: rows))
            }
            let names = Plot.distinctNames(folders)
            var chosen = names
            if let labels {
                chosen = labels.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            } else if runs.count > 1 {
                let settings = folders.map { RunSettings.options(ofCheckpoint: "\($0)/latest.safetensors") }
                for (i, differences) in RunSettings.differences(settings).enumerated() where !differences.isEmpty {
                    chosen[i] += " (" + differences.joined(separator: ", ") + ")"
                }
            }
            for i in chartRuns.indices { chartRuns[i].label = chosen[i] }
            var chart = LossChart(
                title: title ?? "Loss: " + LossChart.shorten(names.joined(separator: " vs "), 80),
                runs: chartRuns)
            chart.width = width
            chart.height = height
            let svg = Array(chart.svg().utf8)
            if format == "png" {
                try FileIO.writeAtomically(
                    try SVGRenderer.png(svg, width: width, height: height, using: renderer), to: out)
            } else {
                try FileIO.writeAtomically(svg, to: out)
            }
            print("wrote \(out) (\(runs.count) run\(runs.count == 1 ? "" : "s"))")
        }
    }

    /// The log of a run argument: the folder's metrics.jsonl, or the file itself.
    static func metricsPath(_ given: String) -> String {
        var st = stat()
        if stat(given, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
            return "\(trimmed(given))/\(RunRecord.metricsName)"
        }
        return given
    }

    /// The run's folder: the argument, or the folder holding the metrics.jsonl it names.
    static func folder(of given: String) -> String {
        metricsPath(given) == given ? FileIO.directory(of: given) : trimmed(given)
    }

    static func trimmed(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        return String(p)
    }

    /// Short names that tell the runs apart: the folders' last components, or as many trailing
    /// components as it takes.
    static func distinctNames(_ folders: [String]) -> [String] {
        // Absolute paths, so that "." and ".." are named too.
        let parts = folders.map { f in (absolute(f) ?? f).split(separator: "/").map(String.init) }
        var depth = 1
        while true {
            let names = parts.enumerated().map { i, p in p.isEmpty ? folders[i] : p.suffix(depth).joined(separator: "/")
            }
            if Set(names).count == names.count || depth >= (parts.map(\.count).max() ?? 1) { return names }
            depth += 1
        }
    }

    static func absolute(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
