// The int8 conv kernels (see CVectorMathInt8.h for the layouts): a register tile of 8 filters x
// 48 columns in 24 int32 accumulators, each k step one vpdpbusd per accumulator (64 multiply-adds
// of u8 activations by s8 weights), then the zero-point correction, the scale and the FP32
// epilogue while the tile is in registers. AVX-512 VNNI only, checked at run time; elsewhere
// the engine keeps the FP32 path.
#include "CVectorMath.h"
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

// The epilogue must give FastMath's numbers (Activation.swift) exactly, as cvm_pointwise's does:
// it is the same code (Epilogue.h).
#pragma clang fp contract(off)
#include "Epilogue.h"

#define VNNI __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx512vnni,fma")))

int cvm_int8_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni");
}

// MARK: quantization and columns

// `n` values of 4 channel rows (`lanes` of them real, `cstride` floats apart) into words:
// round(clamp(v, -zero, 255 - zero)) + zero is clamp(round(v) + zero, 0, 255) (the bounds are
// whole numbers), and clamping in float first also keeps cvtps in range. The codes minus the
// zero point are summed into the word at their byte, then the zero point is added to every
// byte at once: mod 2^32 that is each code at its byte.
VNNI INLINE void i8_quantize_run(const float *x, long cstride, int lanes, long n, __m512 inv, __m512 lo, __m512 hi,
                                 __m512i zp, uint32_t *dst) {
    for (long p = 0; p < n; p += 16) {
        long left = n - p;
        __mmask16 m = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        __m512i word = zp;
        for (int t = 0; t < lanes; t++) {
            __m512 v = _mm512_maskz_loadu_ps(m, x + t * cstride + p);
            v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), lo), hi);
            word = _mm512_add_epi32(word, _mm512_slli_epi32(_mm512_cvtps_epi32(v), 8 * t));
        }
        _mm512_mask_storeu_epi32(dst + p, m, word);
    }
}

VNNI INLINE uint32_t i8_zero_word(long channels, long g, int zero, int *lanes) {
    *lanes = channels - 4 * g < 4 ? (int)(channels - 4 * g) : 4;
    uint32_t word = 0;
    for (int t = 0; t < *lanes; t++) word |= (uint32_t)zero << (8 * t);
    return word;
}

VNNI void cvm_int8_quantize(const float *x, long channels, long plane, long p0, long p1, float inv_scale,
                            int zero, long g0, long g1, uint32_t *q) {
    const __m512 inv = _mm512_set1_ps(inv_scale);
    const __m512 lo = _mm512_set1_ps((float)-zero), hi = _mm512_set1_ps((float)(255 - zero));
    for (long g = g0; g < g1; g++) {
        int lanes;
        const __m512i zp = _mm512_set1_epi32((int)i8_zero_word(channels, g, zero, &lanes));
        i8_quantize_run(x + 4 * g * plane + p0, plane, lanes, p1 - p0, inv, lo, hi, zp, q + g * plane + p0);
    }
}

VNNI void cvm_int8_quantize_padded(const float *x, long channels, long height, long width, long pad,
                                   long r0, long r1, float inv_scale, int zero, long g0, long g1, uint32_t *q) {
    const __m512 inv = _mm512_set1_ps(inv_scale);
    const __m512 lo = _mm512_set1_ps((float)-zero), hi = _mm512_set1_ps((float)(255 - zero));
    const long wp = width + 2 * pad, hp = height + 2 * pad, plane = height * width;
    const uint32_t pad_word = (uint32_t)zero * 0x01010101u;
    for (long g = g0; g < g1; g++) {
        int lanes;
        const __m512i zp = _mm512_set1_epi32((int)i8_zero_word(channels, g, zero, &lanes));
        uint32_t *dst = q + g * hp * wp;
        if (r0 == 0)
            for (long i = 0; i < pad * wp; i++) dst[i] = pad_word;
        if (r1 == height)
            for (long i = (hp - pad) * wp; i < hp * wp; i++) dst[i] = pad_word;
        for (long r = r0; r < r1; r++) {
            uint32_t *row = dst + (r + pad) * wp;
            for (long i = 0; i < pad; i++) row[i] = row[pad + width + i] = pad_word;
            i8_quantize_run(x + 4 * g * plane + r * width, plane, lanes, width, inv, lo, hi, zp, row + pad);
        }
    }
}

