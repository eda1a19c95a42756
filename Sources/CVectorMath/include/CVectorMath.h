// The engine's C kernels. Each entry point runs the implementation of the level chosen at run
// time (CVectorMathDispatch.h: plain C, AVX2, AVX-512 or NEON; Swift itself is compiled for the
// baseline of its architecture). Conv epilogues use FastMath's arithmetic
// (YOLOTensor/Activation.swift), operation for operation, at every level.
#ifndef CVECTORMATH_H
#define CVECTORMATH_H

/// p[i] = silu(p[i] + bias), SiLU as FastMath.silu.
void cvm_bias_silu(float *p, long count, float bias);
/// p[i] = sigmoid(p[i] + bias), as FastMath.sigmoid.
void cvm_bias_sigmoid(float *p, long count, float bias);

/// Winograd F(2x2,3x3) weight transform U = G g G^T from kernel-major weights: g[k * count + j]
/// is kernel position k (row-major 3x3) of pair j; U's position xi of pair j goes to
/// u[xi * stride + j]. Double arithmetic in the order of Winograd.transformWeights (Swift), so
/// the results are identical to it.
void cvm_winograd_weights(const float *g, long count, float *u, long stride);

/// Decodes the bit-packed codes of one filter `W[f, :, :, :]` (channels x kernel codes, from
/// stream code index `first`; `bits` 2...8, the stream `byte_count` bytes long) by table
/// lookup: W[f, c, k] = levels[c * level_c + k * level_k + code], written to
/// out[c * out_c + k * out_k].
void cvm_decode_filter(const unsigned char *bytes, long byte_count, int bits, long first,
                       long channels, long kernel, const float *levels, long level_c, long level_k,
                       float *out, long out_c, long out_k);

/// Unrolls output rows [row0, row0 + rows) of a conv's input (channels x height x width, dilation
/// 1) into the column matrix rows c*kh*kw + i*kw + j of `col` ([C*kh*kw, rows*ow]), zeros where
/// the kernel reads padding: what ConvKernel.im2col (Swift, the reference) does.
void cvm_im2col(const float *x, long channels, long height, long width, long kh, long kw, long stride,
                long pad, long ow, long row0, long rows, float *col);

/// Activation codes of the pointwise kernel's fused epilogue (Activation in Swift).
enum { CVM_ACT_IDENTITY = 0, CVM_ACT_RELU = 1, CVM_ACT_LEAKY = 2, CVM_ACT_SILU = 3, CVM_ACT_SIGMOID = 4 };

/// y[f * ldy + p] = act(sum_c W[f * ldw + c] * x[c * ldx + p] + bias[f]) for f in [f0, f1) and
/// p in [p0, p1); act a CVM_ACT_ code (slope for LEAKY).
/// The epilogue's arithmetic is FastMath's (Activation.applyFast) exactly.
void cvm_pointwise(const float *x, long ldx, const float *w, long ldw, long channels, const float *bias, float *y,
                   long ldy, long f0, long f1, long p0, long p1, int act, float slope);
/// The same, for a caller that will go on to columns [p1, prefetch_end) with the same filters
/// (a chunk of a larger range): X and Y lines are prefetched up to prefetch_end, not just p1.
void cvm_pointwise_prefetching(const float *x, long ldx, const float *w, long ldw, long channels, const float *bias,
                               float *y, long ldy, long f0, long f1, long p0, long p1, long prefetch_end, int act,
                               float slope);

/// Winograd F(4x4,3x3) (Winograd4.c). The weight transform U = G g G^T from kernel-major weights
/// into u[xi * stride + j], xi = 0..<36, in float (G = D Gi: additions, exact doublings, one
/// scaling; Winograd4.c), for dense and packed weights alike.
void cvm_winograd4_weights(const float *g, long count, float *u, long stride);
/// Most tile columns one transform call takes (split wider planes).
int cvm_winograd4_max_tile_columns(void);
/// V = B^T d B for `channels` planes of x (h x w), tile rows [ty0, ty1) and tile columns
/// [tx0, tx0 + tw): position xi of channel c, tile (ty, tx) at
/// v[xi * pstride + c * ld + (ty - ty0) * tw + (tx - tx0)].
void cvm_winograd4_input(const float *x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,
                         float *v, long ld, long pstride);
/// Y = act(A^T M A + bias) for `filters` filters (M laid out as V, filter f at m + f * ld), the
/// same tiles, cropped to the h x w output planes at y (filter f's at y + f * h * w).
void cvm_winograd4_output(const float *m, long ld, long pstride, long filters, long ty0, long ty1, long tx0,
                          long tw, const float *bias, int act, float slope, float *y, long h, long w);

/// Stride-2 Winograd input transform (Winograd4.c): for `channels` planes of x (h x w),
/// output tile rows [ty0, ty1) and tile columns [tx0, tx0 + tw), phase p (0..3: parities
/// (0,0), (0,1), (1,1), (1,0)) and position xi (0..24, row-major 5x5): V of channel c, tile j
/// (numbered from (ty0, tx0), tw per row) at v[xi * pstride + p * phase_stride + c * ld + j].
void cvm_winograd_s2_input(const float *x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,
                           float *v, long ld, long phase_stride, long pstride);

/// Its weight transform, for filters [f0, f1) of `filters`, from those filters' kernel-major
/// weights (position k of filter f, channel c at g[k * (f1 - f0) * C + (f - f0) * C + c]), into the
/// layout of WinogradStrideTwo.transformWeights for all `filters` (the same float operations as
/// its reference there: identical floats). Disjoint filter ranges may run at once.
void cvm_winograd_s2_weights(const float *g, long filters, long channels, long f0, long f1, float *u);

/// Its output transform: Y = act(A^T M A + bias) as cvm_winograd4_output, M with 25 positions
/// (the 5x5 transform, row-major) in place of 36.
void cvm_winograd_s2_output(const float *m, long ld, long pstride, long filters, long ty0, long ty1, long tx0,
                            long tw, const float *bias, int act, float slope, float *y, long h, long w);

/// A spin-wait hint (x86 `pause`, arm `yield`): lets the other hyper-thread and the memory system breathe
/// while a pool thread polls for work.
static inline void cvm_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
#include "CVectorMathDispatch.h"
#include "CVectorMathInt8.h"
#include "CVectorMathPooling.h"
#include "CVectorMathRounding.h"
