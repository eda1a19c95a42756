// The per-level implementations behind the dispatcher (internal: not part of the module's API).
// Each FP32 entry point has a plain C version, `name_plain`, that compiles anywhere and is the
// reference the others are tested against; x86-64 adds `name_avx2` and `name_avx512`, aarch64
// `name_neon`, where one is written (Dispatch.c's tables say which level uses which). x86
// intrinsics and target attributes appear only under __x86_64__, NEON only under __aarch64__.
#ifndef CVECTORMATH_KERNELS_H
#define CVECTORMATH_KERNELS_H

#include "CVectorMath.h"

// The epilogues must give FastMath's numbers (Activation.swift) exactly: no fused
// multiply-adds but the explicit ones of the products. (Clang reads the pragma; GCC, used to
// cross-build the kernel harness, needs -ffp-contract=off, which tools/kernel_harness.sh passes.)
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define CVM_INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__)
#define CVM_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define CVM_AVX2 __attribute__((target("avx2,fma")))
// A plain-loop kernel compiled for each x86 level: `name_body` (CVM_INLINE) inlined into
// `name_avx512` and `name_avx2`, so the compiler vectorizes the same source for the wider
// registers, and the dispatcher can still cap which one runs (target_clones could not be capped).
#define CVM_X86_VARIANTS(name, params, args)                 \
    CVM_AVX512 void name##_avx512 params { name##_body args; } \
    CVM_AVX2 void name##_avx2 params { name##_body args; }
#else
#define CVM_X86_VARIANTS(name, params, args)
#endif
// The plain version and, on x86-64, the compiled variants.
#define CVM_VARIANTS(name, params, args)                     \
    void name##_plain params { name##_body args; }            \
    CVM_X86_VARIANTS(name, params, args)

// Declares `name_plain` (and the x86 variants) with parameter list `params`.
#if defined(__x86_64__)
#define CVM_DECLARE(name, params) void name##_plain params; void name##_avx2 params; void name##_avx512 params;
#else
#define CVM_DECLARE(name, params) void name##_plain params;
#endif

#define CVM_BIAS_ACTIVATE_PARAMS (float *p, long count, float bias, int act, float slope)
#define CVM_WINOGRAD_WEIGHTS_PARAMS (const float *restrict g, long count, float *restrict u, long stride)
#define CVM_DECODE_FILTER_PARAMS                                                                                \
    (const unsigned char *restrict bytes, long byte_count, int bits, long first, long channels, long kernel,    \
     const float *restrict levels, long level_c, long level_k, float *restrict out, long out_c, long out_k)
#define CVM_IM2COL_PARAMS                                                                                       \
    (const float *restrict x, long channels, long height, long width, long kh, long kw, long stride, long pad, \
     long ow, long row0, long rows, float *restrict col)
#define CVM_POINTWISE_PARAMS                                                                                    \
    (const float *x, long ldx, const float *w, long ldw, long channels, const float *bias, float *y, long ldy,  \
     long f0, long f1, long p0, long p1, long prefetch_end, int act, float slope)
#define CVM_WINOGRAD4_INPUT_PARAMS                                                                              \
    (const float *restrict x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,             \
     float *restrict v, long ld, long pstride)
#define CVM_WINOGRAD_OUTPUT_PARAMS_LIST                                                                         \
    const float *restrict m, long ld, long pstride, long filters, long ty0, long ty1, long tx0, long tw,        \
        const float *restrict bias, int act, float slope, float *restrict y, long h, long w
#define CVM_WINOGRAD_OUTPUT_PARAMS (CVM_WINOGRAD_OUTPUT_PARAMS_LIST)
#define CVM_WINOGRAD_S2_INPUT_PARAMS                                                                            \
    (const float *restrict x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,             \
     float *restrict v, long ld, long phase_stride, long pstride)
#define CVM_WINOGRAD_S2_WEIGHTS_PARAMS \
    (const float *restrict g, long filters, long channels, long f0, long f1, float *restrict u)
#define CVM_MAXPOOL2X2_PARAMS (const float *restrict x, long width, long oh, long ow, float *restrict y)
#define CVM_MAXPOOL_SAME_PARAMS (const float *x, long h, long w, long r, float *y, float *scratch)
#define CVM_UPSAMPLE_PARAMS (const float *restrict x, long h, long w, long scale, float *restrict y)
#define CVM_GRID_ROWS_PARAMS                                                                                    \
    (const float *restrict x, long plane, long w, long no, long y0, long y1, float anchor_w, float anchor_h,   \
     float stride, float *restrict rows)

// Plain-loop kernels: one source, compiled per level (VectorMath.c, Winograd4.c, Pooling.c).
CVM_DECLARE(cvm_winograd_weights, CVM_WINOGRAD_WEIGHTS_PARAMS)
CVM_DECLARE(cvm_decode_filter, CVM_DECODE_FILTER_PARAMS)
CVM_DECLARE(cvm_im2col, CVM_IM2COL_PARAMS)
CVM_DECLARE(cvm_winograd4_weights, CVM_WINOGRAD_WEIGHTS_PARAMS)
CVM_DECLARE(cvm_winograd_s2_weights, CVM_WINOGRAD_S2_WEIGHTS_PARAMS)
CVM_DECLARE(cvm_maxpool_same, CVM_MAXPOOL_SAME_PARAMS)
CVM_DECLARE(cvm_upsample_nearest, CVM_UPSAMPLE_PARAMS)
CVM_DECLARE(cvm_grid_rows, CVM_GRID_ROWS_PARAMS)

// Kernels written per level with intrinsics (plain versions beside their vector ones).
CVM_DECLARE(cvm_bias_activate, CVM_BIAS_ACTIVATE_PARAMS)
CVM_DECLARE(cvm_pointwise, CVM_POINTWISE_PARAMS)
CVM_DECLARE(cvm_winograd4_input, CVM_WINOGRAD4_INPUT_PARAMS)
CVM_DECLARE(cvm_winograd4_output, CVM_WINOGRAD_OUTPUT_PARAMS)
CVM_DECLARE(cvm_winograd_s2_input, CVM_WINOGRAD_S2_INPUT_PARAMS)
CVM_DECLARE(cvm_winograd_s2_output, CVM_WINOGRAD_OUTPUT_PARAMS)
CVM_DECLARE(cvm_maxpool2x2, CVM_MAXPOOL2X2_PARAMS)

#if defined(__aarch64__)
void cvm_bias_activate_neon CVM_BIAS_ACTIVATE_PARAMS;
void cvm_pointwise_neon CVM_POINTWISE_PARAMS;
void cvm_winograd4_input_neon CVM_WINOGRAD4_INPUT_PARAMS;
void cvm_winograd4_output_neon CVM_WINOGRAD_OUTPUT_PARAMS;
void cvm_winograd_s2_input_neon CVM_WINOGRAD_S2_INPUT_PARAMS;
void cvm_winograd_s2_output_neon CVM_WINOGRAD_OUTPUT_PARAMS;
void cvm_maxpool2x2_neon CVM_MAXPOOL2X2_PARAMS;
#endif

// Most tile columns one Winograd transform call takes: an input row of 4 * 256 + 2 floats
// (planes up to 1024 wide; wider ones are split by the caller).
#define CVM_MAX_TILE_COLUMNS 256

// Stride-2 Winograd phase p's row and column parity, in the order the products want them
// (WinogradStrideTwo.swift orders them so that the phases each transform position needs are adjacent).
static const int CVM_S2_PHASE_A[4] = {0, 0, 1, 1};
static const int CVM_S2_PHASE_B[4] = {0, 1, 1, 0};

#endif
