// The C kernel harness (tools/kernel_harness.sh builds and runs it, on this machine and for
// aarch64 under qemu): every FP32 entry point of CVectorMath, at every level this CPU runs and
// as dispatched (whatever YOLOV7_ISA left in effect), against the plain C version, and the plain
// version against a direct form written here (per tile, per window, per element), on random
// and awkward shapes. Bounds are those of the Swift tests (Tests/YOLOTensorTests); vector
// transforms and epilogues must equal the plain ones exactly, as their comments claim.
//
// The int8 kernels' cases are in harness_int8.c.
//
// One line per case; exit status 1 if any fails. Arguments: --expect LEVEL[,FEATURE|,no-FEATURE]
// [,int8=INT8_LEVEL] checks what the dispatcher found (e.g. neon,dotprod,int8=neon-dotprod under
// `qemu-aarch64 -cpu max`).
#include "Kernels.h"
#include "EpilogueScalar.h"
#include "CVectorMathDispatch.h"
#include "harness.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, cases;

// MARK: helpers

static unsigned long long rng_state;

// Values in [-1, 1), the generator of the Swift tests' randomValues.
static void fill_random(float *p, long n, unsigned long long seed) {
    rng_state = seed + 0x9E3779B97F4A7C15ull;
    for (long i = 0; i < n; i++) {
        rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((long long)(rng_state >> 11) % 2000000) / 1000000.0f - 1.0f;
    }
}

static float *floats(long n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!p) {
        fprintf(stderr, "harness: out of memory\n");
        exit(2);
    }
    return p;
}

static float *random_floats(long n, unsigned long long seed) {
    float *p = floats(n);
    fill_random(p, n, seed);
    return p;
}

static void fill(float *p, long n, float v) {
    for (long i = 0; i < n; i++) p[i] = v;
}

// Largest |a - b| over n floats; NaN on either side (or only one side infinite) counts as infinite.
static double worst_difference(const float *a, const float *b, long n) {
    double worst = 0;
    for (long i = 0; i < n; i++) {
        if (a[i] == b[i]) continue;
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst;
}

// Exact equality, bit for bit but for the sign of zero (which no caller tells apart).
static long mismatches(const float *a, const float *b, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++)
        if (!(a[i] == b[i]) && !(isnan(a[i]) && isnan(b[i]))) bad++;
    return bad;
}

void report(const char *level, const char *kernel, const char *shape, double error, double bound) {
    cases++;
    const int ok = error <= bound;
    if (!ok) failures++;
    printf("%s %-11s %-20s %-34s max error %.3g (bound %.3g)\n", ok ? "PASS" : "FAIL", level, kernel, shape, error,
           bound);
}

static const float slopes[5] = {0, 0, 0.1f, 0, 0};
static const char *act_names[5] = {"identity", "relu", "leaky", "silu", "sigmoid"};

// MARK: the dispatched entry points as a table

static void dispatched_bias_activate(float *p, long count, float bias, int act, float slope) {
    // Only SiLU and sigmoid have public entry points; the rest through the table in effect.
    if (act == CVM_ACT_SILU) cvm_bias_silu(p, count, bias);
    else if (act == CVM_ACT_SIGMOID) cvm_bias_sigmoid(p, count, bias);
    else cvm_fp32_kernels_at(cvm_isa_level())->bias_activate(p, count, bias, act, slope);
}

static const cvm_fp32_kernels dispatched = {
    dispatched_bias_activate, cvm_winograd_weights, cvm_decode_filter, cvm_im2col, cvm_pointwise_prefetching,
    cvm_winograd4_weights, cvm_winograd4_input, cvm_winograd4_output, cvm_winograd_s2_input,
    cvm_winograd_s2_weights, cvm_winograd_s2_output, cvm_maxpool2x2, cvm_maxpool_same, cvm_upsample_nearest,
    cvm_grid_rows,
};

// MARK: epilogue

static void check_bias_activate(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain) {
    const long n = 5000 + 3001;  // a ramp over the clamps, then random values, an odd tail
    float *x = floats(n), *a = floats(n), *b = floats(n);
    for (long i = 0; i < 5000; i++) x[i] = (float)i * 0.05f - 125;
    fill_random(x + 5000, 3001, 31);
    for (long i = 5000; i < n; i++) x[i] *= 30;
    for (int act = 0; act < 5; act++) {
        memcpy(a, x, sizeof(float) * n);
        memcpy(b, x, sizeof(float) * n);
        k->bias_activate(a, n, 0.375f, act, slopes[act]);
        plain->bias_activate(b, n, 0.375f, act, slopes[act]);
        char shape[64];
        snprintf(shape, sizeof shape, "%s n=%ld", act_names[act], n);
        report(level, "bias_activate", shape, (double)mismatches(a, b, n), 0);
    }
    free(x), free(a), free(b);
}

// MARK: pointwise

