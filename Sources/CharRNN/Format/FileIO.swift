#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-file reads and atomic writes with errors that name the file and the reason.
package enum FileIO {
    /// The largest file `read` accepts (a sanity limit, far above any real model).
    package static let maxFileSize = 1 << 34

    /// Reads a whole file, or its first `prefix` bytes.
    ///
    /// The path is opened without blocking and checked to be a regular file before anything is read, so a
    /// named pipe, a device or a folder is refused at once instead of blocking the caller forever or
    /// reading without end.
    /// - Parameter memoryPerByte: the memory the caller will need per byte read (decoding, copies), for
    ///   refusing a file that cannot fit with `CharRNNError.outOfMemory` before anything is allocated.
    package static func read(_ path: String, prefix: Int? = nil, memoryPerByte: Double = 1) throws -> [UInt8] {
        let fd = try openRegularFile(path)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CharRNNError.io("cannot stat \(path): \(lastErrorString())") }
        let size = min(Int(st.st_size), max(prefix ?? Int.max, 0))
        guard size <= maxFileSize else { throw CharRNNError.io("\(path) is too large (\(size) bytes)") }
        try MemoryBudget.ensure(Double(size) * max(memoryPerByte, 1), for: "reading \(path) (\(size) bytes)")
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        let failure: String? = bytes.withUnsafeMutableBytes { buffer in
            while got < size {
                let n = Glibc.read(fd, buffer.baseAddress! + got, size - got)
                if n < 0 {
                    if errno == EINTR { continue }
                    return lastErrorString()
                }
                if n == 0 { break }
                got += n
            }
            return nil
        }
        if let failure { throw CharRNNError.io("cannot read \(path): \(failure)") }
        guard got == size else {
            throw CharRNNError.io("cannot read \(path): read \(got) of \(size) bytes (the file shrank)")
        }
        return bytes
    }

    /// Opens `path` for reading and returns its descriptor, or throws naming the path and the reason
    /// (a missing file, a loop of symbolic links, a folder, a pipe, a device).
    package static func openRegularFile(_ path: String) throws -> Int32 {
        guard !path.isEmpty else { throw CharRNNError.io("the file name is empty") }
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw CharRNNError.io("cannot open \(path): \(openFailure())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = lastErrorString()
            close(fd)
            throw CharRNNError.io("cannot stat \(path): \(reason)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CharRNNError.io("\(path) is \(fileKind(st.st_mode)), not a regular file")
        }
        // Regular files never block; clear the flag so reads behave as usual.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// "a folder", "a named pipe (FIFO)", ... for messages.
    static func fileKind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a named pipe (FIFO)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "not a regular file"
        }
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk, then
    /// renamed over the target. On any failure the target is untouched and the temporary file removed.
    package static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        // The rename would replace whatever the path names: a pipe, a device (/dev/null), a socket.
        var existing = stat()
        if lstat(path, &existing) == 0 {
            let kind = existing.st_mode & S_IFMT
            guard kind == S_IFREG || kind == S_IFLNK else {
                throw CharRNNError.io("\(path) is \(fileKind(existing.st_mode)), not a regular file: not replaced")
            }
        }
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
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
    package static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw CharRNNError.io("cannot create folder \(prefix): \(lastErrorString())")
            }
        }
    }

    package static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// The folder holding `path`: "." for a bare name, "/" for a file at the root.
    package static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }

    /// Whether two paths name the same existing folder (however each is spelt: relative, through links).
    package static func sameDirectory(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0, (sa.st_mode & S_IFMT) == S_IFDIR else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    static func lastErrorString() -> String { String(cString: strerror(errno)) }

    /// Why an open or stat of a path just failed: strerror, except that ELOOP ("Too many levels of
    /// symbolic links") is named as the loop it usually is.
    package static func openFailure() -> String {
        errno == ELOOP ? "a loop of symbolic links (or too many of them)" : lastErrorString()
    }
}
