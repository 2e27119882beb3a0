// charrnn-repl: chat-style, stateful generation that shows each character's probability.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CharRNN

// ArgumentParser's main(), except that the exit checks that stdout took the output (a full disk, a
// closed pipe): lost output ends the program with a message and a failure status, never silently 0.
do {
    var command = try REPLCommand.parseAsRoot()
    try command.run()
    StandardOutput.exit(0, program: "charrnn-repl")
} catch {
    let status = REPLCommand.exitCode(for: error)
    let message = REPLCommand.fullMessage(for: error)
    if !message.isEmpty {
        if status.isSuccess { print(message) } else { fputs(message + "\n", stderr) }
    }
    StandardOutput.exit(status.rawValue, program: "charrnn-repl")
}
