// The run-time choice of kernel level (CVectorMathDispatch.h): the CPU is examined once, the
// level capped by YOLOV7_ISA, and every public entry point calls that level's implementation
// through its table. Explicit per-level functions instead of target_clones, whose choice no
// environment variable can cap.
#include "Kernels.h"
#include "Int8Kernels.h"
#include "CVectorMathDispatch.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

// MARK: per-level tables

#define TABLE(level)                                                                                         \
    {                                                                                                        \
        cvm_bias_activate_##level, cvm_winograd_weights_##level, cvm_decode_filter_##level,                \
            cvm_im2col_##level, cvm_pointwise_##level, cvm_winograd4_weights_##level,                       \
            cvm_winograd4_input_##level, cvm_winograd4_output_##level, cvm_winograd_s2_input_##level,        \
            cvm_winograd_s2_weights_##level, cvm_winograd_s2_output_##level, cvm_maxpool2x2_##level,         \
            cvm_maxpool_same_##level, cvm_upsample_nearest_##level, cvm_grid_rows_##level                   \
    }

static const cvm_fp32_kernels plain_kernels = TABLE(plain);
#if defined(__x86_64__)
static const cvm_fp32_kernels avx2_kernels = TABLE(avx2);
static const cvm_fp32_kernels avx512_kernels = TABLE(avx512);
#endif
#if defined(__aarch64__)
// The loops that vectorize by themselves are plain C here: NEON is part of every aarch64 target.
static const cvm_fp32_kernels neon_kernels = {
    cvm_bias_activate_neon, cvm_winograd_weights_plain, cvm_decode_filter_plain, cvm_im2col_plain,
    cvm_pointwise_neon, cvm_winograd4_weights_plain, cvm_winograd4_input_neon, cvm_winograd4_output_neon,
    cvm_winograd_s2_input_neon, cvm_winograd_s2_weights_plain, cvm_winograd_s2_output_neon, cvm_maxpool2x2_neon,
    cvm_maxpool_same_plain, cvm_upsample_nearest_plain, cvm_grid_rows_plain,
};
#endif

// The int8 levels' tables: each level's product and its map kernels' vector rows (Int8Maps.c);
// the map kernels without vector rows are the plain ones everywhere.
#define INT8_TABLE(gemm, unpack, maps)                                                                      \
    {                                                                                                        \
        gemm, unpack, cvm_q8_quantize_##maps, cvm_q8_dequantize_plain, cvm_q8_phase_split_##maps,          \
            cvm_q8_fill_border_rows_plain, cvm_q8_maxpool2x2_##maps, cvm_q8_maxpool_same_##maps,            \
            cvm_q8_upsample2x_##maps                                                                         \
    }

static const cvm_int8_kernels int8_plain = INT8_TABLE(cvm_q8_gemm_plain, cvm_int8_unpack4_plain, plain);
#if defined(__x86_64__)
static const cvm_int8_kernels int8_avx2 = INT8_TABLE(cvm_q8_gemm_avx2, cvm_int8_unpack4_avx2, avx2);
static const cvm_int8_kernels int8_avxvnni = INT8_TABLE(cvm_q8_gemm_avxvnni, cvm_int8_unpack4_avx2, avx2);
static const cvm_int8_kernels int8_avx512vnni = INT8_TABLE(cvm_q8_gemm_avx512vnni, cvm_int8_unpack4_avx512, avx512);
#endif
#if defined(__aarch64__)
static const cvm_int8_kernels int8_neon = INT8_TABLE(cvm_q8_gemm_neon, cvm_int8_unpack4_neon, neon);
static const cvm_int8_kernels int8_neon_dotprod = INT8_TABLE(cvm_q8_gemm_neon_dotprod, cvm_int8_unpack4_neon, neon);
#endif

// MARK: detecting the CPU

typedef struct {
    int cpu_level, cpu_features;  // what the CPU has
    int level, features;          // what runs (after YOLOV7_ISA)
    char problem[200];            // what was wrong with YOLOV7_ISA, or ""
} isa_state;

