// Max pools, nearest upsampling and the detection head's rows (declared in CVectorMathPooling.h).
// Plain loops compiled per x86 level (CVM_VARIANTS), except the 2x2 pool, whose stride-2 reads
// the compiler keeps scalar: it has AVX-512, AVX2 and NEON versions that de-interleave pairs of
// vectors, beside the plain loop. (Swift builds for baseline x86-64: the Swift loops these
// replace ran scalar.)
//
// Max is exact, so any order of the maxima gives the reference's value (NaN and the sign of a
// zero aside: x > y ? x : y, as vmaxps, keeps the second of two equal zeros).
#include "Kernels.h"
#include "Epilogue.h"
#include "Epilogue256.h"
#include <math.h>
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

static inline float maxf(float a, float b) { return a > b ? a : b; }

// MARK: 2x2 stride 2

void cvm_maxpool2x2_plain CVM_MAXPOOL2X2_PARAMS {
    for (long i = 0; i < oh; i++) {
        const float *r0 = x + 2 * i * width, *r1 = r0 + width;
        float *out = y + i * ow;
        for (long j = 0; j < ow; j++)
            out[j] = maxf(maxf(r0[2 * j], r1[2 * j]), maxf(r0[2 * j + 1], r1[2 * j + 1]));
    }
}

// 16 outputs from 32 values of each row: the vertical maxima, then even and odd lanes of the
// pair gathered by two-source permutes and compared. The last block of a row is masked.
#if defined(__x86_64__)
CVM_AVX512 void cvm_maxpool2x2_avx512 CVM_MAXPOOL2X2_PARAMS {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (long i = 0; i < oh; i++) {
        const float *r0 = x + 2 * i * width, *r1 = r0 + width;
        float *out = y + i * ow;
        long j = 0;
        for (; j + 16 <= ow; j += 16) {
            __m512 a = _mm512_max_ps(_mm512_loadu_ps(r0 + 2 * j), _mm512_loadu_ps(r1 + 2 * j));
            __m512 b = _mm512_max_ps(_mm512_loadu_ps(r0 + 2 * j + 16), _mm512_loadu_ps(r1 + 2 * j + 16));
            __m512 m = _mm512_max_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
            _mm512_storeu_ps(out + j, m);
        }
        if (j < ow) {
            long rest = 2 * (ow - j);  // 2..30 inputs of each row
            __mmask16 ma = (__mmask16)(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
            __mmask16 mb = (__mmask16)(rest > 16 ? (1u << (rest - 16)) - 1 : 0);
            __m512 a = _mm512_max_ps(_mm512_maskz_loadu_ps(ma, r0 + 2 * j), _mm512_maskz_loadu_ps(ma, r1 + 2 * j));
            __m512 b = _mm512_max_ps(_mm512_maskz_loadu_ps(mb, r0 + 2 * j + 16),
                                     _mm512_maskz_loadu_ps(mb, r1 + 2 * j + 16));
            __m512 m = _mm512_max_ps(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
            _mm512_mask_storeu_ps(out + j, (__mmask16)((1u << (ow - j)) - 1), m);
        }
    }
}


// 8 outputs from 16 values of each row: the vertical maxima, then even and odd lanes gathered
// in each 128-bit half (shuffle) and the halves put in order (permute). The last block is masked.
CVM_AVX2 void cvm_maxpool2x2_avx2 CVM_MAXPOOL2X2_PARAMS {
    for (long i = 0; i < oh; i++) {
        const float *r0 = x + 2 * i * width, *r1 = r0 + width;
        float *out = y + i * ow;
        for (long j = 0; j < ow; j += 8) {
            __m256 a, b;
            if (j + 8 <= ow) {
                a = _mm256_max_ps(_mm256_loadu_ps(r0 + 2 * j), _mm256_loadu_ps(r1 + 2 * j));
                b = _mm256_max_ps(_mm256_loadu_ps(r0 + 2 * j + 8), _mm256_loadu_ps(r1 + 2 * j + 8));
            } else {
                const __m256i ma = cvm_tail_mask8(2 * (ow - j)), mb = cvm_tail_mask8(2 * (ow - j) - 8);
                a = _mm256_max_ps(_mm256_maskload_ps(r0 + 2 * j, ma), _mm256_maskload_ps(r1 + 2 * j, ma));
                b = _mm256_max_ps(_mm256_maskload_ps(r0 + 2 * j + 8, mb), _mm256_maskload_ps(r1 + 2 * j + 8, mb));
            }
            // Per 128-bit half: (a0 a2 b0 b2), (a1 a3 b1 b3); then halves 0, 2, 1, 3 of the maxima.
            __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
            __m256 odd = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
            __m256 m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_max_ps(even, odd)), 0xD8));
            if (j + 8 <= ow) _mm256_storeu_ps(out + j, m);
            else _mm256_maskstore_ps(out + j, cvm_tail_mask8(ow - j), m);
        }
    }
}
#endif

