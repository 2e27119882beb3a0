import CharRNN

/// The page of `charrnn explain` and charrnn-repl's `:explain`: a model's trace of a text put into the
/// self-contained template Resources/explain.html, whose top comment describes the data. Python's
/// `Trace._repr_html_` writes the same data from the same template (bindings/python/charrnn/_trace.py).
public struct ExplainPage {
    /// The most state values a page holds, 2^22 (5.6 MB of base64): the states of the first
    /// `stateValueLimit / state width` characters (2,048 for a 2×512 LSTM), so that a page of a long
    /// text stays a page.
    public static let stateValueLimit = 1 << 22
    /// Alternatives shown where each character was predicted.
    public static let alternatives = 5
    static let placeholder = Array("__CHARRNN_EXPLAIN_DATA__".utf8)

    /// The page's heading ("hamlet.txt", "the conversation").
    public var title: String
    /// The model as the page names it (its file).
    public var modelName: String
    /// Characters whose states the page holds; nil: as many as `stateValueLimit` allows.
    public var stateCharacters: Int?

    public init(title: String, modelName: String, stateCharacters: Int? = nil) {
        self.title = title
        self.modelName = modelName
        self.stateCharacters = stateCharacters
    }

    /// A page and the figures it shows.
    public struct Rendered {
        /// The HTML, UTF-8.
        public let bytes: [UInt8]
        /// Loss and accuracy of the text's predictions.
        public let result: BatchResult
        /// Characters on the page, and how many of them have their states there.
        public let characters: Int
        public let stateCharacters: Int
    }

