// The per-level int8 kernels behind the dispatcher (internal: not part of the module's API; the
// layouts are CVectorMathInt8.h's). Every int8 level gives exactly the plain level's results:
// the products are integer sums, and each epilogue is the scalar one below, lane by lane.
//
// Levels and files: AVX-512 VNNI in Int8GEMM.c / Int8Maps.c; AVX-VNNI and AVX2 in
// Int8GEMMAVX2.c / Int8MapsAVX2.c; NEON with and without the dot-product extension in
// Int8GEMMNEON.c / Int8MapsNEON.c; plain C in Int8GEMMPlain.c / Int8Maps.c. Dispatch.c's table
// picks one per level.
#ifndef CVECTORMATH_INT8_KERNELS_H
#define CVECTORMATH_INT8_KERNELS_H

#include "Kernels.h"
#include "EpilogueScalar.h"
#include <stdint.h>

#define CVM_Q8_GEMM_PARAMS                                                                                      \
    (const uint32_t *x, const long *offsets, long kgroups, const int8_t *w, long ldw, const uint8_t *codes,    \
     const int8_t *code_offset, int8_t *wbuf, const int32_t *corr, const float *scale, const float *bias, long f0, \
     long f1, long q0, long q1, int act, float slope, const cvm_q8_output *out)
#define CVM_Q8_GEMM_ARGS \
    (x, offsets, kgroups, w, ldw, codes, code_offset, wbuf, corr, scale, bias, f0, f1, q0, q1, act, slope, out)
#define CVM_Q8_UNPACK4_PARAMS (const uint8_t *codes, long count, int offset, int8_t *out)
#define CVM_Q8_QUANTIZE_PARAMS                                                                                  \
    (const float *x, long channels, long height, long width, long r0, long r1, float inv_scale, int zero, long g0, \
     long g1, uint32_t *words, long group_stride)
#define CVM_Q8_DEQUANTIZE_PARAMS                                                                                \
    (const uint32_t *words, long group_stride, long channels, long height, long width, float scale, int zero,     \
     long g0, long g1, float *y)
#define CVM_Q8_PHASE_SPLIT_PARAMS                                                                               \
    (const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1, uint32_t zero_word,       \
     uint32_t *phases, long phase_stride, long group_stride)
#define CVM_Q8_FILL_BORDER_PARAMS \
    (uint32_t *words, long group_stride, long height, long width, long g0, long g1, uint32_t zero_word)
#define CVM_Q8_MAXPOOL2X2_PARAMS                                                                                \
    (const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1, uint32_t zero_word,       \
     uint32_t *y, long y_group_stride)
#define CVM_Q8_MAXPOOL_SAME_PARAMS                                                                              \
    (const uint32_t *x, long x_group_stride, long height, long width, long r, long g0, long g1,                   \
     uint32_t zero_word, uint32_t *y, long y_group_stride)
#define CVM_Q8_UPSAMPLE_PARAMS CVM_Q8_MAXPOOL2X2_PARAMS

// MARK: the products

void cvm_q8_gemm_plain CVM_Q8_GEMM_PARAMS;
void cvm_int8_unpack4_plain CVM_Q8_UNPACK4_PARAMS;
#if defined(__x86_64__)
void cvm_q8_gemm_avx512vnni CVM_Q8_GEMM_PARAMS;
void cvm_int8_unpack4_avx512 CVM_Q8_UNPACK4_PARAMS;
void cvm_q8_gemm_avxvnni CVM_Q8_GEMM_PARAMS;
void cvm_q8_gemm_avx2 CVM_Q8_GEMM_PARAMS;
void cvm_int8_unpack4_avx2 CVM_Q8_UNPACK4_PARAMS;
#endif
#if defined(__aarch64__)
void cvm_q8_gemm_neon_dotprod CVM_Q8_GEMM_PARAMS;
void cvm_q8_gemm_neon CVM_Q8_GEMM_PARAMS;
void cvm_int8_unpack4_neon CVM_Q8_UNPACK4_PARAMS;
#endif

// Filters [f, f + mr) (mr <= 8, rows of `w` `ldw` bytes apart) over columns [q0, q1) of one
// level's register tiles: what cvm_q8_gemm computes, for one block of filters.
typedef void (*cvm_q8_block)(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                             const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1,
                             int act, float slope, const cvm_q8_output *out);

// cvm_q8_gemm through a level's `block` (Int8GEMMPlain.c): chunks of columns whose input words
// stay in L2, blocks of 8 filters (4-bit ones unpacked into `wbuf` with `unpack` first).
void cvm_q8_gemm_blocks(cvm_q8_block block, void (*unpack)CVM_Q8_UNPACK4_PARAMS, const uint32_t *x,
                        const long *offsets, long kgroups, const int8_t *w, long ldw, const uint8_t *codes,
                        const int8_t *code_offset, int8_t *wbuf, const int32_t *corr, const float *scale,
                        const float *bias, long f0, long f1, long q0, long q1, int act, float slope,
                        const cvm_q8_output *out);

// MARK: the map kernels

