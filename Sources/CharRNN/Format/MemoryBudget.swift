#if canImport(Glibc)
import Glibc
#endif

/// Refuses work that cannot fit in memory before allocating for it: Swift aborts the whole process when
/// an allocation fails, and a library must not take its host down over a large input file.
///
/// The bound is an estimate of the peak against the machine's RAM and the process's limits (ulimit -v
/// and -d): it turns "obviously too large" into an error. It does not promise that what passes will fit
/// beside everything else the host holds, nor does it see a container's memory limit.
public enum MemoryBudget {
    /// Throws `CharRNNError.outOfMemory` when `bytes` exceed what this process could allocate.
    /// - Parameter what: what the memory is for, for the message ("reading corpus.txt").
    public static func ensure(_ bytes: Double, for what: String) throws {
        let limit = available
        guard bytes <= limit else {
            throw CharRNNError.outOfMemory(
                "\(what) would need about \(mebibytes(bytes)) MiB of memory; this process can have at most "
                    + "\(mebibytes(limit)) MiB")
        }
    }

    /// The machine's RAM, or what the address-space and data limits (ulimit -v, -d) leave of it,
    /// whichever is smallest.
    static var available: Double {
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        var limit = pages > 0 ? Double(pages) * pageSize : Double.infinity
        let usage = currentUsage()
        for (resource, used) in [(RLIMIT_AS, usage.mapped), (RLIMIT_DATA, usage.data)] {
            var bound = rlimit()
            if getrlimit(Int32(resource.rawValue), &bound) == 0, bound.rlim_cur != rlim_t.max {  // RLIM_INFINITY
                limit = min(limit, max(0, Double(bound.rlim_cur) - used * pageSize))
            }
        }
        return limit
    }

    /// This process's virtual size and data segment now, in pages (fields 1 and 6 of /proc/self/statm);
    /// zeros if unknown.
    private static func currentUsage() -> (mapped: Double, data: Double) {
        guard let file = fopen("/proc/self/statm", "r") else { return (0, 0) }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 256)
        guard fgets(&line, Int32(line.count), file) != nil else { return (0, 0) }
        let fields = String(cString: line).split(whereSeparator: { $0 == " " || $0 == "\n" }).map { Double($0) ?? 0 }
        return (fields.count > 0 ? fields[0] : 0, fields.count > 5 ? fields[5] : 0)
    }

    private static func mebibytes(_ bytes: Double) -> Int { bytes.isFinite ? Int(min(bytes / 1_048_576, 1e15)) : Int.max }
}
