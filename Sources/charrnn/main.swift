import ArgumentParser
import CharRNN
import CommandLineSupport

/// `charrnn`: train, sample, eval, summary and bench from the command line.
struct CharRNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "charrnn",
        abstract: "Character-level RNN language models: train, sample, evaluate, benchmark.",
        version: charrnnVersion,
        subcommands: [
            Train.self, Sample.self, Eval.self, Summary.self, Import.self, Bench.self, Export.self, Plot.self,
            Explain.self
        ])
}

ProgramMain.run(CharRNNCommand.self, program: CLI.name)
