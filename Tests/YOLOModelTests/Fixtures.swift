import Foundation

/// Paths of the committed fixtures and of the shared data beside the project.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
    static let model = root.appendingPathComponent("model")
    /// The shipped model (weights/ of the package: every clone has it).
    static let tinyBCCD = root.deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("weights/yolov7-tiny-bccd.pt").path

    static let configNames = ["training/yolov7-tiny", "training/yolov7", "training/yolov7x", "training/yolov7-w6",
                              "training/yolov7-e6", "training/yolov7-d6", "training/yolov7-e6e",
                              "deploy/yolov7-tiny", "deploy/yolov7-tiny-silu", "deploy/yolov7", "deploy/yolov7x",
                              "deploy/yolov7-w6", "deploy/yolov7-e6", "deploy/yolov7-d6", "deploy/yolov7-e6e"]
    static func configPath(_ name: String) -> String { model.appendingPathComponent("cfg/\(name).yaml").path }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent(relative)))
    }
}
