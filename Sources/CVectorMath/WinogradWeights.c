// The Winograd weight transforms U = G g G^T of F(4x4, 3x3) and of the stride-2 convs' F(4x4, 2x2)
// (Winograd.swift, WinogradStrideTwo.swift), in float: dense weights go through them once per
// conv, packed ones on every pass (decoded block by block), so they are written to be cheap, and
// both kinds of weights go through the same functions, so a fake-quantized file and its packed
// twin give the same floats. Each G factors as D Gi, with D diagonal and Gi's entries 0, +-1, +-2
// and 4, so U = D (Gi g Gi^T) D: Gi on the columns of g and then on the rows of the result takes
// only additions and exact doublings, and each value of U is then scaled once by D_i D_l (rounded
// to float). Plain loops along the (filter, channel) pairs, compiled per x86 level, and for
// F(4x4) an AVX-512 version that stores each position's 16 values straight from registers (the
// plain loop goes through a stack block: a compiler cannot prove the 36 output rows apart). All
// give the same floats as the plain Swift references (Winograd.transformWeights4Reference,
// WinogradStrideTwo.transformWeightsReference: WinogradTests, WinogradStrideTwoTests, the
// kernel harness), and within a few float roundings of the matrix forms in Double.
#include "Kernels.h"

// F(4x4): U = G g G^T from kernel-major weights (g[k * count + j] is kernel position k of pair j;
// position xi of pair j goes to u[xi * stride + j]). D = diag(1/4, -1/6, -1/6, 1/24, 1/24, 1),
// Gi's rows (1,0,0), (1,1,1), (1,-1,1), (1,2,4), (1,-2,4), (0,0,1). About 110 float operations
// per pair, vectorized along the pairs (the Double form this replaced took about 300, at half the
// vector width).
#define D4_0 (1.0 / 4)
#define D4_1 (-1.0 / 6)
#define D4_2 (-1.0 / 6)
#define D4_3 (1.0 / 24)
#define D4_4 (1.0 / 24)
#define D4_5 1.0
#define D4_ROW(i) (float)(D4_##i * D4_0), (float)(D4_##i * D4_1), (float)(D4_##i * D4_2), \
                  (float)(D4_##i * D4_3), (float)(D4_##i * D4_4), (float)(D4_##i * D4_5)
// D_i D_l, rounded to float once.
static const float SCALE4[36] = {D4_ROW(0), D4_ROW(1), D4_ROW(2), D4_ROW(3), D4_ROW(4), D4_ROW(5)};

// Gi applied to (a, b, c), in this
// order of operations (transformWeights4Reference does the same).
#define APPLY_GI(a, b, c, o0, o1, o2, o3, o4, o5) \
    do {                                          \
        const float s_ = (a) + (c), e_ = (a) + 4 * (c), d_ = 2 * (b); \
        o0 = (a), o1 = s_ + (b), o2 = s_ - (b), o3 = e_ + d_, o4 = e_ - d_, o5 = (c); \
    } while (0)

// Pair j's 36 values: Gi on the columns of g (column b: kernel positions b, 3 + b, 6 + b), then
// on each row i of the result, (t0[i], t1[i], t2[i]), then the scaling; `out(xi)` is where
// position xi goes.
#define TRANSFORM4_PAIR(k, count, j, out)                                                                   \
    do {                                                                                                     \
        float t0[6], t1[6], t2[6];                                                                           \
        APPLY_GI(k[j], k[3 * count + j], k[6 * count + j], t0[0], t0[1], t0[2], t0[3], t0[4], t0[5]);       \
        APPLY_GI(k[count + j], k[4 * count + j], k[7 * count + j], t1[0], t1[1], t1[2], t1[3], t1[4], t1[5]); \
        APPLY_GI(k[2 * count + j], k[5 * count + j], k[8 * count + j], t2[0], t2[1], t2[2], t2[3], t2[4],    \
                 t2[5]);                                                                                     \
        for (int i = 0; i < 6; i++) {                                                                        \
            float o0, o1, o2, o3, o4, o5;                                                                    \
            APPLY_GI(t0[i], t1[i], t2[i], o0, o1, o2, o3, o4, o5);                                           \
            out(i * 6 + 0) = o0 * SCALE4[i * 6 + 0];                                                         \
            out(i * 6 + 1) = o1 * SCALE4[i * 6 + 1];                                                         \
            out(i * 6 + 2) = o2 * SCALE4[i * 6 + 2];                                                         \
            out(i * 6 + 3) = o3 * SCALE4[i * 6 + 3];                                                         \
            out(i * 6 + 4) = o4 * SCALE4[i * 6 + 4];                                                         \
            out(i * 6 + 5) = o5 * SCALE4[i * 6 + 5];                                                         \
        }                                                                                                    \
    } while (0)

// Pairs per block: each block's 36 x PAIRS values are made in a stack array (a loop along the
// pairs with no stores the compiler must keep in order, so it vectorizes) and then copied to
// their rows as whole rows of PAIRS; the last count % PAIRS pairs go one by one, straight to u.
#define PAIRS 16
typedef struct { float v[PAIRS]; } pair_row;

CVM_INLINE void cvm_winograd4_weights_body CVM_WINOGRAD_WEIGHTS_PARAMS {
    long j0 = 0;
    for (; j0 + PAIRS <= count; j0 += PAIRS) {
        pair_row block[36];
        const float *k = g + j0;
#define TO_BLOCK(xi) block[xi].v[j]
        for (long j = 0; j < PAIRS; j++) TRANSFORM4_PAIR(k, count, j, TO_BLOCK);
#undef TO_BLOCK
        for (int xi = 0; xi < 36; xi++) *(pair_row *)(u + (long)xi * stride + j0) = block[xi];
    }
    for (; j0 < count; j0++) {
#define TO_U(xi) u[(long)(xi) * stride + j0]
        TRANSFORM4_PAIR(g, count, j0, TO_U);
#undef TO_U
    }
}

void cvm_winograd4_weights_plain CVM_WINOGRAD_WEIGHTS_PARAMS { cvm_winograd4_weights_body(g, count, u, stride); }
#if defined(__x86_64__)
CVM_AVX2 void cvm_winograd4_weights_avx2 CVM_WINOGRAD_WEIGHTS_PARAMS { cvm_winograd4_weights_body(g, count, u, stride); }
#endif

#if defined(__x86_64__)
#include "Epilogue.h"

// Gi applied to three vectors, APPLY_GI's operations.
AVX512 INLINE void apply_gi16(__m512 a, __m512 b, __m512 c, __m512 o[6]) {
    const __m512 s = _mm512_add_ps(a, c), e = _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(4), c));
    const __m512 d = _mm512_mul_ps(_mm512_set1_ps(2), b);
    o[0] = a, o[1] = _mm512_add_ps(s, b), o[2] = _mm512_sub_ps(s, b), o[3] = _mm512_add_ps(e, d);
    o[4] = _mm512_sub_ps(e, d), o[5] = c;
}

