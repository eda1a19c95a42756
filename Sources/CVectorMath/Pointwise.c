// Pointwise (1x1, stride 1, ungrouped) convolution as a register-blocked matrix product,
// Y[f, p] = act(sum_c W[f, c] X[c, p] + b[f]), with no packing of X: each level's kernel keeps a
// tile of filters x columns in vector registers while it streams X rows and broadcasts weights,
// then applies bias and activation before the tile is stored. sgemm instead re-packs the
// weights for every column tile and writes the product out before a second pass adds the
// epilogue. Here the plain version, the reference of PointwiseAVX512.c, PointwiseAVX2.c and
// PointwiseNEON.c: sums in channel order (the vector kernels fuse each multiply-add, so they
// differ from it by rounding only), the epilogue cvm_finish_scalar.
#include "Kernels.h"
#include "EpilogueScalar.h"

// Columns summed at once: a row of accumulators the compiler keeps in vector registers.
#define PLAIN_COLUMNS 64

void cvm_pointwise_plain CVM_POINTWISE_PARAMS {
    (void)prefetch_end;
    for (long p = p0; p < p1; p += PLAIN_COLUMNS) {
        const long n = p1 - p < PLAIN_COLUMNS ? p1 - p : PLAIN_COLUMNS;
        for (long f = f0; f < f1; f++) {
            float acc[PLAIN_COLUMNS] = {0};
            const float *wf = w + f * ldw;
            for (long c = 0; c < channels; c++) {
                const float wc = wf[c], *xr = x + c * ldx + p;
                for (long j = 0; j < n; j++) acc[j] += wc * xr[j];
            }
            float *yr = y + f * ldy + p;
            for (long j = 0; j < n; j++) yr[j] = cvm_finish_scalar(acc[j], bias[f], act, slope);
        }
    }
}
