#if canImport(Glibc)
import Glibc
#endif

/// Refuses work that cannot fit in memory before allocating for it: Swift aborts the whole process when
/// an allocation fails, and a library must not take its host down over a large input file.
///
/// The bound is generous on purpose (an estimate of the peak, against the machine's RAM and the process's
/// address-space limit): it turns "obviously too large" into an error; it does not promise
/// that what passes will fit beside everything else the host holds.
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

    /// The machine's RAM, or what the address-space limit (ulimit -v) leaves of it, whichever is smaller.
    static var available: Double {
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let pages = sysconf(Int32(_SC_PHYS_PAGES))
        var limit = pages > 0 ? Double(pages) * pageSize : Double.infinity
        var addressSpace = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &addressSpace) == 0, addressSpace.rlim_cur != rlim_t.max {  // RLIM_INFINITY
            limit = min(limit, max(0, Double(addressSpace.rlim_cur) - mappedBytes))
        }
        return limit
    }

    /// This process's virtual size now (the first field of /proc/self/statm, in pages); 0 if unknown.
    private static var mappedBytes: Double {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 128)
        guard fgets(&line, Int32(line.count), file) != nil,
              let pages = String(cString: line).split(separator: " ").first.flatMap({ UInt($0) }) else { return 0 }
        return Double(pages) * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    private static func mebibytes(_ bytes: Double) -> Int { bytes.isFinite ? Int(min(bytes / 1_048_576, 1e15)) : Int.max }
}
