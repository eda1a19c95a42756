// The int8 product in 256-bit registers, two int8 levels (x86-64 only):
//   - avx2-vnni: AVX-VNNI's vpdpbusd on ymm (Alder Lake and later, Zen 5), a tile of 4 filters x 24
//     columns in 12 accumulators (AVX2 has 16 ymm registers; the AVX-512 tile's 8 x 48 needs 32);
//   - avx2: vpmaddubsw + vpmaddwd, exact. vpmaddubsw adds two u8 x s8 products into an int16 with
//     saturation: 2 x 255 x 127 = 64,770 does not fit, so a tile looks at its filters' largest
//     |weight| m first. With m <= 16 (every 4-bit weight) a pair is at most 8,160 and 4 k groups'
//     pairs are summed in int16 before vpmaddwd widens them (4 x 8,160 = 32,640); m <= 32 sums 2,
//     m <= 64 one. Larger weights (8-bit ones) take the widening path: the u8 activations zero-
//     extended and the weights sign-extended to int16, vpmaddwd only (two int32 per column,
//     added at the end). A tile of 4 filters x 8 columns.
// Both end in the same epilogue, Epilogue256.h's bias + activation and the rounding of
// cvm_q8_code, lane for lane the plain level's (Int8GEMMPlain.c) arithmetic.
#include "Int8Kernels.h"
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include "Epilogue256.h"

#define VNNI256 __attribute__((target("avx2,fma,avxvnni")))

// One k group's 4 weights of a filter row, as a 32-bit word.
CVM_INLINE int32_t weight_word(const int8_t *row, long g) {
    int32_t word;
    memcpy(&word, row + 4 * g, 4);
    return word;
}

// 8 words from p, the first `lanes` only when MASKED (masked-off lanes are not read).
CVM_AVX2 CVM_INLINE __m256i load_words(const int MASKED, const uint8_t *p, __m256i tail) {
    return MASKED ? _mm256_maskload_epi32((const int *)p, tail) : _mm256_loadu_si256((const __m256i *)p);
}

// MARK: epilogue

// Writes a tile's sums: MR filters from f (the first `rows` real; f a multiple of 4 for U8
// output, whose missing bytes get the zero point) x NV vectors of 8 columns from q, the last
// holding `last` columns.
CVM_AVX2 CVM_INLINE void tile_epilogue(const int MR, const int NV, __m256i acc[8][3], int rows, int last,
                                       const int32_t *corr, const float *scale, const float *bias, long f, long q,
                                       int act, float slope, const cvm_q8_output *out) {
    const long wp = out->padded_width;
    if (out->kind == CVM_Q8_U8) {
        const __m256 inv = _mm256_set1_ps(out->inv_scale);
        const __m256 lo = _mm256_set1_ps((float)-out->zero), hi = _mm256_set1_ps((float)(255 - out->zero));
        const __m256i zp = _mm256_set1_epi32(out->zero);
        const __m256i zero_word = _mm256_set1_epi32((int)((uint32_t)out->zero * 0x01010101u));
        const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
        for (int j = 0; j < NV; j++) {
            const int lanes = j == NV - 1 ? last : 8;
            const __m256i bits = _mm256_set1_epi32((int)cvm_q8_interior_bits(q + 8 * j, 8, wp));
            const __m256i inside = _mm256_cmpeq_epi32(_mm256_and_si256(bits, bit), bit);
            for (int grp = 0; grp < MR / 4; grp++) {
                uint32_t *dst = out->words + (f / 4 + grp) * out->group_stride + q + 8 * j;
                __m256i word = _mm256_setzero_si256();
                for (int t = 0; t < 4; t++) {
                    const int i = 4 * grp + t;
                    __m256i code = zp;
                    if (i < rows) {
                        __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][j], _mm256_set1_epi32(corr[i])));
                        v = cvm_finish8(_mm256_mul_ps(v, _mm256_set1_ps(scale[i])), bias[i], act, slope);
                        v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(v, inv), lo), hi);
                        code = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
                    }
                    word = _mm256_or_si256(word, _mm256_slli_epi32(code, 8 * t));
                }
                word = _mm256_blendv_epi8(zero_word, word, inside);
                if (lanes == 8) _mm256_storeu_si256((__m256i *)dst, word);
                else _mm256_maskstore_epi32((int *)dst, cvm_tail_mask8(lanes), word);
            }
        }
    } else {
        for (int i = 0; i < MR && i < rows; i++) {
            float *y = out->y + (f + i) * out->plane;
            for (int j = 0; j < NV; j++) {
                __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][j], _mm256_set1_epi32(corr[i])));
                v = cvm_finish8(_mm256_mul_ps(v, _mm256_set1_ps(scale[i])), bias[i], act, slope);
                float t[8];
                _mm256_storeu_ps(t, v);
                cvm_q8_store_f32(t, q + 8 * j, j == NV - 1 ? last : 8, wp, out->width, y);
            }
        }
    }
}