    /// Traces `indices` (each in the model's vocabulary, at least one) and renders the page.
    /// - Parameters:
    ///   - skipped: characters of the input left out (not in the vocabulary), for the summary.
    ///   - interrupt: asked every 256 characters; returning true stops with `CharRNNError.cancelled`.
    /// - Throws: `CharRNNError.invalidArgument` for no characters, `.outOfMemory`, `.notFinite`, `.cancelled`.
    public func render(
        model: Model, indices: [Int32], skipped: Int = 0,
        interrupt: (() -> Bool)? = nil
    ) throws -> Rendered {
        let n = indices.count, V = model.config.vocabSize, K = min(ExplainPage.alternatives, V)
        guard n >= 1 else {
            throw CharRNNError.invalidArgument("nothing to explain: the text has no character the model knows")
        }
        let width = model.traceStateWidth
        let m = min(n, max(1, stateCharacters ?? ExplainPage.stateValueLimit / width))
        // What is kept (predictions, states) and the page (base64 of it, the text as JSON), roughly twice.
        try MemoryBudget.ensure(
            2 * (Double(n) * Double(4 + 6 * K + 24) + Double(m) * Double(width) * 6),
            for: "the page of \(n) characters")

        var probability = [Float](repeating: .nan, count: n)
        var topIndex = [UInt32](repeating: 0, count: n * K)
        var topProbability = [UInt16](repeating: 0, count: n * K)
        let layers = model.config.layers
        var hidden = layers.map { [Float](repeating: 0, count: m * $0.units) }
        var cells: [[Float]] = layers.map { $0.cell == .lstm ? [Float](repeating: 0, count: m * $0.units) : [] }
        var best = [(index: Int, p: Float)](repeating: (0, 0), count: K)

        let result = try model.trace(indices: indices, interrupt: interrupt) { chunk in
            for r in 0..<chunk.count where chunk.start + r + 1 < n {
                let t = chunk.start + r + 1, row = chunk.probabilities + r * V  // row predicts character t
                probability[t] = row[Int(indices[t])]
                ExplainPage.top(row, count: V, into: &best)
                for j in 0..<K {
                    topIndex[t * K + j] = UInt32(best[j].index)
                    topProbability[t * K + j] = ExplainPage.fixedPoint(best[j].p)
                }
            }
            let rows = min(chunk.count, m - chunk.start)
            guard rows > 0 else { return }
            for (l, layer) in layers.enumerated() {
                let U = layer.units
                for i in 0..<(rows * U) { hidden[l][chunk.start * U + i] = chunk.hidden[l][i] }
                if let source = chunk.cells[l] {
                    for i in 0..<(rows * U) { cells[l][chunk.start * U + i] = source[i] }
                }
            }
        }

        var json = JSONWriter()
        json.raw("{\"format\":\"charrnn-explain\",\"version\":1,\"title\":")
        json.string(title)
        json.raw(",\"source\":\"charrnn\",\"model\":{\"name\":")
        json.string(modelName)
        json.raw(",\"description\":")
        json.string(ExplainPage.describe(model))
        json.raw(",\"parameters\":\(model.parameterCount),\"vocab_size\":\(V),\"layers\":[")
        json.raw(layers.map { "{\"cell\":\"\($0.cell.rawValue)\",\"units\":\($0.units)}" }.joined(separator: ","))
        json.raw("]},\"vocab\":[")
        for (i, c) in model.vocabulary.characters.enumerated() {
            if i > 0 { json.raw(",") }
            json.string(String(c))
        }
        json.raw("],\"text\":")
        var text = String.UnicodeScalarView()
        for index in indices { text.append(model.vocabulary.characters[Int(index)]) }
        json.string(String(text))
        json.raw(",\"skipped\":\(skipped),\"summary\":{\"chars\":\(n),\"predictions\":\(result.count),\"loss\":")
        let loss = result.meanLoss
        json.number(loss)
        json.raw(",\"bits_per_char\":")
        json.number(loss / 0.6931471805599453)
        json.raw(",\"accuracy\":")
        json.number(result.count > 0 ? Double(result.correct) / Double(result.count) : .nan)
        let wide = V > 65536
        json.raw("},\"predictions\":{\"k\":\(K),\"index_bytes\":\(wide ? 4 : 2),\"prob\":")
        json.base64 { out in for p in probability { out.append(float: p) } }
        json.raw(",\"top_index\":")
        json.base64 { out in
            for i in topIndex {
                if wide { out.append(uint32: i) } else { out.append(uint16: UInt16(truncatingIfNeeded: i)) }
            }
        }
        json.raw(",\"top_prob\":")
        json.base64 { out in for p in topProbability { out.append(uint16: p) } }
        json.raw("},\"states\":{\"chars\":\(m),\"total_chars\":\(n),\"blocks\":[")
        var first = true
        for (l, layer) in layers.enumerated() {
            for (kind, values) in [("hidden", hidden[l]), ("cell", cells[l])] where !values.isEmpty {
                if !first { json.raw(",") }
                first = false
                let (scale, quantized) = ExplainPage.quantize(values, rows: m, units: layer.units)
                json.raw("{\"layer\":\(l),\"kind\":\"\(kind)\",\"units\":\(layer.units),\"scale\":")
                json.base64 { out in for s in scale { out.append(float: s) } }
                json.raw(",\"values\":")
                json.base64 { out in out.bytes.append(contentsOf: quantized) }
                json.raw("}")
            }
        }
        json.raw("]}}")
        return Rendered(bytes: try ExplainPage.fill(json.bytes), result: result, characters: n, stateCharacters: m)
    }

    /// The template with `data` where its placeholder stands.
    static func fill(_ data: [UInt8]) throws -> [UInt8] {
        let template = PackageResources.explain_html, p = placeholder
        guard template.count >= p.count,
            let at = (0...(template.count - p.count)).first(where: { template[$0..<($0 + p.count)].elementsEqual(p) })
        else {
            throw CharRNNError.format("the explain page's template has no data placeholder")
        }
        return Array(template[..<at]) + data + Array(template[(at + p.count)...])
    }

