// One step of learned rounding (declared in CVectorMathRounding.h). Plain C loops, on x86
// compiled for AVX-512 / AVX2 / baseline and picked at load (target_clones; a calibration step,
// not an inference kernel, so the kernel level cap does not apply): the step runs once per
// iteration over every weight of a conv, and in Swift (baseline x86-64) its exp and log stayed
// scalar. Elsewhere the compiler's own vectorization of the same loops.
//
// Operation for operation what `LearnedRounding.referenceStep` (Swift) does, so v, m, s and w
// come out identical; only the two sums are added in another order (16 lanes, then the lanes).
#include "CVectorMath.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

// No fused multiply-adds: the results must equal the Swift loop's (other compilers get
// -ffp-contract=off on the command line, as tools/kernel_harness.sh gives).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "Kernels.h"
#include "EpilogueScalar.h"

#if defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONES
#endif
#define LANES 16

static inline float clamp_exponent(float x) {
    x = x > -87.0f ? x : -87.0f;
    return x < 88.0f ? x : 88.0f;
}

// ln x for a normal x > 0: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln x = e ln2 + 2 atanh(z),
// z = (m - 1) / (m + 1), |z| <= 0.172, atanh by its series to z^9 (next term below 1e-9).
static inline float rounding_log(float x) {
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    int32_t e = (int32_t)(bits >> 23) - 127;
    uint32_t mantissa = (bits & 0x7fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &mantissa, sizeof m);
    int high = m > 1.41421356f;
    m = high ? m * 0.5f : m;
    e = high ? e + 1 : e;
    float z = (m - 1) / (m + 1);
    float z2 = z * z;
    float series = z * (2 + z2 * (2.0f / 3 + z2 * (2.0f / 5 + z2 * (2.0f / 7 + z2 * (2.0f / 9)))));
    return (float)e * 0.693147181f + series;
}

static inline float rectified_sigmoid(float v, float *slope) {
    float sig = 1 / (1 + cvm_fast_exp(clamp_exponent(-v)));
    float raw = sig * 1.2f - 0.1f;
    int inside = raw >= 0.0f && raw <= 1.0f;
    *slope = inside ? 1.2f * (sig * (1 - sig)) : 0.0f;
    float h = raw > 0.0f ? raw : 0.0f;
    return h < 1.0f ? h : 1.0f;
}

static inline void step_one(long i, float *restrict v, float *restrict m, float *restrict s,
                            const float *restrict down, const float *restrict range, const float *restrict g,
                            const float *restrict t, float *restrict w, const struct cvm_rounding_step_params *p,
                            double *rec, double *reg) {
    float wi = w[i], gi = g[i], ti = t[i], r = range[i];
    *rec += (double)(wi * (gi - 2 * ti));
    float slope;
    float h = rectified_sigmoid(v[i], &slope);
    float grad = (2 * (gi - ti)) * r;
    float u = 2 * h - 1;
    float a = fabsf(u);
    float power = a >= 1.17549435e-38f ? cvm_fast_exp(clamp_exponent(p->beta * rounding_log(a))) : 0.0f;
    int variable = r > 0.0f;
    *reg += variable ? (double)(1 - power) : 0.0;
    float pull = power > 0.0f ? (-2 * p->beta) * (power / u) : 0.0f;
    grad = variable ? grad + p->lambda * pull : grad;
    float gv = grad * slope;
    float mi = p->beta1 * m[i] + (1 - p->beta1) * gv;
    float si = p->beta2 * s[i] + (1 - p->beta2) * (gv * gv);
    float vi = v[i] - (p->rate / p->correction1) * (mi / (sqrtf(si) / sqrtf(p->correction2) + p->epsilon));
    m[i] = mi;
    s[i] = si;
    v[i] = vi;
    float unused;
    w[i] = down[i] + rectified_sigmoid(vi, &unused) * r;
}

CLONES void cvm_rounding_step(long count, float *v, float *m, float *s, const float *down, const float *range,
                              const float *g, const float *t, float *w, const struct cvm_rounding_step_params *p,
                              double sums[2]) {
    double rec[LANES] = {0}, reg[LANES] = {0};
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        for (int l = 0; l < LANES; l++) step_one(i + l, v, m, s, down, range, g, t, w, p, &rec[l], &reg[l]);
    for (; i < count; i++) step_one(i, v, m, s, down, range, g, t, w, p, &rec[0], &reg[0]);
    for (int l = 0; l < LANES; l++) {
        sums[0] += rec[l];
        sums[1] += reg[l];
    }
}
