import Foundation
import YOLOTensor

/// An official PyTorch checkpoint (`torch.save` zip format), read without Python and without
/// running anything it contains.
///
/// Two shapes of file are understood: the training code's dict holding a pickled model object
/// under `model` (or `ema`, preferred when it is not None), whose module tree supplies the
/// tensors, `yaml`, `names` and `stride`; and a bare state dict (at the top level or under
/// `model` / `state_dict`), which has tensors only.
public struct Checkpoint: Sendable {
    /// One module of the pickled model tree, as an attribute bag.
    public struct Module: Equatable, Sendable {
        /// Dotted path from the model object, as in state_dict names ("" is the model itself).
        public var path: String
        /// Python class, e.g. "models.common.Conv", "torch.nn.modules.conv.Conv2d".
        public var className: String
        /// Plain attributes (numbers, strings, tuples, lists, dicts; small tensors as flat
        /// lists of numbers): Conv2d `stride`/`padding`/`groups`, BatchNorm `eps`, MaxPool
        /// `kernel_size`, Upsample `scale_factor`, the config row's `f` and `i`...
        public var attributes: [String: ConfigValue]
        /// Local names of the module's own parameters and persistent buffers, in order.
        public var tensorNames: [String]
        /// Local names of the child modules, in order ("conv", "bn", "act" for a Conv).
        public var children: [String]
    }

    /// Where the tensors came from.
    public enum Source: String, Sendable {
        case ema, model, stateDict
    }

    public let path: String
    public let source: Source
    /// Every parameter and persistent buffer as float32, named as `state_dict()` names them;
    /// BatchNorm's `num_batches_tracked` counters are dropped.
    public let tensors: [String: Tensor]
    /// The keys of `tensors` in state_dict order.
    public let tensorNames: [String]
    /// The element type each tensor was stored with ("F16", "F32", ...; safetensors names).
    public let storageTypes: [String: String]
    /// The model object's `yaml` dict, key order kept; nil for a bare state dict.
    public let config: ConfigValue?
    public let names: [String]
    public let stride: [Float]
    /// The module tree by path; empty for a bare state dict.
    public let modules: [String: Module]
    /// Module paths in tree (pre-)order.
    public let modulePaths: [String]

    public func module(_ path: String) -> Module? { modules[path] }

    public static func load(path: String) throws -> Checkpoint {
        try load(archive: try ZipArchive(path: path))
    }

    /// Loads from the bytes of a whole checkpoint file already in memory; `path` only names
    /// them in errors. The fuzzers (Fuzz/) enter here.
    public static func load(data: Data, path: String) throws -> Checkpoint {
        try load(archive: try ZipArchive(path: path, bytes: data))
    }

    /// Loads from an archive already opened (in memory, for tests).
    static func load(archive: ZipArchive) throws -> Checkpoint {
        var loader = try CheckpointLoader(archive: archive)
        return try loader.load()
    }

    fileprivate init(path: String, source: Source, tensors: [String: Tensor], tensorNames: [String],
                     storageTypes: [String: String], config: ConfigValue?, names: [String], stride: [Float],
                     modules: [String: Module], modulePaths: [String]) {
        self.path = path
        self.source = source
        self.tensors = tensors
        self.tensorNames = tensorNames
        self.storageTypes = storageTypes
        self.config = config
        self.names = names
        self.stride = stride
        self.modules = modules
        self.modulePaths = modulePaths
    }
}

/// The work of `Checkpoint.load`: decode the pickle, walk what it describes, read storages.
private struct CheckpointLoader {
    let archive: ZipArchive
    let path: String
    /// The archive's top-level folder plus "/" (PyTorch names it after the file's stem).
    let prefix: String
    var graph = PickleGraph()

    var tensors: [String: Tensor] = [:]
    var tensorNames: [String] = []
    var storageTypes: [String: String] = [:]
    var modules: [String: Checkpoint.Module] = [:]
    var modulePaths: [String] = []
    /// Converted tensors by pickle index: the memo can share one tensor between names.
    var converted: [Int: Tensor] = [:]
    var verifiedStorages: Set<String> = []
    /// Module visits and value conversions left. The pickle is a graph, and a chain of
    /// containers each listing the next one twice unfolds into exponentially many paths; an
    /// honest checkpoint's tree visits each pickled value about once, so a few times the
    /// graph's size is plenty (set once the pickle is decoded).
    var stepsLeft = 0

    /// Deepest module nesting followed; YOLOv7's deepest is about 5.
    static let maxModuleDepth = 64
    /// Deepest attribute value converted to a ConfigValue.
    static let maxValueDepth = 64
    /// Tensor attributes (not parameters) up to this size are kept as lists in `attributes`.
    static let maxAttributeTensor = 1_024

