// The Winograd transforms of Winograd4.c for aarch64 NEON, 4 tile columns at a time: vld4q_f32
// de-interleaves the columns of 4 tiles as it loads (and vst4q_f32 interleaves them back), rows
// are copied into zero-padded buffers first (NEON has no masked loads), bias + activation fused
// into the output transform (EpilogueNEON.h). Each value sees the operations of the plain
// versions in Winograd4.c in the same order (no fused multiply-adds), so the two give the same
// floats. aarch64 only.
#include "Kernels.h"

#if defined(__aarch64__)
#include "EpilogueNEON.h"
#include "EpilogueScalar.h"
#include <string.h>

#define MAX_TILE_COLUMNS CVM_MAX_TILE_COLUMNS
// Row buffers: a window of 4 * 256 + 2 floats, rounded up to whole blocks of 4 tiles, plus the
// 20 floats the last block's loads read past it.
#define ROW_FLOATS (4 * MAX_TILE_COLUMNS + 32)

// B^T on six vectors (bt6 in Winograd4.c).
CVM_INLINE void bt4(const float32x4_t r[6], float32x4_t o[6]) {
    o[0] = vaddq_f32(vsubq_f32(vmulq_n_f32(r[0], 4), vmulq_n_f32(r[2], 5)), r[4]);
    o[1] = vaddq_f32(vaddq_f32(vmulq_n_f32(vaddq_f32(r[1], r[2]), -4), r[3]), r[4]);
    o[2] = vaddq_f32(vsubq_f32(vmulq_n_f32(vsubq_f32(r[1], r[2]), 4), r[3]), r[4]);
    o[3] = vaddq_f32(vsubq_f32(vmulq_n_f32(vsubq_f32(r[3], r[1]), 2), r[2]), r[4]);
    o[4] = vaddq_f32(vsubq_f32(vmulq_n_f32(vsubq_f32(r[1], r[3]), 2), r[2]), r[4]);
    o[5] = vaddq_f32(vsubq_f32(vmulq_n_f32(r[1], 4), vmulq_n_f32(r[3], 5)), r[5]);
}

// B^T of the stride-2 transform on five vectors (bt5 in Winograd4.c).
CVM_INLINE void bt5x4(const float32x4_t d[5], float32x4_t o[5]) {
    const float32x4_t d3m1 = vsubq_f32(d[3], d[1]);
    o[0] = vaddq_f32(vsubq_f32(vmulq_n_f32(d[0], 2), vmulq_n_f32(d[2], 2)), d3m1);
    o[1] = vsubq_f32(vsubq_f32(d[3], vmulq_n_f32(d[1], 2)), d[2]);
    o[2] = vaddq_f32(vsubq_f32(vmulq_n_f32(d[1], 2), vmulq_n_f32(d[2], 3)), d[3]);
    o[3] = d3m1;
    o[4] = vaddq_f32(vsubq_f32(vsubq_f32(vmulq_n_f32(d[1], 2), d[2]), vmulq_n_f32(d[3], 2)), d[4]);
}

// A^T on six vectors (at6 in Winograd4.c).
CVM_INLINE void at4(const float32x4_t m[6], float32x4_t o[4]) {
    const float32x4_t s12 = vaddq_f32(m[1], m[2]), d12 = vsubq_f32(m[1], m[2]);
    const float32x4_t s34 = vaddq_f32(m[3], m[4]), d34 = vsubq_f32(m[3], m[4]);
    o[0] = vaddq_f32(vaddq_f32(m[0], s12), s34);
    o[1] = vaddq_f32(d12, vmulq_n_f32(d34, 2));
    o[2] = vaddq_f32(s12, vmulq_n_f32(s34, 4));
    o[3] = vaddq_f32(vaddq_f32(d12, vmulq_n_f32(d34, 8)), m[5]);
}

// Stores the first n (<= 4) lanes of v at p.
CVM_INLINE void store_lanes(float *p, float32x4_t v, long n) {
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    float lanes[4];
    vst1q_f32(lanes, v);
    memcpy(p, lanes, sizeof(float) * (size_t)n);
}

// Image row iy's columns first ... first + count - 1 into dst, zero outside the image (or the
// whole row when iy is outside).
CVM_INLINE void padded_row(const float *plane, long h, long w, long iy, long first, long count, float *dst) {
    memset(dst, 0, sizeof(float) * (size_t)count);
    if (iy < 0 || iy >= h) return;
    const long lo = first < 0 ? -first : 0, hi = w - first < count ? w - first : count;
    if (hi > lo) memcpy(dst + lo, plane + iy * w + first + lo, sizeof(float) * (size_t)(hi - lo));
}

// B^T along the n (5 or 6) columns of each tile of one combined row e (tile t's at
// e[4t ... 4t + n - 1]), position l of tile t to o[l * pstride + t], 4 tiles at a time.
CVM_INLINE void horizontal(const int n, const float *e, long tw, float *o, long pstride) {
    for (long t = 0; t < tw; t += 4) {
        const float32x4x4_t a = vld4q_f32(e + 4 * t), b = vld4q_f32(e + 4 * t + 4);
        float32x4_t d[6] = {a.val[0], a.val[1], a.val[2], a.val[3], b.val[0], b.val[1]}, v[6];
        if (n == 6) bt4(d, v);
        else bt5x4(d, v);
        for (int l = 0; l < n; l++) store_lanes(o + l * pstride + t, v[l], tw - t);
    }
}

