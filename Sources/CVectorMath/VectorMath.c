#include "CVectorMath.h"
#include <stdint.h>
#include <string.h>

// No fused multiply-adds: the results must equal FastMath's in Swift, which never fuses.
#pragma clang fp contract(off)

#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// e^x for x in [-87, 88]: FastMath.exp (k = round(x / ln2), Cody-Waite ln2, degree-6 Taylor).
static inline float fast_exp(float x) {
    float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
    float p = 1 + r * (1 + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

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
