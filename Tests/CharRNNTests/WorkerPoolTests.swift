@testable import CharRNN
import Dispatch
import Synchronization
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Training and evaluation run on the one worker pool (pool.c): every item of a job exactly once, the
/// same bits whichever threads ran which part, and OpenBLAS single-threaded only while a job runs.
final class WorkerPoolTests: XCTestCase {
    func testEveryItemRunsOnce() {
        for count in [0, 1, 2, 3, 8, 100] {
            let runs = Mutex([Int](repeating: 0, count: count))
            WorkerPool.forEach(count) { i in runs.withLock { $0[i] += 1 } }
            XCTAssertEqual(runs.withLock { $0 }, [Int](repeating: 1, count: count), "\(count) items")
        }
        XCTAssertGreaterThanOrEqual(WorkerPool.parts, 1)
        XCTAssertLessThanOrEqual(WorkerPool.parts, 8)
    }

    /// Jobs from several threads at once: one has the workers, the others run theirs alone.
    func testJobsFromSeveralThreadsAtOnce() {
        let threads = 4, count = 50
        let runs = Mutex([Int](repeating: 0, count: threads * count))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for _ in 0..<20 {
                WorkerPool.forEach(count) { i in runs.withLock { $0[t * count + i] += 1 } }
            }
        }
        XCTAssertEqual(runs.withLock { $0 }, [Int](repeating: 20, count: threads * count))
    }

    /// OpenBLAS's count is the program's before and after a job, 1 inside it.
    func testOpenBLASIsSingleThreadedOnlyWhileAJobRuns() throws {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "openblas_set_num_threads") else {
            throw XCTSkip("OpenBLAS's openblas_set_num_threads is not reachable")
        }
        let setThreads = unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)
        let before = BLASThreads.current
        defer { setThreads(Int32(before)) }
        setThreads(3)
        guard BLASThreads.current == 3 else { throw XCTSkip("OpenBLAS keeps its count at \(BLASThreads.current)") }
        let seen = Mutex<Set<Int>>([])
        WorkerPool.forEach(4) { _ in
            let count = BLASThreads.current
            seen.withLock { _ = $0.insert(count) }
        }
        XCTAssertEqual(seen.withLock { $0 }, [1])
        XCTAssertEqual(BLASThreads.current, 3)

        let model = Fixtures.model(Fixtures.config(.lstm, layers: 2))
        let (inputs, targets) = Fixtures.batch(6, 5)
        var rng = RandomGenerator(seed: 0)
        for parts in [1, 2] {
            _ = ParallelGraph(model: model, batch: 6, steps: 5, parts: parts)
                .run(
                    inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 5, training: true,
                    carryState: false, rng: &rng)
            XCTAssertEqual(BLASThreads.current, 3, "after a batch in \(parts) parts")
        }
    }

    /// A batch's parts and gradient shares give the same bits on the pool's workers as alone: batches
    /// run from several threads at once (one has the workers, the others run their jobs alone) match a
    /// batch run by itself.
    func testBatchesGiveTheSameBitsWhicheverThreadsRunThem() {
        let config = Fixtures.config(.lstm, layers: 2, units: 20, dropout: 0.2)
        let (inputs, targets) = Fixtures.batch(6, 7)
        func run() -> ([UInt32], UInt64) {
            let model = Fixtures.model(config)
            let graph = ParallelGraph(model: model, batch: 6, steps: 7, parts: 3)
            var rng = RandomGenerator(seed: 5)
            var loss = 0.0
            for batch in 0..<3 {
                loss +=
                    graph.run(
                        inputs: inputs.flatMap { $0 }, targets: targets.flatMap { $0 }, steps: 7,
                        training: true, carryState: batch > 0, rng: &rng
                    ).lossSum
            }
            return ((0..<graph.gradients.count).map { graph.gradients[$0].bitPattern }, loss.bitPattern)
        }
        let alone = run()
        let threads = 4
        let results = Mutex([([UInt32], UInt64)?](repeating: nil, count: threads))
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let result = run()
            results.withLock { $0[t] = result }
        }
        for (t, result) in results.withLock({ $0 }).enumerated() {
            XCTAssertEqual(result?.0, alone.0, "thread \(t): other gradient bits")
            XCTAssertEqual(result?.1, alone.1, "thread \(t): another loss")
        }
    }
}