static void check_pointwise(const char *level, const cvm_fp32_kernels *k) {
    // (channels, filters, columns): column tails of every width, filter tails, C = 1 (one
    // rounding on both sides: the epilogue must then be exact), wide ones past a 48 panel.
    static const long shapes[][3] = {{3, 5, 63}, {16, 70, 481}, {200, 24, 400}, {64, 8, 17},
                                     {33, 130, 99}, {8, 1, 6}, {1, 11, 4000}, {5, 9, 3}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const long c = shapes[s][0], f = shapes[s][1], p = shapes[s][2];
        const long ldx = p + 3, ldy = p + 5, ldw = c + 2;
        float *x = random_floats(c * ldx, 101 + s), *w = random_floats(f * ldw, 102 + s);
        float *bias = random_floats(f, 103 + s), *y = floats(f * ldy), *want = floats(f * ldy);
        if (c == 1)
            for (long i = 0; i < ldx; i++) x[i] = (float)i * 0.0625f - 125;
        // A sub-range of filters and columns when there is room, as the engine's tasks take.
        const long f0 = f > 4 ? 1 : 0, f1 = f, p0 = p > 10 ? 5 : 0, p1 = p > 10 ? p - 1 : p;
        for (int act = 0; act < 5; act++) {
            fill(y, f * ldy, 7);
            fill(want, f * ldy, 7);
            for (long fi = f0; fi < f1; fi++)
                for (long pi = p0; pi < p1; pi++) {
                    float acc = 0;
                    for (long ci = 0; ci < c; ci++) acc += w[fi * ldw + ci] * x[ci * ldx + pi];
                    want[fi * ldy + pi] = cvm_finish_scalar(acc, bias[fi], act, slopes[act]);
                }
            k->pointwise(x, ldx, w, ldw, c, bias, y, ldy, f0, f1, p0, p1, p1, act, slopes[act]);
            char shape[64];
            snprintf(shape, sizeof shape, "C%ld F%ld P%ld %s", c, f, p, act_names[act]);
            // Sums of <= 200 products of values in [-1, 1]: reassociation and fused multiply-adds
            // move them by ~1e-5 (the Swift tests' bound); one channel: exact. Writes outside
            // the range show as a difference from the 7s there.
            report(level, "pointwise", shape, worst_difference(y, want, f * ldy), c == 1 ? 0 : 1e-4);
        }
        free(x), free(w), free(bias), free(y), free(want);
    }
}

// MARK: im2col and the packed weights' decode

static void check_im2col(const char *level, const cvm_fp32_kernels *k) {
    static const long geometries[][3] = {{3, 1, 1}, {3, 2, 1}, {1, 2, 0}, {6, 2, 2}, {5, 3, 2}, {2, 2, 0}};
    const long c = 5, h = 23, w = 37;
    float *x = random_floats(c * h * w, 111);
    for (size_t g = 0; g < sizeof geometries / sizeof geometries[0]; g++) {
        const long kk = geometries[g][0], stride = geometries[g][1], pad = geometries[g][2];
        const long oh = (h + 2 * pad - kk) / stride + 1, ow = (w + 2 * pad - kk) / stride + 1;
        const long ranges[][2] = {{0, oh}, {0, 2}, {oh / 2, 3}, {oh - 1, 1}};
        for (int r = 0; r < 4; r++) {
            const long row0 = ranges[r][0], rows = ranges[r][1], n = c * kk * kk * rows * ow;
            float *got = floats(n), *want = floats(n);
            for (long ci = 0; ci < c; ci++)
                for (long i = 0; i < kk; i++)
                    for (long j = 0; j < kk; j++)
                        for (long oy = 0; oy < rows; oy++)
                            for (long ox = 0; ox < ow; ox++) {
                                const long iy = (row0 + oy) * stride - pad + i, ix = ox * stride - pad + j;
                                want[((ci * kk + i) * kk + j) * rows * ow + oy * ow + ox] =
                                    iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : x[(ci * h + iy) * w + ix];
                            }
            k->im2col(x, c, h, w, kk, kk, stride, pad, ow, row0, rows, got);
            char shape[64];
            snprintf(shape, sizeof shape, "k%ld s%ld p%ld rows %ld+%ld", kk, stride, pad, row0, rows);
            report(level, "im2col", shape, (double)mismatches(got, want, n), 0);
            free(got), free(want);
        }
    }
    free(x);
}

