// The u8 map kernels' row loops in NEON (Int8Maps.c's drivers call them at the neon and
// neon-dotprod int8 levels): quantizing the network input, the stride-2 phase split and the
// 2x2 max pool (vld2q's even / odd deinterleave), nearest upsampling (vst2q), 4 words a step,
// the tails in plain C. They move and compare whole codes, or round like cvm_q8_code, so they
// equal the plain loops exactly. aarch64 only.
#include "Int8Kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>

// As the AVX-512 row: each channel's code minus the zero point shifted to its byte and summed
// onto the zero-point word (mod 2^32, each byte ends up its code).
static void quantize_row(const float *x, long plane, int lanes, long n, float inv, int zero, uint32_t *dst) {
    const float32x4_t lo = vdupq_n_f32((float)-zero), hi = vdupq_n_f32((float)(255 - zero));
    const uint32_t zero_word = (uint32_t)zero * 0x01010101u;
    long p = 0;
    for (; p + 4 <= n; p += 4) {
        uint32x4_t word = vdupq_n_u32(zero_word);
        for (int t = 0; t < lanes; t++) {
            float32x4_t v = vmulq_n_f32(vld1q_f32(x + t * plane + p), inv);
            v = vbslq_f32(vcgtq_f32(v, lo), v, lo);  // max then min as x86 orders them
            v = vbslq_f32(vcltq_f32(v, hi), v, hi);
            word = vaddq_u32(word, vshlq_u32(vreinterpretq_u32_s32(vcvtnq_s32_f32(v)), vdupq_n_s32(8 * t)));
        }
        vst1q_u32(dst + p, word);
    }
    for (; p < n; p++) {
        uint32_t word = zero_word;
        for (int t = 0; t < lanes; t++) {
            word &= ~(255u << (8 * t));
            word |= cvm_q8_code(x[t * plane + p], inv, zero) << (8 * t);
        }
        dst[p] = word;
    }
}

static void split_row(const uint32_t *src, long len, long ne, long no, uint32_t *even, uint32_t *odd) {
    long b = 0;
    for (; b + 4 <= ne && 2 * b + 8 <= len; b += 4) {
        const uint32x4x2_t v = vld2q_u32(src + 2 * b);
        vst1q_u32(even + b, v.val[0]);
        if (b + 4 <= no) vst1q_u32(odd + b, v.val[1]);
        else for (long i = b; i < no; i++) odd[i] = src[2 * i + 1];
    }
    for (long i = b; i < ne; i++) even[i] = src[2 * i];
    for (long i = b; i < no; i++) odd[i] = src[2 * i + 1];
}

static void maxpool2x2_row(const uint32_t *r0, const uint32_t *r1, long ow, uint32_t *out) {
    long b = 0;
    for (; b + 4 <= ow; b += 4) {
        const uint32x4x2_t a = vld2q_u32(r0 + 2 * b), c = vld2q_u32(r1 + 2 * b);
        const uint8x16_t m = vmaxq_u8(vmaxq_u8(vreinterpretq_u8_u32(a.val[0]), vreinterpretq_u8_u32(a.val[1])),
                                      vmaxq_u8(vreinterpretq_u8_u32(c.val[0]), vreinterpretq_u8_u32(c.val[1])));
        vst1q_u32(out + b, vreinterpretq_u32_u8(m));
    }
    for (; b < ow; b++)
        out[b] = cvm_q8_max_bytes(cvm_q8_max_bytes(r0[2 * b], r0[2 * b + 1]), cvm_q8_max_bytes(r1[2 * b], r1[2 * b + 1]));
}

static void upsample_row(const uint32_t *in, long w, uint32_t *out) {
    long c = 0;
    for (; c + 4 <= w; c += 4) {
        const uint32x4_t v = vld1q_u32(in + c);
        const uint32x4x2_t twice = {{v, v}};
        vst2q_u32(out + 2 * c, twice);
    }
    for (; c < w; c++) out[2 * c] = out[2 * c + 1] = in[c];
}

const cvm_q8_rows cvm_q8_rows_neon = {quantize_row, split_row, maxpool2x2_row, upsample_row, 0};

#endif