// The parameters every tile takes after its shape: the input at column q (bytes), the k groups'
// offsets (words), the block's weight rows, and what the epilogue needs.
#define TILE_PARAMS                                                                                             \
    int last, const uint8_t *restrict x, const long *restrict off, long kgroups, const int8_t *restrict w,      \
        long ldw, int rows, const int32_t *restrict corr, const float *restrict scale, const float *restrict bias, \
        long f, long q, int act, float slope, const cvm_q8_output *restrict out
#define TILE_ARGS last, x, off, kgroups, w, ldw, rows, corr, scale, bias, f, q, act, slope, out

// MARK: avx2-vnni

VNNI256 CVM_INLINE void vnni_tile(const int MR, const int NV, const int MASKED, TILE_PARAMS) {
    __m256i acc[8][3];
    const int8_t *wr[8];
    for (int i = 0; i < MR; i++) {
        wr[i] = w + (i < rows ? i : rows - 1) * ldw;
        for (int j = 0; j < NV; j++) acc[i][j] = _mm256_setzero_si256();
    }
    const __m256i tail = cvm_tail_mask8(last);
    for (long g = 0; g < kgroups; g++) {
        const uint8_t *xr = x + 4 * off[g];
        __m256i xv[3];
        for (int j = 0; j < NV; j++) xv[j] = load_words(MASKED && j == NV - 1, xr + 32 * j, tail);
        for (int i = 0; i < MR; i++) {
            const __m256i b = _mm256_set1_epi32(weight_word(wr[i], g));
            for (int j = 0; j < NV; j++) acc[i][j] = _mm256_dpbusd_avx_epi32(acc[i][j], xv[j], b);
        }
    }
    tile_epilogue(MR, NV, acc, rows, last, corr, scale, bias, f, q, act, slope, out);
}