// Every width, one table row per filter (the vector paths' 4-bit case) or one per channel and
// kernel position, in the weight's order and kernel-major (planes out_k apart); channel counts
// below, at and past a 16-channel step, filters starting on either half byte; against the
// code-by-code form.
static void check_decode_filter(const char *level, const cvm_fp32_kernels *k) {
    static const long shapes[][2] = {{7, 9}, {40, 9}, {33, 9}, {16, 9}, {70, 1}, {5, 3}, {18, 14}};
    const long filters = 3;
    unsigned char bytes[4096];
    for (int i = 0; i < 4096; i++) bytes[i] = (unsigned char)(i * 73 + 41 + (i >> 8));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const long channels = shapes[s][0], kernel = shapes[s][1], n = channels * kernel;
        for (int bits = 2; bits <= 8; bits++) {
            const long byte_count = (filters * n * bits + 7) / 8;
            for (int per_position = 0; per_position < 2; per_position++) {
                const long levels_per_row = 1L << bits;
                const long level_c = per_position ? kernel * levels_per_row : 0;
                const long level_k = per_position ? levels_per_row : 0;
                float *levels = random_floats(channels * kernel * levels_per_row, 121 + bits);
                float *got = floats(n), *want = floats(n), *planes = floats(n * 2), *want_planes = floats(n * 2);
                for (long f = 0; f < filters; f++) {
                    // Filter 1 of an odd-sized 4-bit filter starts on a half byte.
                    const long first = f * n;
                    for (long ci = 0; ci < channels; ci++)
                        for (long ki = 0; ki < kernel; ki++) {
                            long code = 0, at = (first + ci * kernel + ki) * bits;
                            for (int b = 0; b < bits; b++, at++) code |= (long)((bytes[at / 8] >> (at % 8)) & 1) << b;
                            want[ci * kernel + ki] = levels[ci * level_c + ki * level_k + code];
                        }
                    k->decode_filter(bytes, byte_count, bits, first, channels, kernel, levels, level_c, level_k, got,
                                     kernel, 1);
                    char shape[64];
                    snprintf(shape, sizeof shape, "%d-bit C%ld k%ld f%ld table %s", bits, channels, kernel, f,
                             per_position ? "per k" : "one");
                    report(level, "decode_filter", shape, (double)mismatches(got, want, n), 0);
                    // Kernel-major, as one filter of a block of two: planes 2C apart, sentinels between.
                    const long out_k = 2 * channels;
                    fill(planes, 2 * n, 7), fill(want_planes, 2 * n, 7);
                    for (long ci = 0; ci < channels; ci++)
                        for (long ki = 0; ki < kernel; ki++) want_planes[ki * out_k + ci] = want[ci * kernel + ki];
                    k->decode_filter(bytes, byte_count, bits, first, channels, kernel, levels, level_c, level_k,
                                     planes, 1, out_k);
                    snprintf(shape, sizeof shape, "%d-bit C%ld k%ld f%ld %s planes", bits, channels, kernel, f,
                             per_position ? "per k" : "one");
                    report(level, "decode_filter", shape, (double)mismatches(planes, want_planes, 2 * n), 0);
                }
                free(levels), free(got), free(want), free(planes), free(want_planes);
            }
        }
    }
}

// MARK: Winograd weights

// t (rows x n) = a (rows x 3) g (3 x 3), then u = t a^T, in Double, each sum in index order: the
// matrix form of every weight transform.
static void sandwich_weights(const double *a, int rows, const double g[9], float *u) {
    double t[6][3];
    for (int i = 0; i < rows; i++)
        for (int b = 0; b < 3; b++) t[i][b] = a[i * 3] * g[b] + a[i * 3 + 1] * g[3 + b] + a[i * 3 + 2] * g[6 + b];
    for (int i = 0; i < rows; i++)
        for (int l = 0; l < rows; l++)
            u[i * rows + l] = (float)(t[i][0] * a[l * 3] + t[i][1] * a[l * 3 + 1] + t[i][2] * a[l * 3 + 2]);
}

static void check_winograd_weights(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain) {
    static const double g2[12] = {1, 0, 0, 0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0, 0, 1};
    static const double g4[18] = {1.0 / 4,  0,         0,       -1.0 / 6, -1.0 / 6, -1.0 / 6,
                                  -1.0 / 6, 1.0 / 6,   -1.0 / 6, 1.0 / 24, 1.0 / 12, 1.0 / 6,
                                  1.0 / 24, -1.0 / 12, 1.0 / 6, 0,        0,        1};
    for (int tile = 2; tile <= 4; tile += 2) {
        const int rows = tile + 2, positions = rows * rows;
        const long counts[] = {1, 15, 16, 17, 35, 960};
        for (size_t s = 0; s < sizeof counts / sizeof counts[0]; s++) {
            const long count = counts[s], stride = count + 3;
            float *g = random_floats(9 * count, 131 + s), *got = floats(positions * stride);
            float *base = floats(positions * stride), *want = floats(positions * stride);
            fill(got, positions * stride, 0), fill(base, positions * stride, 0), fill(want, positions * stride, 0);
            void (*transform)(const float *, long, float *, long) = tile == 2 ? k->winograd_weights : k->winograd4_weights;
            void (*reference)(const float *, long, float *, long) =
                tile == 2 ? plain->winograd_weights : plain->winograd4_weights;
            transform(g, count, got, stride);
            reference(g, count, base, stride);
            for (long j = 0; j < count; j++) {
                double pair[9];
                float u[36];
                for (int q = 0; q < 9; q++) pair[q] = g[q * count + j];
                sandwich_weights(tile == 2 ? g2 : g4, rows, pair, u);
                for (int xi = 0; xi < positions; xi++) want[xi * stride + j] = u[xi];
            }
            char shape[64];
            snprintf(shape, sizeof shape, "F(%dx%d) %ld pairs vs plain", tile, tile, count);
            report(level, "winograd_weights", shape, (double)mismatches(got, base, positions * stride), 0);
            // Against the matrices in Double: F(2x2) halves in another order, F(4x4) works in
            // float (sums of up to 49 |g|-sized terms, then one scaling): within a few roundings
            // of values of size <= 1 (F(4x4) measured 6e-8).
            snprintf(shape, sizeof shape, "F(%dx%d) %ld pairs vs matrices", tile, tile, count);
            report(level, "winograd_weights", shape, worst_difference(got, want, positions * stride),
                   tile == 4 ? 1e-6 : 3e-7);
            free(g), free(got), free(base), free(want);
        }
    }
}

