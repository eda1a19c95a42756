/// Where a feature map lives while a planned forward pass runs: a region of a `Workspace`.
///
/// Item `n`, channel `c` starts at `offset + n * batchStride + c * planeSize`. A view into a
/// channel slice of a larger map (a concat's part) has `batchStride` of the larger map, so
/// producers write straight into their slice of a concat.
public struct FeatureView: Equatable, Hashable, Sendable, CustomStringConvertible {
    public enum Storage: Hashable, Sendable { case input, arena }
    public var storage: Storage
    public var offset: Int
    public var shape: FeatureShape
    public var batchStride: Int

    public init(storage: Storage = .arena, offset: Int, shape: FeatureShape, batchStride: Int? = nil) {
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.batchStride = batchStride ?? shape.channels * shape.planeSize
    }

    /// Channels `[start, start + count)` of this map.
    public func channels(_ start: Int, _ count: Int) -> FeatureView {
        precondition(start >= 0 && start + count <= shape.channels, "view: channels \(start)+\(count) of \(shape)")
        var s = shape
        s.channels = count
        return FeatureView(storage: storage, offset: offset + start * shape.planeSize, shape: s, batchStride: batchStride)
    }

    /// True when each batch item's channels are one contiguous run (always for batch 1).
    public var isDense: Bool { shape.batch == 1 || batchStride == shape.channels * shape.planeSize }

    public var description: String { "\(storage)@\(offset) \(shape)" + (isDense ? "" : " stride \(batchStride)") }
}

/// Memory for one planned forward pass, reused from pass to pass: the arena that holds every
/// activation (laid out by the model's plan), the network input, per-worker scratch (im2col
/// tiles), and the final prediction.
public struct Workspace {
    public var arena: [Float]
    public var input: [Float]
    public var scratch: [Float]
    public var result: [Float]
    /// Decoded weights of the conv running now, and their Winograd form, when the model keeps
    /// them packed (see `WeightDecoder`).
    public var stagedWeights: [Float]
    public var stagedTransform: [Float]
    /// Threads for this workspace's kernels; nil: `Parallel.workers`.
    public var workers: Int?
    /// Which fast paths this workspace's kernels take.
    public var options: KernelOptions

    public var threadCount: Int { workers ?? Parallel.workers }

    public init(arenaFloats: Int = 0, options: KernelOptions = .default) {
        arena = [Float](repeating: 0, count: arenaFloats)
        input = []
        scratch = []
        result = []
        stagedWeights = []
        stagedTransform = []
        workers = nil
        self.options = options
    }

    /// Grows the scratch buffer to at least `floats` (never shrinks: kept across passes). Never
    /// left empty, so kernels can always take its base address.
    public mutating func reserveScratch(_ floats: Int) {
        let wanted = max(floats, 16)
        if scratch.count < wanted {
            scratch = []
            scratch = [Float](repeating: 0, count: wanted)
        }
    }

    /// The values of a view as a standalone tensor (for fallbacks and tests).
    public func tensor(_ v: FeatureView) -> Tensor {
        let s = v.shape
        let per = s.channels * s.planeSize
        var out = [Float](repeating: 0, count: s.count)
        let src = v.storage == .input ? input : arena
        for n in 0..<s.batch {
            let from = v.offset + n * v.batchStride
            out.replaceSubrange((n * per)..<((n + 1) * per), with: src[from..<(from + per)])
        }
        return Tensor(shape: s.dims, data: out)
    }

    /// Writes a tensor's values into an arena view.
    public mutating func store(_ t: Tensor, into v: FeatureView) {
        precondition(v.storage == .arena && t.shape == v.shape.dims, "store: \(t.shape) into \(v)")
        let per = v.shape.channels * v.shape.planeSize
        for n in 0..<v.shape.batch {
            let to = v.offset + n * v.batchStride
            arena.replaceSubrange(to..<(to + per), with: t.data[(n * per)..<((n + 1) * per)])
        }
    }
}

extension Workspace {
    /// Base pointers of the input and the arena for one kernel call (the input may be empty
    /// when nothing reads it).
    @inline(__always)
    mutating func withBases<R>(_ body: (_ input: UnsafePointer<Float>?, _ arena: UnsafeMutablePointer<Float>?) -> R) -> R {
        arena.withUnsafeMutableBufferPointer { a in
            input.withUnsafeBufferPointer { i in body(i.baseAddress, a.baseAddress) }
        }
    }
}

/// Resolves views to pointers inside one `withBases` call.
struct ViewPointers {
    let input: UnsafePointer<Float>?
    let arena: UnsafeMutablePointer<Float>?

    @inline(__always)
    func source(_ v: FeatureView, item n: Int) -> UnsafePointer<Float> {
        let base = v.storage == .input ? input! : UnsafePointer(arena!)
        return base + v.offset + n * v.batchStride
    }

    @inline(__always)
    func destination(_ v: FeatureView, item n: Int) -> UnsafeMutablePointer<Float> {
        precondition(v.storage == .arena, "only arena views are written")
        return arena! + v.offset + n * v.batchStride
    }
}