    init(archive: ZipArchive) throws {
        self.archive = archive
        self.path = archive.path
        let pickles = archive.entries.filter {
            $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/", omittingEmptySubsequences: false).count == 2
        }
        guard let pickle = pickles.first else {
            throw YOLOModelError.invalidFile(path: archive.path, reason: "no <folder>/data.pkl in the zip: not a PyTorch checkpoint")
        }
        guard pickles.count == 1 else {
            throw YOLOModelError.invalidFile(path: archive.path, reason: "more than one data.pkl in the zip (\(pickles.map(\.name).joined(separator: ", ")))")
        }
        prefix = String(pickle.name.dropLast("data.pkl".count))
    }

    func fail(_ reason: String) -> YOLOModelError {
        .invalidFile(path: path, reason: reason)
    }

    mutating func load() throws -> Checkpoint {
        if let order = archive.entry(named: prefix + "byteorder") {
            let text = String(decoding: try archive.contents(of: order), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" else {
                throw fail(text == "big" ? "big-endian checkpoint; only little-endian storages are supported"
                                         : "unknown byteorder '\(text.prefix(20))'")
            }
        }
        // Old writers had no byteorder entry; they were little-endian in practice.

        guard let pickleEntry = archive.entry(named: prefix + "data.pkl") else {
            throw fail("no \(prefix)data.pkl")
        }
        let pickleBytes = [UInt8](try archive.contents(of: pickleEntry))
        graph = try PickleReader(path: path, entryName: pickleEntry.name).read(pickleBytes)
        var graphSize = graph.objects.count + graph.tensors.count
        for items in graph.tuples { graphSize += items.count + 1 }
        for items in graph.lists { graphSize += items.count + 1 }
        for items in graph.sets { graphSize += items.count + 1 }
        for dict in graph.dicts { graphSize += dict.count + 1 }
        stepsLeft = 100_000 + 8 * graphSize

        let (modelValue, source) = try locateModel()
        var config: ConfigValue?
        var names: [String] = []
        var stride: [Float] = []
        switch modelValue {
        case .object(let index):
            try walkModule(index, path: "", depth: 0)
            let attributes = graph.attributes(of: graph.objects[index])
            if let yaml = attributes?["yaml"], case .dict = yaml {
                // Already converted with the model's other plain attributes.
                guard let value = modules[""]?.attributes["yaml"] else {
                    throw fail("the model's yaml dict holds values that are not plain data")
                }
                config = value
            }
            names = try classNames(attributes?["names"])
            stride = try floats(attributes?["stride"]) ?? detectStride() ?? []
        case .dict(let index):
            try readStateDict(graph.dicts[index])
        default:
            throw fail("internal: unexpected model value")
        }
        return Checkpoint(path: path, source: source, tensors: tensors, tensorNames: tensorNames,
                          storageTypes: storageTypes, config: config, names: names, stride: stride,
                          modules: modules, modulePaths: modulePaths)
    }

    /// Finds the model object or state dict in what `torch.save` was given.
    func locateModel() throws -> (PickleValue, Checkpoint.Source) {
        let root = graph.root
        if case .object = root { return (root, .model) }
        guard let top = graph.dict(root) else {
            throw fail("the pickle holds neither a dict nor a model object")
        }
        if let ema = top["ema"], case .object = ema { return (ema, .ema) }
        if let model = top["model"], case .object = model { return (model, .model) }
        for key in ["model", "state_dict", "ema"] {
            if let nested = top[key], let d = graph.dict(nested), d.values.contains(where: isTensor) {
                return (nested, .stateDict)
            }
        }
        if top.values.contains(where: isTensor) { return (root, .stateDict) }
        let keys = top.keys.compactMap { if case .string(let s) = $0 { return s } else { return nil } }
        throw fail("no model object or state dict found (top-level keys: \(keys.prefix(12).joined(separator: ", ")))")
    }

    func isTensor(_ v: PickleValue) -> Bool {
        if case .tensor = v { return true }
        return false
    }

    // MARK: Module tree

    /// Mirrors `nn.Module.state_dict()`: own parameters, then own persistent buffers, then each
    /// child under "<name>.", recursively.
    mutating func step() throws {
        stepsLeft -= 1
        guard stepsLeft >= 0 else {
            throw fail("the model's module tree and attributes unfold into far too many values (shared references)")
        }
    }