// The stride-2 conv's weights against the per-phase matrix form in Double (U = G g_p G^T of the
// 2x2 kernel g_p of each phase), against the plain version exactly, and done as filter ranges
// (as the engine's tasks do) against done at once.
static void check_s2_weights(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain) {
    static const double gs[5][2] = {{0.5, 0}, {-0.5, -0.5}, {-1.0 / 6, 1.0 / 6}, {1.0 / 6, 1.0 / 3}, {0, 1}};
    static const int tap[2][2] = {{1, -1}, {0, 2}};
    const long shapes[][2] = {{5, 7}, {8, 64}, {3, 70}};
    for (size_t s = 0; s < 3; s++) {
        const long filters = shapes[s][0], channels = shapes[s][1];
        float *w = random_floats(filters * channels * 9, 141 + s);
        long offset[26] = {0}, lo[25], hi[25];
        for (int xi = 0; xi < 25; xi++) {
            const int last_row = xi / 5 == 4, last_col = xi % 5 == 4;
            lo[xi] = last_row ? 2 : last_col ? 1 : 0;
            hi[xi] = last_row ? (last_col ? 3 : 4) : (last_col ? 3 : 4);
            offset[xi + 1] = offset[xi] + filters * (hi[xi] - lo[xi]) * channels;
        }
        float *got = floats(offset[25]), *base = floats(offset[25]), *pieces = floats(offset[25]);
        float *want = floats(offset[25]), *planes = floats(filters * channels * 9);
        // Kernel-major planes of filters [f0, f1), as the transform reads them.
#define PLANES(f0, f1)                                                                                   \
        for (long f = f0; f < f1; f++)                                                                   \
            for (long c = 0; c < channels; c++)                                                          \
                for (int q = 0; q < 9; q++)                                                              \
                    planes[q * (f1 - f0) * channels + (f - f0) * channels + c] = w[(f * channels + c) * 9 + q];
        PLANES(0, filters)
        k->winograd_s2_weights(planes, filters, channels, 0, filters, got);
        plain->winograd_s2_weights(planes, filters, channels, 0, filters, base);
        for (long f0 = 0; f0 < filters; f0 += 2) {
            const long f1 = f0 + 2 < filters ? f0 + 2 : filters;
            PLANES(f0, f1)
            k->winograd_s2_weights(planes, filters, channels, f0, f1, pieces);
        }
#undef PLANES
        for (long f = 0; f < filters; f++)
            for (long c = 0; c < channels; c++)
                for (int p = 0; p < 4; p++) {
                    const int a = CVM_S2_PHASE_A[p], b = CVM_S2_PHASE_B[p];
                    double g[2][2], t[5][2];
                    for (int u = 0; u < 2; u++)
                        for (int v = 0; v < 2; v++) {
                            const int r = tap[a][u], q = tap[b][v];
                            g[u][v] = r < 0 || q < 0 ? 0.0 : (double)w[(f * channels + c) * 9 + r * 3 + q];
                        }
                    for (int i = 0; i < 5; i++)
                        for (int v = 0; v < 2; v++) t[i][v] = gs[i][0] * g[0][v] + gs[i][1] * g[1][v];
                    for (int xi = 0; xi < 25; xi++) {
                        if (p < lo[xi] || p >= hi[xi]) continue;
                        const int i = xi / 5, j = xi % 5;
                        want[offset[xi] + f * (hi[xi] - lo[xi]) * channels + (p - lo[xi]) * channels + c] =
                            (float)(t[i][0] * gs[j][0] + t[i][1] * gs[j][1]);
                    }
                }
        char shape[64];
        snprintf(shape, sizeof shape, "F%ld C%ld vs plain", filters, channels);
        report(level, "winograd_s2_weights", shape, (double)mismatches(got, base, offset[25]), 0);
        snprintf(shape, sizeof shape, "F%ld C%ld by 2 filters", filters, channels);
        report(level, "winograd_s2_weights", shape, (double)mismatches(pieces, got, offset[25]), 0);
        // Float sums of <= 9 |g|-sized terms, one scaling (measured 6e-8).
        snprintf(shape, sizeof shape, "F%ld C%ld vs matrices", filters, channels);
        report(level, "winograd_s2_weights", shape, worst_difference(got, want, offset[25]), 5e-7);
        free(w), free(got), free(base), free(pieces), free(want), free(planes);
    }
}

