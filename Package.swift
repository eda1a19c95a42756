// swift-tools-version:5.10
import PackageDescription

// Dependencies point one way: yolov7 (CLI) -> YOLOEval -> YOLOVision / YOLOQuant -> YOLOModel
// -> YOLOTensor -> C shims. See DESIGN.md section 6.

/// BLAS for the targets that call cblas: OpenBLAS's module map except on Apple platforms,
/// which link Accelerate instead.
let apple: [Platform] = [.macOS, .iOS, .tvOS, .watchOS, .visionOS]
let blas: Target.Dependency = .target(name: "CBLAS", condition: .when(platforms: [.linux, .android, .windows, .openbsd]))
let accelerate: [LinkerSetting] = [.linkedFramework("Accelerate", .when(platforms: apple))]

let package = Package(
    name: "yolov7",
    products: [
        .executable(name: "yolov7", targets: ["yolov7"]),
        .library(name: "YOLOTensor", targets: ["YOLOTensor"]),
        .library(name: "YOLOModel", targets: ["YOLOModel"]),
        .library(name: "YOLOQuant", targets: ["YOLOQuant"]),
        .library(name: "YOLOVision", targets: ["YOLOVision"]),
        .library(name: "YOLOEval", targets: ["YOLOEval"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // BLAS: OpenBLAS on Linux (this module map), Accelerate on Apple platforms (the Swift
        // files that call cblas import whichever is there: `#if canImport(Accelerate)`).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        // Tiny C targets: libjpeg/libpng error handling needs setjmp, which Swift cannot do.
        .target(name: "CJPEG", path: "Sources/CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        .target(name: "CPNG", path: "Sources/CPNG", linkerSettings: [.linkedLibrary("png16")]),
        // The C kernels: plain C, AVX2, AVX-512 and NEON versions, the level picked at run time
        // (Dispatch.c, capped by YOLOV7_ISA). Swift code is compiled for its architecture's baseline.
        .target(name: "CVectorMath", path: "Sources/CVectorMath"),
        .target(name: "YOLOTensor", dependencies: [blas, "CVectorMath"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))],
                linkerSettings: accelerate),
        .target(name: "YOLOModel", dependencies: ["YOLOTensor", "Yams"]),
        .target(name: "YOLOQuant", dependencies: ["YOLOModel", "YOLOTensor", blas, "CVectorMath"],
                linkerSettings: accelerate),
        .target(name: "YOLOVision", dependencies: ["YOLOTensor", "CJPEG", "CPNG"]),
        .target(name: "YOLOEval", dependencies: ["YOLOVision", "YOLOQuant", "YOLOModel", "YOLOTensor", "Yams"]),
        .executableTarget(name: "yolov7", dependencies: [
            "YOLOEval", "YOLOVision", "YOLOQuant", "YOLOModel", "YOLOTensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "YOLOTensorTests", dependencies: ["YOLOTensor"]),
        .testTarget(name: "YOLOModelTests", dependencies: ["YOLOModel", "YOLOTensor"],
                    resources: []),
        .testTarget(name: "YOLOQuantTests", dependencies: ["YOLOQuant", "YOLOModel", "YOLOVision"]),
        .testTarget(name: "YOLOVisionTests", dependencies: ["YOLOVision"]),
        .testTarget(name: "YOLOEvalTests", dependencies: ["YOLOEval", "YOLOVision", "YOLOQuant", "YOLOModel", "YOLOTensor"]),
        // Runs the built executable: exit codes, one-line errors, files written.
        .testTarget(name: "CLITests", dependencies: ["yolov7", "YOLOVision"]),
    ]
)
