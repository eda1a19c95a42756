// The Winograd transforms of Winograd4.c in AVX-512 intrinsics along 16 tile columns (plain C
// loops over stride-4 tile columns compile to scalar code): gathers and scatters of every fourth
// float by two-source permutes, rows read in place with masked loads, bias + activation fused
// into the output transform (Epilogue.h). Each value sees the operations of the plain versions in
// Winograd4.c in the same order, so the two give the same floats. x86-64 only.
#include "Kernels.h"

#if defined(__x86_64__)
#include "Epilogue.h"
#include <string.h>

#define MAX_TILE_COLUMNS CVM_MAX_TILE_COLUMNS
#define S2_PHASE_A CVM_S2_PHASE_A
#define S2_PHASE_B CVM_S2_PHASE_B

// The six rows of B^T applied to six vectors (rows of tiles, or columns of 16 tiles), in
// this order of operations (the reference, Winograd.inputTile4Reference, sums in Double):
//   o0 = 4 r0 - 5 r2 + r4            o3 = 2 (r3 - r1) - r2 + r4
//   o1 = -4 (r1 + r2) + r3 + r4      o4 = 2 (r1 - r3) - r2 + r4
//   o2 = 4 (r1 - r2) - r3 + r4       o5 = 4 r1 - 5 r3 + r5
AVX512 INLINE void bt16(const __m512 r[6], __m512 o[6]) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    o[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, r[0]), _mm512_mul_ps(five, r[2])), r[4]);
    o[1] = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(-4), _mm512_add_ps(r[1], r[2])), r[3]), r[4]);
    o[2] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, _mm512_sub_ps(r[1], r[2])), r[3]), r[4]);
    o[3] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(r[3], r[1])), r[2]), r[4]);
    o[4] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(r[1], r[3])), r[2]), r[4]);
    o[5] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, r[1]), _mm512_mul_ps(five, r[3])), r[5]);
}

// Lanes j, j + 4, ..., j + 60 of the 64 floats at p (16 tiles' column j), by two-source permutes.
AVX512 INLINE __m512 every4th(const float *p, int j) {
    const __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28),
                                         _mm512_set1_epi32(j));
    __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(p), idx, _mm512_loadu_ps(p + 16));
    __m512 hi = _mm512_permutex2var_ps(_mm512_loadu_ps(p + 32), idx, _mm512_loadu_ps(p + 48));
    return _mm512_shuffle_f32x4(lo, hi, 0x44);
}

// B^T along the six columns of each tile of one combined row e (tile t's at e[4t ... 4t + 5]),
// position l of tile t to o[l * pstride + t].
AVX512 INLINE void horizontal_input(const float *restrict e, long tw, float *restrict o, long pstride) {
    // A last partial block of tiles runs as a whole one (e is padded with zeros past the
    // window), its stores masked: 40x40 and 20x20 planes have 10 and 5 tile columns, which a
    // scalar tail would do one tile at a time.
    for (long t = 0; t < tw; t += 16) {
        __mmask16 k = tw - t >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (tw - t)) - 1);
        const float *p = e + 4 * t;
        // Columns 4 and 5 of tile t are columns 0 and 1 of tile t + 1.
        __m512 d[6] = {every4th(p, 0), every4th(p, 1), every4th(p, 2), every4th(p, 3),
                       every4th(p + 4, 0), every4th(p + 4, 1)};
        __m512 v[6];
        bt16(d, v);
        for (int l = 0; l < 6; l++) _mm512_mask_storeu_ps(o + l * pstride + t, k, v[l]);
    }
}

