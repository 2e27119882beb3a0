import CBLAS
import CharRNNKernels

/// OpenBLAS's work buffer: allocated by the first product on each thread, and when that allocation
/// fails, OpenBLAS retries it forever (the call never returns). Work that multiplies through BLAS asks
/// the memory budget for it first, so that it is refused with a message instead.
enum BLASWorkspace {
    /// OpenBLAS's BUFFER_SIZE (128 MiB on x86-64) and its alignment slack.
    static let bytes = Double(128 << 20) + Double(64 << 10)

    static func ensure(for what: String) throws {
        try MemoryBudget.ensure(bytes, for: "\(what) (OpenBLAS's 128 MiB work buffer)")
    }
}

/// Row-major single-precision matrix product through the system BLAS:
/// `C (m, n) = alpha · op(A) · op(B) + beta · C`, where `op(A)` is (m, k) and `op(B)` is (k, n).
/// `lda`, `ldb`, `ldc` are the row strides of the matrices as stored.
@inline(__always)
func sgemm(
    transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {  // BLAS leaves C untouched only for beta == 1; make k == 0 mean "scale C".
        if beta != 1 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
        return
    }
    if m == 1 && !transA {
        // One row (batch-1 evaluation): the matrix–vector kernel. OpenBLAS's sgemm would pack all of B
        // for a single row, on every step.
        if transB {  // c (n) = a (k) · Bᵀ, B stored (n, k)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a, 1, beta, c, 1)
        } else {  // c (n) = a (k) · B, B stored (k, n)
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a, 1, beta, c, 1)
        }
        return
    }
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// `C[:, columns] += Aᵀ · B[:, columns]`, A (k, m) with rows `lda` apart, B (k, ·) and C (m, ·) with rows
/// `ldb` and `ldc` apart: a weight gradient over a whole sequence, or the share of its columns one thread
/// owns. Nothing for empty `columns`.
@inline(__always)
func addTransposedProduct(
    _ a: UnsafePointer<Float>, m: Int, k: Int, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
    into c: UnsafeMutablePointer<Float>, ldc: Int, columns: Range<Int>
) {
    sgemm(
        transA: true, m: m, n: columns.count, k: k, a: a, lda: lda, b: b + columns.lowerBound, ldb: ldb, beta: 1,
        c: c + columns.lowerBound, ldc: ldc)
}

/// `y (n) += x (k) · W (k, n)` (rows of W `rowStride` apart) for one row vector: the batch-1 generation
/// path. Large products go to BLAS's matrix–vector kernel; small ones accumulate rows of `W` scaled by
/// `x[i]`, which streams `W` once in memory order and vectorises.
@inline(__always)
func vecMatAccumulate(
    _ x: UnsafePointer<Float>, k: Int, _ w: UnsafePointer<Float>, n: Int, rowStride: Int? = nil,
    into y: UnsafeMutablePointer<Float>
) {
    let ld = rowStride ?? n
    if k * n >= 4096 {  // BLAS's runtime-selected kernels beat portable code once the call overhead pays
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, w, Int32(ld), x, 1, 1, y, 1)
        return
    }
    var i = 0
    // Four rows at a time: one pass over y per four rows of W.
    while i + 4 <= k {
        let x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3]
        let r0 = w + i * ld, r1 = r0 + ld, r2 = r1 + ld, r3 = r2 + ld
        for j in 0..<n { y[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j] }
        i += 4
    }
    while i < k {
        let xi = x[i], r = w + i * ld
        for j in 0..<n { y[j] += xi * r[j] }
        i += 1
    }
}

/// The system BLAS as it describes itself, with the kernels it chose for this CPU, e.g.
/// "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". OpenBLAS picks its kernels when it
/// loads; `OPENBLAS_CORETYPE` in the environment overrides the choice.
package var blasDescription: String { openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS" }

/// The name of the kernel set OpenBLAS runs on this CPU ("Haswell", "SkylakeX", "Cooperlake", …).
package var blasCoreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }

/// `C (m, n) += A (m, k) · B (k, n)` (or `=` without `accumulate`), row-major, for training's per-step
/// products: a few dozen rows by a weight matrix, which BLAS's sgemm spends much of its time packing.
/// CharRNNKernels reads B in place and gives the same bits on every CPU.
/// Below 4 rows (batch-1 evaluation) BLAS's threaded matrix–vector kernel is faster.
@inline(__always)
func gemmRows(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    if m < 4 {
        sgemm(m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: accumulate ? 1 : 0, c: c, ldc: ldc)
    } else {
        crnn_gemm_rows(m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0)
    }
}
