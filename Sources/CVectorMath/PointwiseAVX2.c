// The pointwise kernel (Pointwise.c) for AVX2 + FMA: a tile of 6 filters x 16 columns in 12 ymm
// accumulators (with 2 X vectors and a broadcast weight: 15 of the 16 registers, so nothing is
// spilled; 4 x 24 needs all 16, and the compiler then kept one accumulator in memory, a
// store-reload on the loop's critical path that halved its speed), X packed a block of
// channels at a time and weights broadcast from their rows in place, bias and activation applied
// (Epilogue256.h) before the tile is stored. Each output's sum is fused multiply-adds in channel order, as in the
// AVX-512 kernel, so the two give the same floats. x86-64 only.
#include "Kernels.h"

#if defined(__x86_64__)
#include "Epilogue.h"
#include "Epilogue256.h"

// Columns per register tile (two vectors of 8); the engine's 48-column panels are three of them.
#define SUB 16
// Channels packed at a time: a block of X (KC x 16 floats, 16 KiB) copied contiguous, so that
// the filter blocks read it from L1. In place, rows a plane apart fall into few cache sets
// (planes of 6400 floats: 4 of L1's 64) and the block would come from L2 for every 4 filters.
#define KC 256
// Floats ahead that X rows and Y rows are prefetched (four tiles).
#define AHEAD (4 * SUB)

// X rows [0, kc) of columns [0, cols) (cols <= 16, ldx apart) into packed rows of 16, zero past cols.
CVM_AVX2 CVM_INLINE void pack(const float *restrict x, long ldx, long kc, long cols, float *restrict packed,
                              int prefetch) {
    if (cols == SUB) {
        for (long c = 0; c < kc; c++) {
            const float *r = x + c * ldx;
            // The same row's columns four tiles on: rows a plane apart are too far apart for the
            // hardware prefetcher, and each is one line per tile.
            if (prefetch) _mm_prefetch((const char *)(r + AHEAD), _MM_HINT_T0);
            _mm256_store_ps(packed + c * SUB, _mm256_loadu_ps(r));
            _mm256_store_ps(packed + c * SUB + 8, _mm256_loadu_ps(r + 8));
        }
        return;
    }
    const __m256i m0 = cvm_tail_mask8(cols), m1 = cvm_tail_mask8(cols - 8);
    for (long c = 0; c < kc; c++) {
        const float *r = x + c * ldx;
        _mm256_store_ps(packed + c * SUB, _mm256_maskload_ps(r, m0));
        _mm256_store_ps(packed + c * SUB + 8, _mm256_maskload_ps(r + 8, m1));
    }
}

// One register tile: MR filters x 16 packed columns over channels [c0, c0 + kc). The sums
// start from zero on the first block of channels and from y (where the block before left them)
// on the others; only the last block applies bias and activation. A float stored and reloaded
// is the same float, so each output is still one chain of fused multiply-adds in channel order.
// `cols` < 16 masks the stores.
CVM_AVX2 CVM_INLINE void tile(const int MR, const float *restrict packed, const float *restrict w, long ldw,
                              long c0, long kc, int first, int last, const float *restrict bias, float *restrict y,
                              long ldy, long cols, int act, float slope, int prefetch) {
    const __m256i masks[2] = {cvm_tail_mask8(cols), cvm_tail_mask8(cols - 8)};
    __m256 acc[6][2];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 2; j++)
            acc[i][j] = first ? _mm256_setzero_ps()
                        : cols == SUB ? _mm256_loadu_ps(y + i * ldy + 8 * j)
                                      : _mm256_maskload_ps(y + i * ldy + 8 * j, masks[j]);
    const float *wc = w + c0;
    for (long c = 0; c < kc; c++) {
        const __m256 x0 = _mm256_load_ps(packed + c * SUB), x1 = _mm256_load_ps(packed + c * SUB + 8);
        for (int i = 0; i < MR; i++) {
            const __m256 b = _mm256_broadcast_ss(wc + i * ldw + c);
            acc[i][0] = _mm256_fmadd_ps(b, x0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(b, x1, acc[i][1]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *yr = y + i * ldy;
        if (prefetch && last) PREFETCH_WRITE(yr + AHEAD);
        for (int j = 0; j < 2; j++) {
            const __m256 v = last ? cvm_finish8(acc[i][j], bias[i], act, slope) : acc[i][j];
            if (cols == SUB) _mm256_storeu_ps(yr + 8 * j, v);
            else _mm256_maskstore_ps(yr + 8 * j, masks[j], v);
        }
    }
}

CVM_AVX2 void cvm_pointwise_avx2 CVM_POINTWISE_PARAMS {
    float packed[KC * SUB] __attribute__((aligned(32)));
    // Column tiles outside, blocks of channels, then filter blocks inside: a packed block is
    // read from L1 by every filter block.
    for (long p = p0; p < p1; p += SUB) {
        const long cols = p1 - p < SUB ? p1 - p : SUB;
        for (long c0 = 0; c0 < channels; c0 += KC) {
            const long kc = channels - c0 < KC ? channels - c0 : KC;
            const int first = c0 == 0, last = c0 + kc == channels;
            // Prefetch only up to prefetch_end: past it the lines may be another worker's to write.
            const int ahead = p + AHEAD + SUB <= prefetch_end;
            pack(x + c0 * ldx + p, ldx, kc, cols, packed, ahead);
            for (long f = f0; f < f1;) {
                const long left = f1 - f;
                const int mr = left >= 6 ? 6 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                const float *wf = w + f * ldw;
                float *yf = y + f * ldy + p;
                if (mr == 6) tile(6, packed, wf, ldw, c0, kc, first, last, bias + f, yf, ldy, cols, act, slope, ahead);
                else if (mr == 4) tile(4, packed, wf, ldw, c0, kc, first, last, bias + f, yf, ldy, cols, act, slope, ahead);
                else if (mr == 2) tile(2, packed, wf, ldw, c0, kc, first, last, bias + f, yf, ldy, cols, act, slope, ahead);
                else tile(1, packed, wf, ldw, c0, kc, first, last, bias + f, yf, ldy, cols, act, slope, ahead);
                f += mr;
            }
        }
    }
}

#endif
