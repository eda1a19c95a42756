// The int8 graph's work on u8 maps besides the product (see CVectorMathInt8.h for the layout):
// quantizing the network input, dequantizing for FP32 islands, the stride-2 phase split, max
// pools, upsampling and border rows. Each is a driver over groups, rows and borders with a
// plain row loop (any CPU; what the tests compare against the Swift references) and, where it is
// on the hot path, a vector row loop per int8 level (cvm_q8_rows: AVX-512 here, AVX2 in
// Int8MapsAVX2.c, NEON in Int8MapsNEON.c); Dispatch.c picks the level's versions.
//
// Max pools work on codes: codes are monotone in the value, so the max of codes is the code of
// the max, and a map keeps its input's grid (the graph gives both the same).
#include "Int8Kernels.h"
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang fp contract(off)
#include "Epilogue.h"

#define BW __attribute__((target("avx512f,avx512bw,avx512vl")))
#endif

static inline uint32_t max_bytes(uint32_t a, uint32_t b) {
    uint32_t r = 0;
    for (int t = 0; t < 4; t++) {
        uint32_t x = (a >> (8 * t)) & 255, y = (b >> (8 * t)) & 255;
        r |= (x > y ? x : y) << (8 * t);
    }
    return r;
}

static inline void fill_words(uint32_t *p, long n, uint32_t word) {
    for (long i = 0; i < n; i++) p[i] = word;
}

// MARK: quantize / dequantize

// One code as the Swift reference (ActivationQuantization.quantize) computes it: the value
// clamped in float to the codes' range first (whole numbers, so clamping commutes with the
// rounding), rounded half to even.
static inline uint32_t q8_code(float v, float inv, int zero) {
    float t = v * inv, lo = (float)-zero, hi = (float)(255 - zero);
    t = t < lo ? lo : t > hi ? hi : t;
    return (uint32_t)((int)__builtin_rintf(t) + zero);
}

#if defined(__x86_64__)
BW static void quantize_row_avx512(const float *x, long plane, int lanes, long n, float inv, int zero,
                                   uint32_t *dst) {
    const __m512 vinv = _mm512_set1_ps(inv);
    const __m512 lo = _mm512_set1_ps((float)-zero), hi = _mm512_set1_ps((float)(255 - zero));
    uint32_t zero_word = 0;
    for (int t = 0; t < 4; t++) zero_word |= (uint32_t)zero << (8 * t);
    const __m512i zp = _mm512_set1_epi32((int)zero_word);
    for (long p = 0; p < n; p += 16) {
        long left = n - p;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        // Codes minus the zero point summed into each byte, then the zero point added to all
        // four bytes at once: mod 2^32 that is each code at its byte.
        __m512i word = zp;
        for (int t = 0; t < lanes; t++) {
            __m512 v = _mm512_maskz_loadu_ps(m, x + t * plane + p);
            v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, vinv), lo), hi);
            word = _mm512_add_epi32(word, _mm512_slli_epi32(_mm512_cvtps_epi32(v), 8 * t));
        }
        _mm512_mask_storeu_epi32(dst + p, m, word);
    }
}
#endif

static void quantize(const cvm_q8_rows *rows, const float *x, long channels, long height, long width, long r0, long r1,
                     float inv_scale, int zero, long g0, long g1, uint32_t *words, long group_stride) {
    const long wp = width + 2, plane = height * width;
    const uint32_t zero_word = (uint32_t)zero * 0x01010101u;
    for (long g = g0; g < g1; g++) {
        int lanes = channels - 4 * g < 4 ? (int)(channels - 4 * g) : 4;
        uint32_t *dst = words + g * group_stride;
        if (r0 == 0) fill_words(dst, wp, zero_word);
        if (r1 == height) fill_words(dst + (height + 1) * wp, wp, zero_word);
        for (long r = r0; r < r1; r++) {
            uint32_t *row = dst + (r + 1) * wp;
            row[0] = row[wp - 1] = zero_word;
            const float *src = x + 4 * g * plane + r * width;
            if (rows->quantize) {
                rows->quantize(src, plane, lanes, width, inv_scale, zero, row + 1);
                continue;
            }
            for (long c = 0; c < width; c++) {
                uint32_t word = zero_word;
                for (int t = 0; t < lanes; t++) {
                    word &= ~(255u << (8 * t));
                    word |= q8_code(src[t * plane + c], inv_scale, zero) << (8 * t);
                }
                row[1 + c] = word;
            }
        }
    }
}

