// A Swift program that depends on the CharRNN library product.
//
// usage: consumer MODEL SCRATCH_FOLDER
// Loads MODEL and generates from it; creates, saves and reloads a small model in SCRATCH_FOLDER; trains
// it for a few steps. Prints `key: value` lines for the test to check.
import CharRNN

let arguments = CommandLine.arguments
guard arguments.count == 3 else { fatalError("usage: consumer MODEL SCRATCH_FOLDER") }
let (modelPath, scratch) = (arguments[1], arguments[2])
print("version: \(charrnnVersion)")

// A model file: generation, as the C program does it (same seed, prime and temperature).
let model = try Model.load(modelPath)
let session = Session(model: model, seed: 1)
try session.feed("ROMEO:\n")
var generated = ""
try session.generate(count: 40, SamplingParameters(temperature: 0.8)) { character, _ in
    generated.unicodeScalars.append(character)
    return true
}
print("vocabulary: \(model.vocabulary.count)")
print("generated: \(generated)")
print("count: \(generated.unicodeScalars.count)")
let probabilities = try session.probabilities()
print("probability sum: \(probabilities.reduce(0, +))")
let loss = try model.evaluate(Array("ROMEO:\nWhat say you?".unicodeScalars)).meanLoss
print("loss: \(loss)")

// A new model: configuration, weights through the checked API, a file round trip.
let vocabulary = try Vocabulary(corpus: Array("hello world".unicodeScalars))
let config = ModelConfig.stacked(cell: .gru, layers: 1, units: 8, vocabSize: vocabulary.count)
let small = try Model(config: config, vocabulary: vocabulary, seed: 7)
let bias = try small.weights(layer: "dense", weight: "bias")
try small.setWeights(layer: "dense", weight: "bias", values: bias.values.map { $0 + 0.5 }, shape: bias.shape)
let path = scratch + "/small.safetensors"
try small.save(to: path)
let reloaded = try Model.load(path)
let same = try reloaded.weights(layer: "dense", weight: "bias").values == bias.values.map { $0 + 0.5 }
print("round trip: \(same && reloaded.config == config ? "same" : "different")")
print("tensors: \(reloaded.layout.tensors.map(\.name).joined(separator: " "))")

// Training, a few steps.
var options = TrainingOptions()
options.cell = .rnn
options.layers = 1
options.hidden = 16
options.seqLength = 8
options.batchSize = 4
options.maxSteps = 3
let corpus = try Corpus(
    text: Array(String(repeating: "to be or not to be, ", count: 20).unicodeScalars),
    options: Corpus.Options())
let trainer = try Trainer(corpus: corpus, options: options)
var steps = 0
let summary = try trainer.run { event in
    if case .step = event { steps += 1 }
    return true
}
print("trained: \(steps) steps, step \(summary.progress.step), loss finite \(summary.progress.loss.isFinite)")

do {
    _ = try model.evaluate(Array("ROMEO \u{1F600}".unicodeScalars))
    print("unknown character: accepted")
} catch let error as CharRNNError {
    if case .unknownCharacter = error {
        print("unknown character: refused")
    } else {
        print("unknown character: \(error)")
    }
}
