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
// ArgumentParser's main(), except that the exit checks that stdout took the output (a full disk, a
// closed pipe): lost output ends the program with a message and a failure status, never silently 0.
do {
    var command = try CharRNNCommand.parseAsRoot()
    try command.run()
    StandardOutput.exit(0, program: CLI.name)
} catch {
    let status = CharRNNCommand.exitCode(for: error)
    let message = CharRNNCommand.fullMessage(for: error)
    if !message.isEmpty {
        if status.isSuccess { print(message) } else { CLI.writeStderr(message + "\n") }
    }
    StandardOutput.exit(status.rawValue, program: CLI.name)
}
