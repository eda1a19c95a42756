// The u8 map kernels' row loops in AVX2 (Int8Maps.c's drivers call them at the avx2 and
// avx2-vnni int8 levels): quantizing the network input, the stride-2 phase split, the 2x2 max
// pool and nearest upsampling, 8 words a step, the tails in plain C. They move and compare whole
// codes, or round like cvm_q8_code, so they equal the plain loops exactly. x86-64 only.
#include "Int8Kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

// The even words (0, 2, ..., 14) and the odd ones of the 16 words a, b: in-lane shuffles, then
// the 64-bit quarters in order.
AVX2 static inline __m256i even_words(__m256i a, __m256i b) {
    const __m256 e = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_permute4x64_epi64(_mm256_castps_si256(e), _MM_SHUFFLE(3, 1, 2, 0));
}

AVX2 static inline __m256i odd_words(__m256i a, __m256i b) {
    const __m256 o = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_permute4x64_epi64(_mm256_castps_si256(o), _MM_SHUFFLE(3, 1, 2, 0));
}

// As the AVX-512 row: each channel's code minus the zero point shifted to its byte and summed
// onto the zero-point word (mod 2^32, each byte ends up its code).
AVX2 static void quantize_row(const float *x, long plane, int lanes, long n, float inv, int zero, uint32_t *dst) {
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256 lo = _mm256_set1_ps((float)-zero), hi = _mm256_set1_ps((float)(255 - zero));
    const uint32_t zero_word = (uint32_t)zero * 0x01010101u;
    const __m256i zp = _mm256_set1_epi32((int)zero_word);
    long p = 0;
    for (; p + 8 <= n; p += 8) {
        __m256i word = zp;
        for (int t = 0; t < lanes; t++) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + t * plane + p), vinv);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            word = _mm256_add_epi32(word, _mm256_slli_epi32(_mm256_cvtps_epi32(v), 8 * t));
        }
        _mm256_storeu_si256((__m256i *)(dst + p), word);
    }
    for (; p < n; p++) {
        uint32_t word = zero_word;
        for (int t = 0; t < lanes; t++) {
            word &= ~(255u << (8 * t));
            word |= cvm_q8_code(x[t * plane + p], inv, zero) << (8 * t);
        }
        dst[p] = word;
    }
}

AVX2 static void split_row(const uint32_t *src, long len, long ne, long no, uint32_t *even, uint32_t *odd) {
    long b = 0;
    for (; b + 8 <= ne && 2 * b + 16 <= len; b += 8) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)(src + 2 * b));
        const __m256i c = _mm256_loadu_si256((const __m256i *)(src + 2 * b + 8));
        _mm256_storeu_si256((__m256i *)(even + b), even_words(a, c));
        if (b + 8 <= no) _mm256_storeu_si256((__m256i *)(odd + b), odd_words(a, c));
        else for (long i = b; i < no; i++) odd[i] = src[2 * i + 1];
    }
    for (long i = b; i < ne; i++) even[i] = src[2 * i];
    for (long i = b; i < no; i++) odd[i] = src[2 * i + 1];
}

AVX2 static void maxpool2x2_row(const uint32_t *r0, const uint32_t *r1, long ow, uint32_t *out) {
    long b = 0;
    for (; b + 8 <= ow; b += 8) {
        const __m256i a = _mm256_max_epu8(_mm256_loadu_si256((const __m256i *)(r0 + 2 * b)),
                                          _mm256_loadu_si256((const __m256i *)(r1 + 2 * b)));
        const __m256i c = _mm256_max_epu8(_mm256_loadu_si256((const __m256i *)(r0 + 2 * b + 8)),
                                          _mm256_loadu_si256((const __m256i *)(r1 + 2 * b + 8)));
        _mm256_storeu_si256((__m256i *)(out + b), _mm256_max_epu8(even_words(a, c), odd_words(a, c)));
    }
    for (; b < ow; b++)
        out[b] = cvm_q8_max_bytes(cvm_q8_max_bytes(r0[2 * b], r0[2 * b + 1]), cvm_q8_max_bytes(r1[2 * b], r1[2 * b + 1]));
}

AVX2 static void upsample_row(const uint32_t *in, long w, uint32_t *out) {
    long c = 0;
    for (; c + 8 <= w; c += 8) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(in + c));
        const __m256i lo = _mm256_unpacklo_epi32(v, v), hi = _mm256_unpackhi_epi32(v, v);  // 0 0 1 1 4 4 5 5, 2 2 3 3 6 6 7 7
        _mm256_storeu_si256((__m256i *)(out + 2 * c), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(out + 2 * c + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
    for (; c < w; c++) out[2 * c] = out[2 * c + 1] = in[c];
}

const cvm_q8_rows cvm_q8_rows_avx2 = {quantize_row, split_row, maxpool2x2_row, upsample_row, 0};

#endif
