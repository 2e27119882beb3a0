@testable import CharRNN
import XCTest

/// Shared test helpers: small models with perturbed weights, random batches, tolerant comparisons.
enum Fixtures {
    static let alphabet = Array("abcdefg\n ".unicodeScalars)

    static func vocabulary(_ size: Int = 9) -> Vocabulary {
        try! Vocabulary(characters: Array(alphabet.prefix(size)))
    }

    /// A model whose biases are non-zero too, so every weight's gradient is exercised.
    static func model(_ config: ModelConfig, seed: UInt64 = 7) -> Model {
        let model = try! Model(config: config, vocabulary: vocabulary(config.vocabSize), seed: seed)
        var rng = RandomGenerator(seed: seed &+ 1)
        for i in 0..<model.parameterCount { model.parameters[i] += rng.uniform(-0.3, 0.3) }
        return model
    }

    static func config(
        _ cell: CellKind, layers: Int = 1, units: Int = 5, input: InputEncoding = .onehot,
        gate: GateActivation = .sigmoid, activation: Activation = .tanh, resetAfter: Bool = true,
        useBias: Bool = true, head: HeadConfig.HeadActivation = .softmax, dropout: Float = 0
    ) -> ModelConfig {
        ModelConfig(
            vocabSize: 9, input: input, embeddingDim: input == .embedding ? 4 : 0,
            layers: (0..<layers).map { i in
                LayerConfig(
                    cell: cell, units: units + i, activation: activation, recurrentActivation: gate,
                    useBias: useBias, resetAfter: resetAfter)
            },
            dropout: dropout, head: HeadConfig(activation: head, useBias: useBias))
    }

    static func batch(_ b: Int, _ t: Int, vocab: Int = 9, seed: UInt64 = 3) -> (inputs: [[Int32]], targets: [[Int32]]) {
        var rng = RandomGenerator(seed: seed)
        let draw = { Int32(rng.next() % UInt64(vocab)) }
        let inputs = (0..<b).map { _ in (0..<t).map { _ in draw() } }
        let targets = (0..<b).map { _ in (0..<t).map { _ in draw() } }
        return (inputs, targets)
    }

    /// All the configurations the layer tests cover.
    static var allConfigs: [(String, ModelConfig)] {
        [
            ("lstm", config(.lstm)),
            ("gru reset_after", config(.gru, resetAfter: true)),
            ("gru reset_before", config(.gru, resetAfter: false)),
            ("simple rnn", config(.rnn)),
            ("lstm hard_sigmoid keras2", config(.lstm, gate: .hardSigmoidKeras2)),
            ("gru hard_sigmoid keras3", config(.gru, gate: .hardSigmoidKeras3)),
            ("gru reset_before hard_sigmoid keras2", config(.gru, gate: .hardSigmoidKeras2, resetAfter: false)),
            ("lstm embedding", config(.lstm, input: .embedding)),
            ("gru scalar input", config(.gru, input: .scalar)),
            ("rnn relu", config(.rnn, activation: .relu)),
            ("lstm linear activation", config(.lstm, activation: .linear)),
            ("lstm no bias, linear head", config(.lstm, useBias: false, head: .linear)),
            ("stacked lstm x3", config(.lstm, layers: 3)),
            ("stacked gru x2 reset_before", config(.gru, layers: 2, resetAfter: false)),
            ("stacked rnn x2 embedding", config(.rnn, layers: 2, input: .embedding))
        ]
    }
}

/// Relative error with a floor, so that tiny gradients compare absolutely.
func relativeError(_ a: Double, _ b: Double, floor: Double = 1e-3) -> Double {
    abs(a - b) / max(abs(a), abs(b), floor)
}