static void detect_cpu(isa_state *s) {
    s->cpu_level = CVM_ISA_PLAIN;
    s->cpu_features = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) s->cpu_level = CVM_ISA_AVX2;
    if (s->cpu_level == CVM_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        s->cpu_level = CVM_ISA_AVX512;
    if (s->cpu_level == CVM_ISA_AVX512 && __builtin_cpu_supports("avx512vnni"))
        s->cpu_features |= CVM_FEATURE_AVX512VNNI;
#if defined(__clang__) && __clang_major__ >= 14 || !defined(__clang__) && __GNUC__ >= 11
    if (s->cpu_level >= CVM_ISA_AVX2 && __builtin_cpu_supports("avxvnni")) s->cpu_features |= CVM_FEATURE_AVXVNNI;
#endif
#elif defined(__aarch64__)
    s->cpu_level = CVM_ISA_NEON;
#if defined(__linux__)
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) s->cpu_features |= CVM_FEATURE_DOTPROD;
#elif defined(__APPLE__)
    int dotprod = 0;
    size_t size = sizeof dotprod;
    if (sysctlbyname("hw.optional.arm.FEAT_DotProd", &dotprod, &size, NULL, 0) == 0 && dotprod)
        s->cpu_features |= CVM_FEATURE_DOTPROD;
#endif
#endif
}

// The features a level may use.
static int features_of_level(int level) {
    switch (level) {
    case CVM_ISA_AVX512: return CVM_FEATURE_AVX512VNNI | CVM_FEATURE_AVXVNNI;
    case CVM_ISA_AVX2: return CVM_FEATURE_AVXVNNI;
    case CVM_ISA_NEON: return CVM_FEATURE_DOTPROD;
    default: return 0;
    }
}

// The level a name stands for on this architecture, or -1. "plain" and "baseline" both name
// the lowest level everywhere.
static int level_named(const char *name, size_t length) {
    static const struct { const char *name; int level; } names[] = {
        {"plain", CVM_ISA_PLAIN}, {"baseline", CVM_ISA_PLAIN},
#if defined(__x86_64__)
        {"avx2", CVM_ISA_AVX2},   {"avx512", CVM_ISA_AVX512},
#elif defined(__aarch64__)
        {"neon", CVM_ISA_NEON},
#endif
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == length && strncmp(names[i].name, name, length) == 0) return names[i].level;
    return -1;
}

static const char *accepted_values(void) {
#if defined(__x86_64__)
    return "avx512, avx2 or baseline, optionally followed by ,no-vnni";
#elif defined(__aarch64__)
    return "neon or plain, optionally followed by ,no-dotprod";
#else
    return "plain";
#endif
}

// YOLOV7_ISA = LEVEL[,no-FEATURE...]: the level is a cap; no-vnni removes both VNNI features,
// no-dotprod the dot-product one (so the int8 fallbacks can be tested on CPUs that have them).
static void apply_request(isa_state *s, const char *request) {
    s->level = s->cpu_level;
    s->features = s->cpu_features;
    s->problem[0] = 0;
    if (!request || !*request) return;
    const char *comma = strchr(request, ',');
    const size_t length = comma ? (size_t)(comma - request) : strlen(request);
    const int asked = level_named(request, length);
    int removed = 0, bad = asked < 0;
    for (const char *p = comma; p && !bad; p = strchr(p + 1, ',')) {
        const char *end = strchr(p + 1, ',');
        const size_t n = end ? (size_t)(end - p - 1) : strlen(p + 1);
        if (n == 7 && strncmp(p + 1, "no-vnni", n) == 0) removed |= CVM_FEATURE_AVX512VNNI | CVM_FEATURE_AVXVNNI;
        else if (n == 10 && strncmp(p + 1, "no-dotprod", n) == 0) removed |= CVM_FEATURE_DOTPROD;
        else bad = 1;
    }
    if (bad) {
        snprintf(s->problem, sizeof s->problem, "YOLOV7_ISA=%s is not %s", request, accepted_values());
        return;
    }
    if (asked > s->cpu_level) {
        snprintf(s->problem, sizeof s->problem, "YOLOV7_ISA=%s asks for more than this CPU has (%s)", request,
                 cvm_isa_name(s->cpu_level));
    } else {
        s->level = asked;
    }
    s->features &= features_of_level(s->level) & ~removed;
}

