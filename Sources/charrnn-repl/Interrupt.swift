#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CommandLineSupport

/// Ctrl-C handling: a SIGINT handler that only sets a flag, checked once per generated or fed character
/// and by the line reader, so an interrupt stops the current answer instead of the program.
enum Interrupt {
    /// Set by the handler; C-allocated so the handler touches no Swift runtime machinery.
    static let flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    /// Installs the handler with SA_RESTART: an interrupted write resumes instead of failing (glibc would
    /// drop the buffered output). The line reader waits for keys in poll(), which a signal interrupts
    /// whatever SA_RESTART says, so Ctrl-C still ends the line being typed.
    static func install() {
        _ = flag  // initialise before any signal can arrive
        SignalActions.install({ _ in Interrupt.flag.pointee = 1 }, for: SIGINT, flags: Int32(SA_RESTART))
    }

    static var isSet: Bool { flag.pointee != 0 }

    /// Returns whether an interrupt was pending, and clears it.
    static func take() -> Bool {
        let was = flag.pointee != 0
        flag.pointee = 0
        return was
    }
}
