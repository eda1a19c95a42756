import Foundation
import YOLOModel
import YOLOTensor

/// The forward contexts (activation arena, scratch, execution plan) of a detector's calls in
/// flight: each call takes one and gives it back, so calls running at once on one model never
/// share memory, and a steady stream of calls allocates nothing new. At most `capacity`
/// contexts exist; a call beyond that waits for one to come back.
final class ContextPool: @unchecked Sendable {
    let options: KernelOptions
    let threads: Int?
    let capacity: Int
    // `idle` and `made` only change under `lock`; `available` counts the contexts a caller may
    // take (idle or not yet made).
    private let lock = NSLock()
    private var idle: [ForwardContext] = []
    private let available: DispatchSemaphore

    init(options: KernelOptions, threads: Int?, capacity: Int) {
        self.options = options
        self.threads = threads
        self.capacity = max(1, capacity)
        available = DispatchSemaphore(value: self.capacity)
    }

    /// Runs `body` with a context of its own.
    func withContext<R>(_ body: (inout ForwardContext) throws -> R) rethrows -> R {
        available.wait()
        lock.lock()
        var context = idle.popLast() ?? ForwardContext(options: options, threads: threads)
        lock.unlock()
        defer {
            lock.lock()
            idle.append(context)
            lock.unlock()
            available.signal()
        }
        return try body(&context)
    }
}
