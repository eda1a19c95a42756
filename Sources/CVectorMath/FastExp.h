// FastMath.exp (YOLOTensor/Activation.swift) on one float, for the plain C loops (internal:
// not part of the module's API; Epilogue.h has the 16-lane form). Include with
// `#pragma clang fp contract(off)` in effect, so the results equal the Swift ones.
#ifndef CVECTORMATH_FASTEXP_H
#define CVECTORMATH_FASTEXP_H

#include <stdint.h>
#include <string.h>

// e^x for x in [-87, 88]: k = round(x / ln2), Cody-Waite ln2, degree-6 Taylor.
static inline float fast_exp(float x) {
    float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-6f;
    float p = 1 + r * (1 + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#endif
