/// One recurrent layer's batch-1 step in a session: its state and how it advances by one character. Each
/// cell's step is a file beside this one, its equations written above its code (LSTMStep, GRUStep,
/// SimpleRNNStep); the cell's batched forward and backward are in Layers.
protocol CellStep: AnyObject {
    /// h (U): the layer's output and state, updated in place by `step`.
    var h: UnsafeMutablePointer<Float> { get }
    /// c (U): an LSTM's cell state; nil for the other cells.
    var c: UnsafeMutablePointer<Float>? { get }
    /// What `ComputingAhead` may compute of the next step from h alone, or nil when nothing can be.
    var aheadTerm: AheadTerm? { get }

    /// Advances the state by the input x(t). `ahead` is the session's computing ahead, when it opted in:
    /// the step takes its term from it and posts the next one. `scratch` quantizes the vectors of 8-bit
    /// products.
    func step(_ x: StepInput, ahead: ComputingAhead?, scratch: StepScratch)

    /// Advances this layer's steps of several sessions of one model and precision (`steps`, all of this
    /// type; `x` and `scratches` per session) in one pass over the weights, each to the bits its own `step`
    /// would give it. Nothing may be computed ahead for them (the sessions invalidated it).
    static func stepMany(_ steps: [CellStep], _ x: [StepInput], scratches: [StepScratch])
}

/// `steps` as the cell's own type: the steps of one layer of one model, which are all of that type.
func cellSteps<Step: CellStep>(_ steps: [CellStep], as type: Step.Type) -> [Step] {
    steps.map { unsafeDowncast($0 as AnyObject, to: type) }
}

/// The step of layer `index` of a model, at zero state.
func makeCellStep(_ w: RecurrentWeights, _ m: LayerStepMatrices, index: Int) -> CellStep {
    switch w.config.cell {
    case .lstm: LSTMStep(w, m, index: index)
    case .gru: GRUStep(w, m, index: index)
    case .rnn: SimpleRNNStep(w, m, index: index)
    }
}

/// A buffer of `count` floats (at least one), zeroed; the caller deallocates it.
func zeroedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    p.initialize(repeating: 0, count: max(count, 1))
    return p
}
