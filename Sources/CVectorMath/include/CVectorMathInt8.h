// The int8 conv path: u8 activations (per-tensor scale and zero point) times s8 weights (per
// filter scale), int32 accumulation with AVX-512 VNNI (vpdpbusd), FP32 out through the same
// fused bias + activation epilogue as cvm_pointwise.
//
// Layouts. K runs kernel position major, channel minor: k = (i*kw + j)*Cp + c, with C padded to
// Cp (a multiple of 4) so that every group of 4 consecutive k is 4 channels at one kernel
// position. A quantized map is `[Cp/4][H*W]` 32-bit words, each the u8 values of 4 channels of
// one pixel; a column panel is `[K/4][ldp]` such words, one column per output pixel, which is
// what vpdpbusd multiplies with a broadcast word of 4 weights. Weights are `[F][K]` s8 rows.
#ifndef CVECTORMATH_INT8_H
#define CVECTORMATH_INT8_H

#include <stdint.h>

/// Whether the int8 kernels can run here (AVX-512 F/DQ/BW/VL and VNNI).
int cvm_int8_available(void);

/// q[g * plane + p] = the u8 values of channels 4g...4g+3 at pixel p, for channel groups
/// [g0, g1) and pixels [p0, p1): u = clamp(round_half_even(x * inv_scale) + zero, 0, 255), 0 for
/// channels >= channels. x is `channels` planes of `plane` floats.
void cvm_int8_quantize(const float *x, long channels, long plane, long p0, long p1, float inv_scale,
                       int zero, long g0, long g1, uint32_t *q);

/// The same into a map padded by `pad` on every side (groups x (height + 2 pad) x (width + 2
/// pad) words, the border all zero-point bytes), input rows [r0, r1) (and the top / bottom
/// border with the first / last row): the input of implicit columns.
void cvm_int8_quantize_padded(const float *x, long channels, long height, long width, long pad,
                              long r0, long r1, float inv_scale, int zero, long g0, long g1, uint32_t *q);

/// Implicit columns for a stride-1 conv (no panel): `x` is a padded quantized map, column q is
/// the virtual position q = oy * padded_width + ox, and k group kg reads word q + offsets[kg]
/// (offsets[(i*kw + j)*groups + g] = g * plane + i * padded_width + j, plane the padded map's
/// words per group). Columns with ox >= out_width are computed and not stored; y is the
/// output's origin (rows out_width apart). padded_width must be at least 16.
typedef struct {
    const long *offsets;
    long padded_width;
    long out_width;
} cvm_int8_columns;

/// Column panel of output rows [row0, row0 + rows) from a quantized map (groups x height x width
/// words): panel row (i*kw + j)*groups + g, columns rows*ow from column `col0` of rows `ldp`
/// words apart, `pad` (the zero point in every byte) where the kernel reads padding. Only
/// groups [g0, g1) are written.
void cvm_int8_im2col(const uint32_t *q, long groups, long height, long width, long kh, long kw,
                     long stride, long pad, long ow, long row0, long rows, uint32_t pad_word,
                     long g0, long g1, uint32_t *panel, long ldp);

/// y[f * ldy + p] = act(float(acc[f, p] - corr[f]) * scale[f] + bias[f]) for f in [f0, f1),
/// p in [p0, p1), where acc[f, p] = sum_k u[k, p] * w[f, k] in int32: u the panel `x` (word
/// row g, column p at byte 4 * (g * ldx + p)), w the s8 rows `ldw` bytes apart, groups = K/4.
/// With `columns` (else null), u comes from implicit columns instead (see cvm_int8_columns).
void cvm_int8_gemm(const uint8_t *x, long ldx, long groups, const int8_t *w, long ldw,
                   const int32_t *corr, const float *scale, const float *bias, float *y, long ldy,
                   long f0, long f1, long p0, long p1, int act, float slope, const cvm_int8_columns *columns);

/// The same with 4-bit codes: filter f's K codes start at byte f * K / 2 of `codes` (two a
/// byte, low nibble first) and weight = code - offset[f]. Each block of 8 filters is unpacked
/// into `wbuf` (8 * K bytes) just before it is multiplied: never the whole layer.
void cvm_int8_gemm_packed4(const uint8_t *x, long ldx, long groups, const uint8_t *codes,
                           const int8_t *offset, int8_t *wbuf, const int32_t *corr,
                           const float *scale, const float *bias, float *y, long ldy, long f0,
                           long f1, long p0, long p1, int act, float slope, const cvm_int8_columns *columns);

/// out[k] = (code k of `codes`) - offset, k < count (even): the unpack of cvm_int8_gemm_packed4.
void cvm_int8_unpack4(const uint8_t *codes, long count, int offset, int8_t *out);

#endif
