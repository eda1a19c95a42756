// swift-tools-version:5.10
import PackageDescription

// Dependencies point one way: yolov7 (CLI) -> YOLOv7 (the library users embed) -> YOLOEval ->
// YOLOVision / YOLOQuant -> YOLOModel -> YOLOTensor -> C shims. See DESIGN.md section 6.
// The library lives in Sources/YOLOv7Library and the CLI's module is YOLOv7CLI (its folder
// Sources/yolov7, its product the `yolov7` executable): names that differ only in case from
// `YOLOv7` would collide on case-insensitive file systems.

/// BLAS for the targets that call cblas: OpenBLAS's module map except on Apple platforms,
/// which link Accelerate instead.
let apple: [Platform] = [.macOS, .iOS, .tvOS, .watchOS, .visionOS]
let blas: Target.Dependency = .target(name: "CBLAS", condition: .when(platforms: [.linux, .android, .windows, .openbsd]))
let accelerate: [LinkerSetting] = [.linkedFramework("Accelerate", .when(platforms: apple))]

let package = Package(
    name: "yolov7",
    products: [
        .executable(name: "yolov7", targets: ["YOLOv7CLI"]),
        .library(name: "YOLOv7", targets: ["YOLOv7"]),
        .library(name: "YOLOTensor", targets: ["YOLOTensor"]),
        .library(name: "YOLOModel", targets: ["YOLOModel"]),
        .library(name: "YOLOQuant", targets: ["YOLOQuant"]),
        .library(name: "YOLOVision", targets: ["YOLOVision"]),
        .library(name: "YOLOEval", targets: ["YOLOEval"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // The server (`yolov7 serve`) only; the library products do not depend on them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // `swift package generate-documentation --target YOLOv7`.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
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
        .target(name: "YOLOv7", dependencies: ["YOLOEval", "YOLOQuant", "YOLOVision", "YOLOModel", "YOLOTensor"],
                path: "Sources/YOLOv7Library"),
        .target(name: "YOLOv7Server", dependencies: [
            "YOLOv7",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .executableTarget(name: "YOLOv7CLI", dependencies: [
            "YOLOv7", "YOLOv7Server", "YOLOEval", "YOLOVision", "YOLOQuant", "YOLOModel", "YOLOTensor",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/yolov7"),
        .testTarget(name: "YOLOTensorTests", dependencies: ["YOLOTensor"]),
        .testTarget(name: "YOLOModelTests", dependencies: ["YOLOModel", "YOLOTensor"],
                    resources: []),
        .testTarget(name: "YOLOQuantTests", dependencies: ["YOLOQuant", "YOLOModel", "YOLOVision"]),
        .testTarget(name: "YOLOVisionTests", dependencies: ["YOLOVision"]),
        // The runners are tested through the pipeline the CLI gives them: the library's Detector.
        .testTarget(name: "YOLOEvalTests", dependencies: ["YOLOEval", "YOLOv7", "YOLOVision", "YOLOQuant", "YOLOModel", "YOLOTensor"]),
        .testTarget(name: "YOLOv7Tests", dependencies: ["YOLOv7"]),
        // Starts the server in-process on a free port and talks raw HTTP to it; the drain test
        // runs the built executable (a dependency, so that it is built).
        .testTarget(name: "YOLOv7ServerTests", dependencies: [
            "YOLOv7Server", "YOLOv7", "YOLOQuant", "YOLOModel", "YOLOv7CLI",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Runs the built executable: exit codes, one-line errors, files written.
        .testTarget(name: "CLITests", dependencies: ["YOLOv7CLI", "YOLOVision"]),
    ]
)
