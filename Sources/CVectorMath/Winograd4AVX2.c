// The Winograd transforms of Winograd4.c in AVX2 intrinsics along 8 tile columns: every fourth
// float gathered by 4x4 transposes inside the 128-bit halves (tiles t ... t+3 from the low
// halves, t+4 ... t+7 from the high ones, so the lanes come out in tile order), scattered back
// the same way, rows read in place with masked loads, bias + activation fused into the output
// transform (Epilogue256.h). Each value sees the operations of the plain versions in
// Winograd4.c in the same order, so the two give the same floats. x86-64 only.
#include "Kernels.h"

#if defined(__x86_64__)
#include "Epilogue.h"
#include "Epilogue256.h"
#include <string.h>

#define MAX_TILE_COLUMNS CVM_MAX_TILE_COLUMNS

// B^T on six vectors (bt6 in Winograd4.c, the same operations in the same order).
CVM_AVX2 CVM_INLINE void bt8(const __m256 r[6], __m256 o[6]) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), five = _mm256_set1_ps(5);
    o[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, r[0]), _mm256_mul_ps(five, r[2])), r[4]);
    o[1] = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(-4), _mm256_add_ps(r[1], r[2])), r[3]), r[4]);
    o[2] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, _mm256_sub_ps(r[1], r[2])), r[3]), r[4]);
    o[3] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(two, _mm256_sub_ps(r[3], r[1])), r[2]), r[4]);
    o[4] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(two, _mm256_sub_ps(r[1], r[3])), r[2]), r[4]);
    o[5] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(four, r[1]), _mm256_mul_ps(five, r[3])), r[5]);
}

// B^T of the stride-2 transform on five vectors (bt5 in Winograd4.c).
CVM_AVX2 CVM_INLINE void bt5x8(const __m256 d[5], __m256 o[5]) {
    const __m256 two = _mm256_set1_ps(2.0f), three = _mm256_set1_ps(3.0f);
    __m256 d3m1 = _mm256_sub_ps(d[3], d[1]);
    o[0] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(two, d[0]), _mm256_mul_ps(two, d[2])), d3m1);
    o[1] = _mm256_sub_ps(_mm256_sub_ps(d[3], _mm256_mul_ps(two, d[1])), d[2]);
    o[2] = _mm256_add_ps(_mm256_sub_ps(_mm256_mul_ps(two, d[1]), _mm256_mul_ps(three, d[2])), d[3]);
    o[3] = d3m1;
    o[4] = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_mul_ps(two, d[1]), d[2]), _mm256_mul_ps(two, d[3])), d[4]);
}

// The 4 floats at lo in the low half, the 4 at hi in the high half.
CVM_AVX2 CVM_INLINE __m256 load_halves(const float *lo, const float *hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
}

// Columns 0 ... count-1 (count 5 or 6) of the 8 tiles whose columns start at p (tile t's at
// p[4t ... 4t + 5]), lane t of d[j] column j of tile t. Columns 4 and 5 of tile t are columns 0
// and 1 of tile t + 1.
CVM_AVX2 CVM_INLINE void tile_columns(const float *p, int count, __m256 d[6]) {
    const __m256 a0 = load_halves(p, p + 16), a1 = load_halves(p + 4, p + 20);
    const __m256 a2 = load_halves(p + 8, p + 24), a3 = load_halves(p + 12, p + 28);
    const __m256 a4 = load_halves(p + 16, p + 32);
    const __m256 t0 = _mm256_unpacklo_ps(a0, a1), t1 = _mm256_unpackhi_ps(a0, a1);
    const __m256 t2 = _mm256_unpacklo_ps(a2, a3), t3 = _mm256_unpackhi_ps(a2, a3);
    d[0] = _mm256_shuffle_ps(t0, t2, 0x44);
    d[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
    d[2] = _mm256_shuffle_ps(t1, t3, 0x44);
    d[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 u0 = _mm256_unpacklo_ps(a1, a2), u2 = _mm256_unpacklo_ps(a3, a4);
    d[4] = _mm256_shuffle_ps(u0, u2, 0x44);
    if (count > 5) d[5] = _mm256_shuffle_ps(u0, u2, 0xEE);
}

// B^T along the six columns of each tile of one combined row e, position l of tile t to
// o[l * pstride + t]. A last partial block of tiles runs as a whole one (e is zero past the
// window), its stores masked.
CVM_AVX2 CVM_INLINE void horizontal_input(const float *restrict e, long tw, float *restrict o, long pstride) {
    for (long t = 0; t < tw; t += 8) {
        __m256 d[6], v[6];
        tile_columns(e + 4 * t, 6, d);
        bt8(d, v);
        if (tw - t >= 8) {
            for (int l = 0; l < 6; l++) _mm256_storeu_ps(o + l * pstride + t, v[l]);
        } else {
            const __m256i k = cvm_tail_mask8(tw - t);
            for (int l = 0; l < 6; l++) _mm256_maskstore_ps(o + l * pstride + t, k, v[l]);
        }
    }
}

// Lanes of the 8 columns from window column q that lie inside the window (< width) and inside
// the image (image column first + q + j in [0, w)); the others read as zero.
CVM_AVX2 CVM_INLINE __m256i window_mask(long first, long q, long width, long w) {
    long lo = -(first + q), hi = w - (first + q);
    if (lo < 0) lo = 0;
    if (hi > width - q) hi = width - q;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    if (hi > 8) hi = 8;
    if (hi <= lo) return _mm256_setzero_si256();
    return _mm256_and_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)hi), lane),
                            _mm256_cmpgt_epi32(lane, _mm256_set1_epi32((int)lo - 1)));
}

