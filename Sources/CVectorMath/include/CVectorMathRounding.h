// Learned rounding (AdaRound) of quantized weights (LearnedRounding.c). Reference: the plain
// Swift loop `LearnedRounding.referenceStep` (YOLOQuant), which does the same float operations in
// the same order; a test compares the two on every variable.
#ifndef CVECTORMATH_ROUNDING_H
#define CVECTORMATH_ROUNDING_H

/// What one step of learned rounding needs besides its arrays.
struct cvm_rounding_step_params {
    /// Weight of the rounding regulariser (0 while warming up).
    float lambda;
    /// Its exponent: sum (1 - |2h - 1|^beta).
    float beta;
    /// Adam: learning rate, moment decays, epsilon, and the bias corrections 1 - beta1^t, 1 - beta2^t.
    float rate;
    float beta1;
    float beta2;
    float epsilon;
    float correction1;
    float correction2;
};

/// One Adam step on the rounding variables v of `count` weights. For weight i the soft weight is
/// w[i] = down[i] + h(v[i]) * range[i], h the rectified sigmoid clamp(1.2 sigmoid(v) - 0.1, 0, 1).
/// On entry w holds the soft weights of the current v and g = w A (the reconstruction's
/// gradient is 2 (g - t)); on return v, the Adam moments m and s, and w are updated.
/// sums[0] += sum w (g - 2t) (the reconstruction loss less its constant, before the step);
/// sums[1] += sum over weights with range > 0 of 1 - |2h - 1|^beta (the regulariser, before).
void cvm_rounding_step(long count, float *v, float *m, float *s, const float *down, const float *range,
                       const float *g, const float *t, float *w, const struct cvm_rounding_step_params *p,
                       double sums[2]);

#endif
