/// A pickle virtual machine that decodes data and never executes anything.
///
/// Python's unpickler imports whatever module a pickle names and calls it, which is how a
/// `.pt` file can run code. This reader only knows the names on `PickleAllowList`: a global
/// outside it is refused the moment it is named, and "calling" an allowed one builds an inert
/// `PickleValue` (a tensor record, a dict, an attribute bag for a module class). Every opcode
/// checks its operands, and stack, mark, memo and nesting depth are bounded, so malformed or
/// hostile input ends in a `YOLOModelError`, never a trap or a stack overflow.
struct PickleReader {
    struct Limits: Sendable {
        /// Deepest nesting of containers; real checkpoints nest about 20 deep.
        var maxDepth = 1_000
        /// Open MARKs at once; real checkpoints stay under 30.
        var maxMarks = 1_000
        var maxStack = 1_000_000
        var maxMemo = 4_000_000
        /// Element visits allowed per input byte. Every item of a container was pushed by an
        /// opcode of at least one byte, so honest pickles stay near one visit a byte; but
        /// rebuilding from memoized containers (REDUCE set(big_list) again and again) costs a
        /// whole container per opcode, so total work is bounded by the input size.
        var workPerByte = 4

        static let `default` = Limits()
    }

    /// The file being read (for errors) and the entry inside it (e.g. `archive/data.pkl`).
    var path: String
    var entryName: String
    var allowList: PickleAllowList = .torchCheckpoint
    var limits: Limits = .default

    func read(_ bytes: [UInt8]) throws -> PickleGraph {
        var machine = PickleMachine(input: bytes, reader: self)
        return try machine.run()
    }
}

/// The names a pickle may mention, and what each stands for. No wildcard: every module class
/// is listed by name, so nothing unexpected can ever be admitted by a prefix.
struct PickleAllowList: Sendable {
    enum Role: Sendable, Equatable {
        case rebuildTensor
        case rebuildParameter
        case storageType(SafeTensorsDType)
        case orderedDict
        case set
        case frozenset
        /// A class whose instances become attribute bags (torch.nn and YOLOv7 modules, numpy).
        case objectClass
        case numpyReconstruct
        case numpyScalar
        case codecsEncode
        case torchSize
        case torchDevice
    }

    var roles: [String: Role]

    func role(of name: String) -> Role? { roles[name] }

    static let torchCheckpoint: PickleAllowList = {
        var roles: [String: Role] = [
            "torch._utils._rebuild_tensor_v2": .rebuildTensor,
            "torch._utils._rebuild_tensor": .rebuildTensor,
            "torch._utils._rebuild_parameter": .rebuildParameter,
            "torch.HalfStorage": .storageType(.F16),
            "torch.BFloat16Storage": .storageType(.BF16),
            "torch.FloatStorage": .storageType(.F32),
            "torch.DoubleStorage": .storageType(.F64),
            "torch.LongStorage": .storageType(.I64),
            "torch.IntStorage": .storageType(.I32),
            "torch.ShortStorage": .storageType(.I16),
            "torch.CharStorage": .storageType(.I8),
            "torch.ByteStorage": .storageType(.U8),
            "torch.BoolStorage": .storageType(.BOOL),
            "collections.OrderedDict": .orderedDict,
            "builtins.set": .set,
            "builtins.frozenset": .frozenset,
            "numpy.core.multiarray._reconstruct": .numpyReconstruct,
            "numpy._core.multiarray._reconstruct": .numpyReconstruct,
            "numpy.core.multiarray.scalar": .numpyScalar,
            "numpy._core.multiarray.scalar": .numpyScalar,
            "numpy.ndarray": .objectClass,
            "numpy.dtype": .objectClass,
            "_codecs.encode": .codecsEncode,
            "torch.Size": .torchSize,
            "torch.device": .torchDevice,
        ]
        let torchModules = [
            "conv.Conv2d", "batchnorm.BatchNorm2d",
            "activation.SiLU", "activation.LeakyReLU", "activation.ReLU", "activation.Sigmoid",
            "activation.Hardswish", "activation.Mish", "activation.Tanh",
            "pooling.MaxPool2d", "pooling.AvgPool2d", "pooling.AdaptiveAvgPool2d",
            "upsampling.Upsample", "container.Sequential", "container.ModuleList",
            "linear.Identity", "linear.Linear", "dropout.Dropout", "pixelshuffle.PixelShuffle",
        ]
        for name in torchModules { roles["torch.nn.modules." + name] = .objectClass }
        let yoloHeads = ["Model", "Detect", "IDetect", "IAuxDetect", "IBin", "IKeypoint"]
        for name in yoloHeads { roles["models.yolo." + name] = .objectClass }
        // The nn.Module classes of the official models/common.py and models/experimental.py;
        // helpers there that are not modules (NMS, autoShape, Detections) are left out.
        let commonModules = [
            "MP", "SP", "ReOrg", "Concat", "Chuncat", "Shortcut", "Foldcut", "Conv", "RobustConv",
            "RobustConv2", "GhostConv", "Stem", "DownC", "SPP", "Bottleneck", "Res", "ResX", "Ghost",
            "SPPCSPC", "GhostSPPCSPC", "GhostStem", "BottleneckCSPA", "BottleneckCSPB",
            "BottleneckCSPC", "ResCSPA", "ResCSPB", "ResCSPC", "ResXCSPA", "ResXCSPB", "ResXCSPC",
            "GhostCSPA", "GhostCSPB", "GhostCSPC", "ImplicitA", "ImplicitM", "RepConv",
            "RepBottleneck", "RepBottleneckCSPA", "RepBottleneckCSPB", "RepBottleneckCSPC",
            "RepRes", "RepResCSPA", "RepResCSPB", "RepResCSPC", "RepResX", "RepResXCSPA",
            "RepResXCSPB", "RepResXCSPC", "TransformerLayer", "TransformerBlock", "Focus", "SPPF",
            "Contract", "Expand", "ConvBN", "OREPA_3x3_RepConv", "RepConv_OREPA",
        ]
        for name in commonModules { roles["models.common." + name] = .objectClass }
        for name in ["CrossConv", "Sum", "MixConv2d", "Ensemble"] {
            roles["models.experimental." + name] = .objectClass
        }
        return PickleAllowList(roles: roles)
    }()
}

