import FuzzSupport
import YOLOEval

// Input: a YOLO label file (`class cx cy w h` lines, or polygons), parsed with and without a
// class count; the same text also goes through the image -> label path mapping.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? LabelFile.parse(text, path: "fuzz.txt")
    _ = try? LabelFile.parse(text, path: "fuzz.txt", classCount: 3)
    _ = LabelFile.path(forImage: text)
    return 0
}

// SwiftPM links executables with `main=FuzzLabels_main`.
@_cdecl("FuzzLabels_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