CVM_AVX2 void cvm_winograd4_input_avx2 CVM_WINOGRAD4_INPUT_PARAMS {
    // Input columns 4 * tx0 - 1 ... 4 * (tx0 + tw) + 1, zero outside the image, read in place with
    // masked loads (masked-out lanes are never touched).
    const long width = 4 * tw + 2, first = 4 * tx0 - 1;
    // + 48: a last block of 8 tiles reads up to 4 * 8 + 4 floats from its start, past the window
    // (zeros: the whole vectors stored below are zero past it too).
    float e[6][4 * MAX_TILE_COLUMNS + 64] __attribute__((aligned(32)));
    const long whole = (width + 7) / 8 * 8;
    for (int i = 0; i < 6; i++) memset(e[i] + whole, 0, sizeof(float) * 48);
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            const float *row[6];
            for (int k = 0; k < 6; k++) {
                const long iy = 4 * ty - 1 + k;
                row[k] = iy < 0 || iy >= h ? NULL : plane + iy * w + first;
            }
            // The rows of the next step fetched while this one computes (see Winograd4AVX512.c).
            const float *ahead[6];
            for (int k = 0; k < 6; k++) {
                const long iy = ty + 1 < ty1 ? 4 * ty + 3 + k : 4 * ty0 - 1 + k;
                const float *p = ty + 1 < ty1 ? plane : c + 1 < channels ? plane + h * w : NULL;
                ahead[k] = p && iy >= 0 && iy < h ? p + iy * w + first : NULL;
            }
            // B^T down the six rows, 8 columns at a time (whole vectors: zeros past the window) ...
            for (long q = 0; q < width; q += 8) {
                if (!(q & 8))
                    for (int k = 0; k < 6; k++)
                        if (ahead[k]) _mm_prefetch((const char *)(ahead[k] + q + 16), _MM_HINT_T0);
                const __m256i in = window_mask(first, q, width, w);
                __m256 r[6], o[6];
                for (int i = 0; i < 6; i++) r[i] = row[i] ? _mm256_maskload_ps(row[i] + q, in) : _mm256_setzero_ps();
                bt8(r, o);
                for (int i = 0; i < 6; i++) _mm256_store_ps(e[i] + q, o[i]);
            }
            // ... then along each tile's six columns, 8 tiles at a time.
            float *out = v + c * ld + (ty - ty0) * tw;
            for (int i = 0; i < 6; i++) horizontal_input(e[i], tw, out + (long)(i * 6) * pstride, pstride);
        }
    }
}

// Splits input row r (w floats) into even[j] = r[2j] and odd[j] = r[2j - 1] for j < n (a
// multiple of 8), zero outside the row.
CVM_AVX2 CVM_INLINE void split_row(const float *restrict r, long w, long n, float *restrict even,
                                   float *restrict odd, const float *ahead) {
    const __m256i rotate = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    __m256 previous = _mm256_setzero_ps();  // lane 0: the odd column before this block
    for (long j = 0; j < n; j += 8) {
        const long left = w - 2 * j;
        if (ahead) _mm_prefetch((const char *)(ahead + 2 * j), _MM_HINT_T0);
        __m256 a = _mm256_maskload_ps(r + 2 * j, cvm_tail_mask8(left));
        __m256 b = _mm256_maskload_ps(r + 2 * j + 8, cvm_tail_mask8(left - 8));
        // Per 128-bit half (a0 a2 b0 b2 | a4 a6 b4 b6), then 64-bit chunks 0, 2, 1, 3.
        __m256 evens = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        __m256 odds = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
        evens = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), 0xD8));
        odds = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odds), 0xD8));  // r[2j + 2t + 1]
        _mm256_storeu_ps(even + j, evens);
        // odd[j + t] = r[2j + 2t - 1]: the odds moved up one lane, lane 0 from the block before.
        const __m256 rotated = _mm256_permutevar8x32_ps(odds, rotate);
        _mm256_storeu_ps(odd + j, _mm256_blend_ps(rotated, previous, 0x01));
        previous = rotated;
    }
}