    mutating func walkModule(_ index: Int, path modulePath: String, depth: Int) throws {
        try step()
        guard depth < CheckpointLoader.maxModuleDepth else {
            throw fail("modules nested more than \(CheckpointLoader.maxModuleDepth) deep at '\(modulePath)'")
        }
        guard modules[modulePath] == nil else {
            throw fail("module path '\(modulePath)' appears twice")
        }
        let object = graph.objects[index]
        let attributes = graph.attributes(of: object) ?? PickleDict()
        let namePrefix = modulePath.isEmpty ? "" : modulePath + "."

        var localTensors: [String] = []
        var nonPersistent = Set<String>()
        for item in graph.sequence(attributes["_non_persistent_buffers_set"]) ?? [] {
            if case .string(let s) = item { nonPersistent.insert(s) }
        }
        for (group, skip) in [("_parameters", Set<String>()), ("_buffers", nonPersistent)] {
            guard let table = graph.dict(attributes[group]) else { continue }
            for (key, value) in table.items {
                guard case .string(let name) = key else { throw fail("module '\(modulePath)': \(group) has a non-string key") }
                if skip.contains(name) || name == "num_batches_tracked" { continue }
                guard case .tensor(let t) = value else {
                    if case .none = value { continue } // e.g. a Conv2d with bias=False
                    throw fail("module '\(modulePath)': \(group)['\(name)'] is not a tensor")
                }
                try addTensor(namePrefix + name, t)
                localTensors.append(name)
            }
        }

        var plain: [String: ConfigValue] = [:]
        for (key, value) in attributes.items {
            guard case .string(let name) = key, !name.hasPrefix("_") else { continue }
            if let converted = try configValue(value, depth: 0) { plain[name] = converted }
        }

        var childNames: [String] = []
        var childIndices: [(String, Int)] = []
        if let table = graph.dict(attributes["_modules"]) {
            for (key, value) in table.items {
                guard case .string(let name) = key else { throw fail("module '\(modulePath)': _modules has a non-string key") }
                switch value {
                case .object(let child):
                    childNames.append(name)
                    childIndices.append((name, child))
                case .none:
                    continue
                default:
                    throw fail("module '\(modulePath)': child '\(name)' is not a module")
                }
            }
        }
        modules[modulePath] = Checkpoint.Module(path: modulePath, className: object.className, attributes: plain,
                                                tensorNames: localTensors, children: childNames)
        modulePaths.append(modulePath)
        for (name, child) in childIndices {
            try walkModule(child, path: namePrefix + name, depth: depth + 1)
        }
    }

    mutating func readStateDict(_ dict: PickleDict) throws {
        for (key, value) in dict.items {
            guard case .string(let name) = key, case .tensor(let t) = value else { continue }
            if name.hasSuffix("num_batches_tracked") { continue }
            try addTensor(name, t)
        }
        guard !tensorNames.isEmpty else { throw fail("the state dict holds no tensors") }
    }

    mutating func addTensor(_ name: String, _ index: Int) throws {
        guard tensors[name] == nil else { throw fail("tensor '\(name)' appears twice") }
        tensors[name] = try tensor(index, name: name)
        tensorNames.append(name)
        storageTypes[name] = graph.storages[graph.tensors[index].storage].dtype.rawValue
    }

    // MARK: Storages

