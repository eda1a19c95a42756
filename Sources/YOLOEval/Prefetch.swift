import Foundation

/// Runs `prepare(i + 1)` on a background thread while `consume` handles item i on the calling
/// thread, in order. The forward pass already uses the BLAS threads; this only hides image
/// decoding, letterboxing and label reading behind it. Results do not depend on timing:
/// `prepare` is a pure function of its index.
func pipelined<T>(count: Int, prepare: @escaping (Int) -> T, consume: (Int, T) throws -> Void) rethrows {
    guard count > 0 else { return }
    let queue = DispatchQueue(label: "YOLOEval.prefetch")
    func start(_ i: Int) -> PrefetchSlot<T> {
        let slot = PrefetchSlot<T>()
        queue.async(group: slot.group) { slot.store(prepare(i)) }
        return slot
    }
    var pending = start(0)
    for i in 0..<count {
        let value = pending.take()
        if i + 1 < count { pending = start(i + 1) }
        try consume(i, value)
    }
}

/// One value being made on another thread.
final class PrefetchSlot<T> {
    let group = DispatchGroup()
    private let lock = NSLock()
    private var value: T?

    func store(_ v: T) {
        lock.lock()
        value = v
        lock.unlock()
    }

    /// Waits for the value.
    func take() -> T {
        group.wait()
        lock.lock()
        defer { lock.unlock() }
        return value!
    }
}
