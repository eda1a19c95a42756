import Foundation
import FuzzSupport
import YOLOModel

// Input: a whole safetensors file. Exercises the header length and JSON header checks, the
// tiling of the data area, every dtype's decoding, and, when the metadata holds a config, the
// model build from it (the YAML in the metadata is as untrusted as the rest of the file).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let file = try? SafeTensorsFile.parse(Data(bytes: data, count: size), path: "fuzz.safetensors") else {
        return 0
    }
    for name in file.names { _ = try? file.floatTensor(name) }
    _ = try? ModelFile.loadSafeTensors(file)
    return 0
}

// SwiftPM links executables with `main=FuzzSafeTensors_main`.
@_cdecl("FuzzSafeTensors_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
