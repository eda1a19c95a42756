// The NEON conv epilogue (internal): Epilogue.h's arithmetic on 4 lanes, bit-equal to
// cvm_finish_scalar (EpilogueScalar.h). aarch64 only; include after Kernels.h.
#ifndef CVECTORMATH_EPILOGUE_NEON_H
#define CVECTORMATH_EPILOGUE_NEON_H

#if defined(__aarch64__)
#include <arm_neon.h>

// FastMath.exp on 4 lanes, operation for operation (cvm_fast_exp): separate multiplies and
// adds (vmulq/vaddq), never vfmaq, so each step rounds as the scalar form does.
CVM_INLINE float32x4_t cvm_exp4(float32x4_t x) {
    const float32x4_t magic = vdupq_n_f32(12582912.0f);
    float32x4_t k = vsubq_f32(vaddq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504f)), magic), magic);
    float32x4_t r = vsubq_f32(vsubq_f32(x, vmulq_f32(k, vdupq_n_f32(0.693145751953125f))),
                              vmulq_f32(k, vdupq_n_f32(1.428606765330187e-6f)));
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    p = vaddq_f32(vdupq_n_f32(1.0f / 120), vmulq_f32(r, p));
    p = vaddq_f32(vdupq_n_f32(1.0f / 24), vmulq_f32(r, p));
    p = vaddq_f32(vdupq_n_f32(1.0f / 6), vmulq_f32(r, p));
    p = vaddq_f32(vdupq_n_f32(0.5f), vmulq_f32(r, p));
    p = vaddq_f32(vdupq_n_f32(1.0f), vmulq_f32(r, p));
    p = vaddq_f32(vdupq_n_f32(1.0f), vmulq_f32(r, p));
    // vcvtq_s32_f32 truncates, as the scalar cast does (exact: k is whole).
    int32x4_t bits = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(k), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(bits));
}

CVM_INLINE float32x4_t cvm_neg_clamped4(float32x4_t v) {
    return vminq_f32(vmaxq_f32(vnegq_f32(v), vdupq_n_f32(-87.0f)), vdupq_n_f32(88.0f));
}

// Bias + activation on 4 accumulators.
CVM_INLINE float32x4_t cvm_finish4(float32x4_t acc, float bias, int act, float slope) {
    float32x4_t v = vaddq_f32(acc, vdupq_n_f32(bias));
    switch (act) {
    case CVM_ACT_RELU:
        return vmaxq_f32(v, vdupq_n_f32(0.0f));
    case CVM_ACT_LEAKY:
        return vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vmulq_n_f32(v, slope), v);
    case CVM_ACT_SILU:
        return vdivq_f32(v, vaddq_f32(vdupq_n_f32(1.0f), cvm_exp4(cvm_neg_clamped4(v))));
    case CVM_ACT_SIGMOID:
        return vdivq_f32(vdupq_n_f32(1.0f), vaddq_f32(vdupq_n_f32(1.0f), cvm_exp4(cvm_neg_clamped4(v))));
    default:
        return v;
    }
}

#endif
#endif