// 16 pairs (lanes of `k`, their nine kernel positions) to u[xi * stride], the stores masked by `m`.
AVX512 INLINE void transform16(const __m512 k[9], __mmask16 m, float *restrict u, long stride) {
    __m512 t0[6], t1[6], t2[6];
    apply_gi16(k[0], k[3], k[6], t0);
    apply_gi16(k[1], k[4], k[7], t1);
    apply_gi16(k[2], k[5], k[8], t2);
    for (int i = 0; i < 6; i++) {
        __m512 o[6];
        apply_gi16(t0[i], t1[i], t2[i], o);
        for (int l = 0; l < 6; l++)
            _mm512_mask_storeu_ps(u + (long)(i * 6 + l) * stride, m, _mm512_mul_ps(o[l], _mm512_set1_ps(SCALE4[i * 6 + l])));
    }
}

CVM_AVX512 void cvm_winograd4_weights_avx512 CVM_WINOGRAD_WEIGHTS_PARAMS {
    for (long j = 0; j < count; j += 16) {
        const __mmask16 m = count - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (count - j)) - 1);
        __m512 k[9];
        for (int q = 0; q < 9; q++) k[q] = _mm512_maskz_loadu_ps(m, g + q * count + j);
        transform16(k, m, u + j, stride);
    }
}
#endif

// The stride-2 conv's U = G g_p G^T for filters [f0, f1) of `filters`, every channel c and phase
// p (2x2 kernel g_p of the 3x3 g: row tap u of parity a reads kernel row S2_TAP[a][u], none (zero)
// for -1; columns likewise), from kernel-major weights of those filters (position k of filter f,
// channel c at g[k * (f1 - f0) * C + (f - f0) * C + c]). D = diag(1/2, -1/2, -1/6, 1/6, 1), Gi's
// rows (1,0), (1,1), (1,-1), (1,2), (0,1). Position xi keeps the phases [lo, hi) it needs, at
// u[offset(xi) + f * (hi - lo) * C + (p - lo) * C + c] (WinogradStrideTwo.weightOffsets).
static const double D_S2[5] = {0.5, -0.5, -1.0 / 6, 1.0 / 6, 1};
static const int S2_TAP[2][2] = {{1, -1}, {0, 2}};

