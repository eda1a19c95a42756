// The kernel harness's int8 cases (tools/kernel_harness.sh): every entry point of
// CVectorMathInt8.h at every int8 level this CPU runs (cvm_int8_kernels_at) and as dispatched,
// against the plain level, and the plain level against direct forms written here: the product as
// a convolution from its definition (integer sums over the input codes, the zero point where the
// kernel reads padding, then the scalar epilogue and rintf-rounded codes), the map kernels pixel
// by pixel. Everything is integer or the same float operations in the same order, so every
// bound is 0: the vector levels must give the plain level's words and floats exactly.
//
// The product's cases cover what the engine's convs do: 1x1 and 3x3 stride 1, 3x3 stride 2
// through the phase planes, channels not a multiple of 4, planes whose columns are no multiple of
// a tile and rows shorter than a vector; weights of every magnitude class the AVX2 level treats
// differently (|w| <= 16, 32, 64, and 8-bit with -128), packed 4-bit ones; u8 and FP32 output;
// every activation; the work split into tasks (filter and column ranges) as the engine splits it.
#include "Int8Kernels.h"
#include "CVectorMathDispatch.h"
#include "harness.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: helpers

static unsigned long long rng;

static void seed(unsigned long long s) { rng = s * 0x9E3779B97F4A7C15ull + 12345; }

static unsigned next_random(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(rng >> 33);
}

// An integer in [lo, hi].
static int random_int(int lo, int hi) { return lo + (int)(next_random() % (unsigned)(hi - lo + 1)); }

static float random_float(float lo, float hi) { return lo + (hi - lo) * (float)(next_random() % 1000001) / 1e6f; }

static void *allocate(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "harness: out of memory\n");
        exit(2);
    }
    return p;
}

static long count_word_mismatches(const uint32_t *a, const uint32_t *b, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++) bad += a[i] != b[i];
    return bad;
}

static long count_float_mismatches(const float *a, const float *b, long n) {
    long bad = 0;
    for (long i = 0; i < n; i++) bad += !(a[i] == b[i]) && !(isnan(a[i]) && isnan(b[i]));
    return bad;
}

static const char *act_names[5] = {"identity", "relu", "leaky", "silu", "sigmoid"};

// A u8 map as U8MapLayout lays it out: groups of 4 channels, each a (h + 2) x (w + 2) plane of
// words rounded up to 16 words, with GUARD words before and after (products read past a plane's
// ends for border columns they drop).
enum { GUARD = 16 };
typedef struct {
    long channels, h, w, groups, wp, stride, total;  // total: words including both guards
    uint32_t *base, *words;                           // words: group 0's plane
} u8map;

static u8map new_map(long channels, long h, long w, uint32_t fill) {
    u8map m = {channels, h, w, (channels + 3) / 4, w + 2, ((h + 2) * (w + 2) + 15) / 16 * 16, 0, 0, 0};
    m.total = m.groups * m.stride + 2 * GUARD;
    m.base = allocate(sizeof(uint32_t) * (size_t)m.total);
    for (long i = 0; i < m.total; i++) m.base[i] = fill;
    m.words = m.base + GUARD;
    return m;
}

static u8map copy_map(const u8map *m) {
    u8map c = *m;
    c.base = allocate(sizeof(uint32_t) * (size_t)m->total);
    memcpy(c.base, m->base, sizeof(uint32_t) * (size_t)m->total);
    c.words = c.base + GUARD;
    return c;
}

static uint32_t *word_at(const u8map *m, long g, long y, long x) { return m->words + g * m->stride + (y + 1) * m->wp + x + 1; }

static int code_at(const u8map *m, long c, long y, long x) { return (int)(*word_at(m, c / 4, y, x) >> (8 * (c % 4)) & 255); }

static uint32_t splat(int code) { return (uint32_t)code * 0x01010101u; }

