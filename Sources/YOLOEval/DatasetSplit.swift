import Foundation
import YOLOModel
import Yams

/// The images of one split of a dataset, found as the official loader finds them.
///
/// `--data` is either a dataset folder (`images/<split>`, labels beside in `labels/<split>`) or
/// a data YAML like the official ones (`train`/`val`/`test`: a folder, a `.txt` list of images,
/// or a list of those; `nc`; `names`). Relative YAML paths are taken from the YAML's `path:` key
/// when it has one (itself relative to the YAML's folder), else from the YAML's folder, and
/// from the working directory (as the official scripts take them) when that is where they exist.
public struct DatasetSplit: Sendable {
    /// What `--data` named.
    public var source: String
    public var split: String
    /// Image paths, sorted and de-duplicated as the official loader sorts them.
    public var images: [String]
    /// `names` of the data YAML, when there is one.
    public var classNames: [String]?
    /// `nc` of the data YAML, when there is one.
    public var classCount: Int?

    public init(source: String, split: String, images: [String], classNames: [String]? = nil,
                classCount: Int? = nil) {
        self.source = source
        self.split = split
        self.images = images
        self.classNames = classNames
        self.classCount = classCount
    }

    /// Official `img_formats`: files with other extensions are not images of the split. (Only
    /// JPEG and PNG decode; the others are reported and skipped by the runner.)
    public static let imageExtensions: Set<String> = ["bmp", "jpg", "jpeg", "png", "tif", "tiff", "dng", "webp", "mpo"]

