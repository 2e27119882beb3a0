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
    /// process, default signal handling and no other descriptor of this process, and waits for it.
    /// Returns what it wrote to standard output and how it ended.
    static func run(_ executable: String, _ arguments: [String]) throws -> (output: [UInt8], ending: Ending) {
        func failure(_ what: String, _ code: Int32 = errno) -> CharRNNError {
            CharRNNError.io("cannot start \(executable): \(what): \(String(cString: strerror(code)))")
        }
        // Both ends close on exec (the bench's parent runs no other thread that could spawn meanwhile);
        // above 2, so that making the write end the child's stdout cannot collide with them when this
        // process was started with stdin or stdout closed.
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw failure("pipe") }
        for i in 0..<2 {
            if fds[i] > STDERR_FILENO {
                _ = fcntl(fds[i], F_SETFD, FD_CLOEXEC)
                continue
            }
            let moved = fcntl(fds[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1)
            let error = errno
            close(fds[i])
            fds[i] = moved
            guard moved >= 0 else {
                for fd in fds where fd > STDERR_FILENO { close(fd) }
                throw failure("fcntl", error)
            }
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(readEnd) }

        let pid: pid_t
        do {
            pid = try Spawn.start(executable, arguments) { actions in
                [posix_spawn_file_actions_adddup2(&actions, writeEnd, STDOUT_FILENO)]  // dup2 clears close-on-exec
            }
        } catch {
            close(writeEnd)
            throw failure(error.step, error.code)
        }
        close(writeEnd)  // the child holds its own copy; reading ends at its exit

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(readEnd, &chunk, chunk.count)
            if n > 0 { output += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }

        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw CharRNNError.io("waitpid: \(String(cString: strerror(errno)))") }
        }
        // The <sys/wait.h> macros are not imported into Swift: the low 7 bits are the signal, 0 for an exit.
        let signal = status & 0x7f
        return (output, signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal))
    }
}
