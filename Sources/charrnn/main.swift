import ArgumentParser
import CharRNN
#if canImport(Glibc)
import Glibc
#endif

/// `charrnn`: train, sample, eval, summary and bench from the command line.
struct CharRNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "charrnn",
        abstract: "Character-level RNN language models: train, sample, evaluate, benchmark.",
        subcommands: [Train.self, Sample.self, Eval.self, Summary.self, Bench.self, Export.self])
}

// Arguments are checked as bytes before parsing: Swift would silently repair invalid UTF-8.
if let problem = CLI.invalidUTF8Argument() {
    CLI.printError(problem)
    exit(2)
}
CharRNNCommand.main()
