#if canImport(Glibc)
import Glibc
#endif
import CharRNN

/// Runs a program and collects its standard output, with posix_spawn: the command line needs no
/// Foundation (`Process`), whose libraries would add about 6 MB to every process it starts, the bench's
/// workers included, whose peak memory is what they report.
enum ChildProcess {
    /// How a child ended: its exit status, or the signal that killed it.
    enum Ending: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        var description: String {
            switch self {
            case .exited(let status): return "exit status \(status)"
            case .signaled(let signal): return "killed by signal \(signal)"
            }
        }
    }

    /// Starts `executable` with `arguments` (argv[1...]), the same environment and standard error as this
    /// process, and waits for it. Returns what it wrote to standard output and how it ended.
    static func run(_ executable: String, _ arguments: [String]) throws -> (output: [UInt8], ending: Ending) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CharRNNError.io("cannot create a pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, writeEnd, STDOUT_FILENO)
        posix_spawn_file_actions_addclose(&actions, readEnd)
        posix_spawn_file_actions_addclose(&actions, writeEnd)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(writeEnd)
        guard spawned == 0 else {
            close(readEnd)
            throw CharRNNError.io("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(readEnd, &chunk, chunk.count)
            if n > 0 { output += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close(readEnd)

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw CharRNNError.io("waitpid: \(String(cString: strerror(errno)))") }
        }
        // The <sys/wait.h> macros are not imported into Swift: the low 7 bits are the signal, 0 for an exit.
        let signal = status & 0x7f
        return (output, signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal))
    }
}
