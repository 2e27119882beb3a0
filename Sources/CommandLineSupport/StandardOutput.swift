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
    /// A write that failed inside print or fputs (a full buffer flushed on the way) leaves only the
    /// stream's error mark, and glibc drops the bytes it could not write: that is a failure too. Its errno
    /// is taken from flushing what was written since, which fails again for a lasting cause (a full disk,
    /// a closed pipe); EIO when nothing was left to write. The programs' signal handlers restart
    /// interrupted system calls (SA_RESTART), so a Ctrl-C never fails a write.
    @discardableResult
    public static func flush() -> Bool {
        guard failure == 0 else { return false }
        let failedEarlier = ferror(stdout) != 0
        clearerr(stdout)
        errno = 0
        if fflush(stdout) != 0 || failedEarlier {
            failure = errno != 0 ? errno : EIO
            return false
        }
        return true
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
