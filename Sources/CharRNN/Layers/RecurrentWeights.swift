/// Pointers to one recurrent layer's tensors inside a flat buffer (parameters or their gradients).
struct RecurrentWeights {
    let config: LayerConfig
    let inputWidth: Int
    /// (inputWidth, G·units)
    let kernel: UnsafeMutablePointer<Float>
    /// (units, G·units)
    let recurrentKernel: UnsafeMutablePointer<Float>
    /// (G·units), or for GRU with reset_after (2, G·units): input bias then recurrent bias. nil without bias.
    let bias: UnsafeMutablePointer<Float>?

    var units: Int { config.units }
    var width: Int { config.cell.gateCount * config.units }
    /// The bias added to the input projection.
    var inputBias: UnsafeMutablePointer<Float>? { bias }
    /// GRU with reset_after: the bias added to the recurrent projection.
    var recurrentBias: UnsafeMutablePointer<Float>? {
        config.cell == .gru && config.resetAfter ? bias.map { $0 + width } : nil
    }

    /// The views of every recurrent layer of a model into `base` (parameters or gradients).
    static func views(of base: UnsafeMutablePointer<Float>, layout: ParameterLayout, config: ModelConfig)
        -> [RecurrentWeights]
    {
        var inputWidth = config.inputWidth
        return zip(config.layers, layout.layerOffsets).map { layer, offsets in
            defer { inputWidth = layer.units }
            return RecurrentWeights(
                config: layer, inputWidth: inputWidth, kernel: base + offsets.kernel,
                recurrentKernel: base + offsets.recurrentKernel, bias: offsets.bias.map { base + $0 })
        }
    }
}

/// Pointers to the dense head (and the embedding, when the model has one).
struct HeadWeights {
    /// (units, vocab)
    let kernel: UnsafeMutablePointer<Float>
    /// (vocab) or nil
    let bias: UnsafeMutablePointer<Float>?
    /// (vocab, embeddingDim) or nil
    let embedding: UnsafeMutablePointer<Float>?

    init(base: UnsafeMutablePointer<Float>, layout: ParameterLayout) {
        kernel = base + layout.denseKernelOffset
        bias = layout.denseBiasOffset.map { base + $0 }
        embedding = layout.embeddingOffset.map { base + $0 }
    }
}
