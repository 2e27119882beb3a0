/// The Keras-style summary table of a model.
extension Model {
    /// A table of the layers, their output shapes and parameter counts, as Keras's `model.summary()`
    /// prints it (several lines, ending in a newline).
    public var summary: String {
        var rows: [(String, String, Int)] = []
        let t = "(None, None"
        if config.input == .embedding {
            rows.append(
                ("embedding (Embedding)", "\(t), \(config.embeddingDim))", config.vocabSize * config.embeddingDim))
        }
        for (i, layer) in config.layers.enumerated() {
            let count = layout.tensors.filter { $0.layer == "rnn\(i)" }.reduce(0) { $0 + $1.count }
            let name = "rnn\(i) (\(layer.cell.kerasName))"
            rows.append((name, "\(t), \(layer.units))", count))
        }
        let dense = layout.tensors.filter { $0.layer == "dense" }.reduce(0) { $0 + $1.count }
        rows.append(("dense (Dense, \(config.head.activation.rawValue))", "\(t), \(config.vocabSize))", dense))

        let widths = (max(28, rows.map(\.0.count).max()! + 2), max(22, rows.map(\.1.count).max()! + 2), 14)
        func pad(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
        let grouped = Model.grouped
        let rule = String(repeating: "─", count: widths.0 + widths.1 + widths.2)
        var lines = [
            "Model: \"charrnn\" (vocabulary \(config.vocabSize), input \(config.input.rawValue)\(config.dropout > 0 ? ", dropout \(config.dropout)" : ""))",
            rule,
            pad("Layer (type)", widths.0) + pad("Output Shape", widths.1) + "Param #",
            rule
        ]
        for row in rows { lines.append(pad(row.0, widths.0) + pad(row.1, widths.1) + grouped(row.2)) }
        lines.append(rule)
        lines.append("Total params: \(grouped(parameterCount)) (\(parameterCount * 4 / 1024) KB)")
        lines.append("Trainable params: \(grouped(parameterCount))")
        lines.append("Non-trainable params: 0")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A count with thousands separators, as Keras prints parameter counts: 84,480.
    package static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 && d != "-" && digits[i - 1] != "-" { out += "," }
            out.append(d)
        }
        return out
    }
}
