import Foundation
import FuzzSupport
import YOLOModel

// Input: a whole `.pt` file. Exercises the zip reader (end record search, zip64, central
// directory, local headers, CRC-32), then whatever the archive lets through, as `yolov7
// inspect` and `detect` load a checkpoint: `Checkpoint.load`, then the model build.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if let checkpoint = try? Checkpoint.load(data: Data(bytes: data, count: size), path: "fuzz.pt") {
        _ = try? ModelFile.loadCheckpoint(checkpoint)
    }
    return 0
}

// SwiftPM links executables with `main=FuzzCheckpoint_main`.
@_cdecl("FuzzCheckpoint_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
