import FuzzSupport
import YOLOVision

// Input: an image file (seeded with PNGs): the IHDR size check before libpng, libpng behind
// the setjmp shim with OpenCV's IMREAD_COLOR transforms, and the eXIf orientation. Chunk CRCs
// are rewritten first (see fixPNGChecksums), as a hostile file would carry valid ones. The
// pixel limit is lowered so that memory stays within libFuzzer's RSS limit.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = fuzzBytes(data, size)
    fixPNGChecksums(&bytes)
    _ = try? RGBImage(decoding: bytes, name: "fuzz.png", maxPixels: 1 << 22)
    return 0
}

// SwiftPM links executables with `main=FuzzPNG_main`.
@_cdecl("FuzzPNG_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in data.map { fuzz($0, size) } ?? 0 }
}
