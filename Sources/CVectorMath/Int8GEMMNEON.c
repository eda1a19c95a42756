// The int8 product in NEON, two int8 levels (aarch64 only):
//   - neon-dotprod: sdot (vdotq_s32, the dot-product extension: Cortex-A55/A76 and later, Apple
//     M1, Graviton 2+), 4 s8 x s8 products into each int32 lane, a tile of 8 filters x 12 columns
//     in 24 accumulators;
//   - neon: vmull_s8 + vpadalq_s16 (any aarch64 CPU), a tile of 8 filters x 4 columns.
// Both take signed bytes, so the u8 activations go in as u - 128 (the top bit flipped): each sum
// is then the true one less 128 x the filter's weight sum, added back per filter with the
// zero-point correction. (|(u - 128) w| <= 128 x 128 fits vmull_s8's int16 exactly.) u8 x s8
// directly (vusdotq) would need the i8mm extension, which fewer CPUs have.
// Both end in the same epilogue, EpilogueNEON.h's bias + activation and the rounding of
// cvm_q8_code, lane for lane the plain level's (Int8GEMMPlain.c) arithmetic.
#include "Int8Kernels.h"
#include <string.h>

#if defined(__aarch64__)
#include <arm_neon.h>
#include "EpilogueNEON.h"

#if defined(__clang__)
#define DOTPROD __attribute__((target("dotprod")))
#else
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

// One k group's 4 weights of a filter row, as a 32-bit word.
CVM_INLINE int32_t weight_word(const int8_t *row, long g) {
    int32_t word;
    memcpy(&word, row + 4 * g, 4);
    return word;
}

// 4 columns' words from p as signed bytes u - 128; only `lanes` of them read when MASKED.
CVM_INLINE int8x16_t load_shifted(const int MASKED, const uint8_t *p, int lanes) {
    uint8x16_t v;
    if (MASKED) {
        uint32_t t[4] = {0, 0, 0, 0};
        memcpy(t, p, 4 * (size_t)lanes);
        v = vreinterpretq_u8_u32(vld1q_u32(t));
    } else {
        v = vld1q_u8(p);
    }
    return vreinterpretq_s8_u8(veorq_u8(v, vdupq_n_u8(0x80)));
}

// What each filter's sums lack: 128 x its weight sum, less the zero-point correction.
CVM_INLINE void adjustments(const int8_t *w, long ldw, int rows, long k, const int32_t *corr, int32_t *adj) {
    for (int i = 0; i < rows; i++) {
        int32_t sum = 0;
        for (long n = 0; n < k; n++) sum += w[i * ldw + n];
        adj[i] = 128 * sum - corr[i];
    }
}

// MARK: epilogue

// Writes a tile's sums: MR filters from f (the first `rows` real; f a multiple of 4 for U8
// output, whose missing bytes get the zero point) x NV vectors of 4 columns from q, the last
// holding `last` columns. acc + adj is the integer sum less the correction.
CVM_INLINE void tile_epilogue(const int MR, const int NV, int32x4_t acc[8][3], int rows, int last, const int32_t *adj,
                              const float *scale, const float *bias, long f, long q, int act, float slope,
                              const cvm_q8_output *out) {
    const long wp = out->padded_width;
    if (out->kind == CVM_Q8_U8) {
        const float32x4_t lo = vdupq_n_f32((float)-out->zero), hi = vdupq_n_f32((float)(255 - out->zero));
        const int32x4_t zp = vdupq_n_s32(out->zero);
        const uint32x4_t zero_word = vdupq_n_u32((uint32_t)out->zero * 0x01010101u);
        const uint32x4_t bit = {1, 2, 4, 8};
        for (int grp = 0; grp < MR / 4; grp++) {
            uint32_t *dst = out->words + (f / 4 + grp) * out->group_stride + q;
            for (int j = 0; j < NV; j++) {
                const int lanes = j == NV - 1 ? last : 4;
                uint32x4_t word = vdupq_n_u32(0);
                for (int t = 0; t < 4; t++) {
                    const int i = 4 * grp + t;
                    int32x4_t code = zp;
                    if (i < rows) {
                        float32x4_t v = vcvtq_f32_s32(vaddq_s32(acc[i][j], vdupq_n_s32(adj[i])));
                        v = cvm_finish4(vmulq_n_f32(v, scale[i]), bias[i], act, slope);
                        v = vmulq_n_f32(v, out->inv_scale);
                        // max then min with x86's operand order (vmaxq would pass a NaN on).
                        v = vbslq_f32(vcgtq_f32(v, lo), v, lo);
                        v = vbslq_f32(vcltq_f32(v, hi), v, hi);
                        code = vaddq_s32(vcvtnq_s32_f32(v), zp);
                    }
                    word = vorrq_u32(word, vshlq_u32(vreinterpretq_u32_s32(code), vdupq_n_s32(8 * t)));
                }
                const uint32x4_t inside = vtstq_u32(vdupq_n_u32(cvm_q8_interior_bits(q + 4 * j, 4, wp)), bit);
                word = vbslq_u32(inside, word, zero_word);
                if (lanes == 4) {
                    vst1q_u32(dst + 4 * j, word);
                } else {
                    uint32_t t[4];
                    vst1q_u32(t, word);
                    memcpy(dst + 4 * j, t, 4 * (size_t)lanes);
                }
            }
        }
    } else {
        for (int i = 0; i < MR && i < rows; i++) {
            float *y = out->y + (f + i) * out->plane;
            for (int j = 0; j < NV; j++) {
                float32x4_t v = vcvtq_f32_s32(vaddq_s32(acc[i][j], vdupq_n_s32(adj[i])));
                v = cvm_finish4(vmulq_n_f32(v, scale[i]), bias[i], act, slope);
                float t[4];
                vst1q_f32(t, v);
                cvm_q8_store_f32(t, q + 4 * j, j == NV - 1 ? last : 4, wp, out->width, y);
            }
        }
    }
}

