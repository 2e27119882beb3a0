#if canImport(Glibc)
import Glibc
#endif

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
        var action = sigaction()
        action.__sigaction_handler.sa_handler = handler
        sigemptyset(&action.sa_mask)
        action.sa_flags = Int32(SA_RESTART)  // an interrupted write resumes (glibc would drop the buffer)
        sigaction(SIGINT, &action, nil)
        sigaction(SIGTERM, &action, nil)
    }

    static var signal: Int32 { received.pointee }
}
