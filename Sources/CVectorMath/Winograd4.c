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
// The products themselves run through cvm_pointwise (Winograd.swift), the weight transforms are
// in WinogradWeights.c. The input and output transforms are here, as plain per-tile loops, the
// references of their vector versions (Winograd4AVX512.c,
// Winograd4AVX2.c, Winograd4NEON.c), which apply the same operations in the same order (rows of
// the tile first, then its columns) and so give the same floats. References in turn of these:
// the per-tile matrix forms in Winograd.swift (inputTile4Reference, outputTile4Reference),
// compared in Winograd4Tests.
#include "Kernels.h"
#include "EpilogueScalar.h"

int cvm_winograd4_max_tile_columns(void) { return CVM_MAX_TILE_COLUMNS; }

// The six rows of B^T applied to six values, in this order of operations (the vector versions'
// bt16 / bt8 / bt4 do the same; the reference, Winograd.inputTile4Reference, sums in Double):
//   o0 = 4 r0 - 5 r2 + r4            o3 = 2 (r3 - r1) - r2 + r4
//   o1 = -4 (r1 + r2) + r3 + r4      o4 = 2 (r1 - r3) - r2 + r4
//   o2 = 4 (r1 - r2) - r3 + r4       o5 = 4 r1 - 5 r3 + r5
static inline void bt6(const float r[6], float o[6]) {
    o[0] = ((4 * r[0]) - (5 * r[2])) + r[4];
    o[1] = ((-4 * (r[1] + r[2])) + r[3]) + r[4];
    o[2] = ((4 * (r[1] - r[2])) - r[3]) + r[4];
    o[3] = ((2 * (r[3] - r[1])) - r[2]) + r[4];
    o[4] = ((2 * (r[1] - r[3])) - r[2]) + r[4];
    o[5] = ((4 * r[1]) - (5 * r[3])) + r[5];
}

void cvm_winograd4_input_plain CVM_WINOGRAD4_INPUT_PARAMS {
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (long tx = tx0; tx < tx0 + tw; tx++) {
                // The 6x6 input tile, zero outside the image; B^T down its columns, then along its rows.
                float d[6][6], t[6][6], col[6], o[6];
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++) {
                        const long iy = 4 * ty - 1 + i, ix = 4 * tx - 1 + j;
                        d[i][j] = iy < 0 || iy >= h || ix < 0 || ix >= w ? 0.0f : plane[iy * w + ix];
                    }
                for (int j = 0; j < 6; j++) {
                    for (int i = 0; i < 6; i++) col[i] = d[i][j];
                    bt6(col, o);
                    for (int i = 0; i < 6; i++) t[i][j] = o[i];
                }
                float *out = v + c * ld + (ty - ty0) * tw + (tx - tx0);
                for (int i = 0; i < 6; i++) {
                    bt6(t[i], o);
                    for (int l = 0; l < 6; l++) out[(long)(i * 6 + l) * pstride] = o[l];
                }
            }
        }
    }
}

// ---- The stride-2 conv's input transform (WinogradStrideTwo.swift): a 3x3 stride-2 conv is the
// sum of four stride-1 convs with 2x2 kernels (taps a parity lacks are zero) over the four
// polyphase components of its input, each run as F(4x4, 2x2) at the points 0, 1, -1, 2, inf,
// whose output transform is the one above without its -2 column (one output transform serves
// both). For output tile (ty, tx) and phase (a, b) (row and column parity, 1 = odd) the 5x5
// input tile is d[k][l] = x[8 ty + 2k - a][8 tx + 2l - b], zero outside the image, and
// V = B^T d B with
//
//   B^T = | 2 -1 -2  1  0 |
//         | 0 -2 -1  1  0 |
//         | 0  2 -3  1  0 |
//         | 0 -1  0  1  0 |
//         | 0  2 -1 -2  1 |
//
// Each input row is split once into its even columns (b = 0: column 2j at j) and its odd
// columns shifted by one (b = 1: column 2j - 1 at j); tile tx then reads j = 4 tx ... 4 tx + 4
// of those, the same stride-4 pattern as F(4x4, 3x3) above. Reference:
// WinogradStrideTwo.inputTileReference (Swift), compared in WinogradStrideTwoTests.