#define TILE_PARAMS                                                                                             \
    int last, const uint8_t *restrict x, const long *restrict off, long kgroups, const int8_t *restrict w,      \
        long ldw, int rows, const int32_t *restrict adj, const float *restrict scale, const float *restrict bias, \
        long f, long q, int act, float slope, const cvm_q8_output *restrict out
#define TILE_ARGS last, x, off, kgroups, w, ldw, rows, adj, scale, bias, f, q, act, slope, out

// MARK: neon-dotprod

DOTPROD CVM_INLINE void dot_tile(const int MR, const int NV, const int MASKED, TILE_PARAMS) {
    int32x4_t acc[8][3];
    const int8_t *wr[8];
    for (int i = 0; i < MR; i++) {
        wr[i] = w + (i < rows ? i : rows - 1) * ldw;
        for (int j = 0; j < NV; j++) acc[i][j] = vdupq_n_s32(0);
    }
    for (long g = 0; g < kgroups; g++) {
        const uint8_t *xr = x + 4 * off[g];
        int8x16_t xv[3];
        for (int j = 0; j < NV; j++) xv[j] = load_shifted(MASKED && j == NV - 1, xr + 16 * j, last);
        for (int i = 0; i < MR; i++) {
            const int8x16_t b = vreinterpretq_s8_s32(vdupq_n_s32(weight_word(wr[i], g)));
            for (int j = 0; j < NV; j++) acc[i][j] = vdotq_s32(acc[i][j], xv[j], b);
        }
    }
    tile_epilogue(MR, NV, acc, rows, last, adj, scale, bias, f, q, act, slope, out);
}

DOTPROD static void dot_tile_any(int mr, int nv, int masked, TILE_PARAMS) {
#define BY_NV(MR)                                                 \
    if (masked) {                                                 \
        if (nv == 3) dot_tile(MR, 3, 1, TILE_ARGS);               \
        else if (nv == 2) dot_tile(MR, 2, 1, TILE_ARGS);          \
        else dot_tile(MR, 1, 1, TILE_ARGS);                       \
    } else {                                                      \
        if (nv == 3) dot_tile(MR, 3, 0, TILE_ARGS);               \
        else if (nv == 2) dot_tile(MR, 2, 0, TILE_ARGS);          \
        else dot_tile(MR, 1, 0, TILE_ARGS);                       \
    }
    if (mr == 8) {
        BY_NV(8)
    } else {
        BY_NV(4)
    }
#undef BY_NV
}

// Filters [f, f + mr) in one tile of 8 (or 4) over columns [q0, q1) in steps of 12.
DOTPROD static void dot_block(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                              const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1,
                              int act, float slope, const cvm_q8_output *out) {
    int32_t adj[8];
    adjustments(w, ldw, mr, 4 * kgroups, corr, adj);
    const int part = mr > 4 ? 8 : 4;
    for (long q = q0; q < q1; q += 12) {
        const long cols = q1 - q < 12 ? q1 - q : 12;
        const int nv = (int)((cols + 3) / 4), rem = (int)(cols & 3);
        dot_tile_any(part, nv, rem != 0, rem ? rem : 4, (const uint8_t *)(x + q), off, kgroups, w, ldw, mr, adj, scale,
                     bias, f, q, act, slope, out);
    }
}