void cvm_q8_dequantize_plain(const uint32_t *words, long group_stride, long channels, long height, long width,
                             float scale, int zero, long g0, long g1, float *y) {
    const long wp = width + 2, plane = height * width;
    for (long g = g0; g < g1; g++) {
        for (int t = 0; t < 4 && 4 * g + t < channels; t++) {
            float *dst = y + (4 * g + t) * plane;
            for (long r = 0; r < height; r++) {
                const uint32_t *row = words + g * group_stride + (r + 1) * wp + 1;
                for (long c = 0; c < width; c++)
                    dst[r * width + c] = scale * (float)((int)((row[c] >> (8 * t)) & 255) - zero);
            }
        }
    }
}

// MARK: border rows

void cvm_q8_fill_border_rows_plain(uint32_t *words, long group_stride, long height, long width, long g0, long g1,
                                   uint32_t zero_word) {
    const long wp = width + 2;
    for (long g = g0; g < g1; g++) {
        fill_words(words + g * group_stride, wp, zero_word);
        fill_words(words + g * group_stride + (height + 1) * wp, wp, zero_word);
    }
}

// MARK: stride-2 phase split

#if defined(__x86_64__)
// Even and odd words of 32 consecutive words (two-source permutes).
#define EVEN_IDX _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
#define ODD_IDX _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)

// dst_even[b] = src[2b], dst_odd[b] = src[2b + 1] for b < n (src holds 2n words, the odd half
// of the last pair only where 2b + 1 < len).
BW static void split_row_avx512(const uint32_t *src, long len, long ne, long no, uint32_t *even, uint32_t *odd) {
    const __m512i ei = EVEN_IDX, oi = ODD_IDX;
    long b = 0;
    for (; b + 16 <= ne && 2 * b + 32 <= len; b += 16) {
        __m512i a = _mm512_loadu_si512((const void *)(src + 2 * b));
        __m512i c = _mm512_loadu_si512((const void *)(src + 2 * b + 16));
        _mm512_storeu_si512((void *)(even + b), _mm512_permutex2var_epi32(a, ei, c));
        if (b + 16 <= no) _mm512_storeu_si512((void *)(odd + b), _mm512_permutex2var_epi32(a, oi, c));
        else for (long i = b; i < no; i++) odd[i] = src[2 * i + 1];
    }
    for (long i = b; i < ne; i++) even[i] = src[2 * i];
    for (long i = b; i < no; i++) odd[i] = src[2 * i + 1];
}
#endif

static void phase_split(const cvm_q8_rows *rows, const uint32_t *x, long x_group_stride, long height, long width,
                        long g0, long g1, uint32_t zero_word, uint32_t *phases, long phase_stride, long group_stride) {
    const long wp = width + 2, oh = (height - 1) / 2 + 1, ow = (width - 1) / 2 + 1, owp = ow + 2;
    for (long g = g0; g < g1; g++) {
        const uint32_t *src = x + g * x_group_stride;
        for (int py = 0; py < 2; py++) {
            uint32_t *pe = phases + (2 * py) * phase_stride + g * group_stride;      // px = 0
            uint32_t *po = phases + (2 * py + 1) * phase_stride + g * group_stride;  // px = 1
            fill_words(pe, owp, zero_word);
            fill_words(po, owp, zero_word);
            for (long a = 0; a < oh; a++) {
                uint32_t *re = pe + (a + 1) * owp, *ro = po + (a + 1) * owp;
                long iy = 2 * a + py;
                // Input columns 2b + px for b < ow: even ones exist for b < (width + 1) / 2, odd
                // ones for b < width / 2; the rest of the row (and the border) is zero points.
                long ne = iy < height ? (width + 1) / 2 : 0, no = iy < height ? width / 2 : 0;
                re[0] = ro[0] = zero_word;
                const uint32_t *in = src + (iy + 1) * wp + 1;
                if (rows->split && ne > 0) rows->split(in, width, ne, no, re + 1, ro + 1);
                else {
                    for (long b = 0; b < ne; b++) re[1 + b] = in[2 * b];
                    for (long b = 0; b < no; b++) ro[1 + b] = in[2 * b + 1];
                }
                fill_words(re + 1 + ne, owp - 1 - ne, zero_word);
                fill_words(ro + 1 + no, owp - 1 - no, zero_word);
            }
            fill_words(pe + (oh + 1) * owp, owp, zero_word);
            fill_words(po + (oh + 1) * owp, owp, zero_word);
        }
    }
}

// MARK: 2x2 max pool

#if defined(__x86_64__)
BW static void maxpool2x2_row_avx512(const uint32_t *r0, const uint32_t *r1, long ow, uint32_t *out) {
    const __m512i ei = EVEN_IDX, oi = ODD_IDX;
    long b = 0;
    for (; b + 16 <= ow; b += 16) {
        __m512i a = _mm512_max_epu8(_mm512_loadu_si512((const void *)(r0 + 2 * b)),
                                    _mm512_loadu_si512((const void *)(r1 + 2 * b)));
        __m512i c = _mm512_max_epu8(_mm512_loadu_si512((const void *)(r0 + 2 * b + 16)),
                                    _mm512_loadu_si512((const void *)(r1 + 2 * b + 16)));
        _mm512_storeu_si512((void *)(out + b),
                            _mm512_max_epu8(_mm512_permutex2var_epi32(a, ei, c), _mm512_permutex2var_epi32(a, oi, c)));
    }
    for (; b < ow; b++) out[b] = max_bytes(max_bytes(r0[2 * b], r0[2 * b + 1]), max_bytes(r1[2 * b], r1[2 * b + 1]));
}
#endif