// The row loops (and the same pool's plane loop) of the map kernels that have vector versions;
// Int8Maps.c's drivers walk the groups, rows and borders and call these (null: the plain loop).
typedef struct {
    // dst[p] = the word of input column p's `lanes` channels (planes `plane` floats apart), p < n.
    void (*quantize)(const float *x, long plane, int lanes, long n, float inv, int zero, uint32_t *dst);
    // even[b] = src[2b] for b < ne, odd[b] = src[2b + 1] for b < no (src holds `len` words).
    void (*split)(const uint32_t *src, long len, long ne, long no, uint32_t *even, uint32_t *odd);
    // out[b] = bytewise max of r0[2b], r0[2b + 1], r1[2b], r1[2b + 1], b < ow.
    void (*maxpool2x2)(const uint32_t *r0, const uint32_t *r1, long ow, uint32_t *out);
    // out[2c] = out[2c + 1] = in[c], c < w.
    void (*upsample)(const uint32_t *in, long w, uint32_t *out);
    // The interior of one group's stride-1 "same" max pool (kernel 2r + 1) of a height x width
    // plane (src and dst padded planes; the driver writes dst's border).
    void (*maxpool_same)(const uint32_t *src, long height, long width, long r, uint32_t *dst);
} cvm_q8_rows;

#if defined(__x86_64__)
extern const cvm_q8_rows cvm_q8_rows_avx2;
#endif
#if defined(__aarch64__)
extern const cvm_q8_rows cvm_q8_rows_neon;
#endif

#define CVM_Q8_DECLARE_MAPS(level)                                \
    void cvm_q8_quantize_##level CVM_Q8_QUANTIZE_PARAMS;          \
    void cvm_q8_phase_split_##level CVM_Q8_PHASE_SPLIT_PARAMS;    \
    void cvm_q8_maxpool2x2_##level CVM_Q8_MAXPOOL2X2_PARAMS;      \
    void cvm_q8_upsample2x_##level CVM_Q8_UPSAMPLE_PARAMS;        \
    void cvm_q8_maxpool_same_##level CVM_Q8_MAXPOOL_SAME_PARAMS;

CVM_Q8_DECLARE_MAPS(plain)
#if defined(__x86_64__)
CVM_Q8_DECLARE_MAPS(avx512)
CVM_Q8_DECLARE_MAPS(avx2)
#endif
#if defined(__aarch64__)
CVM_Q8_DECLARE_MAPS(neon)
#endif
void cvm_q8_dequantize_plain CVM_Q8_DEQUANTIZE_PARAMS;
void cvm_q8_fill_border_rows_plain CVM_Q8_FILL_BORDER_PARAMS;

// MARK: the scalar epilogue every level computes, lane by lane

// A product's value: act(float(acc - corr) * scale + bias), FastMath's arithmetic (Int8Conv's
// reference: `applyFast(Float(acc - correction) * scale + bias)`).
static inline float cvm_q8_value(int32_t acc, int32_t corr, float scale, float bias, int act, float slope) {
    return cvm_finish_scalar((float)(acc - corr) * scale, bias, act, slope);
}

// The u8 code of v on the grid (inv, zero), as the vector epilogues compute it: v * inv clamped
// to [-zero, 255 - zero] by max-then-min with the x86 operand order (a NaN gives -zero), rounded
// half to even (1.5 * 2^23 added and taken away: exact for |t| <= 255, and no libm call on the
// x86-64 baseline), then zero added.
static inline uint32_t cvm_q8_code(float v, float inv, int zero) {
    float t = v * inv;
    const float lo = (float)-zero, hi = (float)(255 - zero);
    t = t > lo ? t : lo;
    t = t < hi ? t : hi;
    return (uint32_t)((int)((t + 12582912.0f) - 12582912.0f) + zero);
}

// Bytewise max of two words (codes: the max of codes is the code of the max).
static inline uint32_t cvm_q8_max_bytes(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    for (int t = 0; t < 4; t++) {
        const uint32_t x = (a >> (8 * t)) & 255, y = (b >> (8 * t)) & 255;
        r |= (x > y ? x : y) << (8 * t);
    }
    return r;
}

// Whether virtual column q is an interior column of its plane row (not the border columns 0
// and wp - 1).
static inline int cvm_q8_interior(long q, long wp) {
    const long c = q % wp;
    return c != 0 && c != wp - 1;
}

// Bit l set for each of the `lanes` columns from q that are interior columns.
static inline unsigned cvm_q8_interior_bits(long q, int lanes, long wp) {
    unsigned bits = 0;
    long c = q % wp;
    for (int l = 0; l < lanes; l++) {
        if (c != 0 && c != wp - 1) bits |= 1u << l;
        c = c + 1 == wp ? 0 : c + 1;
    }
    return bits;
}

// One filter's FP32 values of `lanes` consecutive columns from q into its H x W plane `y`
// (rows `width` apart), interior columns only, row segment by row segment (a run of lanes can
// span several short rows).
static inline void cvm_q8_store_f32(const float *t, long q, int lanes, long wp, long width, float *y) {
    long row = q / wp, col = q - row * wp;
    for (int l = 0; l < lanes;) {
        const int run = (int)(wp - col) < lanes - l ? (int)(wp - col) : lanes - l;
        const long a = col < 1 ? 1 - col : 0, b = col + run > wp - 1 ? wp - 1 - col : run;
        for (long i = a; i < b; i++) y[(row - 1) * width + col + i - 1] = t[l + i];
        l += run;
        row++;
        col = 0;
    }
}

#endif
