// swift-tools-version: 6.1
// Kernel microbenchmarks (ordo-one/package-benchmark), kept out of the main package so that
// `swift build` / `swift test` of the engine never build the benchmark tooling. Run from here:
//   cd Benchmarks && swift package benchmark
//   cd Benchmarks && swift package benchmark --filter "gemm.*"
import Foundation
import PackageDescription

// The main package is the folder above; a path dependency is named after its folder.
let engine = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "YOLOBenchmarks",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "YOLOKernels",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "YOLOTensor", package: engine),
                .product(name: "YOLOQuant", package: engine),
            ],
            path: "Benchmarks/YOLOKernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
