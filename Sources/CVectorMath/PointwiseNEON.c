// The pointwise kernel (Pointwise.c) for aarch64 NEON: a tile of 8 filters x 12 columns in 24 of
// the 32 q registers, X streamed row by row, each weight multiplied in by lane (vfmaq_n_f32),
// bias and activation applied (EpilogueNEON.h) before the tile is stored. Each output's sum is
// fused multiply-adds in channel order, as on x86. Columns past the last whole vector of 4 go
// through a scalar loop with the same fused arithmetic (fmaf).
#include "Kernels.h"

#if defined(__aarch64__)
#include "EpilogueNEON.h"
#include "EpilogueScalar.h"
#include <math.h>

#define SUB 12

CVM_INLINE void tile(const int MR, const int NV, const float *restrict x, long ldx, const float *restrict w, long ldw,
                     long channels, const float *restrict bias, float *restrict y, long ldy, int act, float slope) {
    const float *wr[8];
    for (int i = 0; i < MR; i++) wr[i] = w + i * ldw;
    float32x4_t acc[8][3];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = vdupq_n_f32(0.0f);
    for (long c = 0; c < channels; c++) {
        const float *xr = x + c * ldx;
        float32x4_t xv[3];
        for (int j = 0; j < NV; j++) xv[j] = vld1q_f32(xr + 4 * j);
        for (int i = 0; i < MR; i++) {
            const float b = wr[i][c];
            for (int j = 0; j < NV; j++) acc[i][j] = vfmaq_n_f32(acc[i][j], xv[j], b);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) vst1q_f32(y + i * ldy + 4 * j, cvm_finish4(acc[i][j], bias[i], act, slope));
}

#define BY_NV(MR)                                                                      \
    if (nv == 3) tile(MR, 3, x, ldx, w, ldw, channels, bias, y, ldy, act, slope);      \
    else if (nv == 2) tile(MR, 2, x, ldx, w, ldw, channels, bias, y, ldy, act, slope); \
    else tile(MR, 1, x, ldx, w, ldw, channels, bias, y, ldy, act, slope);

static void tile_any(int mr, int nv, const float *x, long ldx, const float *w, long ldw, long channels,
                     const float *bias, float *y, long ldy, int act, float slope) {
    switch (mr) {
    case 8: BY_NV(8) break;
    case 4: BY_NV(4) break;
    case 2: BY_NV(2) break;
    default: BY_NV(1) break;
    }
}

void cvm_pointwise_neon CVM_POINTWISE_PARAMS {
    (void)prefetch_end;
    const long whole = p0 + (p1 - p0) / 4 * 4;
    for (long p = p0; p < whole; p += SUB) {
        const long cols = whole - p < SUB ? whole - p : SUB;
        const int nv = (int)(cols / 4);
        for (long f = f0; f < f1;) {
            const long left = f1 - f;
            const int mr = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            tile_any(mr, nv, x + p, ldx, w + f * ldw, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope);
            f += mr;
        }
    }
    for (long f = f0; f < f1; f++) {
        for (long p = whole; p < p1; p++) {
            float acc = 0;
            for (long c = 0; c < channels; c++) acc = fmaf(w[f * ldw + c], x[c * ldx + p], acc);
            y[f * ldy + p] = cvm_finish_scalar(acc, bias[f], act, slope);
        }
    }
}

#endif