// Lanes of the 16 columns from window column q that lie inside the window (< width) and
// inside the image (image column first + q + j in [0, w)); the others read as zero.
AVX512 INLINE __mmask16 window_mask(long first, long q, long width, long w) {
    long lo = -(first + q), hi = w - (first + q);
    if (lo < 0) lo = 0;
    if (hi > width - q) hi = width - q;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

CVM_AVX512 void cvm_winograd4_input_avx512 CVM_WINOGRAD4_INPUT_PARAMS {
    // Input columns 4 * tx0 - 1 ... 4 * (tx0 + tw) + 1, zero outside the image. Rows are read in
    // place with masked loads (masked-out lanes are never touched, so the -1st and w-th columns
    // need no padding copy).
    const long width = 4 * tw + 2, first = 4 * tx0 - 1;
    // 80 zeros after the window: a last block of 16 tiles reads up to 4 * 16 + 6 floats from its
    // start, past the window (zeros, so no garbage, and no denormal slow paths, go through the
    // arithmetic). The window is up to 4 * 256 + 2 floats, hence + 96.
    float e[6][4 * MAX_TILE_COLUMNS + 96] __attribute__((aligned(64)));
    for (int i = 0; i < 6; i++) memset(e[i] + width, 0, sizeof(float) * 80);
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            // B^T along the rows of the tile: six input rows, 16 columns at a time.
            const float *row[6];
            for (int k = 0; k < 6; k++) {
                const long iy = 4 * ty - 1 + k;
                row[k] = iy < 0 || iy >= h ? NULL : plane + iy * w + first;
            }
            // The rows of the next step (the next tile row, or the next channel's first), fetched
            // into cache while this one computes: rows a plane apart, each a few lines long, are
            // too short for the hardware prefetcher to pick up.
            const float *ahead[6];
            for (int k = 0; k < 6; k++) {
                const long iy = ty + 1 < ty1 ? 4 * ty + 3 + k : 4 * ty0 - 1 + k;
                const float *p = ty + 1 < ty1 ? plane : c + 1 < channels ? plane + h * w : NULL;
                ahead[k] = p && iy >= 0 && iy < h ? p + iy * w + first : NULL;
            }
            for (long q = 0; q < width; q += 16) {
                for (int k = 0; k < 6; k++)
                    if (ahead[k]) _mm_prefetch((const char *)(ahead[k] + q + 16), _MM_HINT_T0);
                const __mmask16 in = window_mask(first, q, width, w);
                const __mmask16 k = width - q >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (width - q)) - 1);
                __m512 r[6], o[6];
                for (int i = 0; i < 6; i++)
                    r[i] = row[i] ? _mm512_maskz_loadu_ps(in, row[i] + q) : _mm512_setzero_ps();
                bt16(r, o);
                for (int i = 0; i < 6; i++) _mm512_mask_storeu_ps(e[i] + q, k, o[i]);
            }
            // ... then along each tile's six columns (stride 4 between tiles), 16 tiles at a time.
            float *out = v + c * ld + (ty - ty0) * tw;
            for (int i = 0; i < 6; i++)
                horizontal_input(e[i], tw, out + (long)(i * 6) * pstride, pstride);
        }
    }
}

// o = B^T applied to five vectors.
AVX512 INLINE void bt5(const __m512 d[5], __m512 o[5]) {
    const __m512 two = _mm512_set1_ps(2.0f), three = _mm512_set1_ps(3.0f);
    __m512 d3m1 = _mm512_sub_ps(d[3], d[1]);
    o[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, d[0]), _mm512_mul_ps(two, d[2])), d3m1);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(d[3], _mm512_mul_ps(two, d[1])), d[2]);
    o[2] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, d[1]), _mm512_mul_ps(three, d[2])), d[3]);
    o[3] = d3m1;
    o[4] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(_mm512_mul_ps(two, d[1]), d[2]), _mm512_mul_ps(two, d[3])), d[4]);
}

