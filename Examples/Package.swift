// swift-tools-version:5.10
import PackageDescription

// A program that uses the engine as a library, the way your own package would: it depends on
// this repository by path (`.package(url: ..., branch: ...)` from elsewhere) and on its `YOLOv7`
// product. Run it from here: swift run -c release DetectImages
let package = Package(
    name: "Examples",
    dependencies: [.package(name: "yolov7", path: "..")],
    targets: [
        .executableTarget(name: "DetectImages", dependencies: [.product(name: "YOLOv7", package: "yolov7")],
                          path: "DetectImages"),
    ]
)
