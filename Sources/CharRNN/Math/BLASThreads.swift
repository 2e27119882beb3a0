import CBLAS
import Synchronization

/// OpenBLAS's thread count while training runs.
///
/// Training's workers (ParallelGraph) each call BLAS from their own thread; BLAS's own threads on top of
/// them would only add synchronisation, so BLAS runs single-threaded meanwhile. The count is process-wide:
/// OpenBLAS's pthreads build has no per-thread or per-call setting (`openblas_set_num_threads_local`,
/// from 0.3.27, sets the same global count there; only its OpenMP build keeps one per thread). So it is
/// set for as short as it can be: from the start of the first of any concurrent runs to the end of the
/// last, and the count found before is put back then. include/charrnn.h says so at charrnn_train.
package enum BLASThreads {
    private struct State {
        var users = 0
        var saved: Int32 = 0
    }

    private static let state = Mutex(State())

    /// Runs `body` with OpenBLAS single-threaded, restoring the previous count when the last of the
    /// concurrent callers returns. Nested and concurrent calls are cheap: only the first and last act.
    package static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
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
    package static var current: Int { Int(openblas_get_num_threads()) }
}
