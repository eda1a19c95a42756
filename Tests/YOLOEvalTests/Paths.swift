import Foundation
import Testing

/// Where the tests find their files: fixtures under Tests/Fixtures, the shipped model in
/// weights/, and the shared datasets at ../shared beside the package root.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/Fixtures/eval")
    static let shared = packageRoot.deletingLastPathComponent().appendingPathComponent("shared")
    static let bccd = shared.appendingPathComponent("datasets/bccd")
    static let tinyWeights = packageRoot.appendingPathComponent("weights/yolov7-tiny-bccd.pt")

    /// True when the shared dataset exists; otherwise the tests that need it are skipped with
    /// this message.
    static var hasShared: Bool { FileManager.default.fileExists(atPath: bccd.path) }
    static let sharedMissing: Comment = "needs ../shared/datasets/bccd; not found, skipped"

    /// A fresh temporary folder.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("YOLOEvalTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
