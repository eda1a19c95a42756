// The pointwise kernel (Pointwise.c) for AVX2 + FMA: a tile of 4 filters x 24 columns in 12 ymm
// accumulators (with 3 X vectors and a broadcast weight, all 16 registers), X streamed row by
// row and weights broadcast from their rows in place, bias and activation applied (Epilogue256.h)
// before the tile is stored. Each output's sum is fused multiply-adds in channel order, as in the
// AVX-512 kernel, so the two give the same floats. x86-64 only.
#include "Kernels.h"

#if defined(__x86_64__)
#include "Epilogue.h"
#include "Epilogue256.h"

// Columns per register tile (three vectors of 8); the engine's 48-column panels are two of them.
#define SUB 24

// One register tile: MR filters x NV vectors of 8 columns, the last vector masked to `last` when
// MASKED. Instantiated with constants only, so the accumulators stay in registers.
CVM_AVX2 CVM_INLINE void tile(const int MR, const int NV, const int MASKED, const int PREFETCH, __m256i last,
                              const float *restrict x, long ldx, const float *restrict w, long ldw, long channels,
                              const float *restrict bias, float *restrict y, long ldy, int act, float slope,
                              int prefetch_y, const float *w_next) {
    const float *wr[4];
    for (int i = 0; i < MR; i++) wr[i] = w + i * ldw;
    __m256 acc[4][3];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = _mm256_setzero_ps();
    for (long c = 0; c < channels; c++) {
        const float *xr = x + c * ldx;
        __m256 xv[3];
        for (int j = 0; j < NV; j++)
            xv[j] = (MASKED && j == NV - 1) ? _mm256_maskload_ps(xr + 8 * j, last) : _mm256_loadu_ps(xr + 8 * j);
        if (PREFETCH) {
            // This row's part of the tile after next, into L2: rows a plane apart are not seen
            // by the hardware prefetcher (as in the AVX-512 kernel).
            _mm_prefetch((const char *)(xr + 2 * SUB), _MM_HINT_T1);
            _mm_prefetch((const char *)(xr + 2 * SUB + 16), _MM_HINT_T1);
        }
        // The next filter block's weights, a line every fourth channel (see PointwiseAVX512.c).
        if (w_next && !(c & 3)) _mm_prefetch((const char *)(w_next + 4 * c), _MM_HINT_T0);
        for (int i = 0; i < MR; i++) {
            __m256 b = _mm256_broadcast_ss(wr[i] + c);
            for (int j = 0; j < NV; j++) acc[i][j] = _mm256_fmadd_ps(b, xv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *yr = y + i * ldy;
        if (prefetch_y) {
            PREFETCH_WRITE(yr + 2 * SUB);
            PREFETCH_WRITE(yr + 2 * SUB + 16);
        }
        for (int j = 0; j < NV; j++) {
            __m256 v = cvm_finish8(acc[i][j], bias[i], act, slope);
            if (MASKED && j == NV - 1) _mm256_maskstore_ps(yr + 8 * j, last, v);
            else _mm256_storeu_ps(yr + 8 * j, v);
        }
    }
}

#define TILE_CASE(MR, NV, M) tile(MR, NV, M, 0, last, x, ldx, w, ldw, channels, bias, y, ldy, act, slope, 0, w_next)

// Dispatch on the tile's shape: mr in {4, 2, 1} (a filter tail is split into those), nv 1...3.
CVM_AVX2 static void tile_any(int mr, int nv, int masked, __m256i last, const float *x, long ldx, const float *w,
                              long ldw, long channels, const float *bias, float *y, long ldy, int act, float slope,
                              const float *w_next) {
#define BY_NV(MR)                                                   \
    if (masked) {                                                   \
        if (nv == 3) TILE_CASE(MR, 3, 1);                           \
        else if (nv == 2) TILE_CASE(MR, 2, 1);                      \
        else TILE_CASE(MR, 1, 1);                                   \
    } else {                                                        \
        if (nv == 3) TILE_CASE(MR, 3, 0);                           \
        else if (nv == 2) TILE_CASE(MR, 2, 0);                      \
        else TILE_CASE(MR, 1, 0);                                   \
    }
    switch (mr) {
    case 4: BY_NV(4) break;
    case 2: BY_NV(2) break;
    default: BY_NV(1) break;
    }
#undef BY_NV
}

CVM_AVX2 void cvm_pointwise_avx2 CVM_POINTWISE_PARAMS {
    // Column tiles outside, filter blocks inside: the tile of X (channels x 24) is read from
    // memory once and then from cache by every filter block.
    for (long p = p0; p < p1; p += SUB) {
        const long cols = p1 - p < SUB ? p1 - p : SUB;
        // Prefetch only up to prefetch_end: past it the lines may be another worker's to write.
        const int ahead = p + 3 * SUB <= prefetch_end;
        const int nv = (int)((cols + 7) / 8), rem = (int)(cols & 7), masked = rem != 0;
        const __m256i last = cvm_tail_mask8(masked ? rem : 8);
        for (long f = f0; f < f1;) {
            const long left = f1 - f;
            const int mr = left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const float *wf = w + f * ldw;
            const float *w_next = p == p0 ? wf + 4 * ldw : NULL;
            if (mr == 4 && !masked && nv == 3 && ahead) {
                if (f == f0)
                    tile(4, 3, 0, 1, last, x + p, ldx, wf, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope, 1,
                         w_next);
                else
                    tile(4, 3, 0, 0, last, x + p, ldx, wf, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope, 1,
                         w_next);
                f += 4;
                continue;
            }
            tile_any(mr, nv, masked, last, x + p, ldx, wf, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope,
                     w_next);
            f += mr;
        }
    }
}

#endif