static void maxpool2x2(const cvm_q8_rows *rows, const uint32_t *x, long x_group_stride, long height, long width,
                       long g0, long g1, uint32_t zero_word, uint32_t *y, long y_group_stride) {
    const long wp = width + 2, oh = height / 2, ow = width / 2, owp = ow + 2;
    for (long g = g0; g < g1; g++) {
        const uint32_t *src = x + g * x_group_stride;
        uint32_t *dst = y + g * y_group_stride;
        fill_words(dst, owp, zero_word);
        for (long a = 0; a < oh; a++) {
            const uint32_t *r0 = src + (2 * a + 1) * wp + 1, *r1 = r0 + wp;
            uint32_t *out = dst + (a + 1) * owp;
            out[0] = out[owp - 1] = zero_word;
            if (rows->maxpool2x2) rows->maxpool2x2(r0, r1, ow, out + 1);
            else
                for (long b = 0; b < ow; b++)
                    out[1 + b] = max_bytes(max_bytes(r0[2 * b], r0[2 * b + 1]), max_bytes(r1[2 * b], r1[2 * b + 1]));
        }
        fill_words(dst + (oh + 1) * owp, owp, zero_word);
    }
}

// MARK: stride-1 "same" max pool

// out[c] = max of in[c - r ... c + r] clamped to [0, n), bytewise: windows at the edges are
// shorter, which is what -infinity padding amounts to.
static void window_max_plain(const uint32_t *in, long n, long r, uint32_t *out) {
    for (long c = 0; c < n; c++) {
        long a = c - r < 0 ? 0 : c - r, b = c + r >= n ? n - 1 : c + r;
        uint32_t m = 0;
        for (long d = a; d <= b; d++) m = max_bytes(m, in[d]);
        out[c] = m;
    }
}

#if defined(__x86_64__)
// Lanes l of the 16 words from c whose c + l is in [0, n).
static inline __mmask16 lanes_inside(long c, long n) {
    long a = c < 0 ? -c : 0, b = n - c > 16 ? 16 : n - c;
    if (b <= a) return 0;
    return (__mmask16)((((1u << b) - 1) >> a) << a);
}

// The same pool on 16-word vectors: rows by masked loads (outside the row reads as code 0,
// the -infinity of codes), written into the output's interior; then columns, a strip of 16
// words at a time through a buffer of the strip's rows.
BW static void maxpool_same_avx512(const uint32_t *src, long height, long width, long r, uint32_t *dst) {
    const long wp = width + 2;
    for (long i = 0; i < height; i++) {
        const uint32_t *in = src + (i + 1) * wp + 1;
        uint32_t *out = dst + (i + 1) * wp + 1;
        for (long c = 0; c < width; c += 16) {
            __m512i m = _mm512_setzero_si512();
            for (long d = -r; d <= r; d++) m = _mm512_max_epu8(m, _mm512_maskz_loadu_epi32(lanes_inside(c + d, width), in + c + d));
            _mm512_mask_storeu_epi32(out + c, lanes_inside(c, width), m);
        }
    }
    __m512i strip[height > 0 ? height : 1];
    for (long c = 0; c < width; c += 16) {
        __mmask16 lanes = lanes_inside(c, width);
        for (long i = 0; i < height; i++) strip[i] = _mm512_maskz_loadu_epi32(lanes, dst + (i + 1) * wp + 1 + c);
        for (long i = 0; i < height; i++) {
            long a = i - r < 0 ? 0 : i - r, b = i + r >= height ? height - 1 : i + r;
            __m512i m = strip[a];
            for (long k = a + 1; k <= b; k++) m = _mm512_max_epu8(m, strip[k]);
            _mm512_mask_storeu_epi32(dst + (i + 1) * wp + 1 + c, lanes, m);
        }
    }
}
#endif