// o = B^T applied to five values (bt5 of the vector versions, the same operations).
static inline void bt5(const float d[5], float o[5]) {
    const float d3m1 = d[3] - d[1];
    o[0] = ((2 * d[0]) - (2 * d[2])) + d3m1;
    o[1] = (d[3] - (2 * d[1])) - d[2];
    o[2] = ((2 * d[1]) - (3 * d[2])) + d[3];
    o[3] = d3m1;
    o[4] = (((2 * d[1]) - d[2]) - (2 * d[3])) + d[4];
}

void cvm_winograd_s2_input_plain CVM_WINOGRAD_S2_INPUT_PARAMS {
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (long tx = tx0; tx < tx0 + tw; tx++) {
                for (int p = 0; p < 4; p++) {
                    const int a = CVM_S2_PHASE_A[p], b = CVM_S2_PHASE_B[p];
                    float d[5][5], t[5][5], col[5], o[5];
                    for (int k = 0; k < 5; k++)
                        for (int l = 0; l < 5; l++) {
                            const long row = 8 * ty + 2 * k - a, column = 8 * tx + 2 * l - b;
                            d[k][l] = row < 0 || row >= h || column < 0 || column >= w ? 0.0f : plane[row * w + column];
                        }
                    for (int l = 0; l < 5; l++) {
                        for (int k = 0; k < 5; k++) col[k] = d[k][l];
                        bt5(col, o);
                        for (int i = 0; i < 5; i++) t[i][l] = o[i];
                    }
                    float *out = v + p * phase_stride + c * ld + (ty - ty0) * tw + (tx - tx0);
                    for (int i = 0; i < 5; i++) {
                        bt5(t[i], o);
                        for (int l = 0; l < 5; l++) out[(long)(i * 5 + l) * pstride] = o[l];
                    }
                }
            }
        }
    }
}

// The four rows of A^T applied to six values, in this order of operations (at16 / at8 / at4 of
// the vector versions):
//   o0 = m0 + (m1 + m2) + (m3 + m4)      o2 = (m1 + m2) + 4 (m3 + m4)
//   o1 = (m1 - m2) + 2 (m3 - m4)         o3 = (m1 - m2) + 8 (m3 - m4) + m5
static inline void at6(const float m[6], float o[4]) {
    const float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    o[0] = (m[0] + s12) + s34;
    o[1] = d12 + 2 * d34;
    o[2] = s12 + 4 * s34;
    o[3] = (d12 + 8 * d34) + m[5];
}

// The output transform of 6x6 product tiles, or (FIVE) of the stride-2 conv's 5x5 ones: those
// are F(4x4, 3x3)'s positions without the -2 row and column (index 4), stored compactly (row
// or column 5 of the 6x6 tile is index 4 of the 5x5), and read as zeros there. A^T along the
// rows of each tile, then down its columns, then bias + activation, cropped to the image.
static void output_tiles_plain(const int FIVE, CVM_WINOGRAD_OUTPUT_PARAMS_LIST) {
    const int n = FIVE ? 5 : 6;
    for (long f = 0; f < filters; f++) {
        float *plane = y + f * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (long tx = tx0; tx < tx0 + tw; tx++) {
                const float *mf = m + f * ld + (ty - ty0) * tw + (tx - tx0);
                float t[6][4], row[6], col[6], o[4];
                for (int i = 0; i < 6; i++) {
                    for (int l = 0; l < 6; l++) {
                        const int si = FIVE && i == 5 ? 4 : i, sl = FIVE && l == 5 ? 4 : l;
                        row[l] = FIVE && (i == 4 || l == 4) ? 0.0f : mf[(long)(si * n + sl) * pstride];
                    }
                    at6(row, t[i]);
                }
                for (int b = 0; b < 4; b++) {
                    for (int i = 0; i < 6; i++) col[i] = t[i][b];
                    at6(col, o);
                    for (int a = 0; a < 4; a++) {
                        const long oy = 4 * ty + a, ox = 4 * tx + b;
                        if (oy < h && ox < w) plane[oy * w + ox] = cvm_finish_scalar(o[a], bias[f], act, slope);
                    }
                }
            }
        }
    }
}

void cvm_winograd4_output_plain CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles_plain(0, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

void cvm_winograd_s2_output_plain CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles_plain(1, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}
