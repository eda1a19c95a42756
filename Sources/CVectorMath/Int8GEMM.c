// The int8 product (see CVectorMathInt8.h for the layouts): a register tile of up to 8 filters x
// 48 virtual columns in 24 int32 accumulators, each k group one vpdpbusd per accumulator (64
// multiply-adds of u8 activations by s8 weights), then the zero-point correction, the scale,
// the FP32 bias + activation (the FP32 kernels' epilogue, Epilogue.h) and either the next map's
// u8 codes, 4 filters to a word, or FP32 planes, while the tile is in registers.
// The AVX-512 VNNI level (Dispatch.c's int8 table; the other levels are Int8GEMMAVX2.c,
// Int8GEMMNEON.c and Int8GEMMPlain.c, which all give exactly the same results). x86-64 only.
#include "Int8Kernels.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

// The epilogue must give the Swift reference's numbers exactly: no fused multiply-adds.
#pragma clang fp contract(off)
#include "Epilogue.h"

#define VNNI __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,fma")))

// Lanes of the 16 columns from q whose plane column (border 1) is inside: not 0, not wp - 1.
INLINE unsigned q8_interior(long q, long wp) {
    long c = q % wp;
    unsigned m = 0xFFFFu;
    for (long l = (wp - c) % wp; l < 16; l += wp) m &= ~(1u << l);
    for (long l = (2 * wp - 1 - c) % wp; l < 16; l += wp) m &= ~(1u << l);
    return m;
}

// One vector of 16 columns from q of one filter's FP32 output, interior lanes only, into its
// H x W plane `y` (rows `width` apart): lane l is plane word q + l of rows `wp` words apart.
// Through a small buffer, row segment by row segment (a vector can span several short rows).
VNNI INLINE void q8_store_f32(__m512 v, long q, int lanes, long wp, long width, float *y) {
    float t[16];
    _mm512_storeu_ps(t, v);
    long row = q / wp, col = q - row * wp;
    for (int l = 0; l < lanes;) {
        int run = (int)(wp - col) < lanes - l ? (int)(wp - col) : lanes - l;
        // Interior columns 1...wp-2 of this row's lanes [l, l + run).
        long a = col < 1 ? 1 - col : 0, b = col + run > wp - 1 ? wp - 1 - col : run;
        if (b > a) memcpy(y + (row - 1) * width + (col + a - 1), t + l + a, (size_t)(b - a) * sizeof(float));
        l += run;
        row++;
        col = 0;
    }
}