// The whole tile of 4 filters x 24 columns, its k loop in assembly: 12 accumulators, 3 column
// vectors and a broadcast are all 16 ymm registers, and compiled from intrinsics one accumulator
// was kept in memory (a store and reload on its dependency chain every k group), which left the
// tile slower than 4 x 16 with 8 accumulators.
VNNI256 static void vnni_tile_4x24(TILE_PARAMS) {
    __m256i acc[8][3];
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256i a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    __m256i x0, x1, x2, b;
    const int8_t *w0 = w, *w1 = w + ldw, *w2 = w + 2 * ldw, *w3 = w + 3 * ldw;
    long g = 0, at;
    // The loop runs at least once: every conv has a k group (K = kh * kw * Cp >= 4).
    __asm__ volatile(
        "1:\n\t"
        "movq (%[off],%[g],8), %[at]\n\t"
        "vmovdqu (%[x],%[at],4), %[x0]\n\t"
        "vmovdqu 32(%[x],%[at],4), %[x1]\n\t"
        "vmovdqu 64(%[x],%[at],4), %[x2]\n\t"
        "vpbroadcastd (%[w0],%[g],4), %[b]\n\t"
        "%{vex%} vpdpbusd %[b], %[x0], %[a00]\n\t"
        "%{vex%} vpdpbusd %[b], %[x1], %[a01]\n\t"
        "%{vex%} vpdpbusd %[b], %[x2], %[a02]\n\t"
        "vpbroadcastd (%[w1],%[g],4), %[b]\n\t"
        "%{vex%} vpdpbusd %[b], %[x0], %[a10]\n\t"
        "%{vex%} vpdpbusd %[b], %[x1], %[a11]\n\t"
        "%{vex%} vpdpbusd %[b], %[x2], %[a12]\n\t"
        "vpbroadcastd (%[w2],%[g],4), %[b]\n\t"
        "%{vex%} vpdpbusd %[b], %[x0], %[a20]\n\t"
        "%{vex%} vpdpbusd %[b], %[x1], %[a21]\n\t"
        "%{vex%} vpdpbusd %[b], %[x2], %[a22]\n\t"
        "vpbroadcastd (%[w3],%[g],4), %[b]\n\t"
        "%{vex%} vpdpbusd %[b], %[x0], %[a30]\n\t"
        "%{vex%} vpdpbusd %[b], %[x1], %[a31]\n\t"
        "%{vex%} vpdpbusd %[b], %[x2], %[a32]\n\t"
        "incq %[g]\n\t"
        "cmpq %[n], %[g]\n\t"
        "jne 1b\n\t"
        : [a00] "+x"(a00), [a01] "+x"(a01), [a02] "+x"(a02), [a10] "+x"(a10), [a11] "+x"(a11), [a12] "+x"(a12),
          [a20] "+x"(a20), [a21] "+x"(a21), [a22] "+x"(a22), [a30] "+x"(a30), [a31] "+x"(a31), [a32] "+x"(a32),
          [x0] "=&x"(x0), [x1] "=&x"(x1), [x2] "=&x"(x2), [b] "=&x"(b), [g] "+r"(g), [at] "=&r"(at)
        : [off] "r"(off), [x] "r"(x), [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2), [w3] "r"(w3), [n] "r"(kgroups)
        : "cc", "memory");
    acc[0][0] = a00, acc[0][1] = a01, acc[0][2] = a02, acc[1][0] = a10, acc[1][1] = a11, acc[1][2] = a12;
    acc[2][0] = a20, acc[2][1] = a21, acc[2][2] = a22, acc[3][0] = a30, acc[3][1] = a31, acc[3][2] = a32;
    tile_epilogue(4, 3, acc, rows, last, corr, scale, bias, f, q, act, slope, out);
}

#ifndef VNNI_MR
#define VNNI_MR 4
#define VNNI_NV 3
#endif
#define VNNI_COLS (8 * VNNI_NV)

VNNI256 static void vnni_tile_any(int nv, int masked, TILE_PARAMS) {
    if (masked) {
        if (nv == 3) vnni_tile(VNNI_MR, 3 <= VNNI_NV ? 3 : 1, 1, TILE_ARGS);
        else if (nv == 2) vnni_tile(VNNI_MR, 2, 1, TILE_ARGS);
        else vnni_tile(VNNI_MR, 1, 1, TILE_ARGS);
    } else {
        if (nv == 3) vnni_tile(VNNI_MR, 3 <= VNNI_NV ? 3 : 1, 0, TILE_ARGS);
        else if (nv == 2) vnni_tile(VNNI_MR, 2, 0, TILE_ARGS);
        else vnni_tile(VNNI_MR, 1, 0, TILE_ARGS);
    }
}

