import Foundation

/// A bounded queue in front of a fixed set of inference threads. At most `capacity` jobs wait;
/// one more is refused at once (the caller answers 503), never left to time out. Each job has a
/// deadline: one still waiting then is dropped unrun, one running is answered as timed out and
/// its result thrown away when it comes.
final class InferenceQueue: @unchecked Sendable {
    enum Failure: Error, Equatable {
        /// `capacity` jobs were already waiting.
        case full
        /// The deadline passed first.
        case timedOut
    }

    let workers: Int
    let capacity: Int
    /// Called under no lock whenever the waiting or running count changes (metrics).
    let onChange: @Sendable (_ waiting: Int, _ running: Int) -> Void

    // Everything below changes only under `lock`.
    private let lock = NSLock()
    private let wake = NSCondition()
    private var waiting: [Job] = []
    private var running = 0
    private var nextID = 0

    private final class Job {
        let id: Int
        let work: () -> Void
        /// Resumed exactly once: with the result, or with `timedOut` by the deadline watch.
        var continuation: CheckedContinuation<Void, Error>?
        init(id: Int, work: @escaping () -> Void) {
            self.id = id
            self.work = work
        }
    }

    init(workers: Int, capacity: Int, onChange: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) {
        self.workers = max(1, workers)
        self.capacity = max(0, capacity)
        self.onChange = onChange
        for index in 0..<self.workers {
            let thread = Thread { [unowned self] in self.loop() }
            thread.name = "inference-\(index)"
            thread.start()
        }
    }

    /// Runs `work` on an inference thread within `timeout` seconds and returns its result.
    func run<T: Sendable>(timeout: Double, _ work: @escaping @Sendable () -> T) async throws -> T {
        let box = ResultBox<T>()
        let id: Int = lock.withLock { defer { nextID += 1 }; return nextID }
        let job = Job(id: id) { box.value = work() }
        let watch = Task {
            try await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
            self.expire(job)
        }
        defer { watch.cancel() }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let admitted: Bool = lock.withLock {
                    guard !refuses else { return false }
                    job.continuation = continuation
                    waiting.append(job)
                    return true
                }
                if admitted {
                    changed()
                    wake.lock()
                    wake.signal()
                    wake.unlock()
                } else {
                    continuation.resume(throwing: Failure.full)
                }
            }
        } catch {
            throw error as? Failure ?? .timedOut
        }
        return box.value!
    }

    /// No free thread and the queue full: a job now would be refused at once.
    var isFull: Bool { lock.withLock { refuses } }

    /// `isFull`, under the lock.
    private var refuses: Bool { !(waiting.count < capacity || running + waiting.count < workers) }

    /// Jobs waiting for a thread, and jobs running.
    var counts: (waiting: Int, running: Int) { lock.withLock { (waiting.count, running) } }

    private func changed() {
        let (w, r) = counts
        onChange(w, r)
    }

    /// The deadline: a waiting job leaves the queue; either way its caller hears `timedOut`.
    private func expire(_ job: Job) {
        let continuation: CheckedContinuation<Void, Error>? = lock.withLock {
            waiting.removeAll { $0.id == job.id }
            defer { job.continuation = nil }
            return job.continuation
        }
        guard let continuation else { return }
        continuation.resume(throwing: Failure.timedOut)
        changed()
    }

    private func loop() {
        while true {
            wake.lock()
            var job: Job?
            while job == nil {
                job = lock.withLock {
                    guard !waiting.isEmpty else { return nil }
                    running += 1
                    return waiting.removeFirst()
                }
                if job == nil { wake.wait() }
            }
            wake.unlock()
            changed()
            job!.work()
            let continuation: CheckedContinuation<Void, Error>? = lock.withLock {
                running -= 1
                defer { job!.continuation = nil }
                return job!.continuation
            }
            continuation?.resume()
            changed()
        }
    }
}

/// Carries a job's result from its thread to its caller; written before the continuation is
/// resumed and read after, so the continuation orders the two.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