// Random codes inside, the zero point word on the border (and in channels past `channels`).
static u8map random_map(long channels, long h, long w, int zero) {
    u8map m = new_map(channels, h, w, next_random());
    for (long g = 0; g < m.groups; g++)
        for (long y = -1; y <= h; y++)
            for (long x = -1; x <= w; x++) {
                uint32_t word = splat(zero);
                if (y >= 0 && y < h && x >= 0 && x < w)
                    for (int t = 0; t < 4 && 4 * g + t < channels; t++) {
                        word &= ~(255u << (8 * t));
                        word |= (uint32_t)random_int(0, 255) << (8 * t);
                    }
                *word_at(&m, g, y, x) = word;
            }
    return m;
}

// The direct form's rounding: rintf, as the Swift reference's .toNearestOrEven, after the clamp.
static int direct_code(float v, float inv, int zero) {
    float t = v * inv;
    t = t < (float)-zero ? (float)-zero : t > (float)(255 - zero) ? (float)(255 - zero) : t;
    return (int)rintf(t) + zero;
}

// MARK: the product

typedef struct {
    long channels, filters, kernel, stride, height, width;
} conv_shape;

// Weight classes: the largest |weight| (the AVX2 level sums 4, 2 or 1 k groups in int16 below
// 16, 32, 64, and widens above), and packed 4-bit codes.
enum { W8 = 0, W64, W32, W16, PACKED4, WEIGHT_CLASSES };
static const char *weight_names[WEIGHT_CLASSES] = {"s8", "|w|<=64", "|w|<=32", "|w|<=16", "4-bit"};
static const int weight_bound[WEIGHT_CLASSES] = {128, 64, 32, 16, 15};

typedef struct {
    conv_shape s;
    long cp, k, kgroups, oh, ow;
    int zero_in, zero_out, act, u8out;
    float slope, inv_out;
    u8map input, phases;
    const uint32_t *x;   // the product's input: the map, or the phase planes
    long *offsets;
    int8_t *w;            // dense rows [F][K] (null for packed)
    uint8_t *codes;       // packed 4-bit rows (null for dense)
    int8_t *code_offset, *integers;  // integers: [F][K] either way, for the direct form
    int32_t *corr;
    float *scale, *bias;
} gemm_problem;

