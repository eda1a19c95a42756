// The AVX-512 conv epilogue shared by the C kernels (internal: not part of the module's API):
// bias + activation on 16 lanes with FastMath's arithmetic (Activation.swift) exactly, so a
// conv gives the same numbers whichever kernel ran it (cvm_finish_scalar in EpilogueScalar.h
// is the lane-by-lane form it is tested against). x86-64 only; include with
// `#pragma clang fp contract(off)` in effect.
#ifndef CVECTORMATH_EPILOGUE_H
#define CVECTORMATH_EPILOGUE_H

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))
#define INLINE static inline __attribute__((always_inline))

// Fetch a line that is about to be written (prefetchw: in the exclusive state, so the stores
// need no ownership request); every x86-64 CPU with AVX2 or AVX-512 has it.
#define PREFETCH_WRITE(p) __asm__ volatile("prefetchw %0" : : "m"(*(const char *)(p)))

// FastMath.exp on 16 lanes, operation for operation (cvm_fast_exp in EpilogueScalar.h).
AVX512 INLINE __m512 exp16(__m512 x) {
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 k = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)), magic), magic);
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(x, _mm512_mul_ps(k, _mm512_set1_ps(0.693145751953125f))),
                             _mm512_mul_ps(k, _mm512_set1_ps(1.428606765330187e-6f)));
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_add_ps(_mm512_set1_ps(1.0f / 120), _mm512_mul_ps(r, p));
    p = _mm512_add_ps(_mm512_set1_ps(1.0f / 24), _mm512_mul_ps(r, p));
    p = _mm512_add_ps(_mm512_set1_ps(1.0f / 6), _mm512_mul_ps(r, p));
    p = _mm512_add_ps(_mm512_set1_ps(0.5f), _mm512_mul_ps(r, p));
    p = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(r, p));
    p = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(r, p));
    // k is already a whole number, so truncation is exact.
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

// e^-v's argument clamped to [-87, 88] as FastMath does (max(-v, -87), then min(., 88)).
AVX512 INLINE __m512 neg_clamped(__m512 v) {
    __m512 t = _mm512_sub_ps(_mm512_setzero_ps(), v);
    return _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
}

// Bias + activation on one accumulator, as Activation.biasActivate does it.
AVX512 INLINE __m512 finish(__m512 acc, float bias, int act, float slope) {
    __m512 v = _mm512_add_ps(acc, _mm512_set1_ps(bias));
    switch (act) {
    case CVM_ACT_RELU:
        return _mm512_max_ps(v, _mm512_setzero_ps());
    case CVM_ACT_LEAKY: {
        __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ);
        return _mm512_mask_mul_ps(v, neg, v, _mm512_set1_ps(slope));
    }
    case CVM_ACT_SILU:
        return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(neg_clamped(v))));
    case CVM_ACT_SIGMOID:
        return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(neg_clamped(v))));
    default:
        return v;
    }
}

#endif
#endif
