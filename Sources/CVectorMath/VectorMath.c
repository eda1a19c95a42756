// Loops that need no intrinsics to vectorize: the Winograd F(2x2) weight transform and im2col,
// each compiled per x86 level (CVM_VARIANTS), and the conv epilogue over a run (`bias_activate`,
// cvm_bias_silu and cvm_bias_sigmoid), whose vector forms are written with intrinsics so they
// stay FastMath's arithmetic exactly (EpilogueScalar.h). The packed weights' decode is in Decode.c.
#include "Kernels.h"
#include "EpilogueScalar.h"
#include "Epilogue.h"
#include "Epilogue256.h"
#include "EpilogueNEON.h"

// MARK: epilogue over a run

void cvm_bias_activate_plain(float *p, long count, float bias, int act, float slope) {
    for (long i = 0; i < count; i++) p[i] = cvm_finish_scalar(p[i], bias, act, slope);
}

#if defined(__x86_64__)
CVM_AVX512 void cvm_bias_activate_avx512(float *p, long count, float bias, int act, float slope) {
    long i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(p + i, finish(_mm512_loadu_ps(p + i), bias, act, slope));
    if (i < count) {
        __mmask16 k = (__mmask16)((1u << (count - i)) - 1);
        _mm512_mask_storeu_ps(p + i, k, finish(_mm512_maskz_loadu_ps(k, p + i), bias, act, slope));
    }
}

CVM_AVX2 void cvm_bias_activate_avx2(float *p, long count, float bias, int act, float slope) {
    long i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(p + i, cvm_finish8(_mm256_loadu_ps(p + i), bias, act, slope));
    if (i < count) {
        __m256i k = cvm_tail_mask8(count - i);
        _mm256_maskstore_ps(p + i, k, cvm_finish8(_mm256_maskload_ps(p + i, k), bias, act, slope));
    }
}
#endif

#if defined(__aarch64__)
void cvm_bias_activate_neon(float *p, long count, float bias, int act, float slope) {
    long i = 0;
    for (; i + 4 <= count; i += 4) vst1q_f32(p + i, cvm_finish4(vld1q_f32(p + i), bias, act, slope));
    for (; i < count; i++) p[i] = cvm_finish_scalar(p[i], bias, act, slope);
}
#endif

// MARK: Winograd F(2x2) weights

CVM_INLINE void cvm_winograd_weights_body CVM_WINOGRAD_WEIGHTS_PARAMS {
    const float *g0 = g, *g1 = g + count, *g2 = g + 2 * count, *g3 = g + 3 * count, *g4 = g + 4 * count;
    const float *g5 = g + 5 * count, *g6 = g + 6 * count, *g7 = g + 7 * count, *g8 = g + 8 * count;
    for (long j = 0; j < count; j++) {
        double a0 = g0[j], a1 = g1[j], a2 = g2[j];
        double b0 = g3[j], b1 = g4[j], b2 = g5[j];
        double c0 = g6[j], c1 = g7[j], c2 = g8[j];
        // Rows of t = G g: (a), (a + b + c) / 2, (a - b + c) / 2, (c); each row r of three
        // becomes U's row: r0, (r0 + r1 + r2) / 2, (r0 - r1 + r2) / 2, r2.
        double t[4][3] = {
            {a0, a1, a2},
            {(a0 + b0 + c0) / 2, (a1 + b1 + c1) / 2, (a2 + b2 + c2) / 2},
            {(a0 - b0 + c0) / 2, (a1 - b1 + c1) / 2, (a2 - b2 + c2) / 2},
            {c0, c1, c2},
        };
        for (int i = 0; i < 4; i++) {
            float *row = u + (long)(i * 4) * stride + j;
            row[0] = (float)t[i][0];
            row[stride] = (float)((t[i][0] + t[i][1] + t[i][2]) / 2);
            row[2 * stride] = (float)((t[i][0] - t[i][1] + t[i][2]) / 2);
            row[3 * stride] = (float)t[i][2];
        }
    }
}

CVM_VARIANTS(cvm_winograd_weights, CVM_WINOGRAD_WEIGHTS_PARAMS, (g, count, u, stride))

// MARK: im2col

CVM_INLINE void cvm_im2col_body CVM_IM2COL_PARAMS {
    long cols = rows * ow;
    for (long c = 0; c < channels; c++) {
        const float *xc = x + c * height * width;
        for (long i = 0; i < kh; i++) {
            for (long j = 0; j < kw; j++) {
                float *dst = col + ((c * kh + i) * kw + j) * cols;
                // Output columns whose input column ox * stride - pad + j is inside the image.
                long shift = j - pad;
                long lo = (-shift + stride - 1) / stride;
                lo = lo < 0 ? 0 : lo > ow ? ow : lo;
                long hi = (width - shift + stride - 1) / stride;
                hi = hi > ow ? ow : hi < lo ? lo : hi;
                for (long r = 0; r < rows; r++) {
                    long iy = (row0 + r) * stride - pad + i;
                    float *d = dst + r * ow;
                    if (iy < 0 || iy >= height) {
                        for (long ox = 0; ox < ow; ox++) d[ox] = 0;
                        continue;
                    }
                    const float *src = xc + iy * width + shift;
                    for (long ox = 0; ox < lo; ox++) d[ox] = 0;
                    // Separate loops with a constant stride, so each vectorises (stride 2:
                    // load pairs of vectors, keep the even lanes).
                    if (stride == 1) {
                        for (long ox = lo; ox < hi; ox++) d[ox] = src[ox];
                    } else if (stride == 2) {
                        for (long ox = lo; ox < hi; ox++) d[ox] = src[2 * ox];
                    } else {
                        for (long ox = lo; ox < hi; ox++) d[ox] = src[ox * stride];
                    }
                    for (long ox = hi; ox < ow; ox++) d[ox] = 0;
                }
            }
        }
    }
}

CVM_VARIANTS(cvm_im2col, CVM_IM2COL_PARAMS, (x, channels, height, width, kh, kw, stride, pad, ow, row0, rows, col))