// One panel row of output row iy (inside the map) for a stride-1 kernel column shifted by
// `shift`: d[ox] = src[ox] where 0 <= ox + shift < width, else the pad word. Whole vectors with
// masks instead of memcpy + fills: rows are short (20-160 words) and many.
VNNI INLINE void i8_row_s1(const uint32_t *src, long lo, long hi, long ow, __m512i pad, uint32_t *d) {
    for (long ox = 0; ox < ow; ox += 16) {
        long left = ow - ox;
        __mmask16 store = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        // Lanes ox + l in [lo, hi) read the source, the others are padding.
        long a = lo - ox, b = hi - ox;
        a = a < 0 ? 0 : a > 16 ? 16 : a;
        b = b < 0 ? 0 : b > 16 ? 16 : b;
        __mmask16 inside = b > a ? (__mmask16)((((1u << b) - 1) >> a) << a) : (__mmask16)0;
        __m512i v = _mm512_mask_loadu_epi32(pad, inside, src + ox);
        _mm512_mask_storeu_epi32(d + ox, store, v);
    }
}

VNNI void cvm_int8_im2col(const uint32_t *q, long groups, long height, long width, long kh, long kw,
                          long stride, long pad, long ow, long row0, long rows, uint32_t pad_word,
                          long g0, long g1, uint32_t *panel, long ldp) {
    const __m512i padv = _mm512_set1_epi32((int)pad_word);
    for (long i = 0; i < kh; i++) {
        for (long j = 0; j < kw; j++) {
            // Output columns whose input column ox*s - pad + j is inside the map.
            long shift = j - pad;
            long lo = (-shift + stride - 1) / stride;
            if (lo < 0) lo = 0;
            if (lo > ow) lo = ow;
            long hi = (width - shift + stride - 1) / stride;
            if (hi > ow) hi = ow;
            if (hi < lo) hi = lo;
            for (long g = g0; g < g1; g++) {
                const uint32_t *src_plane = q + g * height * width;
                uint32_t *dst_row = panel + ((i * kw + j) * groups + g) * ldp;
                for (long r = 0; r < rows; r++) {
                    long iy = (row0 + r) * stride - pad + i;
                    uint32_t *d = dst_row + r * ow;
                    if (iy < 0 || iy >= height) {
                        for (long ox = 0; ox < ow; ox++) d[ox] = pad_word;
                        continue;
                    }
                    const uint32_t *src = src_plane + iy * width + shift;
                    if (stride == 1) {
                        i8_row_s1(src, lo, hi, ow, padv, d);
                        continue;
                    }
                    for (long ox = 0; ox < lo; ox++) d[ox] = pad_word;
                    if (stride == 2) {
                        for (long ox = lo; ox < hi; ox++) d[ox] = src[2 * ox];
                    } else {
                        for (long ox = lo; ox < hi; ox++) d[ox] = src[ox * stride];
                    }
                    for (long ox = hi; ox < ow; ox++) d[ox] = pad_word;
                }
            }
        }
    }
}

// MARK: the product

// Implicit columns (3x3 stride-1 convs without im2col): the quantized input is padded to
// Hp x Wp per channel group, and "virtual" column q = oy * Wp + ox reads word q + i*Wp + j of
// group g for k group (i*kw + j)*groups + g, i.e. at a fixed offset `off[kg]` from q. Columns
// with ox >= ow (the padding columns) are computed and dropped by the epilogue; a vector of 16
// columns spans at most two output rows (Wp >= 16), stored as two masked parts.
struct i8_implicit {
    const long *off;
    long wp, ow;
    long q0;
};

