import Foundation
import YOLOv7

// The shipped model on the repository's sample pictures: one line per picture.
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let detector = try Detector(contentsOf: repository.appendingPathComponent("weights/yolov7-tiny-bccd.pt"))
let pictures = try FileManager.default.contentsOfDirectory(at: repository.appendingPathComponent("images"), includingPropertiesForKeys: nil)
for url in pictures.filter({ ["jpg", "png"].contains($0.pathExtension) }).sorted(by: { $0.path < $1.path }) {
    let found = try detector.detect(contentsOf: url)
    print(url.lastPathComponent, found.count, "objects:", found.map { "\($0.className) \(String(format: "%.2f", $0.confidence))" }.joined(separator: ", "))
}