// Filled once; racing first callers compute the same thing, and `ready` is set after the rest.
static isa_state state;
static int ready;

static const isa_state *current(void) {
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        isa_state s;
        detect_cpu(&s);
        apply_request(&s, getenv("YOLOV7_ISA"));
        state = s;
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    return &state;
}

// The best int8 level a kernel level with these features runs (CVectorMathDispatch.h).
static int int8_level_of(int level, int features) {
    switch (level) {
    case CVM_ISA_AVX512:
        if (features & CVM_FEATURE_AVX512VNNI) return CVM_INT8_AVX512VNNI;
        return features & CVM_FEATURE_AVXVNNI ? CVM_INT8_AVXVNNI : CVM_INT8_AVX2;
    case CVM_ISA_AVX2: return features & CVM_FEATURE_AVXVNNI ? CVM_INT8_AVXVNNI : CVM_INT8_AVX2;
    case CVM_ISA_NEON: return features & CVM_FEATURE_DOTPROD ? CVM_INT8_NEON_DOTPROD : CVM_INT8_NEON;
    default: return CVM_INT8_PLAIN;
    }
}

int cvm_isa_level(void) { return current()->level; }
int cvm_isa_features(void) { return current()->features; }
int cvm_isa_cpu_level(void) { return current()->cpu_level; }
const char *cvm_isa_request_problem(void) { return current()->problem[0] ? current()->problem : NULL; }

int cvm_isa_supported(int level) {
    if (level == CVM_ISA_PLAIN) return 1;
#if defined(__x86_64__)
    return (level == CVM_ISA_AVX2 || level == CVM_ISA_AVX512) && level <= current()->cpu_level;
#elif defined(__aarch64__)
    return level == CVM_ISA_NEON;
#else
    return 0;
#endif
}

const char *cvm_isa_name(int level) {
    switch (level) {
#if defined(__x86_64__)
    case CVM_ISA_PLAIN: return "baseline";
#else
    case CVM_ISA_PLAIN: return "plain";
#endif
    case CVM_ISA_AVX2: return "avx2";
    case CVM_ISA_AVX512: return "avx512";
    case CVM_ISA_NEON: return "neon";
    default: return "?";
    }
}

const cvm_fp32_kernels *cvm_fp32_kernels_at(int level) {
    if (!cvm_isa_supported(level)) return NULL;
    switch (level) {
#if defined(__x86_64__)
    case CVM_ISA_AVX2: return &avx2_kernels;
    case CVM_ISA_AVX512: return &avx512_kernels;
#endif
#if defined(__aarch64__)
    case CVM_ISA_NEON: return &neon_kernels;
#endif
    default: return &plain_kernels;
    }
}

// MARK: int8 levels

int cvm_int8_level(void) { return int8_level_of(current()->level, current()->features); }

int cvm_int8_supported(int level) {
    const isa_state *s = current();
    switch (level) {
    case CVM_INT8_PLAIN: return 1;
#if defined(__x86_64__)
    case CVM_INT8_AVX2: return s->cpu_level >= CVM_ISA_AVX2;
    case CVM_INT8_AVXVNNI: return s->cpu_level >= CVM_ISA_AVX2 && (s->cpu_features & CVM_FEATURE_AVXVNNI);
    case CVM_INT8_AVX512VNNI: return s->cpu_level >= CVM_ISA_AVX512 && (s->cpu_features & CVM_FEATURE_AVX512VNNI);
#endif
#if defined(__aarch64__)
    case CVM_INT8_NEON: return 1;
    case CVM_INT8_NEON_DOTPROD: return !!(s->cpu_features & CVM_FEATURE_DOTPROD);
#endif
    default: return 0;
    }
}

const char *cvm_int8_name(int level) {
    switch (level) {
    case CVM_INT8_PLAIN: return cvm_isa_name(CVM_ISA_PLAIN);
    case CVM_INT8_AVX2: return "avx2";
    case CVM_INT8_AVXVNNI: return "avx2-vnni";
    case CVM_INT8_AVX512VNNI: return "avx512-vnni";
    case CVM_INT8_NEON: return "neon";
    case CVM_INT8_NEON_DOTPROD: return "neon-dotprod";
    default: return "?";
    }
}