    /// Reads a strided view out of its storage entry as float32. Offsets and strides are in
    /// elements; the view must lie inside the bytes the archive really holds.
    mutating func tensor(_ index: Int, name: String) throws -> Tensor {
        if let done = converted[index] { return done }
        let view = graph.tensors[index]
        let storage = graph.storages[view.storage]
        let dtype = storage.dtype
        var count = 1
        for d in view.shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("tensor '\(name)' has an impossible shape \(view.shape)") }
            count = p
        }
        if count == 0 {
            let empty = Tensor(shape: view.shape, data: [])
            converted[index] = empty
            return empty
        }
        // Highest element index the view touches, with overflow checks on attacker-chosen values.
        var last = view.offset
        for (size, step) in zip(view.shape, view.strides) {
            let (reach, o1) = (size - 1).multipliedReportingOverflow(by: step)
            let (sum, o2) = last.addingReportingOverflow(reach)
            guard !o1, !o2 else { throw fail("tensor '\(name)' has impossible strides \(view.strides)") }
            last = sum
        }
        // A stride-0 view could expand a tiny storage into any size; a real weights file never
        // holds more elements than it has bytes, so that bounds memory by the input.
        guard count <= archive.bytes.count + (1 << 20) else {
            throw fail("tensor '\(name)' claims \(count) elements, more than the file could hold")
        }

        let entryName = prefix + "data/" + storage.key
        guard let entry = archive.entry(named: entryName) else {
            throw fail("tensor '\(name)': storage '\(storage.key)' is missing from the archive")
        }
        try archive.checkReadable(entry)
        let available = entry.dataRange.count / dtype.byteSize
        guard last < available else {
            throw fail("tensor '\(name)' (shape \(view.shape), offset \(view.offset), strides \(view.strides)) needs \(last + 1) elements but its storage '\(storage.key)' holds only \(available) (\(entry.dataRange.count) bytes of \(dtype.rawValue))")
        }
        if !verifiedStorages.contains(storage.key) {
            try archive.verifyChecksum(of: entry)
            verifiedStorages.insert(storage.key)
        }

        // Decode the span the view covers, then gather if the view is not plain row-major.
        let spanStart = entry.dataRange.lowerBound + view.offset * dtype.byteSize
        let spanEnd = entry.dataRange.lowerBound + (last + 1) * dtype.byteSize
        let span = archive.bytes.withUnsafeBytes { raw in
            dtype.decodeFloats(UnsafeRawBufferPointer(rebasing: raw[spanStart..<spanEnd]))
        }
        let result: Tensor
        if span.count == count && isRowMajor(shape: view.shape, strides: view.strides) {
            result = Tensor(shape: view.shape, data: span)
        } else {
            result = Tensor(shape: view.shape, data: gather(span, shape: view.shape, strides: view.strides, count: count))
        }
        converted[index] = result
        return result
    }

    func isRowMajor(shape: [Int], strides: [Int]) -> Bool {
        var expected = 1
        for (size, step) in zip(shape, strides).reversed() {
            // A dimension of size 1 may carry any stride without changing the layout.
            if size != 1 && step != expected { return false }
            expected *= size
        }
        return true
    }

    /// Walks the view's indices in row-major order like an odometer, following the strides.
    func gather(_ span: [Float], shape: [Int], strides: [Int], count: Int) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        var position = 0
        for _ in 0..<count {
            out.append(span[position])
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                position += strides[d]
                if index[d] < shape[d] { break }
                position -= strides[d] * shape[d]
                index[d] = 0
                d -= 1
            }
        }
        return out
    }

    // MARK: Plain values

    /// Converts pickled plain data to a ConfigValue; nil for things that are not plain data
    /// (modules, large tensors, bytes).
    mutating func configValue(_ value: PickleValue, depth: Int) throws -> ConfigValue? {
        try step()
        guard depth < CheckpointLoader.maxValueDepth else {
            throw fail("an attribute value is nested more than \(CheckpointLoader.maxValueDepth) deep")
        }
        switch value {
        case .none: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .bigInt(let s): return .string(s)
        case .float(let d): return .double(d)
        case .string(let s): return .string(s)
        case .list, .tuple, .set:
            var items: [ConfigValue] = []
            for item in graph.sequence(value) ?? [] {
                guard let c = try configValue(item, depth: depth + 1) else { return nil }
                items.append(c)
            }
            return .list(items)
        case .dict(let i):
            var entries: [(key: String, value: ConfigValue)] = []
            for (key, item) in graph.dicts[i].items {
                let name: String
                switch key {
                case .string(let s): name = s
                case .int(let n): name = String(n)
                default: return nil
                }
                guard let c = try configValue(item, depth: depth + 1) else { return nil }
                entries.append((name, c))
            }
            return .dict(entries)
        case .tensor(let t):
            let view = graph.tensors[t]
            var count = 1
            for d in view.shape {
                count = count.multipliedReportingOverflow(by: d).partialValue
                guard count <= CheckpointLoader.maxAttributeTensor else { return nil }
            }
            let data = try tensor(t, name: "(attribute)").data
            return view.shape.isEmpty ? data.first.map { .double(Double($0)) } : .list(data.map { .double(Double($0)) })
        case .object(let i):
            let object = graph.objects[i]
            if object.className == "torch.device", case .string(let s)? = object.args.first { return .string(s) }
            return nil
        case .bytes, .global, .storage:
            return nil
        }
    }

    mutating func floats(_ value: PickleValue?) throws -> [Float]? {
        guard let value, let c = try configValue(value, depth: 0) else { return nil }
        switch c {
        case .list(let items):
            let numbers = items.compactMap(\.doubleValue)
            return numbers.count == items.count ? numbers.map(Float.init) : nil
        case .double(let d): return [Float(d)]
        case .int(let i): return [Float(i)]
        default: return nil
        }
    }

    /// `names` is a list, or in some forks a dict keyed by class index.
    mutating func classNames(_ value: PickleValue?) throws -> [String] {
        guard let value, let c = try configValue(value, depth: 0) else { return [] }
        switch c {
        case .list(let items): return items.map { $0.stringValue ?? $0.description }
        case .dict(let entries):
            return entries.sorted { (Int($0.key) ?? 0) < (Int($1.key) ?? 0) }.map { $0.value.stringValue ?? $0.value.description }
        default: return []
        }
    }

    /// Older models keep `stride` only on the detection head.
    func detectStride() -> [Float]? {
        for path in modulePaths.reversed() {
            guard let module = modules[path], module.className.hasPrefix("models.yolo."),
                  module.className != "models.yolo.Model",
                  case .list(let items)? = module.attributes["stride"] else { continue }
            let numbers = items.compactMap(\.doubleValue)
            if !numbers.isEmpty, numbers.count == items.count { return numbers.map(Float.init) }
        }
        return nil
    }
}