static gemm_problem make_problem(conv_shape s, int wclass, int act, int u8out, const cvm_int8_kernels *plain) {
    gemm_problem p;
    memset(&p, 0, sizeof p);
    p.s = s;
    p.cp = (s.channels + 3) / 4 * 4;
    p.k = s.kernel * s.kernel * p.cp;
    p.kgroups = p.k / 4;
    const long pad = s.kernel / 2;
    p.oh = (s.height + 2 * pad - s.kernel) / s.stride + 1;
    p.ow = (s.width + 2 * pad - s.kernel) / s.stride + 1;
    p.zero_in = random_int(0, 255);
    p.zero_out = random_int(20, 120);
    p.act = act;
    p.slope = act == CVM_ACT_LEAKY ? 0.1f : 0;
    p.u8out = u8out;
    p.input = random_map(s.channels, s.height, s.width, p.zero_in);
    p.x = p.input.words;
    p.offsets = allocate(sizeof(long) * (size_t)p.kgroups);
    const long groups = p.cp / 4;
    if (s.stride == 1) {
        for (long i = 0; i < s.kernel; i++)
            for (long j = 0; j < s.kernel; j++)
                for (long g = 0; g < groups; g++)
                    p.offsets[(i * s.kernel + j) * groups + g] =
                        g * p.input.stride + (i - pad) * p.input.wp + (j - pad);
    } else {
        // Phase planes of the output's shape (Int8ConvKernel.columnOffsets): tap i reads row
        // a - 1 of the odd phase (i = 0), row a of the even (1) and odd (2) ones; so for columns.
        p.phases = new_map(4 * p.cp, p.oh, p.ow, 0xDEADBEEF);
        const long phase_stride = groups * p.phases.stride;
        plain->phase_split(p.input.words, p.input.stride, s.height, s.width, 0, groups, splat(p.zero_in), p.phases.words,
                           phase_stride, p.phases.stride);
        static const int parity[3] = {1, 0, 1}, shift[3] = {-1, 0, 0};
        for (long i = 0; i < 3; i++)
            for (long j = 0; j < 3; j++)
                for (long g = 0; g < groups; g++)
                    p.offsets[(i * 3 + j) * groups + g] = (2 * parity[i] + parity[j]) * phase_stride
                                                          + g * p.phases.stride + shift[i] * p.phases.wp + shift[j];
        p.x = p.phases.words;
    }
    const long f = s.filters;
    p.integers = allocate((size_t)(f * p.k));
    p.corr = allocate(sizeof(int32_t) * (size_t)f);
    p.scale = allocate(sizeof(float) * (size_t)f);
    p.bias = allocate(sizeof(float) * (size_t)f);
    const int m = weight_bound[wclass];
    if (wclass == PACKED4) {
        p.codes = allocate((size_t)(f * p.k / 2));
        p.code_offset = allocate((size_t)f);
        memset(p.codes, 0, (size_t)(f * p.k / 2));
    } else {
        p.w = p.integers;
    }
    for (long fi = 0; fi < f; fi++) {
        const int offset = wclass == PACKED4 ? random_int(0, 15) : 0;
        if (p.code_offset) p.code_offset[fi] = (int8_t)offset;
        int32_t sum = 0;
        for (long kk = 0; kk < p.k; kk++) {
            const int real = kk % p.cp < s.channels;  // channel padding: weight 0 (code = offset)
            int q;
            if (wclass == PACKED4) {
                const int code = real ? random_int(0, 15) : offset;
                p.codes[(fi * p.k + kk) / 2] |= (uint8_t)(code << (4 * ((fi * p.k + kk) & 1)));
                q = code - offset;
            } else {
                q = real ? random_int(-m, m < 128 ? m : 127) : 0;
            }
            p.integers[fi * p.k + kk] = (int8_t)q;
            sum += q;
        }
        p.corr[fi] = p.zero_in * sum;
        // Values around +-3, so that the output grid's codes are mostly inside (some clamp).
        p.scale[fi] = 3.0f / (128.0f * (float)m * sqrtf((float)p.k) * 0.35f) * random_float(0.5f, 1.5f);
        p.bias[fi] = random_float(-1, 1);
    }
    p.inv_out = 255.0f / 7.0f;  // the grid of [-2, 5]
    return p;
}

static void free_problem(gemm_problem *p) {
    free(p->input.base), free(p->phases.base), free(p->offsets), free(p->integers), free(p->codes);
    free(p->code_offset), free(p->corr), free(p->scale), free(p->bias);
}

// Where a run's output goes: a u8 map of the output's shape (every word first `fill`), or FP32
// planes (every float first 7).
typedef struct {
    u8map map;
    float *y;
    long floats;
} gemm_output;

static gemm_output new_output(const gemm_problem *p) {
    gemm_output o;
    memset(&o, 0, sizeof o);
    if (p->u8out) {
        o.map = new_map(p->s.filters, p->oh, p->ow, 0xA5A5A5A5);
    } else {
        o.floats = p->s.filters * p->oh * p->ow;
        o.y = allocate(sizeof(float) * (size_t)o.floats);
        for (long i = 0; i < o.floats; i++) o.y[i] = 7;
    }
    return o;
}

