import Dispatch
import Foundation
import Synchronization
import Testing
@testable import YOLOTensor

/// The spinning pool behind `Parallel`: every worker index runs once per job, jobs follow each
/// other without loss, and a busy pool turns a second caller away instead of mixing jobs.
struct ParallelTests {
    @Test func everyWorkerRunsOncePerJob() {
        let pool = SpinningPool(threads: 3)
        let hits = Mutex([Int](repeating: 0, count: 4))
        for job in 0..<2000 {
            // Widths 1...4, and a gap now and then so the threads also go to sleep and wake.
            let width = job % 4 + 1
            if job % 500 == 0 { usleep(3000) }
            #expect(pool.run(width: width) { w in hits.withLock { $0[w] += 1 } })
        }
        #expect(hits.withLock { $0 } == [2000, 1500, 1000, 500])
    }

    @Test func jobSeesCallerStateAndCallerSeesJobResults() {
        let pool = SpinningPool(threads: 1)
        var out = [Int](repeating: 0, count: 2)
        for round in 1...500 {
            out.withUnsafeMutableBufferPointer { o in
                _ = pool.run(width: 2) { w in o[w] = round * 10 + w }
            }
            #expect(out == [round * 10, round * 10 + 1])
        }
    }

    @Test func busyPoolRefusesASecondCaller() {
        let pool = SpinningPool(threads: 1)
        var inner: Bool?
        _ = pool.run(width: 2) { w in
            if w == 0 { inner = pool.run(width: 2) { _ in } }
        }
        #expect(inner == false)
        #expect(pool.run(width: 2) { _ in })
    }

    @Test func tasksAndChunksCoverTheirRanges() {
        for workers in [1, 2, 3] {
            let seen = Mutex([Int](repeating: 0, count: 997))
            Parallel.forEachTask(997, workers: workers) { _, t in seen.withLock { $0[t] += 1 } }
            #expect(seen.withLock { $0 } == [Int](repeating: 1, count: 997))
            let covered = Mutex([Int](repeating: 0, count: 997))
            Parallel.forEachChunk(997, minPerChunk: 10, workers: workers) { r in
                covered.withLock { for i in r { $0[i] += 1 } }
                // Nested loops run too (on concurrentPerform when the pool is busy).
                Parallel.forEachChunk(4, workers: 2) { _ in }
            }
            #expect(covered.withLock { $0 } == [Int](repeating: 1, count: 997))
        }
    }
}