static void maxpool_same(const cvm_q8_rows *rows, const uint32_t *x, long x_group_stride, long height, long width,
                         long r, long g0, long g1, uint32_t zero_word, uint32_t *y, long y_group_stride) {
    const long wp = width + 2;
    for (long g = g0; g < g1; g++) {
        const uint32_t *src = x + g * x_group_stride;
        uint32_t *dst = y + g * y_group_stride;
        if (rows->maxpool_same) {
            rows->maxpool_same(src, height, width, r, dst);
        } else {
            // Rows first into the output's interior, then columns in place through one column
            // buffer: a window never leaves the plane (shorter at the edges), so the border stays
            // out of it and is written last.
            for (long i = 0; i < height; i++)
                window_max_plain(src + (i + 1) * wp + 1, width, r, dst + (i + 1) * wp + 1);
            uint32_t column[height > 0 ? height : 1], result[height > 0 ? height : 1];
            for (long c = 0; c < width; c++) {
                for (long i = 0; i < height; i++) column[i] = dst[(i + 1) * wp + 1 + c];
                window_max_plain(column, height, r, result);
                for (long i = 0; i < height; i++) dst[(i + 1) * wp + 1 + c] = result[i];
            }
        }
        fill_words(dst, wp, zero_word);
        fill_words(dst + (height + 1) * wp, wp, zero_word);
        for (long i = 1; i <= height; i++) dst[i * wp] = dst[i * wp + wp - 1] = zero_word;
    }
}

// MARK: nearest upsampling by 2

#if defined(__x86_64__)
BW static void upsample_row_avx512(const uint32_t *in, long w, uint32_t *out) {
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    long c = 0;
    for (; c + 16 <= w; c += 16) {
        __m512i v = _mm512_loadu_si512((const void *)(in + c));
        _mm512_storeu_si512((void *)(out + 2 * c), _mm512_permutexvar_epi32(lo, v));
        _mm512_storeu_si512((void *)(out + 2 * c + 16), _mm512_permutexvar_epi32(hi, v));
    }
    for (; c < w; c++) out[2 * c] = out[2 * c + 1] = in[c];
}
#endif

static void upsample2x(const cvm_q8_rows *rows, const uint32_t *x, long x_group_stride, long height, long width,
                       long g0, long g1, uint32_t zero_word, uint32_t *y, long y_group_stride) {
    const long wp = width + 2, oh = 2 * height, ow = 2 * width, owp = ow + 2;
    for (long g = g0; g < g1; g++) {
        const uint32_t *src = x + g * x_group_stride;
        uint32_t *dst = y + g * y_group_stride;
        fill_words(dst, owp, zero_word);
        for (long a = 0; a < height; a++) {
            const uint32_t *in = src + (a + 1) * wp + 1;
            uint32_t *out = dst + (2 * a + 1) * owp;
            out[0] = out[owp - 1] = zero_word;
            if (rows->upsample) rows->upsample(in, width, out + 1);
            else
                for (long c = 0; c < width; c++) out[1 + 2 * c] = out[2 + 2 * c] = in[c];
            memcpy(out + owp, out, (size_t)owp * sizeof(uint32_t));
        }
        fill_words(dst + (oh + 1) * owp, owp, zero_word);
    }
}

// MARK: each level's versions

// The drivers above with one level's row loops.
#define Q8_MAP_LEVEL(level, rows)                                                                                  \
    void cvm_q8_quantize_##level CVM_Q8_QUANTIZE_PARAMS {                                                          \
        quantize(rows, x, channels, height, width, r0, r1, inv_scale, zero, g0, g1, words, group_stride);         \
    }                                                                                                              \
    void cvm_q8_phase_split_##level CVM_Q8_PHASE_SPLIT_PARAMS {                                                    \
        phase_split(rows, x, x_group_stride, height, width, g0, g1, zero_word, phases, phase_stride, group_stride); \
    }                                                                                                              \
    void cvm_q8_maxpool2x2_##level CVM_Q8_MAXPOOL2X2_PARAMS {                                                      \
        maxpool2x2(rows, x, x_group_stride, height, width, g0, g1, zero_word, y, y_group_stride);                  \
    }                                                                                                              \
    void cvm_q8_upsample2x_##level CVM_Q8_UPSAMPLE_PARAMS {                                                        \
        upsample2x(rows, x, x_group_stride, height, width, g0, g1, zero_word, y, y_group_stride);                  \
    }                                                                                                              \
    void cvm_q8_maxpool_same_##level CVM_Q8_MAXPOOL_SAME_PARAMS {                                                  \
        maxpool_same(rows, x, x_group_stride, height, width, r, g0, g1, zero_word, y, y_group_stride);             \
    }

static const cvm_q8_rows plain_rows = {0, 0, 0, 0, 0};
Q8_MAP_LEVEL(plain, &plain_rows)

#if defined(__x86_64__)
static const cvm_q8_rows avx512_rows = {quantize_row_avx512, split_row_avx512, maxpool2x2_row_avx512,
                                        upsample_row_avx512, maxpool_same_avx512};
Q8_MAP_LEVEL(avx512, &avx512_rows)
Q8_MAP_LEVEL(avx2, &cvm_q8_rows_avx2)
#endif

#if defined(__aarch64__)
Q8_MAP_LEVEL(neon, &cvm_q8_rows_neon)
#endif