// Runs `k`'s product over filters [f0, f1) x columns [q0, q1).
static void run_gemm(const cvm_int8_kernels *k, const gemm_problem *p, gemm_output *o, long f0, long f1, long q0,
                     long q1) {
    cvm_q8_output out;
    memset(&out, 0, sizeof out);
    out.padded_width = p->ow + 2;
    out.width = p->ow;
    if (p->u8out) {
        out.kind = CVM_Q8_U8;
        out.words = o->map.words;
        out.group_stride = o->map.stride;
        out.inv_scale = p->inv_out;
        out.zero = p->zero_out;
    } else {
        out.kind = CVM_Q8_F32;
        out.y = o->y;
        out.plane = p->oh * p->ow;
    }
    int8_t *wbuf = allocate((size_t)(8 * p->k));
    k->gemm(p->x, p->offsets, p->kgroups, p->w, p->k, p->codes, p->code_offset, wbuf, p->corr, p->scale, p->bias, f0,
            f1, q0, q1, p->act, p->slope, &out);
    free(wbuf);
}

static long output_mismatches(const gemm_problem *p, const gemm_output *a, const gemm_output *b) {
    return p->u8out ? count_word_mismatches(a->map.base, b->map.base, a->map.total)
                    : count_float_mismatches(a->y, b->y, a->floats);
}

// The plain level's output against the convolution from its definition.
static long direct_mismatches(const gemm_problem *p, const gemm_output *o) {
    const conv_shape s = p->s;
    const long pad = s.kernel / 2;
    long bad = 0;
    for (long f = 0; f < s.filters; f++)
        for (long oy = 0; oy < p->oh; oy++)
            for (long ox = 0; ox < p->ow; ox++) {
                int32_t acc = 0;
                for (long i = 0; i < s.kernel; i++)
                    for (long j = 0; j < s.kernel; j++) {
                        const long iy = oy * s.stride - pad + i, ix = ox * s.stride - pad + j;
                        const int inside = iy >= 0 && iy < s.height && ix >= 0 && ix < s.width;
                        for (long c = 0; c < s.channels; c++) {
                            const int u = inside ? code_at(&p->input, c, iy, ix) : p->zero_in;
                            acc += u * p->integers[f * p->k + (i * s.kernel + j) * p->cp + c];
                        }
                    }
                const float v = cvm_finish_scalar((float)(acc - p->corr[f]) * p->scale[f], p->bias[f], p->act, p->slope);
                if (p->u8out) bad += code_at(&o->map, f, oy, ox) != direct_code(v, p->inv_out, p->zero_out);
                else bad += !(o->y[(f * p->oh + oy) * p->ow + ox] == v);
            }
    if (p->u8out) {
        // Interior rows' border columns hold the zero point (and channels past F in the last group).
        const u8map *m = &o->map;
        for (long g = 0; g < m->groups; g++)
            for (long y = 0; y < p->oh; y++) {
                bad += *word_at(m, g, y, -1) != splat(p->zero_out);
                bad += *word_at(m, g, y, p->ow) != splat(p->zero_out);
                for (long x = 0; x < p->ow; x++)
                    for (long c = s.filters; c < 4 * (g + 1); c++)
                        if (c >= 4 * g) bad += code_at(m, c, y, x) != p->zero_out;
            }
    }
    return bad;
}

