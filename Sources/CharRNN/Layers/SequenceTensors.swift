/// What one recurrent layer's batched forward and backward read and write over a run of `steps` steps of
/// `batch` rows. Time-major: step t of every tensor is a contiguous (batch, ·) block, ready for one GEMM.
/// Views into memory the caller owns (training's `SequenceBuffers`, which allocates them for its longest run
/// and sets `steps` to each run's).
struct SequenceTensors {
    /// T, the steps of this run.
    var steps: Int
    /// B, the rows (sequences).
    let batch: Int
    /// U
    let units: Int
    /// G·U
    let width: Int
    /// (T, B, G·U): the input projection, overwritten by the activated gates, then by their gradients.
    let gates: UnsafeMutablePointer<Float>
    /// (T+1, B, U): h[0] is the initial state, h[t+1] the output of step t.
    let h: UnsafeMutablePointer<Float>
    /// (T+1, B, U): LSTM cell states, like `h`; nil for the other cells.
    let c: UnsafeMutablePointer<Float>?
    /// (T, B, U): GRU only. reset_after: h_prev·U_h + b_h; otherwise r ⊙ h_prev.
    let aux: UnsafeMutablePointer<Float>?
    /// (T, B, G·U): GRU with reset_after only: gradients of the recurrent projection.
    let recurrentGradients: UnsafeMutablePointer<Float>?
    /// (B, G·U): scratch for one step's recurrent projection.
    let stepScratch: UnsafeMutablePointer<Float>
    /// (T, B, U): gradient of the loss with respect to each output h[t+1].
    let outputGradients: UnsafeMutablePointer<Float>
    /// (B, U): gradients flowing back through the recurrence.
    let hGradient: UnsafeMutablePointer<Float>
    /// (B, U): LSTM only: the cell state's gradient flowing back.
    let cGradient: UnsafeMutablePointer<Float>
}