static void s2_phase_range(int xi, int *lo, int *hi) {
    const int last_row = xi / 5 == 4, last_col = xi % 5 == 4;
    *lo = last_row ? 2 : last_col ? 1 : 0;
    *hi = last_row ? (last_col ? 3 : 4) : (last_col ? 3 : 4);
}

// Where each position's rows start, which phases it keeps, and its scale D_i D_j (as float).
typedef struct {
    long offset[25];
    int lo[25], hi[25];
    float scale[25];
} s2_layout;

static void s2_layout_of(long filters, long channels, s2_layout *l) {
    long total = 0;
    for (int xi = 0; xi < 25; xi++) {
        s2_phase_range(xi, &l->lo[xi], &l->hi[xi]);
        l->offset[xi] = total;
        total += filters * (l->hi[xi] - l->lo[xi]) * channels;
        l->scale[xi] = (float)(D_S2[xi / 5] * D_S2[xi % 5]);
    }
}

// Gi applied to (x0, x1), in this order of operations (transformWeightsReference does the same).
#define APPLY_GI2(x0, x1, o0, o1, o2, o3, o4) \
    do {                                      \
        o0 = (x0), o1 = (x0) + (x1), o2 = (x0) - (x1), o3 = (x0) + 2 * (x1), o4 = (x1); \
    } while (0)

// Kernel position of tap (u, v) of the phase with row parity a and column parity b, or -1.
#define S2_TAP_AT(a, b, u, v) (S2_TAP[a][u] < 0 || S2_TAP[b][v] < 0 ? -1 : S2_TAP[a][u] * 3 + S2_TAP[b][v])
#define S2_TAPS(q)                                                                                          \
    S2_TAP_AT(CVM_S2_PHASE_A[q], CVM_S2_PHASE_B[q], 0, 0), S2_TAP_AT(CVM_S2_PHASE_A[q], CVM_S2_PHASE_B[q], 0, 1), \
        S2_TAP_AT(CVM_S2_PHASE_A[q], CVM_S2_PHASE_B[q], 1, 0), S2_TAP_AT(CVM_S2_PHASE_A[q], CVM_S2_PHASE_B[q], 1, 1)

// Channels per block of the plain version: its loops run along the channels (so they vectorize)
// into stack rows of this many, copied to their places after.
#define S2_CHANNELS 64
typedef struct { float v[S2_CHANNELS]; } s2_row;

// One phase's 25 positions for channels [0, n) of a block (k[q]: kernel position q's row), its
// 2x2 kernel's taps kernel positions tap00, tap01, tap10, tap11 (row tap, column tap; -1 a zero
// tap). Inlined with constant taps, one copy per phase.
CVM_INLINE void s2_phase(const float *const k[9], long n, int tap00, int tap01, int tap10, int tap11,
                         const float scale[25], s2_row out[25]) {
    for (long c = 0; c < n; c++) {
        const float g00 = tap00 < 0 ? 0.0f : k[tap00][c], g01 = tap01 < 0 ? 0.0f : k[tap01][c];
        const float g10 = tap10 < 0 ? 0.0f : k[tap10][c], g11 = tap11 < 0 ? 0.0f : k[tap11][c];
        float t0[5], t1[5];
        APPLY_GI2(g00, g10, t0[0], t0[1], t0[2], t0[3], t0[4]);
        APPLY_GI2(g01, g11, t1[0], t1[1], t1[2], t1[3], t1[4]);
        for (int i = 0; i < 5; i++) {
            float o0, o1, o2, o3, o4;
            APPLY_GI2(t0[i], t1[i], o0, o1, o2, o3, o4);
            out[i * 5 + 0].v[c] = o0 * scale[i * 5 + 0];
            out[i * 5 + 1].v[c] = o1 * scale[i * 5 + 1];
            out[i * 5 + 2].v[c] = o2 * scale[i * 5 + 2];
            out[i * 5 + 3].v[c] = o3 * scale[i * 5 + 3];
            out[i * 5 + 4].v[c] = o4 * scale[i * 5 + 4];
        }
    }
}

// Filter f's channels [c0, c0 + n), n <= S2_CHANNELS (k[q]: position q's row from channel c0).
CVM_INLINE void s2_block(const float *const k[9], long f, long c0, long n, long channels, const s2_layout *l,
                         float *restrict u) {
    for (int p = 0; p < 4; p++) {
        s2_row out[25];
        switch (p) {  // a case per phase, so each inlined copy has constant taps
        case 0: s2_phase(k, n, S2_TAPS(0), l->scale, out); break;
        case 1: s2_phase(k, n, S2_TAPS(1), l->scale, out); break;
        case 2: s2_phase(k, n, S2_TAPS(2), l->scale, out); break;
        default: s2_phase(k, n, S2_TAPS(3), l->scale, out); break;
        }
        for (int xi = 0; xi < 25; xi++) {
            if (p < l->lo[xi] || p >= l->hi[xi]) continue;
            float *dst = u + l->offset[xi] + f * (l->hi[xi] - l->lo[xi]) * channels + (p - l->lo[xi]) * channels + c0;
            if (n == S2_CHANNELS) *(s2_row *)dst = out[xi];  // vector moves
            else for (long c = 0; c < n; c++) dst[c] = out[xi].v[c];
        }
    }
}