static void check_gemm(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain, int is_plain) {
    static const conv_shape shapes[] = {
        {3, 5, 3, 1, 13, 11},  {6, 13, 1, 1, 9, 7},   {8, 16, 3, 2, 20, 17},  {17, 11, 3, 1, 6, 50},
        {32, 19, 3, 1, 30, 29}, {4, 4, 1, 1, 5, 1},   {12, 6, 3, 2, 7, 5},    {64, 24, 3, 2, 21, 23},
        {40, 36, 1, 1, 16, 16},
    };
    const int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int si = 0; si < nshapes; si++)
        for (int wclass = 0; wclass < WEIGHT_CLASSES; wclass++)
            for (int u8out = 1; u8out >= 0; u8out--) {
                const conv_shape s = shapes[si];
                const int act = (si + wclass + u8out) % 5;
                seed((unsigned long long)(si * 100 + wclass * 10 + u8out));
                gemm_problem p = make_problem(s, wclass, act, u8out, plain);
                const long wp = p.ow + 2, c0 = wp, c1 = (p.oh + 1) * wp;
                // The level over the work split as the engine's tasks split it (filter blocks at
                // multiples of 4, a column split inside a row), the plain level in one call.
                gemm_output got = new_output(&p), want = new_output(&p);
                const long fs = s.filters > 8 ? 8 : s.filters > 4 ? 4 : s.filters, qs = c0 + (c1 - c0) / 3 + 1;
                run_gemm(k, &p, &got, 0, fs, c0, qs);
                run_gemm(k, &p, &got, fs, s.filters, c0, qs);
                run_gemm(k, &p, &got, 0, s.filters, qs, c1);
                run_gemm(plain, &p, &want, 0, s.filters, c0, c1);
                char shape[96];
                snprintf(shape, sizeof shape, "C%ld F%ld %ldx%ld s%ld %ldx%ld %s %s %s", s.channels, s.filters, s.kernel,
                         s.kernel, s.stride, s.height, s.width, weight_names[wclass], u8out ? "u8" : "f32", act_names[act]);
                report(level, "q8_gemm", shape, (double)output_mismatches(&p, &got, &want), 0);
                if (is_plain) report(level, "q8_gemm vs direct", shape, (double)direct_mismatches(&p, &want), 0);
                free(got.map.base), free(got.y), free(want.map.base), free(want.y);
                free_problem(&p);
            }
}

static void check_unpack4(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain) {
    static const long counts[] = {2, 30, 64, 300, 1000};
    for (int ci = 0; ci < 5; ci++)
        for (int offset = 0; offset <= 15; offset += 7) {
            const long n = counts[ci];
            seed((unsigned long long)(ci * 16 + offset));
            uint8_t *codes = allocate((size_t)n / 2);
            for (long i = 0; i < n / 2; i++) codes[i] = (uint8_t)random_int(0, 255);
            int8_t got[1000], want[1000];
            k->unpack4(codes, n, offset, got);
            plain->unpack4(codes, n, offset, want);
            long bad = 0;
            for (long i = 0; i < n; i++)
                bad += got[i] != want[i] || want[i] != (int8_t)(((codes[i / 2] >> (4 * (i & 1))) & 15) - offset);
            char shape[64];
            snprintf(shape, sizeof shape, "%ld codes offset %d", n, offset);
            report(level, "int8_unpack4", shape, (double)bad, 0);
            free(codes);
        }
}

// MARK: the map kernels

static const long map_shapes[][3] = {{3, 7, 9}, {5, 6, 33}, {13, 11, 16}, {8, 20, 20}, {4, 1, 1}, {6, 9, 67}, {2, 2, 2}};
#define MAP_SHAPES ((int)(sizeof map_shapes / sizeof map_shapes[0]))

static void map_report(const char *level, const char *kernel, long c, long h, long w, const char *extra, long bad) {
    char shape[64];
    snprintf(shape, sizeof shape, "C%ld %ldx%ld%s", c, h, w, extra);
    report(level, kernel, shape, (double)bad, 0);
}