// Filters [f, f + mr) in tiles of VNNI_MR (weights in L1) over columns [q0, q1).
VNNI256 static void vnni_block(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                               const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1,
                               int act, float slope, const cvm_q8_output *out) {
    for (int f4 = 0; f4 < mr; f4 += VNNI_MR) {
        const int rows = mr - f4 < VNNI_MR ? mr - f4 : VNNI_MR;
        const int8_t *wr = w + f4 * ldw;
        for (long q = q0; q < q1; q += VNNI_COLS) {
            const long cols = q1 - q < VNNI_COLS ? q1 - q : VNNI_COLS;
            const int nv = (int)((cols + 7) / 8), rem = (int)(cols & 7);
            const uint8_t *xq = (const uint8_t *)(x + q);
            if (cols == 24 && rows == 4 && VNNI_MR == 4 && VNNI_NV == 3)
                vnni_tile_4x24(8, xq, off, kgroups, wr, ldw, 4, corr + f4, scale + f4, bias + f4, f + f4, q, act,
                               slope, out);
            else if (cols == VNNI_COLS && rows == VNNI_MR)
                vnni_tile(VNNI_MR, VNNI_NV, 0, 8, xq, off, kgroups, wr, ldw, VNNI_MR, corr + f4, scale + f4, bias + f4,
                          f + f4, q, act, slope, out);
            else
                vnni_tile_any(nv, rem != 0, rem ? rem : 8, xq, off, kgroups, wr, ldw, rows, corr + f4, scale + f4,
                              bias + f4, f + f4, q, act, slope, out);
        }
    }
}

// MARK: avx2 (no VNNI)

// RUN k groups' vpmaddubsw pairs summed in int16, then widened by vpmaddwd: exact when the
// filters' largest |weight| allows RUN (see the top of the file). 8 columns a tile.
CVM_AVX2 CVM_INLINE void madd_tile(const int RUN, const int MASKED, TILE_PARAMS) {
    __m256i acc[8][3];
    const int8_t *wr[4];
    for (int i = 0; i < 4; i++) {
        wr[i] = w + (i < rows ? i : rows - 1) * ldw;
        acc[i][0] = _mm256_setzero_si256();
    }
    const __m256i tail = cvm_tail_mask8(last), ones = _mm256_set1_epi16(1);
    long g = 0;
    for (; g + RUN <= kgroups; g += RUN) {
        __m256i pairs[4];
        for (int r = 0; r < RUN; r++) {
            const __m256i xv = load_words(MASKED, x + 4 * off[g + r], tail);
            for (int i = 0; i < 4; i++) {
                const __m256i p = _mm256_maddubs_epi16(xv, _mm256_set1_epi32(weight_word(wr[i], g + r)));
                pairs[i] = r == 0 ? p : _mm256_add_epi16(pairs[i], p);
            }
        }
        for (int i = 0; i < 4; i++) acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(pairs[i], ones));
    }
    for (; g < kgroups; g++) {
        const __m256i xv = load_words(MASKED, x + 4 * off[g], tail);
        for (int i = 0; i < 4; i++) {
            const __m256i p = _mm256_maddubs_epi16(xv, _mm256_set1_epi32(weight_word(wr[i], g)));
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p, ones));
        }
    }
    tile_epilogue(4, 1, acc, rows, last, corr, scale, bias, f, q, act, slope, out);
}

// Any weights: columns 0-3 and 4-7 zero-extended to int16 (a column's 4 channels in two int32
// lanes of vpmaddwd), the weights sign-extended; the lane pairs added at the end.
CVM_AVX2 CVM_INLINE void widen_tile(const int MASKED, TILE_PARAMS) {
    __m256i lo[4], hi[4], acc[8][3];
    const int8_t *wr[4];
    for (int i = 0; i < 4; i++) {
        wr[i] = w + (i < rows ? i : rows - 1) * ldw;
        lo[i] = hi[i] = _mm256_setzero_si256();
    }
    const __m256i tail = cvm_tail_mask8(last);
    for (long g = 0; g < kgroups; g++) {
        const __m256i xv = load_words(MASKED, x + 4 * off[g], tail);
        const __m256i x0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(xv));
        const __m256i x1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(xv, 1));
        for (int i = 0; i < 4; i++) {
            const __m256i w16 = _mm256_cvtepi8_epi16(_mm_set1_epi32(weight_word(wr[i], g)));
            lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(x0, w16));
            hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(x1, w16));
        }
    }
    // hadd gives columns 0 1 4 5 | 2 3 6 7; the 64-bit quarters put back in order.
    for (int i = 0; i < 4; i++)
        acc[i][0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo[i], hi[i]), _MM_SHUFFLE(3, 1, 2, 0));
    tile_epilogue(4, 1, acc, rows, last, corr, scale, bias, f, q, act, slope, out);
}

