import Dispatch
import Synchronization

/// How many threads the engine's own kernels (conv tiles, im2col, pooling, epilogues, decoding)
/// split their work over. Set with `ComputeThreads.set`; 1 (serial) until then, so tests and
/// libraries that never ask keep BLAS's own default threading.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var workers = 1

    static func setWorkers(_ n: Int) { workers = max(1, n) }

    /// Runs `body` over `[0, count)` split into contiguous chunks, one per worker, when the work
    /// is large enough to pay for the dispatch (`minPerChunk` items per chunk at least).
    @inline(__always)
    public static func forEachChunk(_ count: Int, minPerChunk: Int = 1, workers: Int = Parallel.workers,
                                    _ body: (Range<Int>) -> Void) {
        let chunks = min(workers, count / max(1, minPerChunk))
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if hi > lo { body(lo..<hi) }
        }
    }

    /// Runs tasks `0..<count` on up to `workers` threads that pull the next task as they finish
    /// one: the two cores of a shared machine are rarely equally fast, so static halves would
    /// leave one idle. `body` gets the worker index (for per-worker scratch) and the task.
    @inline(__always)
    public static func forEachTask(_ count: Int, workers: Int = Parallel.workers,
                                   _ body: (_ worker: Int, _ task: Int) -> Void) {
        let w = min(workers, count)
        if w <= 1 {
            for t in 0..<count { body(0, t) }
            return
        }
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: w) { worker in
            while true {
                let t = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if t >= count { return }
                body(worker, t)
            }
        }
    }
}

/// One knob for all compute threads. The engine's kernels then split work themselves and call
/// BLAS single-threaded from each worker (OpenBLAS's own pool would fight with ours for the
/// same cores); `BLASThreads.set` alone keeps the older BLAS-threaded behaviour.
public enum ComputeThreads {
    public static func set(_ n: Int) {
        BLASThreads.set(n > 1 ? 1 : n)
        Parallel.setWorkers(n)
    }

    public static var current: Int { Parallel.workers }
}