// One register tile: MR filters x NV vectors of 16 columns (the last masked to `last` when
// MASKED). Instantiated with constants only, so the accumulators stay in registers. With
// IMPLICIT, `x` is the padded map at virtual column im->q0 and `y` the output's origin.
VNNI INLINE void i8_tile(const int MR, const int NV, const int MASKED, const int IMPLICIT, __mmask16 last,
                         const uint8_t *restrict x, long ldx, const int8_t *restrict w, long ldw, long groups,
                         const int32_t *restrict corr, const float *restrict scale, const float *restrict bias,
                         float *restrict y, long ldy, int act, float slope, const struct i8_implicit *im) {
    __m512i acc[8][3];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NV; j++) acc[i][j] = _mm512_setzero_si512();
    const long xstep = 4 * ldx;
    for (long g = 0; g < groups; g++) {
        const uint8_t *xr = IMPLICIT ? x + 4 * im->off[g] : x + g * xstep;
        __m512i xv[3];
        for (int j = 0; j < NV; j++) {
            xv[j] = (MASKED && j == NV - 1) ? _mm512_maskz_loadu_epi32(last, xr + 64 * j)
                                             : _mm512_loadu_si512((const void *)(xr + 64 * j));
        }
        for (int i = 0; i < MR; i++) {
            int32_t word;
            memcpy(&word, w + i * ldw + 4 * g, 4);
            __m512i b = _mm512_set1_epi32(word);
            for (int j = 0; j < NV; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], xv[j], b);
        }
    }
    // Where each vector's lanes go (IMPLICIT): lanes of row oy at offA, of row oy + 1 at offB.
    __mmask16 mask_a[3], mask_b[3];
    long off_a[3], off_b[3];
    if (IMPLICIT) {
        for (int j = 0; j < NV; j++) {
            long q = im->q0 + 16 * j;
            long oy = q / im->wp, ox = q - oy * im->wp;
            unsigned lanes = (MASKED && j == NV - 1) ? (unsigned)last : 0xFFFFu;
            long na = im->ow - ox;
            na = na < 0 ? 0 : na > 16 ? 16 : na;
            mask_a[j] = (__mmask16)(((1u << na) - 1) & lanes);
            off_a[j] = oy * im->ow + ox;
            long b0 = im->wp - ox, b1 = b0 + im->ow;
            b1 = b1 > 16 ? 16 : b1;
            mask_b[j] = b0 < 16 ? (__mmask16)(((((1u << b1) - 1) >> b0) << b0) & lanes) : (__mmask16)0;
            off_b[j] = (oy + 1) * im->ow - b0;
        }
    }
    for (int i = 0; i < MR; i++) {
        float *yr = y + i * ldy;
        const __m512i c = _mm512_set1_epi32(corr[i]);
        const __m512 s = _mm512_set1_ps(scale[i]);
        for (int j = 0; j < NV; j++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[i][j], c));
            v = finish(_mm512_mul_ps(v, s), bias[i], act, slope);
            if (IMPLICIT) {
                if (mask_a[j]) _mm512_mask_storeu_ps(yr + off_a[j], mask_a[j], v);
                if (mask_b[j]) _mm512_mask_storeu_ps(yr + off_b[j], mask_b[j], v);
            } else if (MASKED && j == NV - 1) {
                _mm512_mask_storeu_ps(yr + 16 * j, last, v);
            } else {
                _mm512_storeu_ps(yr + 16 * j, v);
            }
        }
    }
}

#define I8_CASE(MR, NV, M, I) \
    i8_tile(MR, NV, M, I, last, x, ldx, w, ldw, groups, corr, scale, bias, y, ldy, act, slope, im)

VNNI static void i8_tile_any(int mr, int nv, int masked, __mmask16 last, const uint8_t *x, long ldx, const int8_t *w,
                             long ldw, long groups, const int32_t *corr, const float *scale, const float *bias,
                             float *y, long ldy, int act, float slope, const struct i8_implicit *im) {
#define I8_BY_NV(MR, I)                                             \
    if (masked) {                                                   \
        if (nv == 3) I8_CASE(MR, 3, 1, I);                          \
        else if (nv == 2) I8_CASE(MR, 2, 1, I);                     \
        else I8_CASE(MR, 1, 1, I);                                  \
    } else {                                                        \
        if (nv == 3) I8_CASE(MR, 3, 0, I);                          \
        else if (nv == 2) I8_CASE(MR, 2, 0, I);                     \
        else I8_CASE(MR, 1, 0, I);                                  \
    }
    if (im) {
        switch (mr) {
        case 8: I8_BY_NV(8, 1) break;
        case 4: I8_BY_NV(4, 1) break;
        case 2: I8_BY_NV(2, 1) break;
        default: I8_BY_NV(1, 1) break;
        }
    } else {
        switch (mr) {
        case 8: I8_BY_NV(8, 0) break;
        case 4: I8_BY_NV(4, 0) break;
        case 2: I8_BY_NV(2, 0) break;
        default: I8_BY_NV(1, 0) break;
        }
    }
#undef I8_BY_NV
}

// Filters [0, mr) of one block (mr <= 8, rows of `w`) over columns [p0, p1): the block's weights
// stay in L1 while the panel streams past from L2. With `im` (implicit columns), p is a
// virtual column and y the output's origin.
VNNI static void i8_block(int mr, const uint8_t *x, long ldx, long groups, const int8_t *w, long ldw,
                          const int32_t *corr, const float *scale, const float *bias, float *y, long ldy,
                          long p0, long p1, int act, float slope, const struct i8_implicit *shape) {
    while (mr > 0) {
        int part = mr >= 8 ? 8 : mr >= 4 ? 4 : mr >= 2 ? 2 : 1;
        for (long p = p0; p < p1; p += 48) {
            long cols = p1 - p < 48 ? p1 - p : 48;
            int nv = (int)((cols + 15) / 16);
            int rem = (int)(cols & 15);
            __mmask16 last = rem ? (__mmask16)((1u << rem) - 1) : (__mmask16)0xFFFF;
            struct i8_implicit here;
            const struct i8_implicit *im = 0;
            if (shape) {
                here = *shape;
                here.q0 = p;
                im = &here;
            }
            float *yp = shape ? y : y + p;
            if (part == 8 && cols == 48) {
                if (shape) i8_tile(8, 3, 0, 1, last, x + 4 * p, ldx, w, ldw, groups, corr, scale, bias, yp, ldy, act, slope, im);
                else i8_tile(8, 3, 0, 0, last, x + 4 * p, ldx, w, ldw, groups, corr, scale, bias, yp, ldy, act, slope, 0);
            } else {
                i8_tile_any(part, nv, rem != 0, last, x + 4 * p, ldx, w, ldw, groups, corr, scale, bias, yp, ldy,
                            act, slope, im);
            }
        }
        mr -= part;
        w += part * ldw;
        corr += part;
        scale += part;
        bias += part;
        y += part * ldy;
    }
}

