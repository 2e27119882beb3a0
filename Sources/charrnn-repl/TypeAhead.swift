#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CommandLineSupport

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
/// interrupts an answer, but without flushing the output (NOFLSH): what is on screen is what was fed. Keys stay bytes in the input queue, and libedit reads them at the next prompt.
/// Only where libedit edits (it leaves a terminal it does not edit, e.g. with stderr redirected, to the
/// kernel's line editing). `release` puts back the mode the REPL started with; so do the signals that
/// end or stop the program, and a resumed program takes back the mode it had.
enum TypeAhead {
    /// The terminal's mode at the first `hold`, and at the last stop (Ctrl-Z); C-allocated because signal
    /// handlers read them.
    private static let saved: UnsafeMutablePointer<termios> = .allocate(capacity: 2)
    private static var isSaved = false
    /// The signals whose handlers restore the terminal, and their previous actions, which they pass on to.
    private static let endingSignals = [SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE]
    private static let previous: UnsafeMutablePointer<sigaction> = .allocate(capacity: 32)

    /// Holds typed keys until the next read. Called before the first prompt and after each line is read.
    static func hold() {
        var mode = termios()
        guard tcgetattr(STDIN_FILENO, &mode) == 0 else { return }
        if !isSaved {
            saved.initialize(to: mode)
            (saved + 1).initialize(to: mode)
            isSaved = true
            installHandlers()
        }
        // IEXTEN too: where the kernel would still act on ^V and ^O without ICANON.
        mode.c_lflag &= ~tcflag_t(ICANON | ECHO | IEXTEN)
        // NOFLSH: on Ctrl-C the kernel would otherwise discard the output not yet shown — characters the
        // state already holds, and perhaps half a colour escape.
        mode.c_lflag |= tcflag_t(NOFLSH)
        withUnsafeMutablePointer(to: &mode.c_cc) {
            $0.withMemoryRebound(to: cc_t.self, capacity: Int(NCCS)) { cc in
                cc[Int(VMIN)] = 1
                cc[Int(VTIME)] = 0
            }
        }
        // TCSANOW: TCSADRAIN would wait for the terminal to take the output; neither drops typed input.
        if inForeground() { _ = tcsetattr(STDIN_FILENO, TCSANOW, &mode) }
    }

    /// Restores the terminal's mode from before the first `hold`.
    static func release() {
        if isSaved && inForeground() { _ = tcsetattr(STDIN_FILENO, TCSANOW, saved) }
    }

    /// Only the foreground may set the terminal's mode: from the background, tcsetattr stops the process
    /// (SIGTTOU), even inside a handler of a signal meant to end it.
    private static func inForeground() -> Bool { tcgetpgrp(STDIN_FILENO) == getpgrp() }

    private static func installHandlers() {
        for signal in endingSignals {
            let handler: @convention(c) (Int32) -> Void = { number in
                if TypeAhead.inForeground() { _ = tcsetattr(STDIN_FILENO, TCSANOW, TypeAhead.saved) }
                // The previous action (the default, or Swift's backtracer for a crash), then the signal
                // again: a crash's faulting instruction raises it anew as the handler returns.
                sigaction(number, TypeAhead.previous + Int(number), nil)
                if number != SIGSEGV && number != SIGBUS && number != SIGILL && number != SIGFPE { raise(number) }
            }
            // SA_ONSTACK: a stack overflow's SIGSEGV still finds the alternate stack the runtime set up.
            set(handler, for: signal, flags: Int32(SA_ONSTACK))
        }
        let stop: @convention(c) (Int32) -> Void = { _ in
            // Ctrl-Z: the shell may not restore the terminal (dash does not), so leave it as found, stop,
            // and once continued take back the mode of the moment (libedit's, or the held one).
            let foreground = TypeAhead.inForeground()
            if foreground {
                _ = tcgetattr(STDIN_FILENO, TypeAhead.saved + 1)
                _ = tcsetattr(STDIN_FILENO, TCSANOW, TypeAhead.saved)
            }
            SignalActions.reset(SIGTSTP)  // the default action: stopping
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGTSTP)
            raise(SIGTSTP)
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)  // the stop happens here, until SIGCONT
            pthread_sigmask(SIG_BLOCK, &unblock, nil)  // as the handler found it, until it returns
            TypeAhead.set(TypeAhead.stopHandler, for: SIGTSTP, flags: Int32(SA_RESTART))
            if foreground && TypeAhead.inForeground() { _ = tcsetattr(STDIN_FILENO, TCSANOW, TypeAhead.saved + 1) }
        }
        stopHandler = stop
        set(stop, for: SIGTSTP, flags: Int32(SA_RESTART))
    }

    nonisolated(unsafe) private static var stopHandler: @convention(c) (Int32) -> Void = { _ in }

    /// Installs `handler` for `signal`, keeping the previous action; a signal ignored from the start (nohup,
    /// `trap ''`) stays ignored.
    private static func set(_ handler: @convention(c) (Int32) -> Void, for signal: Int32, flags: Int32) {
        let old = SignalActions.current(signal)
        if SignalActions.isIgnore(old) { return }
        if signal != SIGTSTP { (previous + Int(signal)).initialize(to: old) }  // before the handler can read it
        SignalActions.install(handler, for: signal, flags: flags)
    }
}
