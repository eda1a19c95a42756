#include "CVectorMath.h"
#include <stdint.h>
#include <string.h>

// No fused multiply-adds: the results must equal FastMath's in Swift, which never fuses.
#pragma clang fp contract(off)

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

#include "FastExp.h"

static inline float clamp_exponent(float v) {
    float t = -v;
    t = t > -87.0f ? t : -87.0f;
    return t < 88.0f ? t : 88.0f;
}

CLONES void cvm_bias_silu(float *p, long count, float bias) {
    for (long i = 0; i < count; i++) {
        float v = p[i] + bias;
        p[i] = v / (1 + fast_exp(clamp_exponent(v)));
    }
}

CLONES void cvm_bias_sigmoid(float *p, long count, float bias) {
    for (long i = 0; i < count; i++) {
        float v = p[i] + bias;
        p[i] = 1 / (1 + fast_exp(clamp_exponent(v)));
    }
}

CLONES void cvm_winograd_weights(const float *restrict g, long count, float *restrict u, long stride) {
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

static inline unsigned code_at(const unsigned char *bytes, long byte_count, int bits, long n) {
    long bit = n * bits, at = bit >> 3;
    unsigned window = bytes[at];
    if (at + 1 < byte_count) window |= (unsigned)bytes[at + 1] << 8;
    return (window >> (bit & 7)) & ((1u << bits) - 1);
}

CLONES void cvm_decode_filter(const unsigned char *restrict bytes, long byte_count, int bits, long first,
                              long channels, long kernel, const float *restrict levels, long level_c,
                              long level_k, float *restrict out, long out_c, long out_k) {
    if (bits == 4 && level_c == 0 && level_k == 0 && out_k == 1 && out_c == kernel) {
        // The common packed case (4-bit, one table row per filter, weight order): two codes a byte.
        long n = first, end = first + channels * kernel, o = 0;
        if (n & 1) { out[o++] = levels[bytes[n >> 1] >> 4]; n++; }
        for (; n + 1 < end; n += 2, o += 2) {
            unsigned byte = bytes[n >> 1];
            out[o] = levels[byte & 15];
            out[o + 1] = levels[byte >> 4];
        }
        if (n < end) out[o] = levels[bytes[n >> 1] & 15];
        return;
    }
    long n = first;
    if (bits == 4) {
        for (long c = 0; c < channels; c++) {
            const float *row = levels + c * level_c;
            float *dst = out + c * out_c;
            for (long k = 0; k < kernel; k++, n++) {
                unsigned code = (bytes[n >> 1] >> ((n & 1) << 2)) & 15;
                dst[k * out_k] = row[k * level_k + code];
            }
        }
        return;
    }
    for (long c = 0; c < channels; c++) {
        const float *row = levels + c * level_c;
        float *dst = out + c * out_c;
        for (long k = 0; k < kernel; k++, n++) {
            dst[k * out_k] = row[k * level_k + code_at(bytes, byte_count, bits, n)];
        }
    }
}

CLONES void cvm_im2col(const float *restrict x, long channels, long height, long width, long kh, long kw,
                       long stride, long pad, long ow, long row0, long rows, float *restrict col) {
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
