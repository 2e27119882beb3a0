/// A finished or running training run's settings, read from its checkpoint, for labelling curves that
/// compare runs (`charrnn plot`): the options in which the runs differ.
package enum RunSettings {
    /// The largest safetensors header read for the settings.
    static let maxHeader = 16 << 20

    /// The training options saved in a checkpoint, read from its header only (the weights are not
    /// read); nil when the file is missing, not a checkpoint, or unreadable.
    package static func options(ofCheckpoint path: String) -> TrainingOptions? {
        guard let prefix = try? FileIO.read(path, prefix: 8), prefix.count == 8 else { return nil }
        let length = prefix.reversed().reduce(0) { $0 << 8 | Int($1) }
        guard length > 0, length <= maxHeader, let bytes = try? FileIO.read(path, prefix: 8 + length),
            bytes.count == 8 + length,
            let header = try? StrictJSON.parse(Array(bytes[8...]), maxValues: SafeTensors.maxHeaderValues),
            case .string(let json)? = header["__metadata__"]?[Trainer.metadataKey],
            let state = try? JSONValueDecoder.decode(CheckpointState.self, from: json, maxValues: 10_000)
        else { return nil }
        return state.options
    }

    /// For each run, its settings that not all runs share ("hidden 256", "lr 0.001"), in a fixed order;
    /// runs without settings (nil) get none and are left out of the comparison.
    package static func differences(_ runs: [TrainingOptions?]) -> [[String]] {
        let described = runs.map { $0.map(describe) }
        let known = described.compactMap { $0 }
        guard known.count >= 2 else { return runs.map { _ in [] } }
        let keys = known[0].map(\.0)
        let differing = Set(keys.filter { key in Set(known.map { d in d.first { $0.0 == key }?.1 ?? "" }).count > 1 })
        return described.map { d in (d ?? []).filter { differing.contains($0.0) }.map { "\($0.0) \($0.1)" } }
    }

    /// (name, value) of the options that shape a run's curve; how long it runs is left out.
    static func describe(_ o: TrainingOptions) -> [(String, String)] {
        var schedule: String
        switch o.schedule {
        case .constant: schedule = "constant"
        case .exponential(let decay, let every, let staircase):
            schedule = "×\(decay) every \(every) steps" + (staircase ? " (staircase)" : "")
        case .perEpoch(let decay, let after): schedule = "×\(decay) per epoch from \(after)"
        case .budget(let b): schedule = "warmup \(b.warmup), \(b.decay.rawValue) to ×\(b.final)"
        }
        return [
            ("cell", o.cell.rawValue), ("layers", "\(o.layers)"), ("hidden", "\(o.hidden)"),
            ("embedding", o.embedding > 0 ? "\(o.embedding)" : "one-hot"), ("dropout", "\(o.dropout)"),
            ("objective", o.objective.rawValue), ("seq", "\(o.seqLength)"),
            ("window step", o.objective == .window ? "\(o.windowStep)" : "-"), ("batch", "\(o.batchSize)"),
            ("optimizer", o.optimizer.kind.rawValue), ("lr", "\(o.optimizer.learningRate)"),
            ("momentum", o.optimizer.kind == .sgd ? "\(o.optimizer.momentum)" : "-"),
            ("rho", o.optimizer.kind == .rmsprop ? "\(o.optimizer.rho)" : "-"),
            ("clip norm", o.clipping.globalNorm.map { "\($0)" } ?? "off"),
            ("clip value", o.clipping.value.map { "\($0)" } ?? "off"),
            ("lr schedule", schedule), ("seed", "\(o.seed)")
        ]
    }
}
