/// Training and validation loss against steps for one or several runs, as a standalone SVG document
/// (no scripts, fonts or other files): `loss.svg` in every checkpoint folder, and `charrnn plot`.
///
/// Each run is a group `id="run-N"` holding a training curve (`<polyline id="train-loss-N"
/// class="train-loss">`), a validation curve (`id="val-loss-N" class="val-loss"`) and its best
/// checkpoint (`<circle id="best-checkpoint-N" class="best-checkpoint">`), each present when the run
/// has the data. The axes are labelled (`id="x-label"`, `id="y-label"`), the chart titled (`id="title"`).
package struct LossChart {
    /// One run's curves.
    package struct Run {
        package var label: String
        /// (step, smoothed training loss), by step.
        package var train: [(x: Double, y: Double)]
        /// (step, validation loss), by step.
        package var validation: [(x: Double, y: Double)]
        /// The best checkpoint: its step, validation loss and file name (when the log names it).
        package var best: (x: Double, y: Double, name: String?)?

        /// A run's curves from its log's rows (`MetricsLog.rows`).
        package init(label: String, rows: [MetricsRow]) {
            self.label = label
            train = []
            validation = []
            for row in rows {
                if row.trainLoss.isFinite {
                    let point = (x: Double(row.step), y: row.trainLoss)
                    // A validation at a reported step repeats its training loss.
                    if let last = train.last, last.x == point.x {
                        train[train.count - 1] = point
                    } else {
                        train.append(point)
                    }
                }
                if row.kind == .validation, row.valLoss.isFinite {
                    validation.append((Double(row.step), row.valLoss))
                    if let name = row.bestCheckpoint { best = (Double(row.step), row.valLoss, name) }
                }
            }
            // A log that does not name its best checkpoints: the lowest validation loss.
            if best == nil, let lowest = validation.min(by: { $0.y < $1.y }) { best = (lowest.x, lowest.y, nil) }
        }
    }

    package var title: String
    package var runs: [Run]
    package var width = 800
    package var height = 500

    package init(title: String, runs: [Run]) {
        self.title = title
        self.runs = runs
    }

    /// Lines of runs, in order (matplotlib's "tab10").
    static let palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf"
    ]
    /// Points drawn per curve at most: longer curves keep every k-th point (and their last).
    static let maxPoints = 2000

    /// The SVG document.
    package func svg() -> String {
        let w = Double(max(width, 200)), h = Double(max(height, 150))
        let single = runs.count == 1
        let left = 72.0, right = 24.0, top = single ? 58.0 : 44.0, bottom = 56.0
        let plot = (x: left, y: top, w: w - left - right, h: h - top - bottom)

        let points = runs.flatMap { $0.train + $0.validation }
        let hasData = !points.isEmpty
        // A little room right of the last step, so that a mark there is not cut in half.
        let lastStep = max(points.map(\.x).max() ?? 1, 1)
        let xMax = lastStep * 1.025
        let xTicks = LossChart.ticks(0, lastStep, count: 7, integers: true)
        var yLow = points.map(\.y).min() ?? 0, yHigh = points.map(\.y).max() ?? 1
        if yHigh - yLow < 1e-9 { yLow -= 0.5; yHigh += 0.5 }
        let pad = (yHigh - yLow) * 0.05
        yLow = max(0, yLow - pad)
        yHigh += pad
        let yTicks = LossChart.ticks(yLow, yHigh, count: 8, integers: false)
        func px(_ x: Double) -> Double { plot.x + x / xMax * plot.w }
        func py(_ y: Double) -> Double { plot.y + (yHigh - y) / (yHigh - yLow) * plot.h }

        var s = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" \
            font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12" fill="#222">
            <title>\(LossChart.escape(title))</title>
            <rect width="100%" height="100%" fill="#ffffff"/>
            <defs><clipPath id="plot-area"><rect x="\(f(plot.x))" y="\(f(plot.y))" width="\(f(plot.w))" height="\(f(plot.h))"/></clipPath></defs>

            """
        s +=
            "<text id=\"title\" x=\"\(f(w / 2))\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(LossChart.escape(title))</text>\n"
        if single, let run = runs.first {
            let note: String
            if let best = run.best {
                note =
                    "best validation loss \(LossChart.fixed(best.y, 4)) at step \(Int(best.x))"
                    + (best.name.map { " (\($0))" } ?? "")
            } else {
                note = run.validation.isEmpty ? "no validation yet" : ""
            }
            s +=
                "<text id=\"subtitle\" x=\"\(f(w / 2))\" y=\"44\" text-anchor=\"middle\" fill=\"#555\">\(LossChart.escape(note))</text>\n"
        }

        // Grid, ticks and axes.
        s += "<g id=\"axes\" stroke=\"#e3e3e3\" stroke-width=\"1\">\n"
        for t in xTicks {
            s += "<line x1=\"\(f(px(t)))\" y1=\"\(f(plot.y))\" x2=\"\(f(px(t)))\" y2=\"\(f(plot.y + plot.h))\"/>\n"
        }
        for t in yTicks {
            s += "<line x1=\"\(f(plot.x))\" y1=\"\(f(py(t)))\" x2=\"\(f(plot.x + plot.w))\" y2=\"\(f(py(t)))\"/>\n"
        }
        s +=
            "<rect x=\"\(f(plot.x))\" y=\"\(f(plot.y))\" width=\"\(f(plot.w))\" height=\"\(f(plot.h))\" fill=\"none\" stroke=\"#888\"/>\n"
        s += "</g>\n<g id=\"tick-labels\" fill=\"#444\">\n"
        for t in xTicks {
            s +=
                "<text x=\"\(f(px(t)))\" y=\"\(f(plot.y + plot.h + 17))\" text-anchor=\"middle\">\(LossChart.stepLabel(t))</text>\n"
        }
        let yDigits = LossChart.digits(for: yTicks)
        for t in yTicks {
            s +=
                "<text x=\"\(f(plot.x - 7))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(LossChart.fixed(t, yDigits))</text>\n"
        }
        s += "</g>\n"
        s +=
            "<text id=\"x-label\" x=\"\(f(plot.x + plot.w / 2))\" y=\"\(f(h - 14))\" text-anchor=\"middle\">step (updates)</text>\n"
        let yMid = plot.y + plot.h / 2
        s +=
            "<text id=\"y-label\" x=\"18\" y=\"\(f(yMid))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(yMid)))\">loss (nats per character)</text>\n"
        if !hasData {
            s +=
                "<text id=\"no-data\" x=\"\(f(plot.x + plot.w / 2))\" y=\"\(f(yMid))\" text-anchor=\"middle\" fill=\"#888\">no data yet</text>\n"
        }

        // The curves, clipped to the plot.
        s += "<g clip-path=\"url(#plot-area)\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
        for (i, run) in runs.enumerated() {
            let color = LossChart.palette[i % LossChart.palette.count]
            let trainColor = single ? LossChart.palette[0] : color
            let valColor = single ? LossChart.palette[1] : color
            s += "<g id=\"run-\(i)\" data-label=\"\(LossChart.escape(run.label))\">\n"
            if !run.train.isEmpty {
                s +=
                    "<polyline id=\"train-loss-\(i)\" class=\"train-loss\" stroke=\"\(trainColor)\" stroke-width=\"\(single ? "1.5" : "1.2")\" "
                    + "stroke-opacity=\"\(single ? "0.85" : "0.5")\" points=\"\(polyline(run.train, px, py))\"/>\n"
            }
            if !run.validation.isEmpty {
                s +=
                    "<polyline id=\"val-loss-\(i)\" class=\"val-loss\" stroke=\"\(valColor)\" stroke-width=\"2.4\" "
                    + "points=\"\(polyline(run.validation, px, py))\"/>\n"
                if run.validation.count <= 150 {
                    for p in run.validation {
                        s +=
                            "<circle class=\"val-point\" cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"2.6\" fill=\"\(valColor)\" stroke=\"none\"/>\n"
                    }
                }
            }
            s += "</g>\n"
        }
        s += "</g>\n"
        // Best checkpoints above the curves, unclipped.
        for (i, run) in runs.enumerated() {
            if let best = run.best {
                let name = best.name.map { " \($0)" } ?? ""
                s +=
                    "<circle id=\"best-checkpoint-\(i)\" class=\"best-checkpoint\" cx=\"\(f(px(best.x)))\" cy=\"\(f(py(best.y)))\" r=\"6.5\" "
                    + "fill=\"none\" stroke=\"#111\" stroke-width=\"2\"><title>best checkpoint\(LossChart.escape(name)): "
                    + "validation loss \(LossChart.fixed(best.y, 4)) at step \(Int(best.x))</title></circle>\n"
            }
        }
        s += legend(plot: plot, single: single)
        s += "</svg>\n"
        return s
    }

    /// The legend, in the plot's top right corner (where falling curves leave room).
    private func legend(plot: (x: Double, y: Double, w: Double, h: Double), single: Bool) -> String {
        enum Mark { case line(String, Double, Double), ring }
        var entries: [(Mark, String)] = []
        if single {
            entries = [
                (.line(LossChart.palette[0], 1.5, 0.85), "training loss (smoothed)"),
                (.line(LossChart.palette[1], 2.4, 1), "validation loss"), (.ring, "best checkpoint")
            ]
        } else {
            for (i, run) in runs.enumerated() {
                let best = run.best.map { ", best \(LossChart.fixed($0.y, 4))" } ?? ""
                entries.append(
                    (
                        .line(LossChart.palette[i % LossChart.palette.count], 2.4, 1),
                        LossChart.shorten(run.label, 70) + best
                    ))
            }
            entries += [
                (.line("#666", 1.2, 0.5), "thin: training loss (smoothed)"),
                (.line("#666", 2.4, 1), "thick: validation loss"),
                (.ring, "best checkpoint")
            ]
        }
        let rowHeight = 18.0
        let textWidth = Double(entries.map { $0.1.count }.max() ?? 0) * 6.8
        let boxW = min(plot.w - 8, 44 + textWidth), boxH = Double(entries.count) * rowHeight + 10
        let x0 = plot.x + plot.w - boxW - 8, y0 = plot.y + 8
        var s =
            "<g id=\"legend\">\n<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(boxW))\" height=\"\(f(boxH))\" fill=\"#ffffff\" "
            + "fill-opacity=\"0.88\" stroke=\"#ccc\"/>\n"
        for (k, entry) in entries.enumerated() {
            let y = y0 + 5 + rowHeight * (Double(k) + 0.5)
            switch entry.0 {
            case .line(let color, let width, let opacity):
                s +=
                    "<line x1=\"\(f(x0 + 8))\" y1=\"\(f(y))\" x2=\"\(f(x0 + 34))\" y2=\"\(f(y))\" stroke=\"\(color)\" "
                    + "stroke-width=\"\(width)\" stroke-opacity=\"\(opacity)\"/>\n"
            case .ring:
                s +=
                    "<circle cx=\"\(f(x0 + 21))\" cy=\"\(f(y))\" r=\"5.5\" fill=\"none\" stroke=\"#111\" stroke-width=\"2\"/>\n"
            }
            s +=
                "<text class=\"legend-label\" x=\"\(f(x0 + 40))\" y=\"\(f(y + 4))\">\(LossChart.escape(entry.1))</text>\n"
        }
        return s + "</g>\n"
    }

    private func polyline(_ points: [(x: Double, y: Double)], _ px: (Double) -> Double, _ py: (Double) -> Double)
        -> String
    {
        let stride = max(1, (points.count + LossChart.maxPoints - 1) / LossChart.maxPoints)
        var kept: [(x: Double, y: Double)] = []
        for (i, p) in points.enumerated() where i % stride == 0 || i == points.count - 1 { kept.append(p) }
        return kept.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
    }

    private func f(_ x: Double) -> String { LossChart.fixed(x, 1) }

    // MARK: numbers and text

    /// Round tick values in [low, high]: steps of 1, 2, 2.5 or 5 × 10^k, at most about `count` of them.
    static func ticks(_ low: Double, _ high: Double, count: Int, integers: Bool) -> [Double] {
        guard low.isFinite, high.isFinite, high > low else { return [low] }
        let raw = (high - low) / Double(max(count, 2))
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        var step = magnitude * 10
        for factor in [1.0, 2.0, 2.5, 5.0] where magnitude * factor >= raw {
            step = magnitude * factor
            break
        }
        if integers { step = max(1, step.rounded(.up)) }
        var values: [Double] = []
        var t = (low / step).rounded(.up) * step
        while t <= high + step * 1e-9 && values.count < 50 {
            values.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return values
    }

    /// Decimals enough to tell ticks apart.
    static func digits(for ticks: [Double]) -> Int {
        guard ticks.count > 1 else { return 2 }
        let step = ticks[1] - ticks[0]
        var d = 0
        var scaled = step
        while d < 6 && abs(scaled - scaled.rounded()) > 1e-6 * max(1, abs(scaled)) {
            scaled *= 10
            d += 1
        }
        return d
    }

    /// 1500 → "1500", 25000 → "25k", 12500 → "12.5k".
    static func stepLabel(_ x: Double) -> String {
        guard abs(x) >= 10_000 else { return fixed(x, 0) }
        let k = x / 1000
        return (k == k.rounded() ? fixed(k, 0) : fixed(k, 1)) + "k"
    }

    /// `x` with `digits` decimals (no Foundation formatting; non-finite values as "n/a").
    static func fixed(_ x: Double, _ digits: Int) -> String {
        guard x.isFinite else { return "n/a" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(x) * scale).rounded()
        guard scaled < 9e15 else { return "\(x)" }
        let n = Int64(scaled), p = Int64(scale)
        var s = String(n / p)
        if digits > 0 {
            let fraction = String(n % p)
            s += "." + String(repeating: "0", count: digits - fraction.count) + fraction
        }
        return x < 0 && n != 0 ? "-" + s : s
    }

    /// Text for an XML text node or attribute value. Characters XML 1.0 forbids are dropped.
    static func escape(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out += " "
            default:
                if u.value >= 0x20 && u.value != 0xFFFE && u.value != 0xFFFF { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    /// At most `limit` characters, with an ellipsis when cut.
    package static func shorten(_ s: String, _ limit: Int) -> String {
        s.count <= limit ? s : String(s.prefix(limit - 1)) + "…"
    }
}