// Columns per chunk: every filter block re-reads the chunk's panel (K/4 rows of its columns),
// which should stay in L2 (256 KiB of a core's 1 MiB on the machines this was tuned on).
static long i8_chunk(long groups) {
    long cols = (256L << 10) / (4 * groups) / 48 * 48;
    return cols < 48 ? 48 : cols;
}

// The implicit-column shape of a call, or null for an explicit panel.
static const struct i8_implicit *i8_shape(const cvm_int8_columns *columns, struct i8_implicit *storage) {
    if (!columns) return 0;
    storage->off = columns->offsets;
    storage->wp = columns->padded_width;
    storage->ow = columns->out_width;
    storage->q0 = 0;
    return storage;
}

VNNI void cvm_int8_gemm(const uint8_t *x, long ldx, long groups, const int8_t *w, long ldw,
                        const int32_t *corr, const float *scale, const float *bias, float *y, long ldy,
                        long f0, long f1, long p0, long p1, int act, float slope, const cvm_int8_columns *columns) {
    struct i8_implicit storage;
    const struct i8_implicit *shape = i8_shape(columns, &storage);
    const long chunk = i8_chunk(groups);
    for (long c0 = p0; c0 < p1; c0 += chunk) {
        long c1 = p1 - c0 < chunk ? p1 : c0 + chunk;
        for (long f = f0; f < f1; f += 8) {
            int mr = (int)(f1 - f < 8 ? f1 - f : 8);
            i8_block(mr, x, ldx, groups, w + f * ldw, ldw, corr + f, scale + f, bias + f, y + f * ldy, ldy, c0, c1,
                     act, slope, shape);
        }
    }
}

VNNI void cvm_int8_unpack4(const uint8_t *codes, long count, int offset, int8_t *out) {
    const __m512i low = _mm512_set1_epi16(0x0F), off = _mm512_set1_epi8((char)offset);
    long n = 0;
    // 64 codes (32 bytes) a step: widen each byte to 16 bits as (low nibble, high nibble), which
    // is the two codes in stream order.
    for (; n + 64 <= count; n += 64) {
        __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(codes + n / 2)));
        __m512i pair = _mm512_or_si512(_mm512_and_si512(b, low), _mm512_slli_epi16(_mm512_srli_epi16(b, 4), 8));
        _mm512_storeu_si512((void *)(out + n), _mm512_sub_epi8(pair, off));
    }
    for (; n < count; n += 2) {
        uint8_t byte = codes[n / 2];
        out[n] = (int8_t)((byte & 15) - offset);
        out[n + 1] = (int8_t)((byte >> 4) - offset);
    }
}

VNNI void cvm_int8_gemm_packed4(const uint8_t *x, long ldx, long groups, const uint8_t *codes,
                                const int8_t *offset, int8_t *wbuf, const int32_t *corr,
                                const float *scale, const float *bias, float *y, long ldy, long f0,
                                long f1, long p0, long p1, int act, float slope, const cvm_int8_columns *columns) {
    struct i8_implicit storage;
    const struct i8_implicit *shape = i8_shape(columns, &storage);
    const long k = 4 * groups, chunk = i8_chunk(groups);
    // Each block of 8 filters is unpacked once per column chunk (most tasks are one chunk).
    for (long c0 = p0; c0 < p1; c0 += chunk) {
        long c1 = p1 - c0 < chunk ? p1 : c0 + chunk;
        for (long f = f0; f < f1; f += 8) {
            int mr = (int)(f1 - f < 8 ? f1 - f : 8);
            for (int i = 0; i < mr; i++) cvm_int8_unpack4(codes + (f + i) * k / 2, k, offset[f + i], wbuf + i * k);
            i8_block(mr, x, ldx, groups, wbuf, k, corr + f, scale + f, bias + f, y + f * ldy, ldy, c0, c1, act, slope,
                     shape);
        }
    }
}