static void check_quantize(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain, int is_plain) {
    for (int si = 0; si < MAP_SHAPES; si++) {
        const long c = map_shapes[si][0], h = map_shapes[si][1], w = map_shapes[si][2];
        seed((unsigned long long)si + 500);
        float *x = allocate(sizeof(float) * (size_t)(c * h * w));
        // Mostly inside the grid of [-0.6, 2.2], some far outside, some exactly on half steps.
        for (long i = 0; i < c * h * w; i++) x[i] = i % 31 == 0 ? random_float(-9, 9) : random_float(-0.7f, 2.4f);
        const float scale = 2.8f / 255, inv = 1 / scale;
        const int zero = 55;
        for (long i = 0; i < c * h * w; i += 17) x[i] = ((float)random_int(-60, 200) + 0.5f) * scale;
        u8map got = new_map(c, h, w, 0x5A5A5A5A), want = copy_map(&got);
        // Rows in two calls, as the engine splits the network input among workers.
        const long groups = got.groups, split = h / 2;
        k->quantize(x, c, h, w, 0, split, inv, zero, 0, groups, got.words, got.stride);
        k->quantize(x, c, h, w, split, h, inv, zero, 0, groups, got.words, got.stride);
        plain->quantize(x, c, h, w, 0, h, inv, zero, 0, groups, want.words, want.stride);
        map_report(level, "q8_quantize", c, h, w, "", count_word_mismatches(got.base, want.base, got.total));
        if (is_plain) {
            long bad = 0;
            for (long g = 0; g < groups; g++)
                for (long y = -1; y <= h; y++)
                    for (long xx = -1; xx <= w; xx++)
                        for (int t = 0; t < 4; t++) {
                            const long ch = 4 * g + t;
                            const int inside = y >= 0 && y < h && xx >= 0 && xx < w && ch < c;
                            const int expected = inside ? direct_code(x[(ch * h + y) * w + xx], inv, zero) : zero;
                            bad += (int)(*word_at(&want, g, y, xx) >> (8 * t) & 255) != expected;
                        }
            map_report(level, "q8_quantize vs direct", c, h, w, "", bad);
        }
        free(x), free(got.base), free(want.base);
    }
}

static void check_dequantize(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain, int is_plain) {
    for (int si = 0; si < MAP_SHAPES; si++) {
        const long c = map_shapes[si][0], h = map_shapes[si][1], w = map_shapes[si][2];
        seed((unsigned long long)si + 600);
        const int zero = 77;
        const float scale = 0.0123f;
        u8map m = random_map(c, h, w, zero);
        float *got = allocate(sizeof(float) * (size_t)(c * h * w)), *want = allocate(sizeof(float) * (size_t)(c * h * w));
        k->dequantize(m.words, m.stride, c, h, w, scale, zero, 0, m.groups, got);
        plain->dequantize(m.words, m.stride, c, h, w, scale, zero, 0, m.groups, want);
        map_report(level, "q8_dequantize", c, h, w, "", count_float_mismatches(got, want, c * h * w));
        if (is_plain) {
            long bad = 0;
            for (long ch = 0; ch < c; ch++)
                for (long y = 0; y < h; y++)
                    for (long x = 0; x < w; x++)
                        bad += !(want[(ch * h + y) * w + x] == scale * (float)(code_at(&m, ch, y, x) - zero));
            map_report(level, "q8_dequantize vs direct", c, h, w, "", bad);
        }
        free(m.base), free(got), free(want);
    }
}

// Bytewise max of the codes of channel c over rows [y0, y1] x columns [x0, x1] clamped to the map.
static int window_max(const u8map *m, long c, long y0, long y1, long x0, long x1) {
    int best = 0;
    for (long y = y0 < 0 ? 0 : y0; y <= y1 && y < m->h; y++)
        for (long x = x0 < 0 ? 0 : x0; x <= x1 && x < m->w; x++) {
            const int v = code_at(m, c, y, x);
            best = v > best ? v : best;
        }
    return best;
}

// Every word of `out` (all groups, border included) against `expected(y, x, c)` for interior
// pixels and the zero point elsewhere.
typedef int (*pixel_rule)(const u8map *in, long c, long y, long x, long r);

static long map_against(const u8map *in, const u8map *out, int zero, pixel_rule rule, long r) {
    long bad = 0;
    for (long g = 0; g < out->groups; g++)
        for (long y = -1; y <= out->h; y++)
            for (long x = -1; x <= out->w; x++)
                for (int t = 0; t < 4; t++) {
                    const long c = 4 * g + t;
                    const int inside = y >= 0 && y < out->h && x >= 0 && x < out->w;
                    // Channels past the map's in a partial group pool / copy the zero point.
                    const int expected = !inside ? zero : c < in->channels ? rule(in, c, y, x, r) : zero;
                    bad += (int)(*word_at(out, g, y, x) >> (8 * t) & 255) != expected;
                }
    return bad;
}

