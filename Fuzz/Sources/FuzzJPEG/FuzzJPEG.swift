import FuzzSupport
import YOLOVision

// Input: an image file (seeded with JPEGs). The decoder is chosen by signature, as for every
// image the CLI reads: libjpeg behind the setjmp shim, the size check before allocation, CMYK
// conversion and the Exif orientation parser. The pixel limit is lowered so that memory stays
// within libFuzzer's RSS limit; the check itself is the same code.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = try? RGBImage(decoding: fuzzBytes(data, size), name: "fuzz.jpg", maxPixels: 1 << 22)
    return 0
}

// SwiftPM links executables with `main=FuzzJPEG_main`.
@_cdecl("FuzzJPEG_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