// Splits input row r (w floats) into even[j] = r[2j] and odd[j] = r[2j - 1] for j < n, zero
// outside the row.
AVX512 INLINE void split_row(const float *restrict r, long w, long n, float *restrict even, float *restrict odd,
                             const float *ahead) {
    const __m512i ei = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i oi = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    __m512 carry = _mm512_setzero_ps();  // lane 15: the odd column before this block
    for (long j = 0; j < n; j += 16) {
        long left = w - 2 * j;
        __mmask16 lo = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        left -= 16;
        __mmask16 hi = left >= 16 ? (__mmask16)0xFFFF : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
        if (ahead) {
            _mm_prefetch((const char *)(ahead + 2 * j), _MM_HINT_T0);
            _mm_prefetch((const char *)(ahead + 2 * j + 16), _MM_HINT_T0);
        }
        __m512 a = _mm512_maskz_loadu_ps(lo, r + 2 * j), b = _mm512_maskz_loadu_ps(hi, r + 2 * j + 16);
        __m512 odds = _mm512_permutex2var_ps(a, oi, b);  // r[2j + 2t + 1]
        _mm512_storeu_ps(even + j, _mm512_permutex2var_ps(a, ei, b));
        _mm512_storeu_ps(odd + j, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(odds),
                                                                          _mm512_castps_si512(carry), 15)));
        carry = odds;
    }
}

// B^T along the five columns of each tile of one combined row e (tile t's at e[4t ... 4t + 4]),
// position l of tile t to o[l * pstride + t].
AVX512 INLINE void horizontal_input5(const float *restrict e, long tw, float *restrict o, long pstride) {
    for (long t = 0; t < tw; t += 16) {
        __mmask16 k = tw - t >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (tw - t)) - 1);
        const float *p = e + 4 * t;
        __m512 d[5] = {every4th(p, 0), every4th(p, 1), every4th(p, 2), every4th(p, 3), every4th(p + 4, 0)};
        __m512 v[5];
        bt5(d, v);
        for (int l = 0; l < 5; l++) _mm512_mask_storeu_ps(o + l * pstride + t, k, v[l]);
    }
}

CVM_AVX512 void cvm_winograd_s2_input_avx512 CVM_WINOGRAD_S2_INPUT_PARAMS {
    // Split columns j = 4 tx0 ... 4 (tx0 + tw) of each row, whole vectors (+ 64: the stride-4
    // reads of a last partial block of 16 tiles run past the end).
    const long n = ((4 * tw + 1) + 15) / 16 * 16;
    float split[2][5][4 * MAX_TILE_COLUMNS + 96] __attribute__((aligned(64)));  // [b][k][j]
    float e[5][4 * MAX_TILE_COLUMNS + 96] __attribute__((aligned(64)));
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 5; k++) memset(split[b][k] + n, 0, sizeof(float) * 80);
    for (int i = 0; i < 5; i++) memset(e[i] + n, 0, sizeof(float) * 80);
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (int a = 0; a < 2; a++) {
                for (int k = 0; k < 5; k++) {
                    const long row = 8 * ty + 2 * k - a;
                    // The same row of the next step (the next tile row, or the next channel's
                    // first), fetched while this one is split: rows a plane apart are too short
                    // for the hardware prefetcher (as in cvm_winograd4_input).
                    const long next_row = ty + 1 < ty1 ? row + 8 : 8 * ty0 + 2 * k - a;
                    const float *next_plane = ty + 1 < ty1 ? plane : c + 1 < channels ? plane + h * w : NULL;
                    const float *ahead = next_plane && next_row >= 0 && next_row < h
                                             ? next_plane + next_row * w + 8 * tx0 : NULL;
                    if (row < 0 || row >= h) {
                        memset(split[0][k], 0, sizeof(float) * n);
                        memset(split[1][k], 0, sizeof(float) * n);
                        continue;
                    }
                    // Column 2j - b of the row, j from 4 tx0: start the split at column 8 tx0.
                    split_row(plane + row * w + 8 * tx0, w - 8 * tx0, n, split[0][k], split[1][k], ahead);
                    if (tx0 > 0) split[1][k][0] = plane[row * w + 8 * tx0 - 1];
                }
                for (int b = 0; b < 2; b++) {
                    int p = 0;
                    while (S2_PHASE_A[p] != a || S2_PHASE_B[p] != b) p++;
                    // B^T down the five rows, 16 columns at a time ...
                    for (long q = 0; q < n; q += 16) {
                        __m512 r[5], o[5];
                        for (int k = 0; k < 5; k++) r[k] = _mm512_load_ps(split[b][k] + q);
                        bt5(r, o);
                        for (int i = 0; i < 5; i++) _mm512_store_ps(e[i] + q, o[i]);
                    }
                    // ... then along each tile's five columns.
                    float *out = v + p * phase_stride + c * ld + (ty - ty0) * tw;
                    for (int i = 0; i < 5; i++) horizontal_input5(e[i], tw, out + (long)(i * 5) * pstride, pstride);
                }
            }
        }
    }
}

