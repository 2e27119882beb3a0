#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import CharRNN

/// The start and end of both programs: ArgumentParser's `main()`, with two checks it does not make.
public enum ProgramMain {
    /// Parses the arguments as `Command` and runs it, then exits.
    ///
    /// - Arguments are checked as bytes first (exit 2): Swift would silently repair invalid UTF-8 into
    ///   U+FFFD, so a file name with a stray byte would name another file.
    /// - The exit checks that stdout took the output (a full disk, a closed pipe): lost output ends the
    ///   program with a message and a failure status, never silently 0 or by SIGPIPE.
    public static func run<Command: ParsableCommand>(_ command: Command.Type, program: String) -> Never {
        // A closed pipe is a failed write (EPIPE, reported at the exit), not a silent death by SIGPIPE.
        SignalActions.ignore(SIGPIPE)
        // Children are waited for (the bench's workers, the Keras importer, the PNG renderer): a SIGCHLD
        // left ignored by whoever started this program would make the kernel reap them first (ECHILD).
        SignalActions.reset(SIGCHLD)
        if let problem = invalidUTF8Argument() {
            writeError("\(program): error: \(problem)\n")
            StandardOutput.exit(2, program: program)
        }
        do {
            var parsed = try Command.parseAsRoot()
            try parsed.run()
            StandardOutput.exit(0, program: program)
        } catch {
            let status = Command.exitCode(for: error)
            let message = Command.fullMessage(for: error)
            if !message.isEmpty {
                if status.isSuccess { print(message) } else { writeError(message + "\n") }
            }
            StandardOutput.exit(status.rawValue, program: program)
        }
    }

    /// The first command-line argument that is not valid UTF-8, described, or nil.
    static func invalidUTF8Argument() -> String? {
        let argv = CommandLine.unsafeArgv
        for i in 1..<Int(CommandLine.argc) {
            guard let p = argv[i] else { continue }
            let bytes = UnsafeBufferPointer(
                start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
            do { _ = try UTF8Text.decode(bytes) } catch CharRNNError.invalidUTF8(let offset, _) {
                return "argument \(i) is not valid UTF-8 (byte offset \(offset)); arguments must be UTF-8 text"
            } catch { return "argument \(i) is not valid UTF-8" }
        }
        return nil
    }

    private static func writeError(_ text: String) {
        fputs(text, stderr)
        fflush(stderr)
    }
}
