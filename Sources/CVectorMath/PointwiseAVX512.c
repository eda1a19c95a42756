// The pointwise kernel (Pointwise.c) for AVX-512: a tile of 8 filters x 48 columns lives in 24
// zmm accumulators while the kernel streams X rows and broadcasts weights, then bias and
// activation are applied before the tile is stored. x86-64 only.
#include "Kernels.h"

#if defined(__x86_64__)
#include "Epilogue.h"

// Columns per register tile (three vectors of 16).
#define PANEL 48

// W is read in place (row-major, rows `ldw` apart): the eight weights broadcast for one channel
// come from eight rows, each of which stays in L1 for the next 15 channels, so a packed copy
// (measured) bought no speed and cost a second copy of the weights.

// One register tile: MR filters (rows of `w`, `ldw` apart) x NV vectors of 16 columns, the last
// vector masked to `last` when MASKED. Instantiated with constants only, so the accumulators
// stay in registers.
AVX512 INLINE void tile(const int MR, const int NV, const int MASKED, const int PREFETCH, __mmask16 last,
                        const float *restrict x, long ldx, const float *restrict w, long ldw, long channels,
                        const float *restrict bias, float *restrict y, long ldy, int act, float slope,
                        int prefetch_y, const float *w_next) {
    const float *wr[8];
    for (int i = 0; i < MR; i++) wr[i] = w + i * ldw;
    __m512 acc[8][3];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_ps();
    for (long c = 0; c < channels; c++) {
        const float *xr = x + c * ldx;
        __m512 xv[3];
        for (int j = 0; j < NV; j++) {
            xv[j] = (MASKED && j == NV - 1) ? _mm512_maskz_loadu_ps(last, xr + 16 * j) : _mm512_loadu_ps(xr + 16 * j);
        }
        if (PREFETCH) {
            // This row's part of the panel after next: X rows are far apart (a whole plane each),
            // so the hardware prefetcher does not see them coming. Two panels ahead and into L2
            // (not L1, whose few miss buffers a whole panel's rows would fill): measured on a
            // 128 -> 64 conv at 160x160, one thread, 77 -> 85 GFLOP/s against one panel into L1.
            _mm_prefetch((const char *)(xr + 2 * PANEL), _MM_HINT_T1);
            _mm_prefetch((const char *)(xr + 2 * PANEL + 16), _MM_HINT_T1);
            _mm_prefetch((const char *)(xr + 2 * PANEL + 32), _MM_HINT_T1);
        }
        // The next filter block's weights (8 rows, contiguous when ldw == channels), a line
        // every other channel: on small planes (20x20: one panel) each weight is used on one
        // panel only and would otherwise come from memory as the FMAs wait for it.
        if (w_next && !(c & 1)) _mm_prefetch((const char *)(w_next + 8 * c), _MM_HINT_T0);
        for (int i = 0; i < MR; i++) {
            __m512 b = _mm512_set1_ps(wr[i][c]);
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_fmadd_ps(b, xv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++) {
        float *yr = y + i * ldy;
        // The same rows two panels on, fetched for writing: Y rows are a plane apart too, and
        // a store that waits for its line stalls the next tile.
        if (prefetch_y)
            for (int j = 0; j < 3; j++) PREFETCH_WRITE(yr + 2 * PANEL + 16 * j);
        for (int j = 0; j < NV; j++) {
            __m512 v = finish(acc[i][j], bias[i], act, slope);
            if (MASKED && j == NV - 1) _mm512_mask_storeu_ps(yr + 16 * j, last, v);
            else _mm512_storeu_ps(yr + 16 * j, v);
        }
    }
}

#define TILE_CASE(MR, NV, M) tile(MR, NV, M, 0, last, x, ldx, w, ldw, channels, bias, y, ldy, act, slope, 0, w_next)

// Dispatch on the tile's shape: mr in {8, 4, 2, 1} (a filter tail is split into those), nv 1...3.
AVX512 static void tile_any(int mr, int nv, int masked, __mmask16 last, const float *x, long ldx, const float *w,
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
    case 8: BY_NV(8) break;
    case 4: BY_NV(4) break;
    case 2: BY_NV(2) break;
    default: BY_NV(1) break;
    }
#undef BY_NV
}

CVM_AVX512 void cvm_pointwise_avx512 CVM_POINTWISE_PARAMS {
    // Column panels outside, filter blocks inside: the panel of X (channels x 48) is read from
    // memory once and then from cache by every filter block.
    for (long p = p0; p < p1; p += PANEL) {
        long cols = p1 - p < PANEL ? p1 - p : PANEL;
        // Prefetch only up to prefetch_end: past it the lines may be another worker's to write.
        const int ahead = p + 3 * PANEL <= prefetch_end;
        int nv = (int)((cols + 15) / 16);
        int rem = (int)(cols & 15);
        int masked = rem != 0;
        __mmask16 last = masked ? (__mmask16)((1u << rem) - 1) : (__mmask16)0xFFFF;
        for (long f = f0; f < f1;) {
            long left = f1 - f;
            int mr = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            const float *wf = w + f * ldw;
            // The first panel brings each filter block's weights in; later panels find them in
            // cache. After the last block this is the next task's first when the caller's weights
            // are laid end to end (Winograd's positions); otherwise a prefetch that goes unused
            // (prefetches never fault).
            const float *w_next = p == p0 ? wf + 8 * ldw : NULL;
            if (mr == 8 && !masked && nv == 3 && ahead) {
                if (f == f0)
                    tile(8, 3, 0, 1, last, x + p, ldx, wf, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope, 1,
                         w_next);
                else
                    tile(8, 3, 0, 0, last, x + p, ldx, wf, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope, 1,
                         w_next);
                f += 8;
                continue;
            }
            tile_any(mr, nv, masked, last, x + p, ldx, wf, ldw, channels, bias + f, y + f * ldy + p, ldy, act, slope,
                     w_next);
            f += mr;
        }
    }
}

#endif
