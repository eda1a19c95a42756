// Which instruction set the C kernels run at (Dispatch.c): the best level this CPU has, found
// once, capped by the environment variable YOLOV7_ISA. Every kernel entry point of CVectorMath.h
// and CVectorMathPooling.h calls the implementation of that level through a table; each level's
// table can also be had directly, so tests run every level the CPU has against the plain one.
#ifndef CVECTORMATH_DISPATCH_H
#define CVECTORMATH_DISPATCH_H

#include "CVectorMathInt8.h"

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
/// to a run of floats). The int8 kernels have a table of their own (cvm_int8_kernels, below).
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

/// Int8 kernel levels (the u8 x s8 product and the u8 map kernels of CVectorMathInt8.h): an FP32
/// level and the dot-product instruction it may use. The one in effect is the best that the
/// level in effect and its features allow: avx512 with AVX-512 VNNI runs AVX512VNNI; avx2 or
/// avx512 with AVX-VNNI runs AVXVNNI; avx2 or avx512 otherwise AVX2 (vpmaddubsw / vpmaddwd);
/// neon with the dot-product extension NEON_DOTPROD, else NEON (vmull / vpadal); the plain level
/// PLAIN. Every level gives exactly the plain level's codes and floats.
enum {
    CVM_INT8_PLAIN = 0,
    CVM_INT8_AVX2 = 1,
    CVM_INT8_AVXVNNI = 2,
    CVM_INT8_AVX512VNNI = 3,
    CVM_INT8_NEON = 4,
    CVM_INT8_NEON_DOTPROD = 5,
    CVM_INT8_COUNT = 6
};

/// The int8 level in effect (follows cvm_isa_level and cvm_isa_features).
int cvm_int8_level(void);
/// Whether this build and CPU can run an int8 level (PLAIN always can).
int cvm_int8_supported(int level);
/// An int8 level's name: "avx512-vnni", "avx2-vnni", "avx2", "baseline" (x86-64) or "plain",
/// "neon", "neon-dotprod"; "?" if unknown.
const char *cvm_int8_name(int level);

/// Every int8 kernel entry point of CVectorMathInt8.h, as one int8 level implements it (those
/// without a vector version are the plain ones at every level).
typedef struct cvm_int8_kernels {
    void (*gemm)(const uint32_t *x, const long *offsets, long kgroups, const int8_t *w, long ldw,
                 const uint8_t *codes, const int8_t *code_offset, int8_t *wbuf, const int32_t *corr,
                 const float *scale, const float *bias, long f0, long f1, long q0, long q1, int act, float slope,
                 const cvm_q8_output *out);
    void (*unpack4)(const uint8_t *codes, long count, int offset, int8_t *out);
    void (*quantize)(const float *x, long channels, long height, long width, long r0, long r1, float inv_scale,
                     int zero, long g0, long g1, uint32_t *words, long group_stride);
    void (*dequantize)(const uint32_t *words, long group_stride, long channels, long height, long width, float scale,
                       int zero, long g0, long g1, float *y);
    void (*phase_split)(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                        uint32_t zero_word, uint32_t *phases, long phase_stride, long group_stride);
    void (*fill_border_rows)(uint32_t *words, long group_stride, long height, long width, long g0, long g1,
                             uint32_t zero_word);
    void (*maxpool2x2)(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                       uint32_t zero_word, uint32_t *y, long y_group_stride);
    void (*maxpool_same)(const uint32_t *x, long x_group_stride, long height, long width, long r, long g0, long g1,
                         uint32_t zero_word, uint32_t *y, long y_group_stride);
    void (*upsample2x)(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                       uint32_t zero_word, uint32_t *y, long y_group_stride);
} cvm_int8_kernels;

/// An int8 level's kernels, or null where this build or CPU cannot run them.
const cvm_int8_kernels *cvm_int8_kernels_at(int level);

#endif
