// Which instruction set the C kernels run at (Dispatch.c): the best level this CPU has, found
// once, capped by the environment variable YOLOV7_ISA. Every kernel entry point of CVectorMath.h
// and CVectorMathPooling.h calls the implementation of that level through a table; each level's
// table can also be had directly, so tests run every level the CPU has against the plain one.
#ifndef CVECTORMATH_DISPATCH_H
#define CVECTORMATH_DISPATCH_H

/// Kernel levels. PLAIN is plain C that compiles anywhere (named "baseline" on x86-64, where it
/// is compiled for the x86-64 baseline, and "plain" elsewhere); AVX2 means AVX2 + FMA; AVX512
/// means AVX-512 F/DQ/BW/VL; NEON is aarch64's Advanced SIMD. On x86-64 they are ordered
/// PLAIN < AVX2 < AVX512; on aarch64 PLAIN < NEON.
enum { CVM_ISA_PLAIN = 0, CVM_ISA_AVX2 = 1, CVM_ISA_AVX512 = 2, CVM_ISA_NEON = 3, CVM_ISA_COUNT = 4 };

/// Optional features beside the level (for the int8 kernels): AVX-512 VNNI (at the avx512
/// level), AVX-VNNI (256-bit vpdpbusd, at avx2 and avx512), the dot-product extension (neon).
enum { CVM_FEATURE_AVX512VNNI = 1, CVM_FEATURE_AVXVNNI = 2, CVM_FEATURE_DOTPROD = 4 };

/// The level the kernels run at: the CPU's best, or less if YOLOV7_ISA asks for less.
int cvm_isa_level(void);
/// The features in effect: the CPU's, those of a level above the cap and those YOLOV7_ISA
/// switches off ("no-vnni", "no-dotprod") removed.
int cvm_isa_features(void);
/// The best level this CPU runs, whatever YOLOV7_ISA says.
int cvm_isa_cpu_level(void);
/// Whether this build and CPU can run a level (PLAIN always can).
int cvm_isa_supported(int level);
/// A level's name: "avx512", "avx2", "baseline" (x86-64) or "plain", "neon"; "?" if unknown.
const char *cvm_isa_name(int level);
/// Null when YOLOV7_ISA is unset or was applied as written; otherwise one line saying what was
/// wrong with it. The kernels then run anyway (an unknown value is ignored; a level above the
/// CPU's is clamped to the CPU's); the command-line tool refuses to run.
const char *cvm_isa_request_problem(void);

/// Every FP32 kernel entry point, as one level implements it (the public functions of
/// CVectorMath.h and CVectorMathPooling.h, documented there; `pointwise` is
/// cvm_pointwise_prefetching; `bias_activate` applies the conv epilogue, act a CVM_ACT_ code,
/// to a run of floats). The int8 kernels get a table of their own.
typedef struct cvm_fp32_kernels {
    void (*bias_activate)(float *p, long count, float bias, int act, float slope);
    void (*winograd_weights)(const float *g, long count, float *u, long stride);
    void (*decode_filter)(const unsigned char *bytes, long byte_count, int bits, long first, long channels,
                          long kernel, const float *levels, long level_c, long level_k, float *out, long out_c,
                          long out_k);
    void (*im2col)(const float *x, long channels, long height, long width, long kh, long kw, long stride, long pad,
                   long ow, long row0, long rows, float *col);
    void (*pointwise)(const float *x, long ldx, const float *w, long ldw, long channels, const float *bias, float *y,
                      long ldy, long f0, long f1, long p0, long p1, long prefetch_end, int act, float slope);
    void (*winograd4_weights)(const float *g, long count, float *u, long stride);
    void (*winograd4_input)(const float *x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,
                            float *v, long ld, long pstride);
    void (*winograd4_output)(const float *m, long ld, long pstride, long filters, long ty0, long ty1, long tx0,
                             long tw, const float *bias, int act, float slope, float *y, long h, long w);
    void (*winograd_s2_input)(const float *x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,
                              float *v, long ld, long phase_stride, long pstride);
    void (*winograd_s2_weights)(const float *g, long filters, long channels, long f0, long f1, float *u);
    void (*winograd_s2_output)(const float *m, long ld, long pstride, long filters, long ty0, long ty1, long tx0,
                               long tw, const float *bias, int act, float slope, float *y, long h, long w);
    void (*maxpool2x2)(const float *x, long width, long oh, long ow, float *y);
    void (*maxpool_same)(const float *x, long h, long w, long r, float *y, float *scratch);
    void (*upsample_nearest)(const float *x, long h, long w, long scale, float *y);
    void (*grid_rows)(const float *x, long plane, long w, long no, long y0, long y1, float anchor_w, float anchor_h,
                      float stride, float *rows);
} cvm_fp32_kernels;

/// A level's kernels, or null where this build or CPU cannot run it.
const cvm_fp32_kernels *cvm_fp32_kernels_at(int level);

#endif
