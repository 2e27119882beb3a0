import CharRNN
// TEMPORARY dev harness: trains a throwaway model (replaced by the REPL).
let corpus = try Corpus.load(path: "../shared/data/tinyshakespeare.txt", options: Corpus.Options())
var options = TrainingOptions()
options.maxTime = 40
options.hidden = 96
options.layers = 1
options.evalEvery = 0
let trainer = try Trainer(corpus: corpus, options: options)
_ = try trainer.run { _ in true }
try trainer.model.save(to: "/tmp/repl-dev/model.safetensors")
print("saved")
