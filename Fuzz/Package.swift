// swift-tools-version:5.10
import Foundation
import PackageDescription

// libFuzzer targets for the engine's parsers, one executable per parser. A package of its own
// so that the main build and CI never see the sanitizer flags; build and run with ./run.sh.
//
// The main package is a path dependency, and SwiftPM names a path dependency after its folder,
// so the identity is computed rather than spelled: the checkout may be called anything.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent()
let mainIdentity = mainPackage.lastPathComponent.lowercased()

func engine(_ product: String) -> Target.Dependency {
    .product(name: product, package: mainIdentity)
}

// No top-level code: SwiftPM links each executable with `main=<Target>_main`, which each target
// defines to start libFuzzer's driver on its LLVMFuzzerTestOneInput (see CFuzzerDriver.h).
let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "YOLOv7Fuzz",
    dependencies: [.package(path: mainPackage.path)],
    targets: [
        .target(name: "CFuzzerDriver", path: "Sources/CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"], path: "Sources/FuzzSupport"),
        .executableTarget(name: "FuzzPickle", dependencies: ["FuzzSupport", engine("YOLOModel")],
                          path: "Sources/FuzzPickle", swiftSettings: library),
        .executableTarget(name: "FuzzCheckpoint", dependencies: ["FuzzSupport", engine("YOLOModel")],
                          path: "Sources/FuzzCheckpoint", swiftSettings: library),
        .executableTarget(name: "FuzzSafeTensors", dependencies: ["FuzzSupport", engine("YOLOModel")],
                          path: "Sources/FuzzSafeTensors", swiftSettings: library),
        .executableTarget(name: "FuzzModelConfig", dependencies: ["FuzzSupport", engine("YOLOModel"), engine("YOLOTensor")],
                          path: "Sources/FuzzModelConfig", swiftSettings: library),
        .executableTarget(name: "FuzzJPEG", dependencies: ["FuzzSupport", engine("YOLOVision")],
                          path: "Sources/FuzzJPEG", swiftSettings: library),
        .executableTarget(name: "FuzzPNG", dependencies: ["FuzzSupport", engine("YOLOVision")],
                          path: "Sources/FuzzPNG", swiftSettings: library),
        .executableTarget(name: "FuzzLabels", dependencies: ["FuzzSupport", engine("YOLOEval")],
                          path: "Sources/FuzzLabels", swiftSettings: library),
    ]
)