/// One run of the virtual machine over one pickle.
private struct PickleMachine {
    let input: [UInt8]
    let reader: PickleReader
    var position = 0
    /// Where the current opcode started, for error messages.
    var opcodeStart = 0
    var stack: [PickleValue] = []
    /// Stack heights at each open MARK; operands above the top mark are all an opcode may touch,
    /// as in CPython's unpickler, where MARK starts a fresh stack.
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var graph = PickleGraph()
    // Nesting depth of each container, kept alongside the graph: 1 + the deepest child seen.
    var tupleDepth: [Int] = []
    var listDepth: [Int] = []
    var dictDepth: [Int] = []
    var setDepth: [Int] = []
    var objectDepth: [Int] = []
    /// Element visits left before the pickle counts as a decompression bomb.
    var workLeft: Int

    init(input: [UInt8], reader: PickleReader) {
        self.input = input
        self.reader = reader
        self.workLeft = 100_000 + input.count.multipliedReportingOverflow(by: reader.limits.workPerByte).partialValue
    }

    mutating func spend(_ work: Int) throws {
        workLeft -= work
        guard workLeft >= 0 else {
            throw fail("the pickle asks for far more work than its size warrants (containers rebuilt over and over)")
        }
    }

    // MARK: Errors

    func fail(_ reason: String) -> YOLOModelError {
        .invalidFile(path: reader.path, reason: "\(reader.entryName) byte \(opcodeStart): \(reason)")
    }

    func forbidden(_ name: String) -> YOLOModelError {
        .forbidden(path: reader.path,
                   reason: "\(reader.entryName) names '\(name)', which is not on the allow-list of inert checkpoint names (nothing was executed)")
    }

    // MARK: Input

    mutating func byte() throws -> UInt8 {
        guard position < input.count else { throw fail("pickle ends unexpectedly (truncated?)") }
        defer { position += 1 }
        return input[position]
    }

    mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= input.count - position else {
            throw fail("pickle wants \(count) bytes but only \(input.count - position) remain (truncated?)")
        }
        defer { position += count }
        return input[position..<(position + count)]
    }

    mutating func littleEndian(_ count: Int) throws -> UInt64 {
        let bytes = try take(count)
        var value: UInt64 = 0
        for (shift, b) in bytes.enumerated() { value |= UInt64(b) << (8 * UInt64(shift)) }
        return value
    }

    mutating func length(_ count: Int) throws -> Int {
        let raw = try littleEndian(count)
        guard raw <= UInt64(input.count - position) else {
            throw fail("length \(raw) runs past the end of the pickle")
        }
        return Int(raw)
    }

    /// A text-protocol argument: bytes up to the next newline, which is consumed.
    mutating func line() throws -> ArraySlice<UInt8> {
        guard let end = input[position...].firstIndex(of: 0x0A) else {
            throw fail("pickle ends inside a text argument (truncated?)")
        }
        defer { position = end + 1 }
        return input[position..<end]
    }

    mutating func lineText() throws -> String {
        String(decoding: try line(), as: UTF8.self)
    }

    // MARK: Stack

    var available: Int { stack.count - (marks.last ?? 0) }

    mutating func push(_ value: PickleValue) throws {
        guard stack.count < reader.limits.maxStack else {
            throw fail("stack exceeds \(reader.limits.maxStack) items")
        }
        stack.append(value)
    }

    mutating func pop(_ what: String) throws -> PickleValue {
        guard available > 0 else { throw fail("stack underflow at \(what)") }
        return stack.removeLast()
    }

    func top(_ what: String) throws -> PickleValue {
        guard available > 0, let value = stack.last else { throw fail("stack underflow at \(what)") }
        return value
    }

    mutating func popMark(_ what: String) throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("\(what) without a MARK") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    // MARK: Containers

    func depth(_ value: PickleValue) -> Int {
        switch value {
        case .tuple(let i): return tupleDepth[i]
        case .list(let i): return listDepth[i]
        case .dict(let i): return dictDepth[i]
        case .set(let i): return setDepth[i]
        case .object(let i): return objectDepth[i]
        case .tensor, .storage: return 2
        default: return 0
        }
    }

    mutating func checkedDepth(_ children: [PickleValue], base: Int = 1) throws -> Int {
        try spend(children.count + 1)
        var deepest = 0
        for child in children { deepest = max(deepest, depth(child)) }
        let d = base + deepest
        guard d <= reader.limits.maxDepth else {
            throw fail("values nested more than \(reader.limits.maxDepth) deep")
        }
        return d
    }

    mutating func newTuple(_ items: [PickleValue]) throws -> PickleValue {
        let d = try checkedDepth(items)
        graph.tuples.append(items)
        tupleDepth.append(d)
        return .tuple(graph.tuples.count - 1)
    }

    mutating func newList(_ items: [PickleValue]) throws -> PickleValue {
        let d = try checkedDepth(items)
        graph.lists.append(items)
        listDepth.append(d)
        return .list(graph.lists.count - 1)
    }

    mutating func newDict(_ pairs: [(PickleValue, PickleValue)] = []) throws -> PickleValue {
        var dict = PickleDict()
        for (k, v) in pairs { dict.set(k, v) }
        let d = try checkedDepth(pairs.flatMap { [$0.0, $0.1] })
        graph.dicts.append(dict)
        dictDepth.append(d)
        return .dict(graph.dicts.count - 1)
    }

    mutating func newSet(_ items: [PickleValue]) throws -> PickleValue {
        let d = try checkedDepth(items)
        graph.sets.append(items)
        setDepth.append(d)
        return .set(graph.sets.count - 1)
    }

    mutating func newObject(_ className: String, args: [PickleValue]) throws -> PickleValue {
        let d = try checkedDepth(args)
        graph.objects.append(PickleObject(className: className, args: args))
        objectDepth.append(d)
        return .object(graph.objects.count - 1)
    }

    mutating func appendItems(_ items: [PickleValue], to target: PickleValue, _ what: String) throws {
        let d = try checkedDepth(items)
        switch target {
        case .list(let i):
            graph.lists[i].append(contentsOf: items)
            listDepth[i] = max(listDepth[i], d)
        case .object(let i):
            graph.objects[i].listItems.append(contentsOf: items)
            objectDepth[i] = max(objectDepth[i], d)
        default:
            throw fail("\(what) on something that is not a list")
        }
    }

    mutating func setItems(_ items: [PickleValue], on target: PickleValue, _ what: String) throws {
        guard items.count % 2 == 0 else { throw fail("\(what) with an odd number of items") }
        let d = try checkedDepth(items)
        switch target {
        case .dict(let i):
            for k in stride(from: 0, to: items.count, by: 2) { graph.dicts[i].set(items[k], items[k + 1]) }
            dictDepth[i] = max(dictDepth[i], d)
        case .object(let i):
            for k in stride(from: 0, to: items.count, by: 2) { graph.objects[i].dictItems.set(items[k], items[k + 1]) }
            objectDepth[i] = max(objectDepth[i], d)
        default:
            throw fail("\(what) on something that is not a dict")
        }
    }

    // MARK: Globals and calls

    /// Python 2 pickles spell some modules differently; CPython maps them the same way.
    func resolve(module: String, name: String) throws -> PickleValue {
        let moduleName: String
        switch module {
        case "__builtin__": moduleName = "builtins"
        case "copy_reg": moduleName = "copyreg"
        default: moduleName = module
        }
        let full = moduleName + "." + name
        guard reader.allowList.role(of: full) != nil else { throw forbidden(full) }
        return .global(full)
    }

    func role(_ callable: PickleValue, _ what: String) throws -> (String, PickleAllowList.Role) {
        guard case .global(let name) = callable, let role = reader.allowList.role(of: name) else {
            throw fail("\(what) on something that is not an allow-listed class or function")
        }
        return (name, role)
    }

    /// REDUCE / INST / OBJ: what "calling" an allow-listed global produces.
    mutating func call(_ callable: PickleValue, args: [PickleValue], _ what: String) throws -> PickleValue {
        let (name, role) = try role(callable, what)
        switch role {
        case .rebuildTensor:
            return try rebuildTensor(args)
        case .rebuildParameter:
            guard let data = args.first, case .tensor = data else {
                throw fail("\(name) expects a tensor")
            }
            return data
        case .orderedDict:
            if args.isEmpty { return try newDict() }
            guard args.count == 1, let items = graph.sequence(args[0]) else {
                throw fail("\(name) expects no arguments or one sequence of pairs")
            }
            try spend(items.count)
            var pairs: [(PickleValue, PickleValue)] = []
            for item in items {
                guard let pair = graph.sequence(item), pair.count == 2 else {
                    throw fail("\(name) expects (key, value) pairs")
                }
                pairs.append((pair[0], pair[1]))
            }
            return try newDict(pairs)
        case .set, .frozenset:
            if args.isEmpty { return try newSet([]) }
            guard args.count == 1, let items = graph.sequence(args[0]) else {
                throw fail("\(name) expects no arguments or one sequence")
            }
            return try newSet(items)
        case .objectClass, .numpyReconstruct, .torchDevice:
            return try newObject(role == .numpyReconstruct ? "numpy.ndarray" : name, args: args)
        case .numpyScalar:
            if let number = numpyScalar(args) { return number }
            return try newObject(name, args: args)
        case .codecsEncode:
            return try encode(args)
        case .torchSize:
            guard args.count == 1, let dims = graph.sequence(args[0]) else {
                throw fail("torch.Size expects one sequence")
            }
            return try newTuple(dims)
        case .storageType:
            throw fail("\(name) is only valid inside a persistent id")
        }
    }

    /// NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args)`, only for classes.
    mutating func instantiate(_ cls: PickleValue, args: [PickleValue], _ what: String) throws -> PickleValue {
        let (name, role) = try role(cls, what)
        switch role {
        case .objectClass, .torchDevice: return try newObject(name, args: args)
        case .orderedDict: return try newDict()
        case .set, .frozenset: return try newSet([])
        case .torchSize: return try call(cls, args: args, what)
        default: throw fail("\(what) on \(name), which is not a class")
        }
    }

    func nonNegativeInt(_ value: PickleValue?) -> Int? {
        if case .int(let i)? = value, i >= 0 { return i }
        return nil
    }

    mutating func intList(_ value: PickleValue?) throws -> [Int]? {
        guard let items = graph.sequence(value) else { return nil }
        try spend(items.count)
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let i = nonNegativeInt(item) else { return nil }
            out.append(i)
        }
        return out
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)`.
    /// Only the view is recorded here; whether the storage is long enough is checked when the
    /// tensor is read, against the storage's real size in the archive.
    mutating func rebuildTensor(_ args: [PickleValue]) throws -> PickleValue {
        guard args.count >= 4, case .storage(let storage) = args[0] else {
            throw fail("_rebuild_tensor_v2 expects (storage, offset, size, stride, ...)")
        }
        guard let offset = nonNegativeInt(args[1]), let shape = try intList(args[2]),
              let strides = try intList(args[3]), shape.count == strides.count else {
            throw fail("_rebuild_tensor_v2 has an invalid offset, size or stride (negative strides are not supported)")
        }
        graph.tensors.append(PickleTensor(storage: storage, offset: offset, shape: shape, strides: strides))
        return .tensor(graph.tensors.count - 1)
    }

    /// `_codecs.encode(text, 'latin1')` is how protocol 2 spells a bytes object.
    mutating func encode(_ args: [PickleValue]) throws -> PickleValue {
        guard args.count >= 1, case .string(let text) = args[0] else {
            throw fail("_codecs.encode expects a string")
        }
        try spend(text.utf8.count)
        var encoding = "utf-8"
        if args.count >= 2, case .string(let e) = args[1] { encoding = e.lowercased() }
        switch encoding {
        case "latin1", "latin-1", "iso-8859-1", "iso8859-1":
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard scalar.value < 256 else { throw fail("_codecs.encode: character outside latin-1") }
                bytes.append(UInt8(scalar.value))
            }
            return .bytes(bytes)
        case "utf-8", "utf8":
            return .bytes(Array(text.utf8))
        default:
            throw fail("_codecs.encode with unsupported encoding '\(encoding)'")
        }
    }

    /// `numpy.core.multiarray.scalar(dtype, bytes)`: decoded to a plain number when the dtype
    /// is one of the common little-endian ones, so values like `best_fitness` read as floats.
    func numpyScalar(_ args: [PickleValue]) -> PickleValue? {
        guard args.count == 2, let dtype = graph.object(args[0]), dtype.className == "numpy.dtype",
              case .string(let code)? = dtype.args.first, case .bytes(let raw) = args[1] else { return nil }
        var bits: UInt64 = 0
        for (i, b) in raw.prefix(8).enumerated() { bits |= UInt64(b) << (8 * UInt64(i)) }
        switch (code, raw.count) {
        case ("f8", 8): return .float(Double(bitPattern: bits))
        case ("f4", 4): return .float(Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits))))
        case ("i8", 8): return .int(Int(Int64(bitPattern: bits)))
        case ("i4", 4): return .int(Int(Int32(truncatingIfNeeded: bits)))
        case ("b1", 1), ("?", 1): return .bool(bits != 0)
        default: return nil
        }
    }

    /// BINPERSID: torch's `persistent_load` for `('storage', StorageClass, key, location, numel)`.
    mutating func persistentLoad(_ pid: PickleValue) throws -> PickleValue {
        guard let fields = graph.sequence(pid), fields.count >= 5, case .string("storage") = fields[0] else {
            throw fail("unsupported persistent id (expected ('storage', type, key, location, numel))")
        }
        guard case .global(let typeName) = fields[1],
              case .storageType(let dtype)? = reader.allowList.role(of: typeName) else {
            throw fail("persistent id names an unknown storage type")
        }
        let key: String
        switch fields[2] {
        case .string(let s): key = s
        case .int(let i): key = String(i)
        default: throw fail("persistent id has an invalid storage key")
        }
        // Keys become archive paths: refuse anything that could step outside `data/`.
        guard !key.isEmpty, !key.contains("/"), !key.contains("\\"), key != "..", key != "." else {
            throw fail("persistent id has an invalid storage key '\(key)'")
        }
        guard case .string(let location) = fields[3], let count = nonNegativeInt(fields[4]) else {
            throw fail("persistent id has an invalid location or element count")
        }
        graph.storages.append(PickleStorage(typeName: typeName, dtype: dtype, key: key,
                                            location: location, count: count))
        return .storage(graph.storages.count - 1)
    }

    // MARK: Text arguments

    /// `I` and `L` arguments: decimal text, `I01`/`I00` meaning True/False in protocol 0.
    func integer(_ text: String, long: Bool) -> PickleValue {
        var t = text.trimmingWhitespace()
        if long, t.hasSuffix("L") { t.removeLast() }
        if !long, t == "01" { return .bool(true) }
        if !long, t == "00" { return .bool(false) }
        if let i = Int(t) { return .int(i) }
        return .bigInt(t)
    }

    /// Two's-complement little-endian bytes (LONG1 / LONG4).
    func binaryLong(_ slice: ArraySlice<UInt8>) -> PickleValue {
        let bytes = Array(slice)
        guard let last = bytes.last else { return .int(0) }
        let negative = last & 0x80 != 0
        let fill: UInt8 = negative ? 0xFF : 0x00
        // Longer than 8 bytes still fits when the extra bytes are pure sign extension.
        let fits = bytes.count <= 8
            || (bytes[8...].allSatisfy { $0 == fill } && (bytes[7] & 0x80 != 0) == negative)
        guard fits else {
            return .bigInt("0x" + bytes.reversed().map { String($0, radix: 16).leftPadded(to: 2) }.joined())
        }
        var bits: UInt64 = negative ? ~0 : 0
        for (i, b) in bytes.prefix(8).enumerated() {
            let shift = 8 * UInt64(i)
            bits = (bits & ~(UInt64(0xFF) << shift)) | UInt64(b) << shift
        }
        return .int(Int(Int64(bitPattern: bits)))
    }

    /// Protocol 0 `S` argument: a quoted Python 2 string literal with backslash escapes.
    func quotedString(_ raw: ArraySlice<UInt8>) throws -> PickleValue {
        var bytes = Array(raw)
        while let last = bytes.last, last == 0x0D || last == 0x20 { bytes.removeLast() }
        guard bytes.count >= 2, let q = bytes.first, q == 0x27 || q == 0x22, bytes.last == q else {
            throw fail("STRING argument is not quoted")
        }
        let body = bytes[1..<(bytes.count - 1)]
        var out: [UInt8] = []
        var i = body.startIndex
        while i < body.endIndex {
            let c = body[i]
            i += 1
            guard c == 0x5C, i < body.endIndex else { out.append(c); continue }
            let e = body[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "x"):
                guard i + 2 <= body.endIndex,
                      let v = UInt8(String(decoding: body[i..<(i + 2)], as: UTF8.self), radix: 16) else {
                    throw fail("bad \\x escape in STRING")
                }
                out.append(v)
                i += 2
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = Int(e - UInt8(ascii: "0"))
                var n = 1
                while n < 3, i < body.endIndex, body[i] >= UInt8(ascii: "0"), body[i] <= UInt8(ascii: "7") {
                    v = v * 8 + Int(body[i] - UInt8(ascii: "0"))
                    i += 1
                    n += 1
                }
                out.append(UInt8(truncatingIfNeeded: v))
            default:
                // \\, \', \" and unknown escapes: Python keeps the character (unknown ones keep
                // the backslash too).
                if e != 0x5C && e != 0x27 && e != 0x22 { out.append(0x5C) }
                out.append(e)
            }
        }
        return .string(PickleMachine.text(out[...]))
    }

    /// Protocol 0 `V` argument: raw-unicode-escape, i.e. latin-1 with `\uXXXX`/`\UXXXXXXXX`.
    func rawUnicode(_ raw: ArraySlice<UInt8>) throws -> String {
        var scalars = String.UnicodeScalarView()
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            if c == 0x5C, i + 1 < raw.endIndex, raw[i + 1] == UInt8(ascii: "u") || raw[i + 1] == UInt8(ascii: "U") {
                let digits = raw[i + 1] == UInt8(ascii: "u") ? 4 : 8
                guard i + 2 + digits <= raw.endIndex,
                      let v = UInt32(String(decoding: raw[(i + 2)..<(i + 2 + digits)], as: UTF8.self), radix: 16),
                      let scalar = Unicode.Scalar(v) else {
                    throw fail("bad \\u escape in UNICODE")
                }
                scalars.append(scalar)
                i += 2 + digits
            } else {
                scalars.append(Unicode.Scalar(c))
                i += 1
            }
        }
        return String(scalars)
    }

    /// Python 2 `str` payloads: torch.load decodes them as UTF-8; bytes that are not valid
    /// UTF-8 are taken as latin-1 rather than failing the whole file.
    static func text(_ bytes: ArraySlice<UInt8>) -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    // MARK: The loop

    mutating func run() throws -> PickleGraph {
        while true {
            opcodeStart = position
            let op = try byte()
            switch op {
            case 0x80: // PROTO
                let version = try byte()
                guard version <= 5 else { throw fail("unsupported pickle protocol \(version)") }
            case 0x95: // FRAME: framing is only a buffering hint
                _ = try length(8)
            case 0x2E: // STOP
                graph.root = try pop("STOP")
                return graph

            // Numbers
            case 0x49: try push(integer(try lineText(), long: false)) // INT
            case 0x4C: try push(integer(try lineText(), long: true)) // LONG
            case 0x4A: // BININT
                try push(.int(Int(Int32(bitPattern: UInt32(try littleEndian(4))))))
            case 0x4B: try push(.int(Int(try byte()))) // BININT1
            case 0x4D: try push(.int(Int(try littleEndian(2)))) // BININT2
            case 0x8A: // LONG1
                let n = Int(try byte())
                try push(binaryLong(try take(n)))
            case 0x8B: // LONG4
                let n = Int32(bitPattern: UInt32(try littleEndian(4)))
                guard n >= 0 else { throw fail("LONG4 with negative length") }
                try push(binaryLong(try take(Int(n))))
            case 0x46: // FLOAT
                let text = try lineText().trimmingWhitespace()
                guard let d = Double(text) else { throw fail("FLOAT argument '\(text.prefix(40))' is not a number") }
                try push(.float(d))
            case 0x47: // BINFLOAT: big-endian IEEE double
                let raw = try take(8)
                var bits: UInt64 = 0
                for b in raw { bits = bits << 8 | UInt64(b) }
                try push(.float(Double(bitPattern: bits)))

            // Strings and bytes
            case 0x53: try push(try quotedString(try line())) // STRING
            case 0x54: // BINSTRING
                let n = Int32(bitPattern: UInt32(try littleEndian(4)))
                guard n >= 0 else { throw fail("BINSTRING with negative length") }
                try push(.string(PickleMachine.text(try take(Int(n)))))
            case 0x55: try push(.string(PickleMachine.text(try take(Int(try byte()))))) // SHORT_BINSTRING
            case 0x56: try push(.string(try rawUnicode(try line()))) // UNICODE
            case 0x58: try push(.string(String(decoding: try take(try length(4)), as: UTF8.self))) // BINUNICODE
            case 0x8C: try push(.string(String(decoding: try take(Int(try byte())), as: UTF8.self))) // SHORT_BINUNICODE
            case 0x8D: try push(.string(String(decoding: try take(try length(8)), as: UTF8.self))) // BINUNICODE8
            case 0x42: try push(.bytes(Array(try take(try length(4))))) // BINBYTES
            case 0x43: try push(.bytes(Array(try take(Int(try byte()))))) // SHORT_BINBYTES
            case 0x8E, 0x96: try push(.bytes(Array(try take(try length(8))))) // BINBYTES8, BYTEARRAY8

            // Constants
            case 0x4E: try push(.none) // NONE
            case 0x88: try push(.bool(true)) // NEWTRUE
            case 0x89: try push(.bool(false)) // NEWFALSE

            // Tuples, lists, dicts, sets
            case 0x29: try push(try newTuple([])) // EMPTY_TUPLE
            case 0x74: try push(try newTuple(try popMark("TUPLE"))) // TUPLE
            case 0x85, 0x86, 0x87: // TUPLE1..3
                let n = Int(op - 0x84)
                guard available >= n else { throw fail("stack underflow at TUPLE\(n)") }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(try newTuple(items))
            case 0x5D: try push(try newList([])) // EMPTY_LIST
            case 0x6C: try push(try newList(try popMark("LIST"))) // LIST
            case 0x61: // APPEND
                let item = try pop("APPEND")
                try appendItems([item], to: try top("APPEND"), "APPEND")
            case 0x65: // APPENDS
                let items = try popMark("APPENDS")
                try appendItems(items, to: try top("APPENDS"), "APPENDS")
            case 0x7D: try push(try newDict()) // EMPTY_DICT
            case 0x64: // DICT
                let items = try popMark("DICT")
                let d = try newDict()
                try setItems(items, on: d, "DICT")
                try push(d)
            case 0x73: // SETITEM
                let value = try pop("SETITEM")
                let key = try pop("SETITEM")
                try setItems([key, value], on: try top("SETITEM"), "SETITEM")
            case 0x75: // SETITEMS
                let items = try popMark("SETITEMS")
                try setItems(items, on: try top("SETITEMS"), "SETITEMS")
            case 0x8F: try push(try newSet([])) // EMPTY_SET
            case 0x90: // ADDITEMS
                let items = try popMark("ADDITEMS")
                guard case .set(let i) = try top("ADDITEMS") else { throw fail("ADDITEMS on something that is not a set") }
                let d = try checkedDepth(items)
                graph.sets[i].append(contentsOf: items)
                setDepth[i] = max(setDepth[i], d)
            case 0x91: try push(try newSet(try popMark("FROZENSET"))) // FROZENSET

            // Stack manipulation
            case 0x28: // MARK
                guard marks.count < reader.limits.maxMarks else {
                    throw fail("more than \(reader.limits.maxMarks) nested MARKs")
                }
                marks.append(stack.count)
            case 0x30: // POP: with nothing above the mark, CPython drops the mark instead
                if available > 0 { stack.removeLast() } else { _ = try popMark("POP") }
            case 0x31: _ = try popMark("POP_MARK") // POP_MARK
            case 0x32: try push(try top("DUP")) // DUP

            // Memo
            case 0x67: try get(try memoIndex(try lineText())) // GET
            case 0x68: try get(Int(try byte())) // BINGET
            case 0x6A: try get(Int(try littleEndian(4))) // LONG_BINGET
            case 0x70: try put(try memoIndex(try lineText())) // PUT
            case 0x71: try put(Int(try byte())) // BINPUT
            case 0x72: try put(Int(try littleEndian(4))) // LONG_BINPUT
            case 0x94: try put(memo.count) // MEMOIZE

            // Globals, calls and objects
            case 0x63: // GLOBAL
                let module = try lineText()
                let name = try lineText()
                try push(try resolve(module: module, name: name))
            case 0x93: // STACK_GLOBAL
                let name = try pop("STACK_GLOBAL")
                let module = try pop("STACK_GLOBAL")
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw fail("STACK_GLOBAL needs two strings")
                }
                try push(try resolve(module: m, name: n))
            case 0x52: // REDUCE
                let args = try pop("REDUCE")
                let callable = try pop("REDUCE")
                guard let items = graph.sequence(args), case .tuple = args else {
                    throw fail("REDUCE arguments are not a tuple")
                }
                try push(try call(callable, args: items, "REDUCE"))
            case 0x81: // NEWOBJ
                let args = try pop("NEWOBJ")
                let cls = try pop("NEWOBJ")
                guard case .tuple(let t) = args else { throw fail("NEWOBJ arguments are not a tuple") }
                try push(try instantiate(cls, args: graph.tuples[t], "NEWOBJ"))
            case 0x92: // NEWOBJ_EX: keyword arguments are recorded nowhere; module classes get none
                _ = try pop("NEWOBJ_EX")
                let args = try pop("NEWOBJ_EX")
                let cls = try pop("NEWOBJ_EX")
                guard case .tuple(let t) = args else { throw fail("NEWOBJ_EX arguments are not a tuple") }
                try push(try instantiate(cls, args: graph.tuples[t], "NEWOBJ_EX"))
            case 0x69: // INST
                let module = try lineText()
                let name = try lineText()
                let cls = try resolve(module: module, name: name)
                let args = try popMark("INST")
                try push(try call(cls, args: args, "INST"))
            case 0x6F: // OBJ
                var items = try popMark("OBJ")
                guard !items.isEmpty else { throw fail("OBJ without a class") }
                let cls = items.removeFirst()
                try push(try call(cls, args: items, "OBJ"))
            case 0x62: // BUILD
                let state = try pop("BUILD")
                try build(try top("BUILD"), state: state)
            case 0x51: // BINPERSID
                let pid = try pop("BINPERSID")
                try push(try persistentLoad(pid))
            case 0x50: // PERSID
                throw fail("text persistent ids are not used by torch.save and are not supported")
            case 0x82, 0x83, 0x84: // EXT1, EXT2, EXT4
                throw YOLOModelError.forbidden(path: reader.path,
                    reason: "\(reader.entryName) uses the copyreg extension registry, which can name any callable")
            case 0x97: // NEXT_BUFFER
                throw fail("out-of-band buffers are not supported")
            case 0x98: // READONLY_BUFFER
                _ = try top("READONLY_BUFFER")
            default:
                throw fail("unknown pickle opcode 0x\(String(op, radix: 16))")
            }
        }
    }

    func memoIndex(_ text: String) throws -> Int {
        guard let i = Int(text.trimmingWhitespace()), i >= 0 else { throw fail("bad memo index '\(text.prefix(20))'") }
        return i
    }

    mutating func get(_ index: Int) throws {
        guard let value = memo[index] else { throw fail("memo key \(index) was never stored") }
        try push(value)
    }

    mutating func put(_ index: Int) throws {
        let value = try top("PUT")
        if memo[index] == nil {
            guard memo.count < reader.limits.maxMemo else { throw fail("memo exceeds \(reader.limits.maxMemo) entries") }
        }
        memo[index] = value
    }

    /// BUILD: `obj.__setstate__(state)` or `obj.__dict__.update(state)`. For the attribute bags
    /// that is a merge into the recorded state; other targets have no state worth keeping.
    mutating func build(_ target: PickleValue, state: PickleValue) throws {
        guard case .object(let i) = target else { return }
        let d = try checkedDepth([state])
        objectDepth[i] = max(objectDepth[i], d)
        if case .dict(let existing)? = graph.objects[i].state, case .dict(let incoming) = state, existing != incoming {
            let additions = graph.dicts[incoming]
            try spend(additions.count)
            for (k, v) in additions.items { graph.dicts[existing].set(k, v) }
            dictDepth[existing] = max(dictDepth[existing], dictDepth[incoming])
        } else {
            graph.objects[i].state = state
        }
    }
}

private extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }

    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