// MARK: Winograd input and output transforms

static const double bt4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double at4[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
static const double bt_s2[5][5] = {
    {2, -1, -2, 1, 0}, {0, -2, -1, 1, 0}, {0, 2, -3, 1, 0}, {0, -1, 0, 1, 0}, {0, 2, -1, -2, 1}};

// out (k x k) = t d t^T for an n x n tile d and a k x n matrix t (row stride n), in Double.
static void sandwich(const double *t, int k, int n, const double *d, double *out) {
    double rows[6 * 6];
    for (int i = 0; i < k; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int l = 0; l < n; l++) s += t[i * n + l] * d[l * n + j];
            rows[i * n + j] = s;
        }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double s = 0;
            for (int l = 0; l < n; l++) s += rows[i * n + l] * t[j * n + l];
            out[i * k + j] = s;
        }
}

// Compares a transform's output with the plain one's (exactly: the same operations in the same
// order) and with the matrix form (within `bound`), and reports both.
static void report_transform(const char *level, const char *kernel, const char *shape, const float *got,
                             const float *plain, const double *want, long n, double bound) {
    char line[96];
    snprintf(line, sizeof line, "%s vs plain", shape);
    report(level, kernel, line, (double)mismatches(got, plain, n), 0);
    double worst = 0;
    for (long i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    snprintf(line, sizeof line, "%s vs matrices", shape);
    report(level, kernel, line, worst, bound);
}

static void check_winograd4_input(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain) {
    // (channels, h, w): ragged edges, a whole block of 16 tiles beside ragged ones (70 wide),
    // blocks of 8 and 4, a plane wider than one 256-column chunk.
    static const long shapes[][3] = {{3, 10, 13}, {2, 9, 70}, {1, 6, 33}, {2, 5, 1030}};
    for (size_t s = 0; s < 4; s++) {
        const long c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const long rows = (h + 3) / 4, columns = (w + 3) / 4;
        float *x = random_floats(c * h * w, 502 + s);
        // Tile windows: the whole plane (up to the 256-column limit), a later column chunk, inner rows.
        const long windows[][4] = {{0, rows, 0, columns < 256 ? columns : 256},
                                   {rows > 2 ? 1 : 0, rows > 2 ? 3 : rows, 2, columns - 2 < 256 ? columns - 2 : 256}};
        for (int win = 0; win < 2; win++) {
            const long ty0 = windows[win][0], ty1 = windows[win][1], tx0 = windows[win][2], tw = windows[win][3];
            const long tiles = (ty1 - ty0) * tw, n = 36 * c * tiles;
            float *got = floats(n), *base = floats(n);
            double *want = malloc(sizeof(double) * (size_t)n);
            fill(got, n, NAN), fill(base, n, NAN);
            k->winograd4_input(x, c, h, w, ty0, ty1, tx0, tw, got, tiles, c * tiles);
            plain->winograd4_input(x, c, h, w, ty0, ty1, tx0, tw, base, tiles, c * tiles);
            for (long ci = 0; ci < c; ci++)
                for (long ty = ty0; ty < ty1; ty++)
                    for (long tx = tx0; tx < tx0 + tw; tx++) {
                        double d[36], o[36];
                        for (int i = 0; i < 6; i++)
                            for (int j = 0; j < 6; j++) {
                                const long iy = 4 * ty - 1 + i, ix = 4 * tx - 1 + j;
                                d[i * 6 + j] = iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : x[(ci * h + iy) * w + ix];
                            }
                        sandwich(&bt4[0][0], 6, 6, d, o);
                        for (int xi = 0; xi < 36; xi++) want[xi * c * tiles + ci * tiles + (ty - ty0) * tw + tx - tx0] = o[xi];
                    }
            char shape[64];
            snprintf(shape, sizeof shape, "C%ld %ldx%ld ty %ld..%ld tx %ld+%ld", c, h, w, ty0, ty1, tx0, tw);
            // Values in [-1, 1], at most 25 terms with |coefficient| <= 25: float ulps of 100.
            report_transform(level, "winograd4_input", shape, got, base, want, n, 1e-4);
            free(got), free(base), free(want);
        }
        free(x);
    }
}

static void check_winograd_s2_input(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain) {
    static const long shapes[][3] = {{2, 19, 37}, {3, 40, 130}, {1, 17, 9}};
    for (size_t s = 0; s < 3; s++) {
        const long c = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const long oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1, rows = (oh + 3) / 4, columns = (ow + 3) / 4;
        float *x = random_floats(c * h * w, 3 + s);
        const long windows[][4] = {{0, rows, 0, columns}, {rows > 2 ? 1 : 0, rows > 2 ? 3 : rows, 1, columns - 1}};
        for (int win = 0; win < 2; win++) {
            const long ty0 = windows[win][0], ty1 = windows[win][1], tx0 = windows[win][2], tw = windows[win][3];
            const long tiles = (ty1 - ty0) * tw, n = 25 * 4 * c * tiles;
            float *got = floats(n), *base = floats(n);
            double *want = malloc(sizeof(double) * (size_t)n);
            fill(got, n, NAN), fill(base, n, NAN);
            k->winograd_s2_input(x, c, h, w, ty0, ty1, tx0, tw, got, tiles, c * tiles, 4 * c * tiles);
            plain->winograd_s2_input(x, c, h, w, ty0, ty1, tx0, tw, base, tiles, c * tiles, 4 * c * tiles);
            for (long ci = 0; ci < c; ci++)
                for (int p = 0; p < 4; p++)
                    for (long ty = ty0; ty < ty1; ty++)
                        for (long tx = tx0; tx < tx0 + tw; tx++) {
                            double d[25], o[25];
                            for (int i = 0; i < 5; i++)
                                for (int j = 0; j < 5; j++) {
                                    const long iy = 8 * ty + 2 * i - CVM_S2_PHASE_A[p];
                                    const long ix = 8 * tx + 2 * j - CVM_S2_PHASE_B[p];
                                    d[i * 5 + j] = iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : x[(ci * h + iy) * w + ix];
                                }
                            sandwich(&bt_s2[0][0], 5, 5, d, o);
                            for (int xi = 0; xi < 25; xi++)
                                want[xi * 4 * c * tiles + p * c * tiles + ci * tiles + (ty - ty0) * tw + tx - tx0] = o[xi];
                        }
            char shape[64];
            snprintf(shape, sizeof shape, "C%ld %ldx%ld ty %ld..%ld tx %ld+%ld", c, h, w, ty0, ty1, tx0, tw);
            // Integer coefficients up to 3 on values in [-1, 1]: float rounding only.
            report_transform(level, "winograd_s2_input", shape, got, base, want, n, 1e-5);
            free(got), free(base), free(want);
        }
        free(x);
    }
}

static void check_winograd_output(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain,
                                  int five) {
    static const long shapes[][3] = {{3, 7, 10}, {2, 9, 70}, {1, 13, 37}, {2, 4, 1030}};
    const int n = five ? 5 : 6, positions = n * n;
    for (size_t s = 0; s < 4; s++) {
        const long f = shapes[s][0], h = shapes[s][1], w = shapes[s][2];
        const long rows = (h + 3) / 4, columns = (w + 3) / 4;
        const long windows[][4] = {{0, rows, 0, columns < 256 ? columns : 256},
                                   {rows > 1 ? 1 : 0, rows, 1, columns - 1 < 256 ? columns - 1 : 256}};
        float *bias = random_floats(f, 504 + s);
        for (int win = 0; win < 2; win++) {
            const long ty0 = windows[win][0], ty1 = windows[win][1], tx0 = windows[win][2], tw = windows[win][3];
            const long tiles = (ty1 - ty0) * tw;
            float *m = random_floats(positions * f * tiles, 503 + s);
            for (int act = 0; act < 5; act += 3) {  // identity and SiLU (the epilogues are checked above)
                float *got = floats(f * h * w), *base = floats(f * h * w);
                double *want = malloc(sizeof(double) * (size_t)(f * h * w));
                fill(got, f * h * w, 7), fill(base, f * h * w, 7);
                for (long i = 0; i < f * h * w; i++) want[i] = 7;
                (five ? k->winograd_s2_output : k->winograd4_output)(m, tiles, f * tiles, f, ty0, ty1, tx0, tw, bias,
                                                                     act, 0, got, h, w);
                (five ? plain->winograd_s2_output : plain->winograd4_output)(m, tiles, f * tiles, f, ty0, ty1, tx0,
                                                                             tw, bias, act, 0, base, h, w);
                for (long fi = 0; fi < f; fi++)
                    for (long ty = ty0; ty < ty1; ty++)
                        for (long tx = tx0; tx < tx0 + tw; tx++) {
                            // The 5x5 tile is the 6x6 one without row and column 4.
                            double tile[36], o[16];
                            for (int i = 0; i < 6; i++)
                                for (int l = 0; l < 6; l++) {
                                    const int si = five && i == 5 ? 4 : i, sl = five && l == 5 ? 4 : l;
                                    tile[i * 6 + l] = five && (i == 4 || l == 4)
                                                          ? 0
                                                          : m[(si * n + sl) * f * tiles + fi * tiles + (ty - ty0) * tw + tx - tx0];
                                }
                            sandwich(&at4[0][0], 4, 6, tile, o);
                            for (int a = 0; a < 4; a++)
                                for (int b = 0; b < 4; b++) {
                                    const long oy = 4 * ty + a, ox = 4 * tx + b;
                                    if (oy < h && ox < w)
                                        want[(fi * h + oy) * w + ox] = cvm_finish_scalar((float)o[a * 4 + b], bias[fi], act, 0);
                                }
                        }
                char shape[64];
                snprintf(shape, sizeof shape, "F%ld %ldx%ld ty %ld..%ld tx %ld+%ld %s", f, h, w, ty0, ty1, tx0, tw,
                         act_names[act]);
                // Sums of 36 terms with coefficients up to 64 of values in [-1, 1]. Outputs
                // outside the window must keep their 7s (the matrix form leaves them too).
                report_transform(level, five ? "winograd_s2_output" : "winograd4_output", shape, got, base, want,
                                 f * h * w, 2e-4);
                free(got), free(base), free(want);
            }
            free(m);
        }
        free(bias);
    }
}

// MARK: pooling, upsampling, detection rows

static float max2(float a, float b) { return a > b ? a : b; }

static void check_pooling(const char *level, const cvm_fp32_kernels *k) {
    static const long planes[][2] = {{15, 20}, {3, 4}, {20, 20}, {33, 37}, {40, 66}, {1, 1}, {2, 2}, {4, 31}};
    for (size_t s = 0; s < sizeof planes / sizeof planes[0]; s++) {
        const long h = planes[s][0], w = planes[s][1];
        float *x = random_floats(h * w, 21 + s);
        // Plateaus of equal values and infinities beside the random ones.
        for (long i = 0; i < h * w; i += 7) x[i] = i % 3 ? 0.5f : -INFINITY;
        if (h * w > 4) x[h * w / 2] = INFINITY;
        // 2x2 stride 2 (floor of odd sizes).
        const long oh = h / 2, ow = w / 2;
        if (oh > 0 && ow > 0) {
            float *got = floats(oh * ow), *want = floats(oh * ow);
            for (long i = 0; i < oh; i++)
                for (long j = 0; j < ow; j++)
                    want[i * ow + j] = max2(max2(x[2 * i * w + 2 * j], x[(2 * i + 1) * w + 2 * j]),
                                            max2(x[2 * i * w + 2 * j + 1], x[(2 * i + 1) * w + 2 * j + 1]));
            k->maxpool2x2(x, w, oh, ow, got);
            char shape[64];
            snprintf(shape, sizeof shape, "%ldx%ld", h, w);
            report(level, "maxpool2x2", shape, (double)mismatches(got, want, oh * ow), 0);
            free(got), free(want);
        }
        // Same pools, kernels 3 ... 13 (windows clipped by the padding as -infinity).
        for (long r = 1; r <= 6; r++) {
            float *got = floats(h * w), *want = floats(h * w), *scratch = floats(cvm_maxpool_same_scratch(h, w, r));
            for (long i = 0; i < h; i++)
                for (long j = 0; j < w; j++) {
                    float v = -INFINITY;
                    for (long a = i - r; a <= i + r; a++)
                        for (long b = j - r; b <= j + r; b++)
                            if (a >= 0 && a < h && b >= 0 && b < w) v = max2(v, x[a * w + b]);
                    want[i * w + j] = v;
                }
            k->maxpool_same(x, h, w, r, got, scratch);
            char shape[64];
            snprintf(shape, sizeof shape, "%ldx%ld k%ld", h, w, 2 * r + 1);
            report(level, "maxpool_same", shape, (double)mismatches(got, want, h * w), 0);
            free(got), free(want), free(scratch);
        }
        // Nearest upsampling.
        for (long scale = 1; scale <= 3; scale++) {
            const long n = h * scale * w * scale;
            float *got = floats(n), *want = floats(n);
            for (long i = 0; i < h * scale; i++)
                for (long j = 0; j < w * scale; j++) want[i * w * scale + j] = x[(i / scale) * w + j / scale];
            k->upsample_nearest(x, h, w, scale, got);
            char shape[64];
            snprintf(shape, sizeof shape, "%ldx%ld x%ld", h, w, scale);
            report(level, "upsample_nearest", shape, (double)mismatches(got, want, n), 0);
            free(got), free(want);
        }
        free(x);
    }
}

static void check_grid_rows(const char *level, const cvm_fp32_kernels *k) {
    static const long shapes[][3] = {{20, 20, 85}, {7, 9, 8}, {1, 1, 6}};
    for (size_t s = 0; s < 3; s++) {
        const long h = shapes[s][0], w = shapes[s][1], no = shapes[s][2], plane = h * w + 3;
        float *x = random_floats(no * plane, 71 + s), *got = floats(h * w * no), *want = floats(h * w * no);
        fill(got, h * w * no, 7), fill(want, h * w * no, 7);
        const long y0 = h > 2 ? 1 : 0, y1 = h;
        const float aw = 12.5f, ah = 30.25f, stride = 16;
        for (long gy = y0; gy < y1; gy++)
            for (long gx = 0; gx < w; gx++) {
                const float *v = x + gy * w + gx;
                float *out = want + (gy * w + gx) * no;
                const float vx = v[0] * 2, vy = v[plane] * 2, vw = v[2 * plane] * 2, vh = v[3 * plane] * 2;
                out[0] = (vx - 0.5f + (float)gx) * stride;
                out[1] = (vy - 0.5f + (float)gy) * stride;
                out[2] = vw * vw * aw;
                out[3] = vh * vh * ah;
                for (long c = 4; c < no; c++) out[c] = v[c * plane];
            }
        k->grid_rows(x, plane, w, no, y0, y1, aw, ah, stride, got);
        char shape[64];
        snprintf(shape, sizeof shape, "%ldx%ld no %ld rows %ld..%ld", h, w, no, y0, y1);
        report(level, "grid_rows", shape, (double)mismatches(got, want, h * w * no), 0);
        free(x), free(got), free(want);
    }
}

// MARK: main

static void check_level(const char *level, const cvm_fp32_kernels *k, const cvm_fp32_kernels *plain) {
    check_bias_activate(level, k, plain);
    check_pointwise(level, k);
    check_im2col(level, k);
    check_decode_filter(level, k);
    check_winograd_weights(level, k, plain);
    check_s2_weights(level, k, plain);
    check_winograd4_input(level, k, plain);
    check_winograd_s2_input(level, k, plain);
    check_winograd_output(level, k, plain, 0);
    check_winograd_output(level, k, plain, 1);
    check_pooling(level, k);
    check_grid_rows(level, k);
}

static const char *feature_list(int features) {
    static char text[64];
    text[0] = 0;
    if (features & CVM_FEATURE_AVX512VNNI) strcat(text, " avx512vnni");
    if (features & CVM_FEATURE_AVXVNNI) strcat(text, " avxvnni");
    if (features & CVM_FEATURE_DOTPROD) strcat(text, " dotprod");
    return text[0] ? text + 1 : "none";
}

// --expect LEVEL[,FEATURE][,no-FEATURE][,int8=INT8_LEVEL]: the level in effect, features present
// or absent, the int8 level in effect.
static int expectation_holds(const char *expect) {
    char copy[128];
    snprintf(copy, sizeof copy, "%s", expect);
    int ok = 1;
    for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
        int want_absent = strncmp(item, "no-", 3) == 0, bit = 0;
        const char *name = want_absent ? item + 3 : item;
        if (strncmp(item, "int8=", 5) == 0) {
            if (strcmp(item + 5, cvm_int8_name(cvm_int8_level())) != 0) ok = 0;
            continue;
        }
        if (strcmp(name, "dotprod") == 0) bit = CVM_FEATURE_DOTPROD;
        else if (strcmp(name, "avx512vnni") == 0) bit = CVM_FEATURE_AVX512VNNI;
        else if (strcmp(name, "avxvnni") == 0) bit = CVM_FEATURE_AVXVNNI;
        else if (strcmp(name, "vnni") == 0) bit = CVM_FEATURE_AVX512VNNI | CVM_FEATURE_AVXVNNI;
        if (bit) {
            if (!!(cvm_isa_features() & bit) == want_absent) ok = 0;
        } else if (strcmp(name, cvm_isa_name(cvm_isa_level())) != 0) {
            ok = 0;
        }
    }
    return ok;
}