// One register tile: MR filters (the first `rows` real) x NV vectors of 16 columns from q (the
// last masked to `last` when MASKED). Instantiated with constants only, so the accumulators
// stay in registers. `x` is the byte address of column q.
VNNI INLINE void q8_tile(const int MR, const int NV, const int MASKED, __mmask16 last, const uint8_t *restrict x,
                         const long *restrict off, long kgroups, const int8_t *restrict w, long ldw, int rows,
                         const int32_t *restrict corr, const float *restrict scale, const float *restrict bias,
                         long f, long q, int act, float slope, const cvm_q8_output *restrict out) {
    __m512i acc[8][3];
    const int8_t *wr[8];
    for (int i = 0; i < MR; i++) {
        wr[i] = w + (i < rows ? i : rows - 1) * ldw;
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_si512();
    }
    for (long g = 0; g < kgroups; g++) {
        const uint8_t *xr = x + 4 * off[g];
        __m512i xv[3];
        for (int j = 0; j < NV; j++) {
            xv[j] = (MASKED && j == NV - 1) ? _mm512_maskz_loadu_epi32(last, xr + 64 * j)
                                             : _mm512_loadu_si512((const void *)(xr + 64 * j));
        }
        for (int i = 0; i < MR; i++) {
            int32_t word;
            memcpy(&word, wr[i] + 4 * g, 4);
            __m512i b = _mm512_set1_epi32(word);
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xv[j], b);
        }
    }
    if (out->kind == CVM_Q8_U8) {
        const __m512 inv = _mm512_set1_ps(out->inv_scale);
        const __m512 lo = _mm512_set1_ps((float)-out->zero), hi = _mm512_set1_ps((float)(255 - out->zero));
        const __m512i zp = _mm512_set1_epi32(out->zero);
        const __m512i zero_word = _mm512_set1_epi32((int)((uint32_t)out->zero * 0x01010101u));
        for (int grp = 0; grp < MR / 4; grp++) {
            uint32_t *dst = out->words + (f / 4 + grp) * out->group_stride + q;
            for (int j = 0; j < NV; j++) {
                __m512i word = _mm512_setzero_si512();
                for (int t = 0; t < 4; t++) {
                    int i = 4 * grp + t;
                    __m512i code = zp;
                    if (i < rows) {
                        __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], _mm512_set1_epi32(corr[i])));
                        v = finish(_mm512_mul_ps(v, _mm512_set1_ps(scale[i])), bias[i], act, slope);
                        v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), lo), hi);
                        code = _mm512_add_epi32(_mm512_cvtps_epi32(v), zp);
                    }
                    word = _mm512_or_si512(word, _mm512_slli_epi32(code, 8 * t));
                }
                __mmask16 inside = (__mmask16)q8_interior(q + 16 * j, out->padded_width);
                __mmask16 valid = (MASKED && j == NV - 1) ? last : (__mmask16)0xFFFF;
                word = _mm512_mask_blend_epi32(inside, zero_word, word);
                _mm512_mask_storeu_epi32(dst + 16 * j, valid, word);
            }
        }
    } else {
        for (int i = 0; i < MR && i < rows; i++) {
            float *y = out->y + (f + i) * out->plane;
            for (int j = 0; j < NV; j++) {
                __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], _mm512_set1_epi32(corr[i])));
                v = finish(_mm512_mul_ps(v, _mm512_set1_ps(scale[i])), bias[i], act, slope);
                int lanes = (MASKED && j == NV - 1) ? __builtin_popcount((unsigned)last) : 16;
                q8_store_f32(v, q + 16 * j, lanes, out->padded_width, out->width, y);
            }
        }
    }
}

#define Q8_TILE(MR, NV, M) \
    q8_tile(MR, NV, M, last, xq, off, kgroups, w, ldw, rows, corr, scale, bias, f, q, act, slope, out)

VNNI static void q8_tile_any(int mr, int nv, int masked, __mmask16 last, const uint8_t *xq, const long *off,
                             long kgroups, const int8_t *w, long ldw, int rows, const int32_t *corr,
                             const float *scale, const float *bias, long f, long q, int act, float slope,
                             const cvm_q8_output *out) {
#define Q8_BY_NV(MR)                                              \
    if (masked) {                                                 \
        if (nv == 3) Q8_TILE(MR, 3, 1);                           \
        else if (nv == 2) Q8_TILE(MR, 2, 1);                      \
        else Q8_TILE(MR, 1, 1);                                   \
    } else {                                                      \
        if (nv == 3) Q8_TILE(MR, 3, 0);                           \
        else if (nv == 2) Q8_TILE(MR, 2, 0);                      \
        else Q8_TILE(MR, 1, 0);                                   \
    }
    switch (mr) {
    case 8: Q8_BY_NV(8) break;
    case 4: Q8_BY_NV(4) break;
    case 2: Q8_BY_NV(2) break;
    default: Q8_BY_NV(1) break;
    }
#undef Q8_BY_NV
}

