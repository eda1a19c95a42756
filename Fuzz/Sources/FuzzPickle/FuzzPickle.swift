import Foundation
import FuzzSupport
import YOLOModel

// Input: the bytes of a `data.pkl`. The harness packs them into a checkpoint zip beside 32
// storages ("0" ... "31", 1 KiB each, enough for the seed pickles' tensors) with valid CRCs,
// then loads it: the pickle machine (allow-list, limits), the model-tree walk, the tensor
// views against their storages, and the graph built from the pickled config.

let storages: [[UInt8]] = (0..<32).map { key in (0..<1024).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ key) } }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var zip = StoredZip()
    zip.add("archive/data.pkl", fuzzBytes(data, size))
    zip.add("archive/byteorder", Array("little".utf8))
    for (key, storage) in storages.enumerated() { zip.add("archive/data/\(key)", storage) }
    if let checkpoint = try? Checkpoint.load(data: Data(zip.bytes()), path: "fuzz.pt") {
        _ = try? ModelFile.loadCheckpoint(checkpoint)
    }
    return 0
}

// SwiftPM links executables with `main=FuzzPickle_main`.
@_cdecl("FuzzPickle_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
