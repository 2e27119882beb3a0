#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN

/// Runs a program and collects what it writes, through `Spawn`: the programs need no Foundation
/// (`Process`), whose libraries would add about 6 MB to every process they start, the bench's workers
/// included, whose peak memory is what they report.
package enum Subprocess {
    /// How a child ended: its exit status, or the signal that killed it.
    package enum Ending: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        package var description: String {
            switch self {
            case .exited(let status): return "exit status \(status)"
            case .signaled(let signal): return "killed by signal \(signal)"
            }
        }

        /// Decodes waitpid's status. The <sys/wait.h> macros are not imported into Swift: the low 7 bits
        /// are the signal, 0 for an exit.
        package init(waitStatus status: Int32) {
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        }
    }

    /// What a run collected, and how the child ended.
    package struct Result {
        package var ending: Ending
        /// What it wrote to the captured descriptors.
        package var output: [UInt8]
        /// The exit status, or 128 + the signal that killed it, as a shell reports it.
        package var status: Int32 {
            switch ending {
            case .exited(let status): return status
            case .signaled(let signal): return 128 + signal
            }
        }
        package var text: String { String(decoding: output, as: UTF8.self) }
    }

    /// What the child's output pipe collects.
    package enum Capture {
        /// Standard output; standard error stays this process's.
        case standardOutput
        /// Standard output and error in one pipe (messages to relay, not a terminal's); standard input is
        /// /dev/null, so the child is never asked anything.
        case everything
    }

    /// Runs `program` with `arguments` (argv[1...]), the same environment, default signal handling and
    /// no other descriptor of this process, collects what it writes and waits for it.
    /// - Parameter searchPath: look `program` up on PATH as a shell would.
    /// - Throws: `CharRNNError.io` when the program cannot be started (it does not exist, is not
    ///   executable) or not waited for.
    package static func run(
        _ program: String, _ arguments: [String], searchPath: Bool = false, capture: Capture = .standardOutput
    ) throws -> Result {
        func failure(_ what: String, _ code: Int32 = errno) -> CharRNNError {
            CharRNNError.io("cannot run \(program): \(what): \(String(cString: strerror(code)))")
        }
        let (readEnd, writeEnd) = try pipeAboveStandardDescriptors(failure)
        defer { close(readEnd) }

        let pid: pid_t
        do {
            pid = try Spawn.start(program, arguments, searchPath: searchPath) { actions in
                // dup2 clears close-on-exec on the child's copies
                switch capture {
                case .standardOutput:
                    return [posix_spawn_file_actions_adddup2(&actions, writeEnd, STDOUT_FILENO)]
                case .everything:
                    return [
                        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
                        posix_spawn_file_actions_adddup2(&actions, writeEnd, STDOUT_FILENO),
                        posix_spawn_file_actions_adddup2(&actions, writeEnd, STDERR_FILENO)
                    ]
                }
            }
        } catch {
            close(writeEnd)
            throw failure(error.step, error.code)
        }
        close(writeEnd)  // the child holds its own copy: reading ends at its exit

        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(readEnd, &chunk, chunk.count)
            if n > 0 { output += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        return Result(ending: try wait(for: pid), output: output)
    }

    /// Waits for child `pid`, through interruptions, and says how it ended.
    package static func wait(for pid: pid_t) throws -> Ending {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw CharRNNError.io("waitpid: \(String(cString: strerror(errno)))") }
        }
        return Ending(waitStatus: status)
    }

    /// A pipe whose ends both close on exec (pipe2 is not in Swift's Glibc; the programs run no other
    /// thread that spawns meanwhile) and lie above 2, so that making the write end a child's stdout or stderr cannot collide with them
    /// when this process was started with a standard descriptor closed.
    private static func pipeAboveStandardDescriptors(
        _ failure: (String, Int32) -> CharRNNError
    ) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw failure("pipe", errno) }
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
        return (fds[0], fds[1])
    }
}
