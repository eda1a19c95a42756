// Winograd F(4x4, 3x3) transforms (Lavin & Gray, 2016; interpolation points 0, +-1, +-2, inf):
// each 4x4 output tile from a 6x6 input tile, 36 products instead of 144 (F(2x2)'s 16 for 4
// outputs is 64 per 16). With d a 6x6 input tile and g a 3x3 filter,
// Y = A^T [(G g G^T) .* (B^T d B)] A, where
//
//   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
//         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6  |         | 0  1 -1  2 -2  0 |
//         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6  |         | 0  1  1  4  4  0 |
//         | 0 -2 -1  2  1  0 |       | 1/24  1/12   1/6  |         | 0  1 -1  8 -8  1 |
//         | 0  2 -1 -2  1  0 |       | 1/24 -1/12   1/6  |
//         | 0  4  0 -5  0  1 |       |   0     0     1   |
//
// The products themselves run through cvm_pointwise (Winograd.swift). The transforms are here
// because the Swift build is baseline x86-64: these loops along tile columns vectorize with
// AVX-512 only when compiled for it. Reference: the Swift F(4x4) code in Winograd.swift, which
// follows the same matrices element by element (WinogradTests).
#include "CVectorMath.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#pragma clang fp contract(off)

#include "Epilogue.h"

// Most tile columns one call handles: an input row of 4 * 256 + 2 floats (planes up to 1024
// wide; wider ones are split by the caller).
#define MAX_TILE_COLUMNS 256

// U = G g G^T in Double, rounded once, from kernel-major weights (as cvm_winograd_weights).
// Pairs are done 16 at a time with the pair index innermost, so the Double arithmetic
// vectorizes (AVX-512: 8 lanes) while each value sees the same operations in the same order as
// Winograd.transformWeights4Reference (Swift), whose floats it reproduces exactly.
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define PAIRS 16
static const double G4[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

CLONES void cvm_winograd4_weights(const float *restrict g, long count, float *restrict u, long stride) {
    for (long j0 = 0; j0 < count; j0 += PAIRS) {
        const long n = count - j0 < PAIRS ? count - j0 : PAIRS;
        double k[9][PAIRS], t[6][3][PAIRS];
        for (int a = 0; a < 9; a++)
            for (long j = 0; j < n; j++) k[a][j] = g[a * count + j0 + j];
        // t = G g (6x3), then U = t G^T (6x6); terms summed in index order.
        for (int i = 0; i < 6; i++)
            for (int b = 0; b < 3; b++)
                for (long j = 0; j < n; j++)
                    t[i][b][j] = G4[i][0] * k[b][j] + G4[i][1] * k[3 + b][j] + G4[i][2] * k[6 + b][j];
        for (int i = 0; i < 6; i++)
            for (int l = 0; l < 6; l++) {
                float *out = u + (long)(i * 6 + l) * stride + j0;
                for (long j = 0; j < n; j++)
                    out[j] = (float)(t[i][0][j] * G4[l][0] + t[i][1][j] * G4[l][1] + t[i][2][j] * G4[l][2]);
            }
    }
}

int cvm_winograd4_max_tile_columns(void) { return MAX_TILE_COLUMNS; }

// The six rows of B^T applied to six values (rows of a tile, or columns of one row).
#define BT_ROWS(r0, r1, r2, r3, r4, r5, o0, o1, o2, o3, o4, o5) \
    do {                                                        \
        o0 = 4 * (r0) - 5 * (r2) + (r4);                        \
        o1 = -4 * ((r1) + (r2)) + (r3) + (r4);                  \
        o2 = 4 * ((r1) - (r2)) - (r3) + (r4);                   \
        o3 = 2 * ((r3) - (r1)) - (r2) + (r4);                   \
        o4 = 2 * ((r1) - (r3)) - (r2) + (r4);                   \
        o5 = 4 * (r1) - 5 * (r3) + (r5);                        \
    } while (0)

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
    long t = 0;
    for (; t + 16 <= tw; t += 16) {
        const float *p = e + 4 * t;
        // Columns 4 and 5 of tile t are columns 0 and 1 of tile t + 1.
        __m512 d0 = every4th(p, 0), d1 = every4th(p, 1), d2 = every4th(p, 2), d3 = every4th(p, 3);
        __m512 d4 = every4th(p + 4, 0), d5 = every4th(p + 4, 1);
        const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
        __m512 o0 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d0), _mm512_mul_ps(five, d2)), d4);
        __m512 o1 = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(-4), _mm512_add_ps(d1, d2)), d3), d4);
        __m512 o2 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, _mm512_sub_ps(d1, d2)), d3), d4);
        __m512 o3 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d3, d1)), d2), d4);
        __m512 o4 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d1, d3)), d2), d4);
        __m512 o5 = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d1), _mm512_mul_ps(five, d3)), d5);
        _mm512_storeu_ps(o + t, o0);
        _mm512_storeu_ps(o + pstride + t, o1);
        _mm512_storeu_ps(o + 2 * pstride + t, o2);
        _mm512_storeu_ps(o + 3 * pstride + t, o3);
        _mm512_storeu_ps(o + 4 * pstride + t, o4);
        _mm512_storeu_ps(o + 5 * pstride + t, o5);
    }
    for (; t < tw; t++) {
        const float *d = e + 4 * t;
        float o0, o1, o2, o3, o4, o5;
        BT_ROWS(d[0], d[1], d[2], d[3], d[4], d[5], o0, o1, o2, o3, o4, o5);
        o[t] = o0;
        o[pstride + t] = o1;
        o[2 * pstride + t] = o2;
        o[3 * pstride + t] = o3;
        o[4 * pstride + t] = o4;
        o[5 * pstride + t] = o5;
    }
}