// B^T along the five columns of each tile of one combined row e (tile t's at e[4t ... 4t + 4]).
CVM_AVX2 CVM_INLINE void horizontal_input5(const float *restrict e, long tw, float *restrict o, long pstride) {
    for (long t = 0; t < tw; t += 8) {
        __m256 d[6], v[5];
        tile_columns(e + 4 * t, 5, d);
        bt5x8(d, v);
        if (tw - t >= 8) {
            for (int l = 0; l < 5; l++) _mm256_storeu_ps(o + l * pstride + t, v[l]);
        } else {
            const __m256i k = cvm_tail_mask8(tw - t);
            for (int l = 0; l < 5; l++) _mm256_maskstore_ps(o + l * pstride + t, k, v[l]);
        }
    }
}

CVM_AVX2 void cvm_winograd_s2_input_avx2 CVM_WINOGRAD_S2_INPUT_PARAMS {
    // Split columns j = 4 tx0 ... 4 (tx0 + tw) of each row, whole vectors (+ 48: the stride-4
    // reads of a last partial block of 8 tiles run past the end).
    const long n = ((4 * tw + 1) + 7) / 8 * 8;
    float split[2][5][4 * MAX_TILE_COLUMNS + 64] __attribute__((aligned(32)));  // [b][k][j]
    float e[5][4 * MAX_TILE_COLUMNS + 64] __attribute__((aligned(32)));
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 5; k++) memset(split[b][k] + n, 0, sizeof(float) * 48);
    for (int i = 0; i < 5; i++) memset(e[i] + n, 0, sizeof(float) * 48);
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (int a = 0; a < 2; a++) {
                for (int k = 0; k < 5; k++) {
                    const long row = 8 * ty + 2 * k - a;
                    const long next_row = ty + 1 < ty1 ? row + 8 : 8 * ty0 + 2 * k - a;
                    const float *next_plane = ty + 1 < ty1 ? plane : c + 1 < channels ? plane + h * w : NULL;
                    const float *ahead = next_plane && next_row >= 0 && next_row < h
                                             ? next_plane + next_row * w + 8 * tx0 : NULL;
                    if (row < 0 || row >= h) {
                        memset(split[0][k], 0, sizeof(float) * n);
                        memset(split[1][k], 0, sizeof(float) * n);
                        continue;
                    }
                    split_row(plane + row * w + 8 * tx0, w - 8 * tx0, n, split[0][k], split[1][k], ahead);
                    if (tx0 > 0) split[1][k][0] = plane[row * w + 8 * tx0 - 1];
                }
                for (int b = 0; b < 2; b++) {
                    int p = 0;
                    while (CVM_S2_PHASE_A[p] != a || CVM_S2_PHASE_B[p] != b) p++;
                    for (long q = 0; q < n; q += 8) {
                        __m256 r[5], o[5];
                        for (int k = 0; k < 5; k++) r[k] = _mm256_load_ps(split[b][k] + q);
                        bt5x8(r, o);
                        for (int i = 0; i < 5; i++) _mm256_store_ps(e[i] + q, o[i]);
                    }
                    float *out = v + p * phase_stride + c * ld + (ty - ty0) * tw;
                    for (int i = 0; i < 5; i++) horizontal_input5(e[i], tw, out + (long)(i * 5) * pstride, pstride);
                }
            }
        }
    }
}

// A^T on six vectors (at6 in Winograd4.c).
CVM_AVX2 CVM_INLINE void at8(const __m256 m[6], __m256 o[4]) {
    __m256 s12 = _mm256_add_ps(m[1], m[2]), d12 = _mm256_sub_ps(m[1], m[2]);
    __m256 s34 = _mm256_add_ps(m[3], m[4]), d34 = _mm256_sub_ps(m[3], m[4]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], s12), s34);
    o[1] = _mm256_add_ps(d12, _mm256_mul_ps(_mm256_set1_ps(2), d34));
    o[2] = _mm256_add_ps(s12, _mm256_mul_ps(_mm256_set1_ps(4), s34));
    o[3] = _mm256_add_ps(_mm256_add_ps(d12, _mm256_mul_ps(_mm256_set1_ps(8), d34)), m[5]);
}

// Four vectors of 8 tiles interleaved, out[4q + b] = v[b][q]: a 4x4 transpose in each 128-bit
// half gives tiles (0 | 4), (1 | 5), (2 | 6), (3 | 7), whose halves are then put in order.
CVM_AVX2 CVM_INLINE void interleave4v(const __m256 v[4], __m256 out[4]) {
    const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
    const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
    const __m256 r0 = _mm256_shuffle_ps(t0, t2, 0x44), r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 r2 = _mm256_shuffle_ps(t1, t3, 0x44), r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    out[0] = _mm256_permute2f128_ps(r0, r1, 0x20);
    out[1] = _mm256_permute2f128_ps(r2, r3, 0x20);
    out[2] = _mm256_permute2f128_ps(r0, r1, 0x31);
    out[3] = _mm256_permute2f128_ps(r2, r3, 0x31);
}