CVM_INLINE void cvm_winograd_s2_weights_body CVM_WINOGRAD_S2_WEIGHTS_PARAMS {
    s2_layout l;
    s2_layout_of(filters, channels, &l);
    const long plane = (f1 - f0) * channels;
    for (long f = f0; f < f1; f++) {
        for (long c0 = 0; c0 < channels; c0 += S2_CHANNELS) {
            const float *k[9];
            for (int q = 0; q < 9; q++) k[q] = g + q * plane + (f - f0) * channels + c0;
            if (c0 + S2_CHANNELS <= channels) s2_block(k, f, c0, S2_CHANNELS, channels, &l, u);
            else s2_block(k, f, c0, channels - c0, channels, &l, u);
        }
    }
}

void cvm_winograd_s2_weights_plain CVM_WINOGRAD_S2_WEIGHTS_PARAMS { cvm_winograd_s2_weights_body(g, filters, channels, f0, f1, u); }
#if defined(__x86_64__)
CVM_AVX2 void cvm_winograd_s2_weights_avx2 CVM_WINOGRAD_S2_WEIGHTS_PARAMS {
    cvm_winograd_s2_weights_body(g, filters, channels, f0, f1, u);
}

// Gi applied to two vectors, APPLY_GI2's operations.
AVX512 INLINE void apply_gi2_16(__m512 x0, __m512 x1, __m512 o[5]) {
    o[0] = x0, o[1] = _mm512_add_ps(x0, x1), o[2] = _mm512_sub_ps(x0, x1);
    o[3] = _mm512_add_ps(x0, _mm512_mul_ps(_mm512_set1_ps(2), x1)), o[4] = x1;
}

// One phase of 16 channels (lanes of k[q]) stored straight to the positions that keep it.
AVX512 INLINE void s2_phase16(const __m512 k[9], int p, int tap00, int tap01, int tap10, int tap11, __mmask16 m,
                              const s2_layout *l, long f, long c, long channels, float *restrict u) {
    const __m512 zero = _mm512_setzero_ps();
    const __m512 g00 = tap00 < 0 ? zero : k[tap00], g01 = tap01 < 0 ? zero : k[tap01];
    const __m512 g10 = tap10 < 0 ? zero : k[tap10], g11 = tap11 < 0 ? zero : k[tap11];
    __m512 t0[5], t1[5];
    apply_gi2_16(g00, g10, t0);
    apply_gi2_16(g01, g11, t1);
    for (int i = 0; i < 5; i++) {
        __m512 o[5];
        apply_gi2_16(t0[i], t1[i], o);
        for (int j = 0; j < 5; j++) {
            const int xi = i * 5 + j;
            if (p < l->lo[xi] || p >= l->hi[xi]) continue;
            float *dst = u + l->offset[xi] + f * (l->hi[xi] - l->lo[xi]) * channels + (p - l->lo[xi]) * channels + c;
            _mm512_mask_storeu_ps(dst, m, _mm512_mul_ps(o[j], _mm512_set1_ps(l->scale[xi])));
        }
    }
}

CVM_AVX512 void cvm_winograd_s2_weights_avx512 CVM_WINOGRAD_S2_WEIGHTS_PARAMS {
    s2_layout l;
    s2_layout_of(filters, channels, &l);
    const long plane = (f1 - f0) * channels;
    for (long f = f0; f < f1; f++) {
        for (long c = 0; c < channels; c += 16) {
            const __mmask16 m = channels - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (channels - c)) - 1);
            __m512 k[9];
            for (int q = 0; q < 9; q++) k[q] = _mm512_maskz_loadu_ps(m, g + q * plane + (f - f0) * channels + c);
            s2_phase16(k, 0, S2_TAPS(0), m, &l, f, c, channels, u);
            s2_phase16(k, 1, S2_TAPS(1), m, &l, f, c, channels, u);
            s2_phase16(k, 2, S2_TAPS(2), m, &l, f, c, channels, u);
            s2_phase16(k, 3, S2_TAPS(3), m, &l, f, c, channels, u);
        }
    }
}
#endif
