#if canImport(Glibc)
import Glibc
#endif
import CommandLineSupport

/// SIGINT / SIGTERM during training: the handler only records the signal; the training loop polls it,
/// stops, and the trainer writes a checkpoint. A second signal exits at once.
enum StopSignal {
    /// The signal received, 0 for none. Allocated before the handler is installed; written only by the handler.
    static let received: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()

    static func install() {
        _ = received  // initialise before any signal can arrive
        let handler: @convention(c) (Int32) -> Void = { sig in
            if StopSignal.received.pointee != 0 { _exit(128 + sig) }
            StopSignal.received.pointee = sig
        }
        for signal in [SIGINT, SIGTERM] {  // SA_RESTART: an interrupted write resumes (glibc would drop the buffer)
            SignalActions.install(handler, for: signal, flags: Int32(SA_RESTART))
        }
    }

    static var signal: Int32 { received.pointee }
}