static int pool2_rule(const u8map *in, long c, long y, long x, long r) {
    (void)r;
    return window_max(in, c, 2 * y, 2 * y + 1, 2 * x, 2 * x + 1);
}

static int pool_same_rule(const u8map *in, long c, long y, long x, long r) { return window_max(in, c, y - r, y + r, x - r, x + r); }

static int upsample_rule(const u8map *in, long c, long y, long x, long r) {
    (void)r;
    return code_at(in, c, y / 2, x / 2);
}

static void check_pools(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain, int is_plain) {
    for (int si = 0; si < MAP_SHAPES; si++) {
        const long c = map_shapes[si][0], h = map_shapes[si][1], w = map_shapes[si][2];
        seed((unsigned long long)si + 700);
        const int zero = 33;
        u8map in = random_map(c, h, w, zero);
        // Plateaus of equal codes and the extremes beside the random ones.
        for (long g = 0; g < in.groups; g++)
            for (long y = 0; y < h; y++)
                for (long x = 0; x < w; x += 3)
                    for (int t = 0; t < 4 && 4 * g + t < c; t++) {
                        uint32_t *word = word_at(&in, g, y, x);
                        *word = (*word & ~(255u << (8 * t))) | (uint32_t)((y + x + t) % 2 ? 255 : 127) << (8 * t);
                    }
        const uint32_t zw = splat(zero);
        if (h >= 2 && w >= 2) {
            u8map got = new_map(c, h / 2, w / 2, 0xC3C3C3C3), want = copy_map(&got);
            k->maxpool2x2(in.words, in.stride, h, w, 0, in.groups, zw, got.words, got.stride);
            plain->maxpool2x2(in.words, in.stride, h, w, 0, in.groups, zw, want.words, want.stride);
            map_report(level, "q8_maxpool2x2", c, h, w, "", count_word_mismatches(got.base, want.base, got.total));
            if (is_plain) map_report(level, "q8_maxpool2x2 vs direct", c, h, w, "", map_against(&in, &want, zero, pool2_rule, 0));
            free(got.base), free(want.base);
        }
        for (long r = 1; r <= 6; r += r == 1 ? 1 : 4) {  // SPPCSPC's kernels 5, 9, 13 and MP's 3
            u8map got = new_map(c, h, w, 0xC3C3C3C3), want = copy_map(&got);
            k->maxpool_same(in.words, in.stride, h, w, r, 0, in.groups, zw, got.words, got.stride);
            plain->maxpool_same(in.words, in.stride, h, w, r, 0, in.groups, zw, want.words, want.stride);
            char extra[16];
            snprintf(extra, sizeof extra, " k%ld", 2 * r + 1);
            map_report(level, "q8_maxpool_same", c, h, w, extra, count_word_mismatches(got.base, want.base, got.total));
            if (is_plain)
                map_report(level, "q8_maxpool_same vs direct", c, h, w, extra, map_against(&in, &want, zero, pool_same_rule, r));
            free(got.base), free(want.base);
        }
        {
            u8map got = new_map(c, 2 * h, 2 * w, 0xC3C3C3C3), want = copy_map(&got);
            k->upsample2x(in.words, in.stride, h, w, 0, in.groups, zw, got.words, got.stride);
            plain->upsample2x(in.words, in.stride, h, w, 0, in.groups, zw, want.words, want.stride);
            map_report(level, "q8_upsample2x", c, h, w, "", count_word_mismatches(got.base, want.base, got.total));
            if (is_plain) map_report(level, "q8_upsample2x vs direct", c, h, w, "", map_against(&in, &want, zero, upsample_rule, 0));
            free(got.base), free(want.base);
        }
        {
            // Border rows of an output map whose interior a product wrote.
            u8map got = copy_map(&in), want = copy_map(&in);
            k->fill_border_rows(got.words, got.stride, h, w, 0, got.groups, 0x11223344u);
            plain->fill_border_rows(want.words, want.stride, h, w, 0, want.groups, 0x11223344u);
            long bad = count_word_mismatches(got.base, want.base, got.total);
            if (is_plain)
                for (long g = 0; g < want.groups; g++)
                    for (long x = -1; x <= w; x++)
                        bad += *word_at(&want, g, -1, x) != 0x11223344u || *word_at(&want, g, h, x) != 0x11223344u;
            map_report(level, "q8_fill_border_rows", c, h, w, "", bad);
            free(got.base), free(want.base);
        }
        free(in.base);
    }
}

