// The int8 product in plain C (any CPU; the reference every vector level is tested against) and
// the blocking that the AVX2 and NEON levels share with it: chunks of columns, blocks of 8
// filters (4-bit weights unpacked per block), a level's register tile inside. The tile here is
// 4 filters x 16 columns of int32 sums, each k group's 4 bytes of a word times the filter's 4
// weights, then the scalar epilogue (Int8Kernels.h), which every vector level equals lane by lane.
#include "Int8Kernels.h"

#define PLAIN_COLUMNS 16

void cvm_int8_unpack4_plain(const uint8_t *codes, long count, int offset, int8_t *out) {
    for (long n = 0; n < count; n += 2) {
        const uint8_t byte = codes[n / 2];
        out[n] = (int8_t)((byte & 15) - offset);
        out[n + 1] = (int8_t)((byte >> 4) - offset);
    }
}

// Columns per chunk: every filter block re-reads the chunk's input words (about K/4 of them per
// column), which should stay in L2 (256 KiB); a multiple of every level's tile width.
static long chunk_columns(long kgroups) {
    const long cols = (256L << 10) / (4 * kgroups) / 48 * 48;
    return cols < 48 ? 48 : cols;
}

void cvm_q8_gemm_blocks(cvm_q8_block block, void (*unpack)CVM_Q8_UNPACK4_PARAMS, const uint32_t *x,
                        const long *offsets, long kgroups, const int8_t *w, long ldw, const uint8_t *codes,
                        const int8_t *code_offset, int8_t *wbuf, const int32_t *corr, const float *scale,
                        const float *bias, long f0, long f1, long q0, long q1, int act, float slope,
                        const cvm_q8_output *out) {
    const long k = 4 * kgroups, chunk = chunk_columns(kgroups);
    for (long c0 = q0; c0 < q1; c0 += chunk) {
        const long c1 = q1 - c0 < chunk ? q1 : c0 + chunk;
        for (long f = f0; f < f1; f += 8) {
            const int mr = (int)(f1 - f < 8 ? f1 - f : 8);
            const int8_t *rows = w + f * ldw;
            long ld = ldw;
            if (codes) {
                for (int i = 0; i < mr; i++) unpack(codes + (f + i) * k / 2, k, code_offset[f + i], wbuf + i * k);
                rows = wbuf;
                ld = k;
            }
            block(mr, x, offsets, kgroups, rows, ld, corr + f, scale + f, bias + f, f, c0, c1, act, slope, out);
        }
    }
}

// Writes one tile's sums: `rows` filters from f (f a multiple of 4 for U8 output, whose missing
// bytes get the zero point) x n columns from q.
static void plain_epilogue(int32_t acc[4][PLAIN_COLUMNS], int rows, int n, const int32_t *corr, const float *scale,
                           const float *bias, long f, long q, int act, float slope, const cvm_q8_output *out) {
    const long wp = out->padded_width;
    if (out->kind == CVM_Q8_U8) {
        uint32_t *dst = out->words + (f / 4) * out->group_stride + q;
        const uint32_t zero_word = (uint32_t)out->zero * 0x01010101u;
        for (int l = 0; l < n; l++) {
            if (!cvm_q8_interior(q + l, wp)) {
                dst[l] = zero_word;
                continue;
            }
            uint32_t word = 0;
            for (int t = 0; t < 4; t++) {
                const uint32_t code = t < rows ? cvm_q8_code(cvm_q8_value(acc[t][l], corr[t], scale[t], bias[t], act, slope),
                                                             out->inv_scale, out->zero)
                                               : (uint32_t)out->zero;
                word |= code << (8 * t);
            }
            dst[l] = word;
        }
    } else {
        for (int i = 0; i < rows; i++) {
            float v[PLAIN_COLUMNS];
            for (int l = 0; l < n; l++) v[l] = cvm_q8_value(acc[i][l], corr[i], scale[i], bias[i], act, slope);
            cvm_q8_store_f32(v, q, n, wp, out->width, out->y + (f + i) * out->plane);
        }
    }
}

static void plain_block(int mr, const uint32_t *x, const long *off, long kgroups, const int8_t *w, long ldw,
                        const int32_t *corr, const float *scale, const float *bias, long f, long q0, long q1, int act,
                        float slope, const cvm_q8_output *out) {
    for (int f4 = 0; f4 < mr; f4 += 4) {
        const int rows = mr - f4 < 4 ? mr - f4 : 4;
        for (long q = q0; q < q1; q += PLAIN_COLUMNS) {
            const int n = q1 - q < PLAIN_COLUMNS ? (int)(q1 - q) : PLAIN_COLUMNS;
            int32_t acc[4][PLAIN_COLUMNS] = {{0}};
            for (long g = 0; g < kgroups; g++) {
                const uint32_t *xr = x + q + off[g];
                for (int i = 0; i < rows; i++) {
                    const int8_t *wg = w + (f4 + i) * ldw + 4 * g;
                    const int32_t w0 = wg[0], w1 = wg[1], w2 = wg[2], w3 = wg[3];
                    for (int l = 0; l < n; l++) {
                        const uint32_t word = xr[l];
                        acc[i][l] += (int32_t)(word & 255) * w0 + (int32_t)(word >> 8 & 255) * w1
                                   + (int32_t)(word >> 16 & 255) * w2 + (int32_t)(word >> 24) * w3;
                    }
                }
            }
            plain_epilogue(acc, rows, n, corr + f4, scale + f4, bias + f4, f + f4, q, act, slope, out);
        }
    }
}

void cvm_q8_gemm_plain CVM_Q8_GEMM_PARAMS {
    cvm_q8_gemm_blocks(plain_block, cvm_int8_unpack4_plain, x, offsets, kgroups, w, ldw, codes, code_offset, wbuf,
                       corr, scale, bias, f0, f1, q0, q1, act, slope, out);
}