const cvm_int8_kernels *cvm_int8_kernels_at(int level) {
    if (!cvm_int8_supported(level)) return NULL;
    switch (level) {
#if defined(__x86_64__)
    case CVM_INT8_AVX2: return &int8_avx2;
    case CVM_INT8_AVXVNNI: return &int8_avxvnni;
    case CVM_INT8_AVX512VNNI: return &int8_avx512vnni;
#endif
#if defined(__aarch64__)
    case CVM_INT8_NEON: return &int8_neon;
    case CVM_INT8_NEON_DOTPROD: return &int8_neon_dotprod;
#endif
    default: return &int8_plain;
    }
}

// MARK: the tables in effect

// The table of the level in effect.
static const cvm_fp32_kernels *active(void) {
    static const cvm_fp32_kernels *table;
    const cvm_fp32_kernels *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t) {
        t = cvm_fp32_kernels_at(cvm_isa_level());
        __atomic_store_n(&table, t, __ATOMIC_RELEASE);
    }
    return t;
}

// MARK: the public entry points

void cvm_bias_silu(float *p, long count, float bias) { active()->bias_activate(p, count, bias, CVM_ACT_SILU, 0); }

void cvm_bias_sigmoid(float *p, long count, float bias) {
    active()->bias_activate(p, count, bias, CVM_ACT_SIGMOID, 0);
}

void cvm_winograd_weights(const float *g, long count, float *u, long stride) {
    active()->winograd_weights(g, count, u, stride);
}

void cvm_decode_filter(const unsigned char *bytes, long byte_count, int bits, long first, long channels, long kernel,
                       const float *levels, long level_c, long level_k, float *out, long out_c, long out_k) {
    active()->decode_filter(bytes, byte_count, bits, first, channels, kernel, levels, level_c, level_k, out, out_c,
                            out_k);
}

void cvm_im2col(const float *x, long channels, long height, long width, long kh, long kw, long stride, long pad,
                long ow, long row0, long rows, float *col) {
    active()->im2col(x, channels, height, width, kh, kw, stride, pad, ow, row0, rows, col);
}

void cvm_pointwise(const float *x, long ldx, const float *w, long ldw, long channels, const float *bias, float *y,
                   long ldy, long f0, long f1, long p0, long p1, int act, float slope) {
    active()->pointwise(x, ldx, w, ldw, channels, bias, y, ldy, f0, f1, p0, p1, p1, act, slope);
}

void cvm_pointwise_prefetching(const float *x, long ldx, const float *w, long ldw, long channels, const float *bias,
                               float *y, long ldy, long f0, long f1, long p0, long p1, long prefetch_end, int act,
                               float slope) {
    active()->pointwise(x, ldx, w, ldw, channels, bias, y, ldy, f0, f1, p0, p1, prefetch_end, act, slope);
}

void cvm_winograd4_weights(const float *g, long count, float *u, long stride) {
    active()->winograd4_weights(g, count, u, stride);
}

void cvm_winograd4_input(const float *x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,
                         float *v, long ld, long pstride) {
    active()->winograd4_input(x, channels, h, w, ty0, ty1, tx0, tw, v, ld, pstride);
}