// Filters [f, f + mr) (mr <= 8, rows of `w`) over columns [q0, q1): the block's weights stay in
// L1 while the columns stream past. U8 output takes whole groups of 4 filters (a tile of 8 or
// 4, its missing rows written as the zero point); FP32 output tiles of 8, 4, 2, 1.
VNNI static void q8_block(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                          const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1,
                          int act, float slope, const cvm_q8_output *out) {
    while (mr > 0) {
        int part, rows;
        if (out->kind == CVM_Q8_U8) {
            part = mr > 4 ? 8 : 4;
            rows = mr;
        } else {
            part = mr >= 8 ? 8 : mr >= 4 ? 4 : mr >= 2 ? 2 : 1;
            rows = part;
        }
        for (long q = q0; q < q1; q += 48) {
            long cols = q1 - q < 48 ? q1 - q : 48;
            int nv = (int)((cols + 15) / 16);
            int rem = (int)(cols & 15);
            __mmask16 last = rem ? (__mmask16)((1u << rem) - 1) : (__mmask16)0xFFFF;
            const uint8_t *xq = (const uint8_t *)(x + q);
            if (part == 8 && rows == 8 && cols == 48) {
                q8_tile(8, 3, 0, last, xq, off, kgroups, w, ldw, 8, corr, scale, bias, f, q, act, slope, out);
            } else {
                q8_tile_any(part, nv, rem != 0, last, xq, off, kgroups, w, ldw, rows, corr, scale, bias, f, q, act,
                            slope, out);
            }
        }
        int done = rows < part ? rows : part;
        mr -= done;
        w += done * ldw;
        corr += done;
        scale += done;
        bias += done;
        f += done;
    }
}

// Columns per chunk: every filter block re-reads the chunk's input words (about K/4 of them per
// column), which should stay in L2 (256 KiB of a core's 1-2 MiB).
static long q8_chunk(long kgroups) {
    long cols = (256L << 10) / (4 * kgroups) / 48 * 48;
    return cols < 48 ? 48 : cols;
}

VNNI void cvm_int8_unpack4_avx512(const uint8_t *codes, long count, int offset, int8_t *out) {
    const __m512i low = _mm512_set1_epi16(0x0F), off = _mm512_set1_epi8((char)offset);
    long n = 0;
    // 64 codes (32 bytes) a step: widen each byte to 16 bits as (low nibble, high nibble), which
    // is the two codes in stream order.
    for (; n + 64 <= count; n += 64) {
        __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(codes + n / 2)));
        __m512i pair = _mm512_or_si512(_mm512_and_si512(b, low), _mm512_slli_epi16(_mm512_srli_epi16(b, 4), 8));
        _mm512_storeu_si512((void *)(out + n), _mm512_sub_epi8(pair, off));
    }
    for (; n < count; n += 2) {
        uint8_t byte = codes[n / 2];
        out[n] = (int8_t)((byte & 15) - offset);
        out[n + 1] = (int8_t)((byte >> 4) - offset);
    }
}

VNNI void cvm_q8_gemm_avx512vnni(const uint32_t *x, const long *offsets, long kgroups, const int8_t *w, long ldw,
                      const uint8_t *codes, const int8_t *code_offset, int8_t *wbuf,
                      const int32_t *corr, const float *scale, const float *bias, long f0, long f1,
                      long q0, long q1, int act, float slope, const cvm_q8_output *out) {
    const long k = 4 * kgroups, chunk = q8_chunk(kgroups);
    for (long c0 = q0; c0 < q1; c0 += chunk) {
        long c1 = q1 - c0 < chunk ? q1 : c0 + chunk;
        for (long f = f0; f < f1; f += 8) {
            int mr = (int)(f1 - f < 8 ? f1 - f : 8);
            const int8_t *rows = w + f * ldw;
            long ld = ldw;
            if (codes) {
                // 4-bit weights: this block unpacked just before it is multiplied (most tasks are
                // one chunk, so once per task).
                for (int i = 0; i < mr; i++) cvm_int8_unpack4_avx512(codes + (f + i) * k / 2, k, code_offset[f + i], wbuf + i * k);
                rows = wbuf;
                ld = k;
            }
            q8_block(mr, x, offsets, kgroups, rows, ld, corr + f, scale + f, bias + f, f, c0, c1, act, slope, out);
        }
    }
}

#endif
