import Dispatch
import Synchronization
import CVectorMath
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How many threads the engine's own kernels (conv tiles, im2col, pooling, epilogues, decoding)
/// split their work over. Set with `ComputeThreads.set`; 1 (serial) until then, so tests and
/// libraries that never ask keep BLAS's own default threading.
public enum Parallel {
    nonisolated(unsafe) public private(set) static var workers = 1

    /// The engine's persistent threads (workers - 1 of them: the caller is worker 0).
    nonisolated(unsafe) static var pool: SpinningPool?

    static func setWorkers(_ n: Int) {
        workers = max(1, n)
        if workers > 1 && (pool?.threads ?? 0) != workers - 1 { pool = SpinningPool(threads: workers - 1) }
    }

    /// Makes the spinning pool wide enough for `width` workers (never narrower), leaving the
    /// default `workers` alone. (A replaced pool is never freed, its threads keep it, so a
    /// `fork` that read the old one still runs on it.)
    static func reservePool(width: Int) {
        if width > 1 && (pool?.threads ?? 0) < width - 1 { pool = SpinningPool(threads: width - 1) }
    }

    /// Runs `body(worker)` for workers `0..<width` at once, worker 0 on the calling thread: on the
    /// spinning pool when it is free and wide enough, else through `concurrentPerform` (nested or
    /// concurrent calls, or a width the pool was not made for).
    @inline(__always)
    static func fork(_ width: Int, _ body: (Int) -> Void) {
        if !SpinningPoolSwitch.isOffOnThisThread, let pool, width <= pool.threads + 1, pool.run(width: width, body) { return }
        DispatchQueue.concurrentPerform(iterations: width, execute: body)
    }

    /// Runs `body` with the parallel loops it starts from this thread on the spinning pool
    /// (`enabled`) or on `concurrentPerform`: a planned pass applies its workspace's
    /// `KernelOptions.spinningPool` this way (off only to measure the difference, `bench --no-spin`),
    /// so passes on other threads keep their own choice.
    public static func withSpinningPool<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
        if enabled { return try body() }
        let outer = SpinningPoolSwitch.isOffOnThisThread
        SpinningPoolSwitch.isOffOnThisThread = true
        defer { SpinningPoolSwitch.isOffOnThisThread = outer }
        return try body()
    }

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
        fork(chunks) { c in
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
        fork(w) { worker in
            while true {
                let t = next.wrappingAdd(1, ordering: .relaxed).oldValue
                if t >= count { return }
                body(worker, t)
            }
        }
    }
}

/// A per-thread flag: whether the spinning pool is switched off for loops this thread starts.
enum SpinningPoolSwitch {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Off is stored as any non-nil value (no allocation: the key's value is only tested).
    static var isOffOnThisThread: Bool {
        get { pthread_getspecific(key) != nil }
        set { pthread_setspecific(key, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
    }
}

/// Worker threads that stay awake (spinning on a counter) for a short while after each job,
/// so the next layer's job starts within a microsecond or so instead of after a thread wake-up:
/// a forward pass is ~100-200 short parallel loops, and `concurrentPerform` pays a wake-up for
/// most of them. After `spinSeconds` without work a thread sleeps on a condition variable.
final class SpinningPool: @unchecked Sendable {
    let threads: Int
    static let spinSeconds = 0.0001

    /// Bumped once per job; threads run the job when they see it change.
    private let generation = Atomic<Int>(0)
    /// Threads that have not finished the current job yet.
    private let remaining = Atomic<Int>(0)
    /// Held by the caller of `run` for the whole job (a second caller falls back).
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    // Written by `run` before `generation` is bumped (release), read after it is seen (acquire).
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    nonisolated(unsafe) private var width = 0
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(threads: Int) {
        self.threads = threads
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        for index in 1...max(1, threads) where index <= threads {
            // The thread keeps the pool alive: a replaced pool (other thread count) just sleeps.
            let thread = Thread { self.loop(index: index) }
            thread.start()
        }
    }

    /// Runs `body(0..<width)` with worker 0 on the caller; false (nothing run) when the pool is
    /// already running a job (a nested or concurrent call).
    func run(width: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { escaping in
            job = escaping
            self.width = width
            remaining.store(threads, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(lock)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(lock)
            }
            escaping(0)
            // Spin, then yield: a pool thread that lost its core (more threads than free cores)
            // needs this one's core to finish.
            var spins = 0
            while remaining.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins < 4096 { cvm_spin_pause() } else { sched_yield() }
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func loop(index: Int) {
        // 0, not a fresh load: a job published before this thread got going is still its to run.
        var seen = 0
        while true {
            // Spin for new work, checking the clock (and yielding) every 256 pauses; then sleep.
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                let deadline = Self.now() + Self.spinSeconds
                var spins = 0
                while current == seen {
                    cvm_spin_pause()
                    spins += 1
                    if spins & 255 == 0 {
                        if Self.now() > deadline { break }
                        sched_yield()  // a thread that needs this core (a pool peer, the caller) gets it
                    }
                    current = generation.load(ordering: .acquiring)
                }
                if current == seen {
                    pthread_mutex_lock(lock)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, lock) }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(lock)
                    current = generation.load(ordering: .acquiring)
                }
            }
            seen = current
            if index < width, let job { job(index) }
            remaining.subtract(1, ordering: .releasing)
        }
    }

    private static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
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

    /// Readies the process for passes that ask for `n` threads themselves (`ForwardContext`'s
    /// `threads`, a library `Detector`'s): BLAS single-threaded per call (the engine's threads
    /// split the work, as `set` does) and the engine's pool at least `n` wide, the default
    /// (`current`) unchanged. Serialised, so detectors made on several threads at once are safe.
    public static func reserve(_ n: Int) {
        reservation.withLock { _ in
            BLASThreads.set(1)
            Parallel.reservePool(width: n)
        }
    }

    private static let reservation = Mutex(())
}
