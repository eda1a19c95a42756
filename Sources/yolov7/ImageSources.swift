import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Expands the SOURCE arguments of detect/compare: files as given, folders to their JPEG/PNG
/// files (sorted, not recursive), globs by the shell's rules.
enum ImageSources {
    static let extensions: Set<String> = ["jpg", "jpeg", "png", "jpe"]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func expand(_ arguments: [String]) throws -> [String] {
        var paths: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) {
                if isDirectory.boolValue {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                    let images = names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                    guard !images.isEmpty else { throw Failure(description: "\(argument): no JPEG or PNG images in this folder") }
                    paths += images.map { (argument as NSString).appendingPathComponent($0) }
                } else {
                    paths.append(argument)
                }
            } else if argument.contains(where: { "*?[".contains($0) }) {
                let matches = glob(argument)
                guard !matches.isEmpty else { throw Failure(description: "\(argument): no files match") }
                paths += matches
            } else {
                throw Failure(description: "\(argument): no such file or folder")
            }
        }
        guard !paths.isEmpty else { throw Failure(description: "no images given") }
        return paths
    }

    private static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
            .filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    }
}
