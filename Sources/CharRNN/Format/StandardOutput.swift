#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the program's output reached standard output. C stdio only records a failed write (a full
/// disk, a closed pipe) in the stream; a program that does not look exits 0 having lost its output.
public enum StandardOutput {
    /// errno of the first failed write; 0 while every write has succeeded.
    nonisolated(unsafe) public private(set) static var failure: Int32 = 0

    /// Flushes stdout; false once any write to it has failed (the first failure's errno is kept).
    ///
    /// A signal (Ctrl-C in the REPL, whose handler does not restart system calls) can interrupt a write:
    /// stdio then keeps the bytes in its buffer and marks the stream as failed. So the mark is cleared and
    /// the buffer written again; a real failure (a full disk, a closed pipe) fails again and is kept.
    @discardableResult
    public static func flush() -> Bool {
        guard failure == 0 else { return false }
        for _ in 0..<1000 {
            clearerr(stdout)
            errno = 0
            if fflush(stdout) == 0 { return true }
            if errno != EINTR { break }
        }
        failure = errno != 0 ? errno : EIO
        return false
    }

    /// Ends the program with `status` once stdout is flushed; when output was lost, says so on stderr
    /// and ends with a failure status (1 in place of a success).
    public static func exit(_ status: Int32, program: String) -> Never {
        if !flush() {
            fputs("\(program): error: cannot write to standard output: \(String(cString: strerror(failure)))\n", stderr)
            fflush(stderr)
            exitProcess(status == 0 ? 1 : status)
        }
        exitProcess(status)
    }

    private static func exitProcess(_ status: Int32) -> Never {
        #if canImport(Glibc)
        Glibc.exit(status)
        #else
        Darwin.exit(status)
        #endif
    }
}
