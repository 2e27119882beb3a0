#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ctrl-C (and SIGTERM) for both programs: the handler only records the signal; the program polls it
/// between characters or training steps and stops what it is doing — `charrnn train` after writing a
/// checkpoint, the REPL's answer at the character on screen.
///
/// The handler is installed with SA_RESTART, so an interrupted write resumes instead of failing (glibc
/// would drop the buffered output). poll() still returns EINTR on a signal whatever SA_RESTART says,
/// which is how the REPL's line reader sees Ctrl-C.
public enum SignalFlag {
    /// The last signal received, 0 for none; C-allocated before the handler is installed, so the
    /// handler touches no Swift runtime machinery.
    private static let received: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 2)
        p.initialize(repeating: 0, count: 2)
        return p
    }()

    /// Records `signals` from now on. With `secondExits`, a second signal before the first was taken
    /// exits at once (status 128 + signal): the way out of a stop that takes too long.
    public static func install(_ signals: [Int32], secondExits: Bool) {
        received[1] = secondExits ? 1 : 0  // initialises both before any signal can arrive
        let handler: @convention(c) (Int32) -> Void = { sig in
            if SignalFlag.received[1] != 0 && SignalFlag.received[0] != 0 { _exit(128 + sig) }
            SignalFlag.received[0] = sig
        }
        for signal in signals { SignalActions.install(handler, for: signal, flags: Int32(SA_RESTART)) }
    }

    /// The signal received and not yet taken, 0 for none.
    public static var signal: Int32 { received[0] }

    /// Whether a signal is pending.
    public static var isSet: Bool { received[0] != 0 }

    /// Returns whether a signal was pending, and clears it.
    public static func take() -> Bool {
        let was = received[0] != 0
        received[0] = 0
        return was
    }
}