// The four rows of A^T applied to six vectors, in this order of operations:
//   o0 = m0 + (m1 + m2) + (m3 + m4)      o2 = (m1 + m2) + 4 (m3 + m4)
//   o1 = (m1 - m2) + 2 (m3 - m4)         o3 = (m1 - m2) + 8 (m3 - m4) + m5
AVX512 INLINE void at16(const __m512 m[6], __m512 o[4]) {
    __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
    __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
    o[1] = _mm512_add_ps(d12, _mm512_mul_ps(_mm512_set1_ps(2), d34));
    o[2] = _mm512_add_ps(s12, _mm512_mul_ps(_mm512_set1_ps(4), s34));
    o[3] = _mm512_add_ps(_mm512_add_ps(d12, _mm512_mul_ps(_mm512_set1_ps(8), d34)), m[5]);
}

// Four vectors interleaved, out[4q + b] = v[b][q] (q < 16), as four vectors, by two rounds
// of two-source permutes.
AVX512 INLINE void interleave4v(const __m512 v[4], __m512 out[4]) {
    // Pairs (v0[q], v1[q]) for q < 8, then q >= 8; the same for (v2, v3).
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 a0 = _mm512_permutex2var_ps(v[0], lo, v[1]), a1 = _mm512_permutex2var_ps(v[0], hi, v[1]);
    __m512 b0 = _mm512_permutex2var_ps(v[2], lo, v[3]), b1 = _mm512_permutex2var_ps(v[2], hi, v[3]);
    // Then pairs of pairs: (a[2q], a[2q+1], b[2q], b[2q+1]).
    const __m512i first = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    out[0] = _mm512_permutex2var_ps(a0, first, b0);
    out[1] = _mm512_permutex2var_ps(a0, second, b0);
    out[2] = _mm512_permutex2var_ps(a1, first, b1);
    out[3] = _mm512_permutex2var_ps(a1, second, b1);
}

// The same, stored to the 64 floats at out.
AVX512 INLINE void interleave4(const __m512 v[4], float *out) {
    __m512 o[4];
    interleave4v(v, o);
    for (int j = 0; j < 4; j++) _mm512_storeu_ps(out + 16 * j, o[j]);
}