// k groups summed in int16 before widening, for filters whose largest |weight| is m: 0 means
// the widening path.
static int run_for(int m) { return m <= 16 ? 4 : m <= 32 ? 2 : m <= 64 ? 1 : 0; }

CVM_AVX2 static int largest_magnitude(const int8_t *w, long ldw, int rows, long k) {
    int m = 0;
    for (int i = 0; i < rows; i++)
        for (long n = 0; n < k; n++) {
            const int a = w[i * ldw + n] < 0 ? -w[i * ldw + n] : w[i * ldw + n];
            m = a > m ? a : m;
        }
    return m;
}

CVM_AVX2 static void madd_tile_any(int run, int masked, TILE_PARAMS) {
#define BY_RUN(M)                                      \
    switch (run) {                                     \
    case 4: madd_tile(4, M, TILE_ARGS); break;         \
    case 2: madd_tile(2, M, TILE_ARGS); break;         \
    case 1: madd_tile(1, M, TILE_ARGS); break;         \
    default: widen_tile(M, TILE_ARGS); break;          \
    }
    if (masked) BY_RUN(1) else BY_RUN(0)
#undef BY_RUN
}

CVM_AVX2 static void madd_block(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                                const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1,
                                int act, float slope, const cvm_q8_output *out) {
    for (int f4 = 0; f4 < mr; f4 += 4) {
        const int rows = mr - f4 < 4 ? mr - f4 : 4;
        const int8_t *wr = w + f4 * ldw;
        const int run = run_for(largest_magnitude(wr, ldw, rows, 4 * kgroups));
        for (long q = q0; q < q1; q += 8) {
            const int cols = (int)(q1 - q < 8 ? q1 - q : 8);
            madd_tile_any(run, cols < 8, cols, (const uint8_t *)(x + q), off, kgroups, wr, ldw, rows, corr + f4,
                          scale + f4, bias + f4, f + f4, q, act, slope, out);
        }
    }
}

// MARK: entry points

// As the AVX-512 unpack: each code byte widened to 16 bits as (low nibble, high nibble), 32
// codes a step.
CVM_AVX2 void cvm_int8_unpack4_avx2(const uint8_t *codes, long count, int offset, int8_t *out) {
    const __m256i low = _mm256_set1_epi16(0x0F), off = _mm256_set1_epi8((char)offset);
    long n = 0;
    for (; n + 32 <= count; n += 32) {
        const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(codes + n / 2)));
        const __m256i pair = _mm256_or_si256(_mm256_and_si256(b, low), _mm256_slli_epi16(_mm256_srli_epi16(b, 4), 8));
        _mm256_storeu_si256((__m256i *)(out + n), _mm256_sub_epi8(pair, off));
    }
    cvm_int8_unpack4_plain(codes + n / 2, count - n, offset, out + n);
}

void cvm_q8_gemm_avxvnni CVM_Q8_GEMM_PARAMS {
    cvm_q8_gemm_blocks(vnni_block, cvm_int8_unpack4_avx2, x, offsets, kgroups, w, ldw, codes, code_offset, wbuf, corr,
                       scale, bias, f0, f1, q0, q1, act, slope, out);
}

void cvm_q8_gemm_avx2 CVM_Q8_GEMM_PARAMS {
    cvm_q8_gemm_blocks(madd_block, cvm_int8_unpack4_avx2, x, offsets, kgroups, w, ldw, codes, code_offset, wbuf, corr,
                       scale, bias, f0, f1, q0, q1, act, slope, out);
}

#endif