    public static func load(data: String, split: String) throws -> DatasetSplit {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDirectory) else {
            throw EvalError.dataNotFound(path: data)
        }
        if isDirectory.boolValue {
            return try loadFolder(data, split: split)
        }
        return try loadYAML(data, split: split)
    }

    /// `D/images/<split>`; class names from `D/data.yaml` when it exists.
    static func loadFolder(_ folder: String, split: String) throws -> DatasetSplit {
        let imagesDir = join(folder, "images", split)
        guard isDirectory(imagesDir) else { throw EvalError.missingSplit(data: folder, split: split) }
        var result = DatasetSplit(source: folder, split: split, images: try imageFiles(under: imagesDir))
        for name in ["data.yaml", "data.yml"] where FileManager.default.fileExists(atPath: join(folder, name)) {
            let meta = try readYAML(join(folder, name))
            result.classNames = try classNames(meta, path: join(folder, name))
            result.classCount = try classCount(meta, path: join(folder, name))
            break
        }
        guard !result.images.isEmpty else { throw EvalError.noImages(data: folder, split: split) }
        return result
    }

    static func loadYAML(_ path: String, split: String) throws -> DatasetSplit {
        let meta = try readYAML(path)
        let yamlDir = (path as NSString).deletingLastPathComponent
        var base = yamlDir
        if let root = meta["path"] {
            guard let root = root as? String else { throw EvalError.badDataFile(path: path, reason: "'path' is not a string") }
            base = root.hasPrefix("/") ? root : join(yamlDir, root)
        }
        guard let entry = meta[split], !(entry is NSNull) else { throw EvalError.missingSplit(data: path, split: split) }
        let entries: [String]
        if let one = entry as? String {
            entries = [one]
        } else if let many = entry as? [Any], let strings = many as? [String] {
            entries = strings
        } else {
            throw EvalError.badDataFile(path: path, reason: "'\(split)' is neither a path nor a list of paths")
        }
        var images: [String] = []
        for item in entries {
            let resolved = try resolve(item, base: base, data: path)
            if isDirectory(resolved) {
                images += try imageFiles(under: resolved)
            } else if (resolved as NSString).pathExtension.lowercased() == "txt" {
                images += try imageList(resolved)
            } else if imageExtensions.contains((resolved as NSString).pathExtension.lowercased()) {
                images.append(resolved)
            } else {
                throw EvalError.badDataFile(path: path, reason: "\(item) is neither a folder, a .txt list nor an image")
            }
        }
        images = sortedUnique(images)
        guard !images.isEmpty else { throw EvalError.noImages(data: path, split: split) }
        return DatasetSplit(source: path, split: split, images: images,
                            classNames: try classNames(meta, path: path), classCount: try classCount(meta, path: path))
    }

    static func readYAML(_ path: String) throws -> [String: Any] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw EvalError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        // Yams parses recursively: refuse oversized or deeply nested text before it runs, with
        // the limits model configs use (a data YAML is a few lines).
        guard text.utf8.count <= ModelConfig.maxYAMLBytes else {
            throw EvalError.badDataFile(path: path, reason: "larger than \(ModelConfig.maxYAMLBytes) bytes")
        }
        guard YAMLDepth.deepest(text, stoppingAbove: ModelConfig.maxYAMLDepth) <= ModelConfig.maxYAMLDepth else {
            throw EvalError.badDataFile(path: path, reason: "nested more than \(ModelConfig.maxYAMLDepth) deep")
        }
        let parsed: Any?
        do {
            parsed = try Yams.load(yaml: text)
        } catch {
            throw EvalError.badDataFile(path: path, reason: String(describing: error)
                .split(whereSeparator: \.isNewline).joined(separator: " "))
        }
        guard let map = parsed as? [String: Any] else {
            throw EvalError.badDataFile(path: path, reason: "not a mapping of keys")
        }
        return map
    }

    /// `names` as a list, or as a mapping from class id to name (YOLOv5 style).
    static func classNames(_ meta: [String: Any], path: String) throws -> [String]? {
        guard let names = meta["names"], !(names is NSNull) else { return nil }
        if let list = names as? [Any] {
            return list.map { "\($0)" }
        }
        if let map = names as? [AnyHashable: Any] {
            var byID: [Int: String] = [:]
            for (key, value) in map {
                guard let id = (key.base as? Int) ?? Int("\(key.base)") else {
                    throw EvalError.badDataFile(path: path, reason: "'names' key \(key.base) is not a class id")
                }
                byID[id] = "\(value)"
            }
            let ids = byID.keys.sorted()
            guard ids == Array(0..<ids.count) else {
                throw EvalError.badDataFile(path: path, reason: "'names' keys are not 0..<\(ids.count)")
            }
            return ids.map { byID[$0]! }
        }
        throw EvalError.badDataFile(path: path, reason: "'names' is neither a list nor a mapping")
    }

    static func classCount(_ meta: [String: Any], path: String) throws -> Int? {
        guard let nc = meta["nc"], !(nc is NSNull) else { return nil }
        guard let n = nc as? Int, n > 0 else { throw EvalError.badDataFile(path: path, reason: "'nc' is not a positive integer") }
        return n
    }

    static func resolve(_ item: String, base: String, data: String) throws -> String {
        if item.hasPrefix("/") {
            guard FileManager.default.fileExists(atPath: item) else { throw EvalError.missingSplitPath(data: data, path: item) }
            return item
        }
        let candidate = join(base, item)
        if FileManager.default.fileExists(atPath: candidate) { return candidate }
        if FileManager.default.fileExists(atPath: item) { return item }
        throw EvalError.missingSplitPath(data: data, path: candidate)
    }

    /// Every image file below `folder`, recursively (official `glob('**/*.*', recursive=True)`,
    /// which skips hidden files).
    static func imageFiles(under folder: String) throws -> [String] {
        let root = URL(fileURLWithPath: folder, isDirectory: true)
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil,
                                                           options: [.skipsHiddenFiles]) else {
            throw EvalError.unreadable(path: folder, reason: "cannot list folder")
        }
        let prefix = root.standardizedFileURL.path
        var files: [String] = []
        for case let url as URL in walker {
            // Symbolic links count as what they point to.
            var isFolder: ObjCBool = false
            guard imageExtensions.contains(url.pathExtension.lowercased()),
                  FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue else { continue }
            // Keep the folder as the user spelled it: label paths are derived from these strings.
            let full = url.standardizedFileURL.path
            let relative = full.hasPrefix(prefix + "/") ? String(full.dropFirst(prefix.count + 1)) : url.lastPathComponent
            files.append(join(folder, relative))
        }
        return sortedUnique(files)
    }

    /// A `.txt` list of images, one a line; relative lines are taken from the list's folder
    /// (official: `./` lines), or from the working directory when they exist only there.
    static func imageList(_ path: String) throws -> [String] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw EvalError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let dir = (path as NSString).deletingLastPathComponent
        var files: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            var item = line.trimmingCharacters(in: .whitespaces)
            guard !item.isEmpty, imageExtensions.contains((item as NSString).pathExtension.lowercased()) else { continue }
            if !item.hasPrefix("/") {
                if item.hasPrefix("./") { item.removeFirst(2) }
                let local = join(dir, item)
                if FileManager.default.fileExists(atPath: local) || !FileManager.default.fileExists(atPath: item) {
                    item = local
                }
            }
            files.append(item)
        }
        return files
    }

    static func sortedUnique(_ paths: [String]) -> [String] {
        var out: [String] = []
        // Python sorts str by code points; Swift's String order differs for non-ASCII text.
        for p in paths.sorted(by: { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }) where out.last != p {
            out.append(p)
        }
        return out
    }

    static func join(_ parts: String...) -> String {
        var path = parts[0]
        for part in parts.dropFirst() {
            path = path.isEmpty ? part : (path as NSString).appendingPathComponent(part)
        }
        return path
    }

    static func isDirectory(_ path: String) -> Bool {
        var flag: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &flag) && flag.boolValue
    }
}
