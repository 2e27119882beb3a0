#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// sigaction(2) for both programs' handlers, with the platforms' spellings of the handler field in one
/// place. Everything here only calls sigaction and sigemptyset, so a signal handler may call it too.
public enum SignalActions {
    /// Installs `handler` for `signal` with `flags` (SA_RESTART, SA_ONSTACK, …) and returns the action it
    /// replaced.
    @discardableResult
    public static func install(_ handler: (@convention(c) (Int32) -> Void)?, for signal: Int32, flags: Int32 = 0)
        -> sigaction
    {
        var action = sigaction()
        #if canImport(Glibc)
        action.__sigaction_handler.sa_handler = handler
        #else
        action.__sigaction_u.__sa_handler = handler
        #endif
        sigemptyset(&action.sa_mask)
        action.sa_flags = flags
        var previous = sigaction()
        sigaction(signal, &action, &previous)
        return previous
    }

    /// The default action for `signal` (nil handler is SIG_DFL).
    public static func reset(_ signal: Int32) { install(nil, for: signal) }

    /// Ignores `signal` (SIG_IGN).
    public static func ignore(_ signal: Int32) {
        install(unsafeBitCast(1, to: (@convention(c) (Int32) -> Void).self), for: signal)
    }

    /// The action installed for `signal` now.
    public static func current(_ signal: Int32) -> sigaction {
        var action = sigaction()
        sigaction(signal, nil, &action)
        return action
    }

    /// Whether `action` ignores its signal (SIG_IGN), e.g. one ignored from the start under nohup.
    public static func isIgnore(_ action: sigaction) -> Bool {
        #if canImport(Glibc)
        let handler = action.__sigaction_handler.sa_handler
        #else
        let handler = action.__sigaction_u.__sa_handler
        #endif
        return unsafeBitCast(handler, to: Int.self) == 1
    }
}