    /// The `best.count` most probable entries of `row`, most probable first; ties go to the lower index
    /// (as a stable sort: Python's page picks the same).
    static func top(_ row: UnsafePointer<Float>, count: Int, into best: inout [(index: Int, p: Float)]) {
        let K = best.count
        var filled = 0
        for j in 0..<count {
            let p = row[j]
            guard filled < K || p > best[K - 1].p else { continue }
            var at = min(filled, K - 1)
            while at > 0 && best[at - 1].p < p { at -= 1 }
            var k = min(filled, K - 1)
            while k > at { best[k] = best[k - 1]; k -= 1 }
            best[at] = (j, p)
            filled = min(filled + 1, K)
        }
    }

    /// A probability as a 16-bit fraction of 65535, rounded half up (in double precision, as numpy does it).
    static func fixedPoint(_ p: Float) -> UInt16 {
        UInt16(max(0, min(65535, (Double(p) * 65535 + 0.5).rounded(.down))))
    }

    /// (rows, units) row-major values as 8-bit integers per unit, unit-major, with each unit's scale
    /// (its largest magnitude / 127): value ≈ q × scale.
    static func quantize(_ values: [Float], rows: Int, units: Int) -> (scale: [Float], values: [UInt8]) {
        var scale = [Float](repeating: 0, count: units)
        var out = [UInt8](repeating: 0, count: rows * units)
        for u in 0..<units {
            var peak = 0.0
            for t in 0..<rows { peak = max(peak, Double(abs(values[t * units + u]))) }
            guard peak > 0, peak.isFinite else { continue }
            scale[u] = Float(peak / 127)
            for t in 0..<rows {
                let q = (Double(values[t * units + u]) * 127 / peak + 0.5).rounded(.down)
                out[u * rows + t] = q.isNaN ? 0 : UInt8(bitPattern: Int8(max(-127, min(127, q))))
            }
        }
        return (scale, out)
    }

    /// "LSTM 2×512, one-hot input".
    static func describe(_ model: Model) -> String {
        let layers = model.config.layers
        let shape: String
        if let first = layers.first, layers.allSatisfy({ $0.cell == first.cell && $0.units == first.units }) {
            shape = "\(first.cell.kerasName) \(layers.count)×\(first.units)"
        } else {
            shape = layers.map { "\($0.cell.kerasName) \($0.units)" }.joined(separator: " + ")
        }
        let input = model.config.input == .onehot ? "one-hot" : model.config.input.rawValue
        return "\(shape), \(input) input"
    }
}

/// JSON written straight into bytes, safe inside an HTML <script>: "<", ">" and "&" only as escapes.
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func number(_ x: Double) { raw(x.isFinite ? "\(x)" : "null") }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for u in s.unicodeScalars {
            switch u {
            case "\"": raw("\\\"")
            case "\\": raw("\\\\")
            case "\n": raw("\\n")
            case "\t": raw("\\t")
            case "<", ">", "&", "\u{2028}", "\u{2029}": escape(u.value)
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    escape(u.value)
                } else {
                    bytes.append(contentsOf: String(u).utf8)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func escape(_ value: UInt32) {
        let hex = String(value, radix: 16)
        raw("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
    }

    /// A JSON string holding the base64 of the bytes `fill` appends.
    mutating func base64(_ fill: (inout LittleEndianBytes) -> Void) {
        var data = LittleEndianBytes()
        fill(&data)
        bytes.append(UInt8(ascii: "\""))
        Base64.encode(data.bytes, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }
}

/// Numbers as little-endian bytes, the order of the page's typed arrays.
struct LittleEndianBytes {
    var bytes: [UInt8] = []
    mutating func append(uint16 v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    mutating func append(uint32 v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((v >> UInt32(shift)) & 0xFF)) }
    }
    mutating func append(float v: Float) { append(uint32: v.bitPattern) }
}

/// RFC 4648 base64, with padding.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ data: [UInt8], into out: inout [UInt8]) {
        out.reserveCapacity(out.count + (data.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= data.count {
            let v = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((v >> UInt32(shift)) & 63)]) }
            i += 3
        }
        let rest = data.count - i
        if rest > 0 {
            let v = UInt32(data[i]) << 16 | (rest == 2 ? UInt32(data[i + 1]) << 8 : 0)
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(v >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
    }
}