int main(int argc, char **argv) {
    const char *expect = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc) expect = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--expect LEVEL[,FEATURE|,no-FEATURE|,int8=INT8_LEVEL]...]\n", argv[0]);
            return 2;
        }
    }
    const char *problem = cvm_isa_request_problem();
    printf("cpu: %s; in effect: %s, features: %s, int8: %s%s%s\n", cvm_isa_name(cvm_isa_cpu_level()),
           cvm_isa_name(cvm_isa_level()), feature_list(cvm_isa_features()), cvm_int8_name(cvm_int8_level()),
           problem ? "; " : "", problem ? problem : "");
    if (expect) {
        const int ok = expectation_holds(expect);
        cases++;
        if (!ok) failures++;
        printf("%s dispatch expected %s\n", ok ? "PASS" : "FAIL", expect);
    }
    const cvm_fp32_kernels *plain = cvm_fp32_kernels_at(CVM_ISA_PLAIN);
    for (int level = 0; level < CVM_ISA_COUNT; level++) {
        const cvm_fp32_kernels *k = cvm_fp32_kernels_at(level);
        if (k) check_level(cvm_isa_name(level), k, plain);
    }
    check_level("dispatch", &dispatched, plain);
    check_int8_levels();
    printf("%d passed, %d failed\n", cases - failures, failures);
    return failures ? 1 : 0;
}
