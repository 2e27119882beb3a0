// What CharRNN keeps to itself. The test builds this target alone and expects each use below to fail:
// the raw parameter buffer (whose writes need weightsDidChange()), the training graph, the unchecked
// per-index step, the file format's internals.
import CharRNN

let model = try Model.load("unused")
print(model.parameters.count)
model.weightsDidChange()
let graph: TrainingGraph? = nil
let buffer: ParameterBuffer? = nil
Session(model: model).step(0)
let extras = try ModelFile.load("unused").extras
print(graph == nil, buffer == nil, extras)
