import CharRNN

/// The model as the REPL names it in its banner and in `/model`.
enum ModelDescription {
    /// One line: "LSTM 2×128 · 65 characters · 218,113 parameters".
    static func line(_ model: Model) -> String {
        let layers = model.config.layers
        let shape: String
        if let first = layers.first, layers.allSatisfy({ $0.cell == first.cell && $0.units == first.units }) {
            shape = "\(first.cell.kerasName) \(layers.count)×\(first.units)"
        } else {
            shape = layers.map { "\($0.cell.kerasName) \($0.units)" }.joined(separator: " + ")
        }
        return "\(shape) · \(model.vocabulary.count) characters · \(Model.grouped(model.parameterCount)) parameters"
    }
}
