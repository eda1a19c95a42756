// The conv epilogue on one float, FastMath's arithmetic (YOLOTensor/Activation.swift) operation
// for operation (internal). Every vector epilogue (Epilogue.h, Epilogue256.h, EpilogueNEON.h)
// computes exactly this, lane by lane, and is tested bit-equal to it. Include after Kernels.h.
#ifndef CVECTORMATH_EPILOGUE_SCALAR_H
#define CVECTORMATH_EPILOGUE_SCALAR_H

#include <stdint.h>
#include <string.h>

// e^x for x in [-87, 88]: FastMath.exp (k = round(x / ln2) by the 1.5 * 2^23 trick, Cody-Waite
// ln2, degree-6 Taylor, 2^k built in the exponent bits).
static inline float cvm_fast_exp(float x) {
    float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
    float p = 1 + r * (1 + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    // k is already a whole number, so the truncating conversion is exact.
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// e^-v's argument clamped to [-87, 88] as FastMath does (max(-v, -87), then min(., 88)).
static inline float cvm_neg_clamped(float v) {
    float t = -v;
    t = t > -87.0f ? t : -87.0f;
    return t < 88.0f ? t : 88.0f;
}

// Bias + activation of one accumulator, as Activation.applyFast(acc + bias).
static inline float cvm_finish_scalar(float acc, float bias, int act, float slope) {
    float v = acc + bias;
    switch (act) {
    case CVM_ACT_RELU: return 0.0f >= v ? 0.0f : v;  // Swift's max(v, 0): +0 for -0
    case CVM_ACT_LEAKY: return v < 0 ? v * slope : v;
    case CVM_ACT_SILU: return v / (1 + cvm_fast_exp(cvm_neg_clamped(v)));
    case CVM_ACT_SIGMOID: return 1 / (1 + cvm_fast_exp(cvm_neg_clamped(v)));
    default: return v;
    }
}

#endif
