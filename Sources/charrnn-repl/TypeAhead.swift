#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Keeps the keys pressed while an answer streams, as they were typed, for the next prompt.
///
/// libedit puts the terminal in its own raw mode only while it reads a line, and back in the user's
/// canonical mode when the line ends, before the answer. A key pressed in between met the kernel's line
/// discipline instead: a Ctrl-D became an end-of-file marker that libedit later read as NUL (the key it
/// binds to quoted insert), so the Ctrl-D was lost and the next one was inserted as a character; and
/// typed text was echoed into the middle of the answer. The same happened to a key pressed just after
/// the prompt appeared, since libedit writes the prompt before it switches to raw mode.
///
/// So between lines the terminal is held non-canonical and without echo. Signals stay on, so Ctrl-C still
/// interrupts an answer. Keys stay bytes in the input queue, and libedit reads them at the next prompt.
/// `release` puts back the mode the REPL started with, as does a SIGTERM, SIGHUP or SIGQUIT.
enum TypeAhead {
    /// The terminal's mode at the first `hold`; C-allocated because a signal handler reads it.
    private static let saved: UnsafeMutablePointer<termios> = .allocate(capacity: 1)
    private static var isSaved = false

    /// Holds typed keys until the next read. Called before the first prompt and after each line is read.
    static func hold() {
        var mode = termios()
        guard tcgetattr(STDIN_FILENO, &mode) == 0 else { return }
        if !isSaved {
            saved.initialize(to: mode)
            isSaved = true
            installRestoringHandlers()
        }
        mode.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutablePointer(to: &mode.c_cc) {
            $0.withMemoryRebound(to: cc_t.self, capacity: Int(NCCS)) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
        }
        // TCSANOW: TCSADRAIN would wait for the terminal to take the output; neither drops typed input.
        _ = tcsetattr(STDIN_FILENO, TCSANOW, &mode)
    }

    /// Restores the terminal's mode from before the first `hold`.
    static func release() {
        guard isSaved else { return }
        _ = tcsetattr(STDIN_FILENO, TCSANOW, saved)
    }

    /// Signals that end the program restore the terminal first, then end it as they would have.
    private static func installRestoringHandlers() {
        for signal in [SIGTERM, SIGHUP, SIGQUIT] {
            var action = sigaction()
            let handler: @convention(c) (Int32) -> Void = { number in
                _ = tcsetattr(STDIN_FILENO, TCSANOW, TypeAhead.saved)
                raise(number)  // SA_RESETHAND restored the default action
            }
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = handler
            #else
            action.__sigaction_u.__sa_handler = handler
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = Int32(truncatingIfNeeded: SA_RESETHAND)  // 0x80000000
            sigaction(signal, &action, nil)
        }
    }
}
