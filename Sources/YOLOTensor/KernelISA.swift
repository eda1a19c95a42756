import CVectorMath

/// The instruction-set level the C kernels run at (CVectorMath/Dispatch.c): the best this CPU
/// has, found once at the first kernel call, or less when the environment variable `YOLOV7_ISA`
/// caps it (`avx512`, `avx2`, `baseline` on x86-64; `neon`, `plain` on aarch64; `,no-vnni` /
/// `,no-dotprod` after it also switch those features off). Swift code makes no architecture
/// assumption: which kernels a level has is asked here. OpenBLAS picks its own kernels and is not
/// capped by `YOLOV7_ISA` (`OPENBLAS_CORETYPE` does that; `BLASThreads.coreName` tells which).
public enum KernelISA: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain C (compiled for the x86-64 baseline there: "baseline"; "plain" elsewhere).
    case plain = 0
    /// AVX2 + FMA.
    case avx2 = 1
    /// AVX-512 F/DQ/BW/VL.
    case avx512 = 2
    /// aarch64 Advanced SIMD.
    case neon = 3

    /// The level in effect.
    public static let current = KernelISA(rawValue: cvm_isa_level()) ?? .plain
    /// The best level this CPU runs, whatever `YOLOV7_ISA` says.
    public static let cpuBest = KernelISA(rawValue: cvm_isa_cpu_level()) ?? .plain
    /// Every level this build and CPU run (the kernels of each can be had for tests: `kernels`).
    public static let supported = allCases.filter { cvm_isa_supported($0.rawValue) != 0 }

    /// What was wrong with `YOLOV7_ISA` (an unknown value, or a level above this CPU's) and what
    /// runs instead; nil when it is unset or applied as written. The CLI refuses to run with it.
    public static var requestProblem: String? { cvm_isa_request_problem().map { String(cString: $0) } }

    /// Optional features in effect beside the level ("avx512vnni", "avxvnni", "dotprod").
    public static var features: [String] {
        let bits = cvm_isa_features()
        return [(Int32(CVM_FEATURE_AVX512VNNI), "avx512vnni"), (Int32(CVM_FEATURE_AVXVNNI), "avxvnni"),
                (Int32(CVM_FEATURE_DOTPROD), "dotprod")].filter { bits & $0.0 != 0 }.map(\.1)
    }

    /// The level's name as `YOLOV7_ISA` and bench's JSON write it.
    public var description: String { String(cString: cvm_isa_name(rawValue)) }

    /// The level and its features, as `bench` and `detect` print them ("avx512 (avx512vnni avxvnni)"),
    /// and with `int8` the int8 kernels' level after it ("..., int8 avx512-vnni").
    public static func summary(int8: Bool = false) -> String {
        let fp32 = features.isEmpty ? current.description : "\(current) (\(features.joined(separator: " ")))"
        return int8 ? "\(fp32), int8 \(int8Level)" : fp32
    }

    /// The level the int8 kernels (`Int8ConvKernel`, the u8 map kernels) run at, which follows the
    /// level in effect and its features: "avx512-vnni", "avx2-vnni" (AVX-VNNI), "avx2"
    /// (vpmaddubsw), "baseline" / "plain", "neon-dotprod", "neon". Every one gives the same codes.
    public static var int8Level: String { String(cString: cvm_int8_name(cvm_int8_level())) }

    /// Every int8 level this build and CPU run, by name (tests).
    public static var int8Supported: [String] {
        (0..<Int32(CVM_INT8_COUNT)).filter { cvm_int8_supported($0) != 0 }.map { String(cString: cvm_int8_name($0)) }
    }

    /// Whether the level has vector versions of the blocked pointwise kernel and the F(4x4)
    /// Winograd transforms. At the plain level those run as plain C loops (references and
    /// portability), slower than OpenBLAS, which keeps vector kernels of its own there: the
    /// engine then stays on sgemm and F(2x2).
    public var hasVectorKernels: Bool { self != .plain }

    /// This level's C kernels, or nil where the CPU cannot run them (for tests: every level
    /// against the plain one).
    public var kernels: cvm_fp32_kernels? { cvm_fp32_kernels_at(rawValue)?.pointee }
}