void cvm_winograd4_input_neon CVM_WINOGRAD4_INPUT_PARAMS {
    const long first = 4 * tx0 - 1, span = 4 * ((tw + 3) / 4 * 4) + 20;
    float rows[6][ROW_FLOATS], e[6][ROW_FLOATS];
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            // Input columns 4 * tx0 - 1 ... (the window, and past it columns only lanes that are
            // not stored read).
            for (int k = 0; k < 6; k++) padded_row(plane, h, w, 4 * ty - 1 + k, first, span, rows[k]);
            for (long q = 0; q < span; q += 4) {
                float32x4_t r[6], o[6];
                for (int i = 0; i < 6; i++) r[i] = vld1q_f32(rows[i] + q);
                bt4(r, o);
                for (int i = 0; i < 6; i++) vst1q_f32(e[i] + q, o[i]);
            }
            float *out = v + c * ld + (ty - ty0) * tw;
            for (int i = 0; i < 6; i++) horizontal(6, e[i], tw, out + (long)(i * 6) * pstride, pstride);
        }
    }
}

void cvm_winograd_s2_input_neon CVM_WINOGRAD_S2_INPUT_PARAMS {
    // Split columns j = 4 tx0 ... of each row into even (column 2j) and odd (2j - 1) ones, zero
    // outside the image and past the tiles' 4 tw + 1.
    const long span = 4 * ((tw + 3) / 4 * 4) + 20;
    float split[2][5][ROW_FLOATS], e[5][ROW_FLOATS];
    for (long c = 0; c < channels; c++) {
        const float *plane = x + c * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            for (int a = 0; a < 2; a++) {
                for (int k = 0; k < 5; k++) {
                    const long row = 8 * ty + 2 * k - a;
                    for (long j = 0; j < span; j++) {
                        const long ce = 2 * (4 * tx0 + j), co = ce - 1;
                        const int inside = row >= 0 && row < h && j <= 4 * tw;
                        split[0][k][j] = inside && ce < w ? plane[row * w + ce] : 0.0f;
                        split[1][k][j] = inside && co >= 0 && co < w ? plane[row * w + co] : 0.0f;
                    }
                }
                for (int b = 0; b < 2; b++) {
                    int p = 0;
                    while (CVM_S2_PHASE_A[p] != a || CVM_S2_PHASE_B[p] != b) p++;
                    for (long q = 0; q < span; q += 4) {
                        float32x4_t r[5], o[5];
                        for (int k = 0; k < 5; k++) r[k] = vld1q_f32(split[b][k] + q);
                        bt5x4(r, o);
                        for (int i = 0; i < 5; i++) vst1q_f32(e[i] + q, o[i]);
                    }
                    float *out = v + p * phase_stride + c * ld + (ty - ty0) * tw;
                    for (int i = 0; i < 5; i++) horizontal(5, e[i], tw, out + (long)(i * 5) * pstride, pstride);
                }
            }
        }
    }
}

// The output transform of 6x6 product tiles, or (FIVE) of the stride-2 conv's 5x5 ones (see
// output_tiles_plain in Winograd4.c), 4 tiles at a time: A^T along the rows of the tiles, then
// down their columns, interleaved into output rows by vst4q, then bias + activation, cropped.
static void output_tiles(const int FIVE, CVM_WINOGRAD_OUTPUT_PARAMS_LIST) {
    const int n = FIVE ? 5 : 6;
    float t[6][4][MAX_TILE_COLUMNS + 4], row[4][ROW_FLOATS];
    const long x0 = 4 * tx0;
    const long cols = 4 * tw < w - x0 ? 4 * tw : w - x0;
    for (long f = 0; f < filters; f++) {
        float *plane = y + f * h * w;
        for (long ty = ty0; ty < ty1; ty++) {
            const float *mf = m + f * ld + (ty - ty0) * tw;
            for (int i = 0; i < 6; i++) {
                const float *r = mf + (long)((FIVE && i == 5 ? 4 : i) * n) * pstride;
                for (long q = 0; q < tw; q += 4) {
                    float32x4_t mv[6], o[4];
                    for (int l = 0; l < 6; l++) {
                        if (FIVE && (i == 4 || l == 4)) {
                            mv[l] = vdupq_n_f32(0.0f);
                        } else {
                            // A last partial block reads its lanes only (past tw may be past m).
                            float lanes[4] = {0, 0, 0, 0};
                            const float *src = r + (FIVE && l == 5 ? 4 : l) * pstride + q;
                            memcpy(lanes, src, sizeof(float) * (size_t)(tw - q < 4 ? tw - q : 4));
                            mv[l] = vld1q_f32(lanes);
                        }
                    }
                    at4(mv, o);
                    for (int b = 0; b < 4; b++) vst1q_f32(t[i][b] + q, o[b]);
                }
            }
            for (long q = 0; q < tw; q += 4) {
                float32x4x4_t o[4];  // [a].val[b]
                for (int b = 0; b < 4; b++) {
                    float32x4_t mv[6], v4[4];
                    for (int i = 0; i < 6; i++) mv[i] = vld1q_f32(t[i][b] + q);
                    at4(mv, v4);
                    for (int a = 0; a < 4; a++) o[a].val[b] = v4[a];
                }
                for (int a = 0; a < 4; a++) vst4q_f32(row[a] + 4 * q, o[a]);
            }
            for (int a = 0; a < 4 && 4 * ty + a < h; a++) {
                float *dst = plane + (4 * ty + a) * w + x0;
                long q = 0;
                for (; q + 4 <= cols; q += 4) vst1q_f32(dst + q, cvm_finish4(vld1q_f32(row[a] + q), bias[f], act, slope));
                for (; q < cols; q++) dst[q] = cvm_finish_scalar(row[a][q], bias[f], act, slope);
            }
        }
    }
}

void cvm_winograd4_output_neon CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles(0, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

void cvm_winograd_s2_output_neon CVM_WINOGRAD_OUTPUT_PARAMS {
    output_tiles(1, m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

#endif
