import CBLAS
import CharRNNKernels
import Synchronization

/// The library's one pool of worker threads, CharRNNKernels' pool.c (whose opening comment is the policy:
/// its size, its users, one job at a time, OpenBLAS's thread count), as training and evaluation use it:
/// the parts of a batch and the shares of its weight gradients. Generation's products use the same
/// threads from C.
package enum WorkerPool {
    /// The parts a job is planned for: one per CPU this process may run on, at most 8. Fixed for the
    /// process whatever threads actually run, so that a batch split by it (and the result) never depends
    /// on them.
    package static var parts: Int { crnn_pool_parts() }

    /// Runs `item(i)` for every i in 0..<count, each exactly once, on the pool's threads (the caller
    /// included, alone when another thread's job holds the workers), and returns when all are done.
    /// Meanwhile OpenBLAS runs single-threaded (see `BLASThreads`), since items call it from several
    /// threads at once. An item must give the same result on any thread and in any order.
    package static func forEach(_ count: Int, _ item: (Int) -> Void) {
        guard count > 0 else { return }
        BLASThreads.singleThreaded {
            withoutActuallyEscaping(item) { item in
                let job = Job(item)
                withExtendedLifetime(job) {
                    crnn_parallel_for(
                        count,
                        { context, index in
                            guard let context else { return }
                            Unmanaged<Job>.fromOpaque(context).takeUnretainedValue().item(index)
                        }, Unmanaged.passUnretained(job).toOpaque())
                }
            }
        }
    }

    private final class Job {
        let item: (Int) -> Void
        init(_ item: @escaping (Int) -> Void) { self.item = item }
    }
}

/// OpenBLAS's thread count while a `WorkerPool` job runs (pool.c's policy). Its pthreads build keeps one
/// count for the whole process, with no per-thread or per-call setting, so it is 1 for exactly as long
/// as jobs run: from the start of the first of any concurrent jobs to the end of the last, when the count
/// found before is put back. Between jobs — in a training run's callbacks, between its batches — the
/// program's own count holds.
enum BLASThreads {
    private struct State {
        var users = 0
        var saved: Int32 = 0
    }

    private static let state = Mutex(State())

    /// Runs `body` with OpenBLAS single-threaded, restoring the previous count when the last of the
    /// concurrent callers returns. Nested and concurrent calls are cheap: only the first and last act.
    static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        state.withLock { s in
            if s.users == 0 {
                s.saved = openblas_get_num_threads()
                if s.saved != 1 { openblas_set_num_threads(1) }
            }
            s.users += 1
        }
        defer {
            state.withLock { s in
                s.users -= 1
                if s.users == 0 && s.saved != 1 { openblas_set_num_threads(s.saved) }
            }
        }
        return try body()
    }

    /// OpenBLAS's current thread count (for tests and diagnostics).
    static var current: Int { Int(openblas_get_num_threads()) }
}