static void check_phase_split(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain, int is_plain) {
    for (int si = 0; si < MAP_SHAPES; si++) {
        const long c = map_shapes[si][0], h = map_shapes[si][1], w = map_shapes[si][2];
        seed((unsigned long long)si + 800);
        const int zero = 200;
        u8map in = random_map(c, h, w, zero);
        const long oh = (h - 1) / 2 + 1, ow = (w - 1) / 2 + 1;
        u8map got = new_map(16 * in.groups, oh, ow, 0x99999999u), want = copy_map(&got);  // 4 phases of in.groups groups
        const long phase_stride = in.groups * got.stride;
        k->phase_split(in.words, in.stride, h, w, 0, in.groups, splat(zero), got.words, phase_stride, got.stride);
        plain->phase_split(in.words, in.stride, h, w, 0, in.groups, splat(zero), want.words, phase_stride, want.stride);
        map_report(level, "q8_phase_split", c, h, w, "", count_word_mismatches(got.base, want.base, got.total));
        if (is_plain) {
            long bad = 0;
            for (int phase = 0; phase < 4; phase++)
                for (long g = 0; g < in.groups; g++)
                    for (long a = -1; a <= oh; a++)
                        for (long b = -1; b <= ow; b++) {
                            const long iy = 2 * a + phase / 2, ix = 2 * b + phase % 2;
                            const int inside = a >= 0 && a < oh && b >= 0 && b < ow && iy < h && ix < w;
                            const uint32_t expected = inside ? *word_at(&in, g, iy, ix) : splat(zero);
                            bad += *word_at(&want, phase * in.groups + g, a, b) != expected;
                        }
            map_report(level, "q8_phase_split vs direct", c, h, w, "", bad);
        }
        free(in.base), free(got.base), free(want.base);
    }
}

// MARK: levels

static void check_int8_level(const char *level, const cvm_int8_kernels *k, const cvm_int8_kernels *plain, int is_plain) {
    check_gemm(level, k, plain, is_plain);
    check_unpack4(level, k, plain);
    check_quantize(level, k, plain, is_plain);
    check_dequantize(level, k, plain, is_plain);
    check_phase_split(level, k, plain, is_plain);
    check_pools(level, k, plain, is_plain);
}

static const cvm_int8_kernels dispatched_int8 = {
    cvm_q8_gemm,       cvm_int8_unpack4,        cvm_q8_quantize,      cvm_q8_dequantize, cvm_q8_phase_split,
    cvm_q8_fill_border_rows, cvm_q8_maxpool2x2, cvm_q8_maxpool_same, cvm_q8_upsample2x,
};

void check_int8_levels(void) {
    const cvm_int8_kernels *plain = cvm_int8_kernels_at(CVM_INT8_PLAIN);
    for (int level = 0; level < CVM_INT8_COUNT; level++) {
        const cvm_int8_kernels *k = cvm_int8_kernels_at(level);
        if (k) check_int8_level(cvm_int8_name(level), k, plain, level == CVM_INT8_PLAIN);
    }
    check_int8_level("dispatch", &dispatched_int8, plain, 0);
}
