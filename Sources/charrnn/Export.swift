import ArgumentParser
import CharRNN

/// `charrnn export CKPT OUT` (hidden): a checkpoint's model without its training state.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint's model without the optimizer and training state.", shouldDisplay: false)

    @Argument(help: "Checkpoint or model file.") var checkpoint: String
    @Argument(help: "Where to write the model.") var output: String

    func run() throws {
        try CLI.guarded {
            let model = try Model.load(checkpoint)
            try model.save(to: output)
            print("wrote \(output) (\(model.parameterCount) parameters)")
        }
    }
}
