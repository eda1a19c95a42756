// The AVX2 conv epilogue (internal): Epilogue.h's arithmetic on 8 lanes, bit-equal to
// cvm_finish_scalar (EpilogueScalar.h). x86-64 only; include after Kernels.h.
#ifndef CVECTORMATH_EPILOGUE256_H
#define CVECTORMATH_EPILOGUE256_H

#if defined(__x86_64__)
#include <immintrin.h>

// FastMath.exp on 8 lanes, operation for operation (cvm_fast_exp).
CVM_AVX2 CVM_INLINE __m256 cvm_exp8(__m256 x) {
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 k = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), magic), magic);
    __m256 r = _mm256_sub_ps(_mm256_sub_ps(x, _mm256_mul_ps(k, _mm256_set1_ps(0.693145751953125f))),
                             _mm256_mul_ps(k, _mm256_set1_ps(1.428606765330187e-6f)));
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_add_ps(_mm256_set1_ps(1.0f / 120), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f / 24), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f / 6), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(0.5f), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(r, p));
    p = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(r, p));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

CVM_AVX2 CVM_INLINE __m256 cvm_neg_clamped8(__m256 v) {
    __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), v);
    return _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
}

// Bias + activation on 8 accumulators.
CVM_AVX2 CVM_INLINE __m256 cvm_finish8(__m256 acc, float bias, int act, float slope) {
    __m256 v = _mm256_add_ps(acc, _mm256_set1_ps(bias));
    switch (act) {
    case CVM_ACT_RELU:
        return _mm256_max_ps(v, _mm256_setzero_ps());
    case CVM_ACT_LEAKY: {
        __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
        return _mm256_blendv_ps(v, _mm256_mul_ps(v, _mm256_set1_ps(slope)), neg);
    }
    case CVM_ACT_SILU:
        return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), cvm_exp8(cvm_neg_clamped8(v))));
    case CVM_ACT_SIGMOID:
        return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), cvm_exp8(cvm_neg_clamped8(v))));
    default:
        return v;
    }
}

// Lanes [0, n) on (all ones), the rest off: the mask of maskload / maskstore for a tail of n < 8.
CVM_AVX2 CVM_INLINE __m256i cvm_tail_mask8(long n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#endif
#endif