// The output transform of 6x6 product tiles, or (FIVE) of the stride-2 conv's 5x5 ones (see
// output_tiles_plain in Winograd4.c), 8 tiles at a time: A^T along the rows of the tiles, then
// down their columns; blocks of 8 tiles wholly inside the image get bias and activation and go
// straight out, the ragged rest through `row`, cropped.
CVM_AVX2 CVM_INLINE void output_tiles(const int FIVE, CVM_WINOGRAD_OUTPUT_PARAMS_LIST) {
    const int n = FIVE ? 5 : 6;
    float t[6][4][MAX_TILE_COLUMNS] __attribute__((aligned(32)));
    float row[4][4 * MAX_TILE_COLUMNS + 32] __attribute__((aligned(32)));
    const long x0 = 4 * tx0;
    const long cols = 4 * tw < w - x0 ? 4 * tw : w - x0;
    for (long f = 0; f < filters; f++) {
        float *plane = y + f * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            const float *mf = m + f * ld + (ty - ty0) * tw;
            for (int i = 0; i < 6; i++) {
                if (FIVE && i == 4) {
                    for (long q = 0; q < tw; q += 8)
                        for (int b = 0; b < 4; b++) _mm256_store_ps(t[4][b] + q, _mm256_setzero_ps());
                    continue;
                }
                const float *r = mf + (long)((FIVE && i == 5 ? 4 : i) * n) * pstride;
                for (long q = 0; q < tw; q += 8) {
                    const __m256i k = cvm_tail_mask8(tw - q);
                    __m256 mv[6], o[4];
                    for (int l = 0; l < 6; l++) {
                        if (FIVE && l == 4) mv[l] = _mm256_setzero_ps();
                        else mv[l] = _mm256_maskload_ps(r + (FIVE && l == 5 ? 4 : l) * pstride + q, k);
                    }
                    at8(mv, o);
                    for (int b = 0; b < 4; b++) _mm256_store_ps(t[i][b] + q, o[b]);
                }
            }
            const int more = ty + 1 < ty1 || f + 1 < filters;
            float *next = ty + 1 < ty1 ? plane + 4 * (ty + 1) * w + x0 : plane + h * w + 4 * ty0 * w + x0;
            const long next_rows = ty + 1 < ty1 ? h - 4 * (ty + 1) : h - 4 * ty0;
            float *dst[4], *ahead[4];
            for (int a = 0; a < 4; a++) {
                dst[a] = 4 * ty + a < h ? plane + (4 * ty + a) * w + x0 : NULL;
                ahead[a] = more && a < next_rows ? next + a * w : NULL;
            }
            long done = 0;  // columns [0, done) are written
            for (long q = 0; q < tw; q += 8) {
                __m256 o[4][4];  // [a][b]
                for (int b = 0; b < 4; b++) {
                    __m256 mv[6], v4[4];
                    for (int i = 0; i < 6; i++) mv[i] = _mm256_load_ps(t[i][b] + q);
                    at8(mv, v4);
                    for (int a = 0; a < 4; a++) o[a][b] = v4[a];
                }
                const int direct = 4 * q + 32 <= cols;
                for (int a = 0; a < 4; a++) {
                    if (!dst[a]) break;
                    __m256 v4[4];
                    interleave4v(o[a], v4);
                    for (int j = 0; j < 4; j++) {
                        if (!direct) {
                            _mm256_store_ps(row[a] + 4 * q + 8 * j, v4[j]);
                            continue;
                        }
                        if (ahead[a] && !(j & 1)) PREFETCH_WRITE(ahead[a] + 4 * q + 8 * j);
                        _mm256_storeu_ps(dst[a] + 4 * q + 8 * j, cvm_finish8(v4[j], bias[f], act, slope));
                    }
                }
                if (direct) done = 4 * q + 32;
            }
            for (int a = 0; a < 4; a++) {
                if (!dst[a]) break;
                long q = done;
                for (; q + 8 <= cols; q += 8)
                    _mm256_storeu_ps(dst[a] + q, cvm_finish8(_mm256_load_ps(row[a] + q), bias[f], act, slope));
                if (q < cols)
                    _mm256_maskstore_ps(dst[a] + q, cvm_tail_mask8(cols - q),
                                        cvm_finish8(_mm256_load_ps(row[a] + q), bias[f], act, slope));
            }
        }
    }
}

CVM_AVX2 void cvm_winograd4_output_avx2 CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles(0, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

CVM_AVX2 void cvm_winograd_s2_output_avx2 CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles(1, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

#endif