// MARK: neon (no dotprod)

// Per filter two int32 accumulators of 4 lanes (columns 0-1 and 2-3, two lanes a column, from
// vpadal's pairs of int16 products), added pairwise at the end.
CVM_INLINE void mull_tile(const int MR, const int MASKED, TILE_PARAMS) {
    int32x4_t lo[8], hi[8], acc[8][3];
    const int8_t *wr[8];
    for (int i = 0; i < MR; i++) {
        wr[i] = w + (i < rows ? i : rows - 1) * ldw;
        lo[i] = hi[i] = vdupq_n_s32(0);
    }
    for (long g = 0; g < kgroups; g++) {
        const int8x16_t xv = load_shifted(MASKED, x + 4 * off[g], last);
        const int8x8_t x0 = vget_low_s8(xv), x1 = vget_high_s8(xv);
        for (int i = 0; i < MR; i++) {
            const int8x8_t b = vreinterpret_s8_s32(vdup_n_s32(weight_word(wr[i], g)));
            lo[i] = vpadalq_s16(lo[i], vmull_s8(x0, b));
            hi[i] = vpadalq_s16(hi[i], vmull_s8(x1, b));
        }
    }
    for (int i = 0; i < MR; i++) acc[i][0] = vpaddq_s32(lo[i], hi[i]);
    tile_epilogue(MR, 1, acc, rows, last, adj, scale, bias, f, q, act, slope, out);
}

static void mull_block(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                       const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1, int act,
                       float slope, const cvm_q8_output *out) {
    int32_t adj[8];
    adjustments(w, ldw, mr, 4 * kgroups, corr, adj);
    for (long q = q0; q < q1; q += 4) {
        const int cols = (int)(q1 - q < 4 ? q1 - q : 4);
        const uint8_t *xq = (const uint8_t *)(x + q);
        if (mr > 4) {
            if (cols == 4) mull_tile(8, 0, 4, xq, off, kgroups, w, ldw, mr, adj, scale, bias, f, q, act, slope, out);
            else mull_tile(8, 1, cols, xq, off, kgroups, w, ldw, mr, adj, scale, bias, f, q, act, slope, out);
        } else {
            if (cols == 4) mull_tile(4, 0, 4, xq, off, kgroups, w, ldw, mr, adj, scale, bias, f, q, act, slope, out);
            else mull_tile(4, 1, cols, xq, off, kgroups, w, ldw, mr, adj, scale, bias, f, q, act, slope, out);
        }
    }
}

// MARK: entry points

// Each code byte widened to 16 bits as (low nibble, high nibble): 16 codes a step.
void cvm_int8_unpack4_neon(const uint8_t *codes, long count, int offset, int8_t *out) {
    const int8x16_t off = vdupq_n_s8((int8_t)offset);
    long n = 0;
    for (; n + 32 <= count; n += 32) {
        const uint8x16_t b = vld1q_u8(codes + n / 2);
        const uint8x16x2_t pairs = vzipq_u8(vandq_u8(b, vdupq_n_u8(15)), vshrq_n_u8(b, 4));
        vst1q_s8(out + n, vsubq_s8(vreinterpretq_s8_u8(pairs.val[0]), off));
        vst1q_s8(out + n + 16, vsubq_s8(vreinterpretq_s8_u8(pairs.val[1]), off));
    }
    cvm_int8_unpack4_plain(codes + n / 2, count - n, offset, out + n);
}

void cvm_q8_gemm_neon_dotprod CVM_Q8_GEMM_PARAMS {
    cvm_q8_gemm_blocks(dot_block, cvm_int8_unpack4_neon, x, offsets, kgroups, w, ldw, codes, code_offset, wbuf, corr,
                       scale, bias, f0, f1, q0, q1, act, slope, out);
}

void cvm_q8_gemm_neon CVM_Q8_GEMM_PARAMS {
    cvm_q8_gemm_blocks(mull_block, cvm_int8_unpack4_neon, x, offsets, kgroups, w, ldw, codes, code_offset, wbuf, corr,
                       scale, bias, f0, f1, q0, q1, act, slope, out);
}

#endif