AVX512 void cvm_winograd4_input(const float *restrict x, long channels, long h, long w, long ty0, long ty1,
                                long tx0, long tw, float *restrict v, long ld, long pstride) {
    // Input columns 4 * tx0 - 1 ... 4 * (tx0 + tw) + 1, zero outside the image.
    const long width = 4 * tw + 2, first = 4 * tx0 - 1;
    float rows[6][4 * MAX_TILE_COLUMNS + 2] __attribute__((aligned(64)));
    float e[6][4 * MAX_TILE_COLUMNS + 18] __attribute__((aligned(64)));  // + 16: whole-vector loads past the end
    // Columns of the window inside the image.
    const long lo = first < 0 ? -first : 0;
    const long hi = first + width > w ? w - first : width;
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (int k = 0; k < 6; k++) {
                long iy = 4 * ty - 1 + k;
                float *r = rows[k];
                if (iy < 0 || iy >= h) {
                    memset(r, 0, sizeof(float) * width);
                    continue;
                }
                if (lo > 0) memset(r, 0, sizeof(float) * lo);
                memcpy(r + lo, plane + iy * w + first + lo, sizeof(float) * (hi - lo));
                if (hi < width) memset(r + hi, 0, sizeof(float) * (width - hi));
            }
            // B^T along the rows of the tile: six combined rows, vectorized along the columns.
            for (long q = 0; q < width; q++) {
                BT_ROWS(rows[0][q], rows[1][q], rows[2][q], rows[3][q], rows[4][q], rows[5][q],
                        e[0][q], e[1][q], e[2][q], e[3][q], e[4][q], e[5][q]);
            }
            // ... then along each tile's six columns (stride 4 between tiles), 16 tiles at a time.
            float *out = v + c * ld + (ty - ty0) * tw;
            for (int i = 0; i < 6; i++)
                horizontal_input(e[i], tw, out + (long)(i * 6) * pstride, pstride);
        }
    }
}

// The four rows of A^T applied to six values.
#define AT_ROWS(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3) \
    do {                                                \
        o0 = (m0) + ((m1) + (m2)) + ((m3) + (m4));      \
        o1 = ((m1) - (m2)) + 2 * ((m3) - (m4));         \
        o2 = ((m1) + (m2)) + 4 * ((m3) + (m4));         \
        o3 = ((m1) - (m2)) + 8 * ((m3) - (m4)) + (m5);  \
    } while (0)

