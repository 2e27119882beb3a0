#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CharRNN

/// Runs a helper program (the Python Keras importer) with posix_spawnp: no Foundation, and the program
/// looked up on PATH as a shell would.
package enum Subprocess {
    /// How the child ended.
    package struct Result {
        /// The exit status, or 128 + the signal that killed it.
        package var status: Int32
        /// What it wrote to its standard output and error, together.
        package var output: [UInt8]
        package var text: String { String(decoding: output, as: UTF8.self) }
    }

    /// Runs `program` (a path, or a name looked up on PATH) with `arguments` (argv[1...]), collects what
    /// it writes (standard output and error in one pipe: messages to relay, not a terminal's) and waits
    /// for it. Its standard input is /dev/null: it is never asked anything.
    /// - Throws: `CharRNNError.io` when the program cannot be started (it does not exist, is not executable).
    package static func run(_ program: String, _ arguments: [String]) throws -> Result {
        func failure(_ what: String, _ code: Int32) -> CharRNNError {
            CharRNNError.io("cannot run \(program): \(what): \(String(cString: strerror(code)))")
        }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw failure("pipe", errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }  // the child gets its copies through dup2 only
        defer { for fd in fds where fd >= 0 { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let setup = [
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO),
            posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO)
        ]
        if let code = setup.first(where: { $0 != 0 }) { throw failure("posix_spawn setup", code) }

        let argv = ([program] + arguments).map { strdup($0) }
        defer { for p in argv { free(p) } }
        guard !argv.contains(nil) else { throw failure("strdup", ENOMEM) }
        var pid = pid_t()
        let spawned = posix_spawnp(&pid, program, &actions, nil, argv + [nil], environ)
        guard spawned == 0 else { throw failure("posix_spawn", spawned) }
        close(fds[1])  // the child holds its copy: reading ends when it exits
        fds[1] = -1

        var collected: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &chunk, chunk.count)
            if n > 0 { collected += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw CharRNNError.io("waitpid: \(String(cString: strerror(errno)))") }
        }
        // The <sys/wait.h> macros are not imported into Swift: the low 7 bits are the signal, 0 for an exit.
        let signal = status & 0x7f
        return Result(status: signal == 0 ? (status >> 8) & 0xff : 128 + signal, output: collected)
    }
}
