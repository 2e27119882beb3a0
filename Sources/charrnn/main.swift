import CharRNN
let corpus = try Corpus.load(path: "../shared/data/tinyshakespeare.txt", options: Corpus.Options())
var options = TrainingOptions()
options.maxTime = Double(CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "20")!
options.hidden = Int(CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "128")!
options.cell = CellKind(rawValue: CommandLine.arguments.count > 3 ? CommandLine.arguments[3] : "lstm")!
options.evalEvery = 200
let trainer = try Trainer(corpus: corpus, options: options)
let m = trainer.model
let s0 = Session(model: m)
try s0.feed("ROMEO")
print(try s0.probabilities().prefix(5))
let summary = try trainer.run { event in
    switch event {
    case .step(let p): if p.step % 50 == 0 || p.step < 3 { print("step \(p.step) loss \(p.loss) \(Int(p.charsPerSecond)) c/s") }
    case .validation(let p): print("val \(p.valLoss) acc \(p.valAccuracy)")
    default: break
    }
    return true
}
print(summary.progress.valLoss)
let s = Session(model: trainer.model, seed: 1)
try s.feed("ROMEO:\n")
try s.generate(count: 200, SamplingParameters(temperature: 0.8)) { c, _ in print(c, terminator: ""); return true }
print()