#if defined(__aarch64__)
// 4 outputs from 8 values of each row: vld2q splits even and odd columns as it loads.
void cvm_maxpool2x2_neon CVM_MAXPOOL2X2_PARAMS {
    for (long i = 0; i < oh; i++) {
        const float *r0 = x + 2 * i * width, *r1 = r0 + width;
        float *out = y + i * ow;
        long j = 0;
        for (; j + 4 <= ow; j += 4) {
            float32x4x2_t a = vld2q_f32(r0 + 2 * j), b = vld2q_f32(r1 + 2 * j);
            vst1q_f32(out + j, vmaxq_f32(vmaxq_f32(a.val[0], b.val[0]), vmaxq_f32(a.val[1], b.val[1])));
        }
        for (; j < ow; j++) out[j] = maxf(maxf(r0[2 * j], r1[2 * j]), maxf(r0[2 * j + 1], r1[2 * j + 1]));
    }
}
#endif

// MARK: stride 1, same padding

// Separable, and each direction by doubling on arrays padded with -infinity, every pass one
// flat loop the compiler vectorizes: rows are padded to w + 2r and laid one after another (a
// window that would reach into the next row is one no output reads); the row maxima then go to
// h + 2r rows of the same stride. (On 256 20x20 planes, one thread, k = 13: 0.11 ms; the same
// passes in AVX-512 with masked row ends, or 2r+1 maxima per output vector, measured no faster.)

// dst[i] = max(src[i], src[i + shift]) for i < count: the maxima of windows of n values from
// those of n / 2 (or a final pair of overlapping windows).
CVM_INLINE void max_shifted(const float *restrict src, long shift, long count, float *restrict dst) {
    for (long i = 0; i < count; i++) dst[i] = maxf(src[i], src[i + shift]);
}

CVM_INLINE void fill(float *p, long count, float v) {
    for (long i = 0; i < count; i++) p[i] = v;
}

// Windows of k consecutive values along a padded array with values `step` apart, by doubling:
// from windows of 1, 2, 4... up to the largest power of two s <= k; buffers `a` (the input) and
// `b` alternate. `length` counts steps: the array has length * step floats. Returns the buffer
// holding windows of s values and sets *s; window i starts at i.
CVM_INLINE float *doubled(float *a, float *b, long length, long step, long k, long *s) {
    long span = 1;
    while (2 * span <= k) {
        // Windows of 2 * span start where a window of span still has another span after it.
        max_shifted(a, span * step, (length - 2 * span + 1) * step, b);
        float *t = a; a = b; b = t;
        span *= 2;
    }
    *s = span;
    return a;
}

long cvm_maxpool_same_scratch(long h, long w, long r) { return 2 * (h + 2 * r) * (w + 2 * r); }

CVM_INLINE void cvm_maxpool_same_body CVM_MAXPOOL_SAME_PARAMS {
    const long k = 2 * r + 1, wp = w + 2 * r, hp = h + 2 * r;
    float *a = scratch, *b = scratch + hp * wp;
    fill(a, h * wp, -INFINITY);
    for (long i = 0; i < h; i++)
        for (long j = 0; j < w; j++) a[i * wp + r + j] = x[i * w + j];
    long s;
    float *src = doubled(a, b, h * wp, 1, k, &s);
    float *dst = src == a ? b : a;
    fill(dst, r * wp, -INFINITY);
    max_shifted(src, k - s, (h - 1) * wp + w, dst + r * wp);
    fill(dst + (r + h) * wp, r * wp, -INFINITY);
    src = doubled(dst, src, hp, wp, k, &s);
    for (long i = 0; i < h; i++) max_shifted(src + i * wp, (k - s) * wp, w, y + i * w);
}

CVM_VARIANTS(cvm_maxpool_same, CVM_MAXPOOL_SAME_PARAMS, (x, h, w, r, y, scratch))

// MARK: upsampling

CVM_INLINE void cvm_upsample_nearest_body CVM_UPSAMPLE_PARAMS {
    const long ow = w * scale;
    for (long i = 0; i < h; i++) {
        const float *row = x + i * w;
        float *first = y + i * scale * ow;
        if (scale == 2) {
            for (long j = 0; j < w; j++) {
                first[2 * j] = row[j];
                first[2 * j + 1] = row[j];
            }
        } else {
            for (long j = 0; j < w; j++)
                for (long t = 0; t < scale; t++) first[j * scale + t] = row[j];
        }
        for (long t = 1; t < scale; t++)
            for (long j = 0; j < ow; j++) first[t * ow + j] = first[j];
    }
}

CVM_VARIANTS(cvm_upsample_nearest, CVM_UPSAMPLE_PARAMS, (x, h, w, scale, y))

// MARK: detection rows

CVM_INLINE void cvm_grid_rows_body CVM_GRID_ROWS_PARAMS {
    for (long gy = y0; gy < y1; gy++) {
        const float fy = (float)gy;
        for (long gx = 0; gx < w; gx++) {
            const float *v = x + gy * w + gx;
            float *out = rows + (gy * w + gx) * no;
            const float vx = v[0] * 2, vy = v[plane] * 2, vw = v[2 * plane] * 2, vh = v[3 * plane] * 2;
            out[0] = (vx - 0.5f + (float)gx) * stride;
            out[1] = (vy - 0.5f + fy) * stride;
            out[2] = vw * vw * anchor_w;
            out[3] = vh * vh * anchor_h;
            for (long c = 4; c < no; c++) out[c] = v[c * plane];
        }
    }
}

CVM_VARIANTS(cvm_grid_rows, CVM_GRID_ROWS_PARAMS, (x, plane, w, no, y0, y1, anchor_w, anchor_h, stride, rows))