// The output transform of 6x6 product tiles, or (FIVE) of the stride-2 conv's 5x5 ones: those
// are F(4x4, 3x3)'s positions without the -2 row and column (index 4), stored compactly (row
// or column 5 of the 6x6 tile is index 4 of the 5x5), and read as zeros there.
AVX512 INLINE void output_tiles(const int FIVE, const float *restrict m, long ld, long pstride, long filters,
                                long ty0, long ty1, long tx0, long tw, const float *restrict bias, int act,
                                float slope, float *restrict y, long h, long w) {
    const int n = FIVE ? 5 : 6;
    float t[6][4][MAX_TILE_COLUMNS] __attribute__((aligned(64)));
    float row[4][4 * MAX_TILE_COLUMNS + 16] __attribute__((aligned(64)));
    const long x0 = 4 * tx0;
    const long cols = 4 * tw < w - x0 ? 4 * tw : w - x0;
    for (long f = 0; f < filters; f++) {
        float *plane = y + f * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            const float *mf = m + f * ld + (ty - ty0) * tw;
            // A^T along each row i of the 6x6 product tile (positions i*6 ... i*6+5).
            // 16 tiles at a time; t has room for whole vectors (tw <= MAX_TILE_COLUMNS).
            for (int i = 0; i < 6; i++) {
                if (FIVE && i == 4) {
                    for (long q = 0; q < tw; q += 16)
                        for (int b = 0; b < 4; b++) _mm512_store_ps(t[4][b] + q, _mm512_setzero_ps());
                    continue;
                }
                const float *r = mf + (long)((FIVE && i == 5 ? 4 : i) * n) * pstride;
                for (long q = 0; q < tw; q += 16) {
                    __mmask16 k = tw - q >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (tw - q)) - 1);
                    __m512 m[6], o[4];
                    for (int l = 0; l < 6; l++) {
                        if (FIVE && l == 4) m[l] = _mm512_setzero_ps();
                        else m[l] = _mm512_maskz_loadu_ps(k, r + (FIVE && l == 5 ? 4 : l) * pstride + q);
                    }
                    at16(m, o);
                    for (int b = 0; b < 4; b++) _mm512_store_ps(t[i][b] + q, o[b]);
                }
            }
            // ... then down the columns: output row a, column 4q + b. Blocks of 16 tiles wholly
            // inside the image get bias and activation (the pointwise kernel's epilogue) and go
            // straight out; the ragged rest goes through `row` and is cropped below. The next
            // step's output rows (the next tile row, or the next filter's first) are fetched for
            // writing meanwhile, so its stores do not wait on their lines.
            const int more = ty + 1 < ty1 || f + 1 < filters;
            float *next = ty + 1 < ty1 ? plane + 4 * (ty + 1) * w + x0 : plane + h * w + 4 * ty0 * w + x0;
            const long next_rows = ty + 1 < ty1 ? h - 4 * (ty + 1) : h - 4 * ty0;
            float *dst[4], *ahead[4];
            for (int a = 0; a < 4; a++) {
                dst[a] = 4 * ty + a < h ? plane + (4 * ty + a) * w + x0 : NULL;
                ahead[a] = more && a < next_rows ? next + a * w : NULL;
            }
            // A last partial block runs as a whole one (t holds whole vectors, zeros past tw); it
            // is never wholly inside, so it goes through `row` (small planes have only this block).
            long done = 0;  // columns [0, done) are written
            for (long q = 0; q < tw; q += 16) {
                __m512 o[4][4];  // [a][b]
                for (int b = 0; b < 4; b++) {
                    __m512 m[6], v[4];
                    for (int i = 0; i < 6; i++) m[i] = _mm512_load_ps(t[i][b] + q);
                    at16(m, v);
                    for (int a = 0; a < 4; a++) o[a][b] = v[a];
                }
                const int direct = 4 * q + 64 <= cols;
                for (int a = 0; a < 4; a++) {
                    if (!dst[a]) break;
                    if (!direct) {
                        interleave4(o[a], row[a] + 4 * q);
                        continue;
                    }
                    __m512 v[4];
                    interleave4v(o[a], v);
                    for (int j = 0; j < 4; j++) {
                        if (ahead[a]) PREFETCH_WRITE(ahead[a] + 4 * q + 16 * j);
                        _mm512_storeu_ps(dst[a] + 4 * q + 16 * j, finish(v[j], bias[f], act, slope));
                    }
                }
                if (direct) done = 4 * q + 64;
            }
            for (int a = 0; a < 4; a++) {
                if (!dst[a]) break;
                long q = done;  // a multiple of 64: row stays aligned
                for (; q + 16 <= cols; q += 16) {
                    if (ahead[a]) PREFETCH_WRITE(ahead[a] + q);
                    _mm512_storeu_ps(dst[a] + q, finish(_mm512_load_ps(row[a] + q), bias[f], act, slope));
                }
                if (q < cols) {
                    __mmask16 tail = (__mmask16)((1u << (cols - q)) - 1);
                    _mm512_mask_storeu_ps(dst[a] + q, tail, finish(_mm512_load_ps(row[a] + q), bias[f], act, slope));
                }
            }
        }
    }
}

CVM_AVX512 void cvm_winograd4_output_avx512 CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles(0, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

CVM_AVX512 void cvm_winograd_s2_output_avx512 CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles(1, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

#endif