void cvm_winograd4_output(const float *m, long ld, long pstride, long filters, long ty0, long ty1, long tx0,
                          long tw, const float *bias, int act, float slope, float *y, long h, long w) {
    active()->winograd4_output(m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

void cvm_winograd_s2_input(const float *x, long channels, long h, long w, long ty0, long ty1, long tx0, long tw,
                           float *v, long ld, long phase_stride, long pstride) {
    active()->winograd_s2_input(x, channels, h, w, ty0, ty1, tx0, tw, v, ld, phase_stride, pstride);
}

void cvm_winograd_s2_weights(const float *g, long filters, long channels, long f0, long f1, float *u) {
    active()->winograd_s2_weights(g, filters, channels, f0, f1, u);
}

void cvm_winograd_s2_output(const float *m, long ld, long pstride, long filters, long ty0, long ty1, long tx0,
                            long tw, const float *bias, int act, float slope, float *y, long h, long w) {
    active()->winograd_s2_output(m, ld, pstride, filters, ty0, ty1, tx0, tw, bias, act, slope, y, h, w);
}

void cvm_maxpool2x2(const float *x, long width, long oh, long ow, float *y) {
    active()->maxpool2x2(x, width, oh, ow, y);
}

void cvm_maxpool_same(const float *x, long h, long w, long r, float *y, float *scratch) {
    active()->maxpool_same(x, h, w, r, y, scratch);
}

void cvm_upsample_nearest(const float *x, long h, long w, long scale, float *y) {
    active()->upsample_nearest(x, h, w, scale, y);
}

void cvm_grid_rows(const float *x, long plane, long w, long no, long y0, long y1, float anchor_w, float anchor_h,
                   float stride, float *rows) {
    active()->grid_rows(x, plane, w, no, y0, y1, anchor_w, anchor_h, stride, rows);
}

// MARK: the int8 entry points (CVectorMathInt8.h)

static const cvm_int8_kernels *active_int8(void) {
    static const cvm_int8_kernels *table;
    const cvm_int8_kernels *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!t) {
        t = cvm_int8_kernels_at(cvm_int8_level());
        __atomic_store_n(&table, t, __ATOMIC_RELEASE);
    }
    return t;
}

// cvm_q8_use_avx512(0): the map kernels run their plain loops (tests compare the two).
static int vector_maps = 1;

static const cvm_int8_kernels *active_maps(void) {
    return __atomic_load_n(&vector_maps, __ATOMIC_RELAXED) ? active_int8() : &int8_plain;
}

int cvm_int8_available(void) { return 1; }

void cvm_q8_use_avx512(int on) { __atomic_store_n(&vector_maps, !!on, __ATOMIC_RELAXED); }

void cvm_q8_gemm(const uint32_t *x, const long *offsets, long kgroups, const int8_t *w, long ldw, const uint8_t *codes,
                 const int8_t *code_offset, int8_t *wbuf, const int32_t *corr, const float *scale, const float *bias,
                 long f0, long f1, long q0, long q1, int act, float slope, const cvm_q8_output *out) {
    active_int8()->gemm(x, offsets, kgroups, w, ldw, codes, code_offset, wbuf, corr, scale, bias, f0, f1, q0, q1, act,
                        slope, out);
}

void cvm_int8_unpack4(const uint8_t *codes, long count, int offset, int8_t *out) {
    active_int8()->unpack4(codes, count, offset, out);
}

void cvm_q8_quantize(const float *x, long channels, long height, long width, long r0, long r1, float inv_scale,
                     int zero, long g0, long g1, uint32_t *words, long group_stride) {
    active_maps()->quantize(x, channels, height, width, r0, r1, inv_scale, zero, g0, g1, words, group_stride);
}

void cvm_q8_dequantize(const uint32_t *words, long group_stride, long channels, long height, long width, float scale,
                       int zero, long g0, long g1, float *y) {
    active_maps()->dequantize(words, group_stride, channels, height, width, scale, zero, g0, g1, y);
}

void cvm_q8_phase_split(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                        uint32_t zero_word, uint32_t *phases, long phase_stride, long group_stride) {
    active_maps()->phase_split(x, x_group_stride, height, width, g0, g1, zero_word, phases, phase_stride,
                               group_stride);
}

void cvm_q8_fill_border_rows(uint32_t *words, long group_stride, long height, long width, long g0, long g1,
                             uint32_t zero_word) {
    active_maps()->fill_border_rows(words, group_stride, height, width, g0, g1, zero_word);
}

void cvm_q8_maxpool2x2(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                       uint32_t zero_word, uint32_t *y, long y_group_stride) {
    active_maps()->maxpool2x2(x, x_group_stride, height, width, g0, g1, zero_word, y, y_group_stride);
}

void cvm_q8_maxpool_same(const uint32_t *x, long x_group_stride, long height, long width, long r, long g0, long g1,
                         uint32_t zero_word, uint32_t *y, long y_group_stride) {
    active_maps()->maxpool_same(x, x_group_stride, height, width, r, g0, g1, zero_word, y, y_group_stride);
}

void cvm_q8_upsample2x(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                       uint32_t zero_word, uint32_t *y, long y_group_stride) {
    active_maps()->upsample2x(x, x_group_stride, height, width, g0, g1, zero_word, y, y_group_stride);
}