// Writes 64 floats out[4q + b] = v[b][q] (q < 16): four vectors interleaved, by two rounds of
// two-source permutes.
AVX512 INLINE void interleave4(const __m512 v[4], float *out) {
    // Pairs (v0[q], v1[q]) for q < 8, then q >= 8; the same for (v2, v3).
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 a0 = _mm512_permutex2var_ps(v[0], lo, v[1]), a1 = _mm512_permutex2var_ps(v[0], hi, v[1]);
    __m512 b0 = _mm512_permutex2var_ps(v[2], lo, v[3]), b1 = _mm512_permutex2var_ps(v[2], hi, v[3]);
    // Then pairs of pairs: (a[2q], a[2q+1], b[2q], b[2q+1]).
    const __m512i first = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
    _mm512_storeu_ps(out, _mm512_permutex2var_ps(a0, first, b0));
    _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(a0, second, b0));
    _mm512_storeu_ps(out + 32, _mm512_permutex2var_ps(a1, first, b1));
    _mm512_storeu_ps(out + 48, _mm512_permutex2var_ps(a1, second, b1));
}

AVX512 void cvm_winograd4_output(const float *restrict m, long ld, long pstride, long filters, long ty0, long ty1,
                                 long tx0, long tw, const float *restrict bias, int act, float slope,
                                 float *restrict y, long h, long w) {
    float t[6][4][MAX_TILE_COLUMNS] __attribute__((aligned(64)));
    float row[4][4 * MAX_TILE_COLUMNS + 16] __attribute__((aligned(64)));
    const long x0 = 4 * tx0;
    const long cols = 4 * tw < w - x0 ? 4 * tw : w - x0;
    for (long f = 0; f < filters; f++) {
        float *plane = y + f * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            const float *mf = m + f * ld + (ty - ty0) * tw;
            // A^T along each row i of the 6x6 product tile (positions i*6 ... i*6+5).
            for (int i = 0; i < 6; i++) {
                const float *r = mf + (long)(i * 6) * pstride;
                for (long q = 0; q < tw; q++) {
                    AT_ROWS(r[q], r[pstride + q], r[2 * pstride + q], r[3 * pstride + q], r[4 * pstride + q],
                            r[5 * pstride + q], t[i][0][q], t[i][1][q], t[i][2][q], t[i][3][q]);
                }
            }
            // ... then down the columns: output row a, column 4q + b.
            long q = 0;
            for (; q + 16 <= tw; q += 16) {
                __m512 o[4][4];  // [a][b]
                for (int b = 0; b < 4; b++) {
                    __m512 m0 = _mm512_load_ps(t[0][b] + q), m1 = _mm512_load_ps(t[1][b] + q);
                    __m512 m2 = _mm512_load_ps(t[2][b] + q), m3 = _mm512_load_ps(t[3][b] + q);
                    __m512 m4 = _mm512_load_ps(t[4][b] + q), m5 = _mm512_load_ps(t[5][b] + q);
                    __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
                    __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
                    o[0][b] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
                    o[1][b] = _mm512_add_ps(d12, _mm512_mul_ps(_mm512_set1_ps(2), d34));
                    o[2][b] = _mm512_add_ps(s12, _mm512_mul_ps(_mm512_set1_ps(4), s34));
                    o[3][b] = _mm512_add_ps(_mm512_add_ps(d12, _mm512_mul_ps(_mm512_set1_ps(8), d34)), m5);
                }
                for (int a = 0; a < 4; a++) interleave4(o[a], row[a] + 4 * q);
            }
            for (; q < tw; q++) {
                for (int b = 0; b < 4; b++) {
                    float o0, o1, o2, o3;
                    AT_ROWS(t[0][b][q], t[1][b][q], t[2][b][q], t[3][b][q], t[4][b][q], t[5][b][q], o0, o1, o2, o3);
                    row[0][4 * q + b] = o0;
                    row[1][4 * q + b] = o1;
                    row[2][4 * q + b] = o2;
                    row[3][4 * q + b] = o3;
                }
            }
            // Bias and activation (the pointwise kernel's epilogue), cropped to the image.
            for (int a = 0; a < 4; a++) {
                long oy = 4 * ty + a;
                if (oy >= h) break;
                float *dst = plane + oy * w + x0;
                long q = 0;
                for (; q + 16 <= cols; q += 16)
                    _mm512_storeu_ps(dst + q, finish(_mm512_load_ps(row[a] + q), bias[f], act, slope));
                if (q < cols) {
                    __mmask16 tail = (__mmask16)((1u << (cols - q)) - 1);
                    _mm512_mask_storeu_ps(dst + q, tail, finish(_mm512_load_ps(row[a] + q), bias[f], act, slope));
                }
            }
        }
    }
}
