#if canImport(Glibc)
import Glibc
#endif

/// posix_spawn as the programs' children need it: the child starts with no signal blocked and SIGPIPE,
/// which the programs ignore for themselves (ProgramMain), back at its default; signals the user had
/// ignored (`nohup`'s SIGHUP, a script's background SIGINT) stay ignored, and handlers are reset by exec
/// anyway. The file actions are the caller's; a process group of its own when asked.
package enum Spawn {
    /// Why a child did not start: the step, and its errno.
    package struct Failure: Error {
        package var step: String
        package var code: Int32
    }

    /// Starts `program` with `arguments` (argv[1...]) and this process's environment.
    /// - Parameters:
    ///   - searchPath: look `program` up on PATH as a shell would (posix_spawnp), unless it holds a "/".
    ///   - fileActions: adds the child's descriptors; returns the status codes of its calls.
    /// - Returns: the child's pid.
    package static func start(
        _ program: String, _ arguments: [String], searchPath: Bool = false, newProcessGroup: Bool = false,
        fileActions: (inout posix_spawn_file_actions_t) -> [Int32]
    ) throws(Failure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        var noSignals = sigset_t(), ignoredHere = sigset_t()
        sigemptyset(&noSignals)
        sigemptyset(&ignoredHere)
        sigaddset(&ignoredHere, SIGPIPE)
        let group = newProcessGroup ? POSIX_SPAWN_SETPGROUP : 0
        let prepared =
            fileActions(&actions) + [
                posix_spawnattr_setpgroup(&attributes, 0),
                posix_spawnattr_setsigmask(&attributes, &noSignals),
                posix_spawnattr_setsigdefault(&attributes, &ignoredHere),
                posix_spawnattr_setflags(&attributes, Int16(group | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            ]
        if let code = prepared.first(where: { $0 != 0 }) { throw Failure(step: "posix_spawn setup", code: code) }
        let argv = ([program] + arguments).map { strdup($0) }
        defer { for p in argv { free(p) } }
        guard !argv.contains(nil) else { throw Failure(step: "strdup", code: ENOMEM) }
        var pid = pid_t()
        let spawned =
            searchPath
            ? posix_spawnp(&pid, program, &actions, &attributes, argv + [nil], environ)
            : posix_spawn(&pid, program, &actions, &attributes, argv + [nil], environ)
        guard spawned == 0 else { throw Failure(step: "posix_spawn", code: spawned) }
        return pid
    }
}
