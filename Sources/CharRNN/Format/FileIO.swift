#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and atomic writes with errors that name the file and the reason.
public enum FileIO {
    /// The largest file `read` accepts (a sanity limit, far above any real model).
    public static let maxFileSize = 1 << 34

    /// Reads a whole file, or its first `prefix` bytes.
    /// - Parameter memoryPerByte: the memory the caller will need per byte read (decoding, copies), for
    ///   refusing a file that cannot fit with `CharRNNError.outOfMemory` before anything is allocated.
    public static func read(_ path: String, prefix: Int? = nil, memoryPerByte: Double = 1) throws -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw CharRNNError.io("cannot open \(path): \(lastErrorString())") }
        defer { fclose(file) }
        var st = stat()
        guard fstat(fileno(file), &st) == 0 else { throw CharRNNError.io("cannot stat \(path): \(lastErrorString())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CharRNNError.io("\(path) is not a regular file") }
        let size = min(Int(st.st_size), max(prefix ?? Int.max, 0))
        guard size <= maxFileSize else { throw CharRNNError.io("\(path) is too large (\(size) bytes)") }
        try MemoryBudget.ensure(Double(size) * max(memoryPerByte, 1), for: "reading \(path) (\(size) bytes)")
        var bytes = [UInt8](repeating: 0, count: size)
        let got = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, size, file) }
        guard got == size else { throw CharRNNError.io("cannot read \(path): read \(got) of \(size) bytes") }
        return bytes
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk, then
    /// renamed over the target. On any failure the target is untouched and the temporary file removed.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw CharRNNError.io("cannot create \(temporary): \(lastErrorString())") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        var written = 0
        let failure: String? = bytes.withUnsafeBytes { raw -> String? in
            while written < raw.count {
                let n = write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return lastErrorString()
                }
                written += n
            }
            return nil
        }
        if let failure {
            close(fd)
            throw CharRNNError.io("cannot write \(temporary): \(failure)")
        }
        guard fsync(fd) == 0 else {
            let message = lastErrorString()
            close(fd)
            throw CharRNNError.io("cannot flush \(temporary): \(message)")
        }
        guard close(fd) == 0 else { throw CharRNNError.io("cannot close \(temporary): \(lastErrorString())") }
        guard rename(temporary, path) == 0 else {
            throw CharRNNError.io("cannot rename \(temporary) to \(path): \(lastErrorString())")
        }
        ok = true
    }

    /// Creates a folder and its parents if missing.
    public static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CharRNNError.io("cannot create folder \(prefix): \(lastErrorString())")
            }
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The folder holding `path`: "." for a bare name, "/" for a file at the root.
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// Whether two paths name the same existing folder (however each is spelt: relative, through links).
    public static func sameDirectory(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0, (sa.st_mode & S_IFMT) == S_IFDIR else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    static func lastErrorString() -> String { String(cString: strerror(errno)) }
}
