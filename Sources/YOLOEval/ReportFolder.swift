import Foundation

/// The folder a report is written into, checked before any work and filled all at once: the
/// files go into a hidden staging folder beside it, which is renamed into place at the end, so
/// a failed run leaves nothing half-written. The folder may exist only if it is empty.
public struct ReportFolder: Sendable {
    public let path: String

    /// Checks `path`: not an existing file or non-empty folder, and a place a folder can be
    /// created (proved by creating and removing one in the nearest existing ancestor).
    public init(path: String) throws {
        self.path = path
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw EvalError.reportFolder(path: path, reason: "exists and is not a folder") }
            let entries: [String]
            do {
                entries = try fm.contentsOfDirectory(atPath: path)
            } catch {
                throw EvalError.reportFolder(path: path, reason: "cannot read the folder (\(Self.reason(error)))")
            }
            guard entries.isEmpty else {
                throw EvalError.reportFolder(path: path, reason: "the report folder exists and is not empty; give a new or empty folder")
            }
        }
        // The nearest ancestor that exists must be a folder a new folder can be made in.
        var ancestor = parent
        while !fm.fileExists(atPath: ancestor, isDirectory: &isDirectory) { ancestor = (ancestor as NSString).deletingLastPathComponent }
        guard isDirectory.boolValue else {
            throw EvalError.reportFolder(path: path, reason: "cannot write the report here: \(ancestor) is not a folder")
        }
        let probe = (ancestor as NSString).appendingPathComponent(".yolov7-report-probe-\(getpid())")
        do {
            try fm.createDirectory(atPath: probe, withIntermediateDirectories: false)
            try fm.removeItem(atPath: probe)
        } catch {
            throw EvalError.reportFolder(path: path, reason: "cannot write the report here (\(Self.reason(error)))")
        }
    }

    var parent: String {
        let p = ((path as NSString).standardizingPath as NSString).deletingLastPathComponent
        return p.isEmpty ? "." : p
    }

    /// Runs `fill` on a new staging folder beside `path`, then puts it in place of `path`
    /// (an empty folder there is replaced). On any error the staging folder is removed.
    public func write(_ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let name = ((path as NSString).standardizingPath as NSString).lastPathComponent
        let staging = URL(fileURLWithPath: parent).appendingPathComponent(".\(name).partial-\(getpid())")
        do {
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try? fm.removeItem(at: staging)
            try fm.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw EvalError.reportFolder(path: path, reason: "cannot write the report here (\(Self.reason(error)))")
        }
        do {
            try fill(staging)
            // rename(2) replaces an empty folder, and only an empty one.
            guard rename(staging.path, path) == 0 else {
                throw EvalError.reportFolder(path: path, reason: "cannot move the report into place (\(String(cString: strerror(errno))))")
            }
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
    }

    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}
