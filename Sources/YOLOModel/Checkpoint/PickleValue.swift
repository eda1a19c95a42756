/// A value decoded from a pickle. Nothing in it can run: a class or function the pickle named
/// is only its dotted name, and "calling" it produced an inert record.
///
/// Containers are indices into the arrays of the `PickleGraph` that owns them, not nested Swift
/// values. Pickles share and mutate containers through the memo (a dict is memoized empty and
/// filled afterwards), so they need reference semantics; indices give that without reference
/// counting, so a hostile pickle can build cycles or 100,000-deep chains and freeing the graph
/// is still one flat deallocation, never a deep recursive one.
enum PickleValue: Hashable, Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer beyond 64 bits, kept as text (decimal for text opcodes, little-endian hex for
    /// LONG1/LONG4): nothing in a checkpoint needs its value.
    case bigInt(String)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    /// An allow-listed global ("module.name"), never resolved to anything executable.
    case global(String)
    case tuple(Int)
    case list(Int)
    case dict(Int)
    case set(Int)
    case object(Int)
    case storage(Int)
    case tensor(Int)
}

/// Insertion-ordered dictionary, as Python's dict is. Keys that are containers compare by
/// identity (their index), which is all a checkpoint needs; the hash index keeps inserts O(1)
/// so a million-item dict costs a million steps, not a trillion.
struct PickleDict: Sendable {
    private(set) var keys: [PickleValue] = []
    private(set) var values: [PickleValue] = []
    private var index: [PickleValue: Int] = [:]

    var count: Int { keys.count }

    mutating func set(_ key: PickleValue, _ value: PickleValue) {
        if let at = index[key] {
            values[at] = value
        } else {
            index[key] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    subscript(key: PickleValue) -> PickleValue? {
        index[key].map { values[$0] }
    }

    subscript(key: String) -> PickleValue? {
        self[.string(key)]
    }

    var items: Zip2Sequence<[PickleValue], [PickleValue]> { zip(keys, values) }
}

/// What NEWOBJ / REDUCE / INST made of an allow-listed class: its name, the arguments it was
/// given and the state BUILD handed it. A torch module's state is its `__dict__`.
struct PickleObject: Sendable {
    var className: String
    var args: [PickleValue]
    var state: PickleValue?
    /// Items that SETITEM(S) / APPEND(S) added to the object itself (dict or list subclasses).
    var dictItems = PickleDict()
    var listItems: [PickleValue] = []
}

/// A storage named by a persistent id `('storage', torch.HalfStorage, key, location, numel)`.
struct PickleStorage: Sendable {
    var typeName: String
    var dtype: SafeTensorsDType
    var key: String
    var location: String
    var count: Int
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)`: a strided view of a storage.
struct PickleTensor: Sendable {
    var storage: Int
    var offset: Int
    var shape: [Int]
    var strides: [Int]
}

/// Everything one pickle decoded to: the root value and the containers it refers to.
struct PickleGraph: Sendable {
    var root: PickleValue = .none
    var tuples: [[PickleValue]] = []
    var lists: [[PickleValue]] = []
    var dicts: [PickleDict] = []
    var sets: [[PickleValue]] = []
    var objects: [PickleObject] = []
    var storages: [PickleStorage] = []
    var tensors: [PickleTensor] = []

    func dict(_ value: PickleValue?) -> PickleDict? {
        if case .dict(let i)? = value { return dicts[i] }
        return nil
    }

    func object(_ value: PickleValue?) -> PickleObject? {
        if case .object(let i)? = value { return objects[i] }
        return nil
    }

    func tensor(_ value: PickleValue?) -> PickleTensor? {
        if case .tensor(let i)? = value { return tensors[i] }
        return nil
    }

    /// The items of a list, tuple or set.
    func sequence(_ value: PickleValue?) -> [PickleValue]? {
        switch value {
        case .list(let i)?: return lists[i]
        case .tuple(let i)?: return tuples[i]
        case .set(let i)?: return sets[i]
        default: return nil
        }
    }

    /// An object's attribute dictionary: its BUILD state when that is a dict, or the dict half
    /// of a `(dict, slots)` state tuple.
    func attributes(of object: PickleObject) -> PickleDict? {
        if let d = dict(object.state) { return d }
        if case .tuple(let t)? = object.state, let first = tuples[t].first, let d = dict(first) { return d }
        return nil
    }
}
