#if canImport(Glibc)
import Glibc
#endif

/// Refuses work that cannot fit in memory before allocating for it: Swift aborts the whole process when
/// an allocation fails, and a library must not take its host down over a large input file or argument.
///
/// Every allocation whose size a caller or a file controls asks `ensure` first: reading files, decoding
/// text, creating models, a session's copy of the weights, training's buffers. The bound is the smallest
/// of what the machine has available (MemAvailable plus free swap), what the process's cgroup leaves
/// (v2 `memory.max` − `memory.current` up the hierarchy, or v1 `memory.limit_in_bytes` − usage), and what
/// the address-space and data limits (ulimit -v, -d) leave beside what the process already maps. It is an
/// estimate of the peak: it turns "cannot fit" into an error, it does not promise that what passes will
/// fit beside whatever else the host allocates meanwhile.
package enum MemoryBudget {
    /// Requests up to this size pass unasked. They come from the heap's own memory, while the question
    /// reads /proc and the cgroup's files (about 0.4 ms): asked for every short text a C caller feeds, it
    /// took a hundred times the work of stepping a character. Larger buffers are mapped on their own
    /// (glibc maps allocations from 128 KiB), which `ulimit -v` can refuse: those are asked.
    static let smallRequestBytes: Double = 32 * 1024

    /// Throws `CharRNNError.outOfMemory` when `bytes` exceed what this process could allocate now.
    /// - Parameter what: what the memory is for, for the message ("reading corpus.txt").
    package static func ensure(_ bytes: Double, for what: String) throws {
        guard bytes > smallRequestBytes else { return }
        let (limit, source) = available
        guard bytes <= limit else {
            throw CharRNNError.outOfMemory(
                "\(what) would need about \(mebibytes(bytes)) MiB of memory; this process can have at most "
                    + "\(mebibytes(limit)) MiB more (\(source))")
        }
    }

    /// Like `ensure(_:for:)` for an element count times a size, refusing products that overflow.
    package static func ensure(count: Int, bytesEach: Int, for what: String) throws {
        try ensure(Double(max(count, 0)) * Double(max(bytesEach, 0)), for: what)
    }

    /// What this process can still allocate, and which bound that is.
    static var available: (bytes: Double, source: String) {
        var best = (bytes: Double.infinity, source: "no limit found")
        func consider(_ bytes: Double?, _ source: String) {
            if let bytes, bytes < best.bytes { best = (max(0, bytes), source) }
        }
        consider(systemAvailable(), "the machine's available memory")
        consider(cgroupRemaining(), "the cgroup's memory limit")
        let usage = currentUsage()
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        for (resource, used, name) in [(RLIMIT_AS, usage.mapped, "ulimit -v"), (RLIMIT_DATA, usage.data, "ulimit -d")] {
            var bound = rlimit()
            if getrlimit(Int32(resource.rawValue), &bound) == 0, bound.rlim_cur != rlim_t.max {  // RLIM_INFINITY
                consider(Double(bound.rlim_cur) - used * pageSize, name)
            }
        }
        return best
    }

    /// MemAvailable plus SwapFree from /proc/meminfo; the physical memory where that file is missing.
    static func systemAvailable(meminfo: String = "/proc/meminfo") -> Double? {
        if let text = readSmallFile(meminfo) {
            var fields: [Substring: Double] = [:]
            for line in text.split(separator: "\n") {
                let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " })
                if parts.count >= 2, let kib = Double(parts[1]) { fields[parts[0]] = kib * 1024 }
            }
            if let available = fields["MemAvailable"] { return available + (fields["SwapFree"] ?? 0) }
        }
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        return pages > 0 && pageSize > 0 ? Double(pages) * Double(pageSize) : nil
    }

    /// The least that the process's memory cgroup and its ancestors leave (limit − usage), or nil
    /// without a limit. `root` and `membership` are parameters for the tests.
    static func cgroupRemaining(root: String = "/sys/fs/cgroup", membership: String = "/proc/self/cgroup") -> Double? {
        guard let lines = readSmallFile(membership)?.split(separator: "\n") else { return nil }
        var remaining: Double?
        func consider(limitFile: String, usageFile: String) {
            guard let limitText = readSmallFile(limitFile)?.trimmingWhitespace, let limit = Double(limitText),
                limit < 0x1p62,  // "max", or v1's "unlimited" (a page-rounded 2^63)
                let usage = readSmallFile(usageFile)?.trimmingWhitespace.flatMap(Double.init)
            else { return }
            remaining = min(remaining ?? .infinity, limit - usage)
        }
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = parts[2] == "/" ? "" : String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {  // v2: every level up to the root may limit
                var dir = path
                while true {
                    consider(limitFile: "\(root)\(dir)/memory.max", usageFile: "\(root)\(dir)/memory.current")
                    guard let slash = dir.lastIndex(of: "/") else { break }
                    dir = String(dir[..<slash])
                }
            } else if parts[1].split(separator: ",").contains("memory") {  // v1
                // In a container the process's own group is usually mounted as the hierarchy's root.
                for dir in Set(["\(root)/memory\(path)", "\(root)/memory"]) {
                    consider(limitFile: "\(dir)/memory.limit_in_bytes", usageFile: "\(dir)/memory.usage_in_bytes")
                }
            }
        }
        return remaining
    }

    /// This process's virtual size and data segment now, in pages (fields 1 and 6 of /proc/self/statm);
    /// zeros if unknown.
    private static func currentUsage() -> (mapped: Double, data: Double) {
        guard let text = readSmallFile("/proc/self/statm") else { return (0, 0) }
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { Double($0) ?? 0 }
        return (fields.count > 0 ? fields[0] : 0, fields.count > 5 ? fields[5] : 0)
    }

    /// The first 16 KB of a small system file, or nil when it cannot be read.
    private static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16384)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    private static func mebibytes(_ bytes: Double) -> Int {
        bytes.isFinite ? Int(min(bytes / 1_048_576, 1e15)) : Int.max
    }
}

extension StringProtocol {
    fileprivate var trimmingWhitespace: String? {
        let trimmed = self.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).first
        return trimmed.map { String($0) }
    }
}
