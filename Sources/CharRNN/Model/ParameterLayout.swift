/// A model's weight tensors: their names and shapes in the Keras layout, in file order.
///
/// Inside the library it also says where each tensor lives in the model's single flat parameter buffer:
/// one flat buffer (and a gradient buffer of the same layout) makes an optimizer one loop over one array.
public struct ParameterLayout: Sendable {
    /// One named tensor: "<layer>.<weight>" and its shape in the Keras layout.
    public struct Tensor: Sendable, Equatable {
        /// The layer: "embedding", "rnn0", "rnn1", …, "dense".
        public let layer: String
        /// The weight within the layer: "embeddings", "kernel", "recurrent_kernel" or "bias".
        public let weight: String
        /// The shape in the Keras layout, e.g. (input width, 4 × units) for an LSTM kernel.
        public let shape: [Int]
        /// Where the tensor starts in the model's parameter buffer.
        package let offset: Int
        /// The number of values.
        public var count: Int { shape.reduce(1, *) }
        /// "<layer>.<weight>", as tensors are named in model files.
        public var name: String { "\(layer).\(weight)" }
    }

    /// Every tensor, in file and buffer order.
    public let tensors: [Tensor]
    /// The number of values of all tensors together: the model's parameter count.
    public let totalCount: Int
    private let byName: [String: Int]

    /// Offsets of the tensors of one recurrent layer.
    struct RecurrentOffsets {
        let kernel: Int
        let recurrentKernel: Int
        let bias: Int?
    }

    let embeddingOffset: Int?
    let layerOffsets: [RecurrentOffsets]
    let denseKernelOffset: Int
    let denseBiasOffset: Int?

    /// The layout of a (validated) configuration.
    init(config: ModelConfig) {
        var tensors: [Tensor] = []
        var offset = 0
        func add(_ layer: String, _ weight: String, _ shape: [Int]) -> Int {
            let start = offset
            tensors.append(Tensor(layer: layer, weight: weight, shape: shape, offset: start))
            offset += shape.reduce(1, *)
            return start
        }
        embeddingOffset =
            config.input == .embedding
            ? add("embedding", "embeddings", [config.vocabSize, config.embeddingDim]) : nil
        var inputWidth = config.inputWidth
        var offsets: [RecurrentOffsets] = []
        for (i, layer) in config.layers.enumerated() {
            let width = layer.cell.gateCount * layer.units
            let kernel = add("rnn\(i)", "kernel", [inputWidth, width])
            let recurrent = add("rnn\(i)", "recurrent_kernel", [layer.units, width])
            var bias: Int? = nil
            if layer.useBias {
                bias = add("rnn\(i)", "bias", layer.cell == .gru && layer.resetAfter ? [2, width] : [width])
            }
            offsets.append(RecurrentOffsets(kernel: kernel, recurrentKernel: recurrent, bias: bias))
            inputWidth = layer.units
        }
        layerOffsets = offsets
        denseKernelOffset = add("dense", "kernel", [inputWidth, config.vocabSize])
        denseBiasOffset = config.head.useBias ? add("dense", "bias", [config.vocabSize]) : nil
        self.tensors = tensors
        self.totalCount = offset
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        byName = index
    }

    /// The tensor called `name` ("rnn0.kernel"), or nil.
    public func tensor(named name: String) -> Tensor? { byName[name].map { tensors[$0] } }
}
