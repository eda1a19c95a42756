// The int8 graph's kernels: u8 activations (per-map scale and zero point) times s8 weights
// (per-filter scale), int32 accumulation (vpdpbusd with AVX-512 VNNI, or the int8 level's
// equivalent: CVectorMathDispatch.h), and epilogues that write either the next map's u8 codes or
// FP32.
//
// The one activation layout (a "u8 map"): channels in groups of 4, each group a plane of 32-bit
// words, each word the u8 codes of the group's 4 channels at one pixel (channel 4g + t at byte
// t). A plane is (H + 2) x (W + 2) words: the H x W pixels with a one-pixel border all round
// that holds the map's zero point in every byte (the code of 0.0, which is what a conv's zero
// padding reads). Word (r, c) of a plane is at r * (W + 2) + c; the pixel (y, x) is word
// (y + 1, x + 1). Group g's plane starts `group_stride` words after group 0's.
//
// Weights: K runs kernel position major, channel minor, k = (i*kw + j)*Cp + c, with C padded to
// Cp (a multiple of 4), so every 4 consecutive k are one word of 4 channels at one kernel
// position: "k group" kg = (i*kw + j)*Cp/4 + g. Weights are [F][K] s8 rows.
//
// Columns. The product runs over "virtual columns" q, the words of the *output's* plane: column
// q computes output pixel word q, and k group kg reads the input word at x + q + offsets[kg].
// A stride-1 conv with padding <= 1 reads its input plane directly (offsets[kg] = g * stride +
// (i - p) * (W + 2) + (j - p): input and output planes have the same shape); a stride-2 3x3 conv
// reads the input's four phase planes (cvm_q8_phase_split), which have the output's plane
// shape. Only interior rows' columns are computed; the border columns among them are computed
// and replaced by the zero point (u8 output) or dropped (FP32 output).
#ifndef CVECTORMATH_INT8_H
#define CVECTORMATH_INT8_H

#include <stdint.h>

/// Whether the int8 kernels can run here: always (the plain C level runs on any CPU).
int cvm_int8_available(void);

/// Where a product's epilogue writes.
typedef struct {
    /// CVM_Q8_U8: codes of the output grid into a u8 map; CVM_Q8_F32: floats into NCHW planes.
    int kind;
    /// The output plane's padded width (W + 2) and interior width W.
    long padded_width;
    long width;
    /// U8: output channel group 0's plane (padded origin) and the words between group planes;
    /// f = 4 * group + byte. u = clamp(round_half_even(v * inv_scale) + zero, 0, 255).
    uint32_t *words;
    long group_stride;
    float inv_scale;
    int zero;
    /// F32: channel f's H x W plane at y + f * plane (pixel (y, x) at y * width + x).
    float *y;
    long plane;
} cvm_q8_output;

enum { CVM_Q8_U8 = 0, CVM_Q8_F32 = 1 };

/// Output words [f0, f1) x columns [q0, q1) (q0, q1 inside the interior rows' columns; f0 a
/// multiple of 4 for U8 output):
/// v = act(float(acc[f, q] - corr[f]) * scale[f] + bias[f]) with
/// acc[f, q] = sum over k groups kg and bytes t of u8(x[q + offsets[kg]], t) * w[f][4 kg + t]
/// in int32, then written as `out` says (border columns: the zero point, or nothing).
/// Weights: `w` s8 rows `ldw` bytes apart; or, when `codes` is not null, 4-bit codes (filter f's
/// K codes from byte f * K / 2, two a byte, low nibble first) with weight = code - code_offset[f],
/// unpacked a block of 8 filters at a time into `wbuf` (8 * K bytes).
void cvm_q8_gemm(const uint32_t *x, const long *offsets, long kgroups, const int8_t *w, long ldw,
                 const uint8_t *codes, const int8_t *code_offset, int8_t *wbuf,
                 const int32_t *corr, const float *scale, const float *bias, long f0, long f1,
                 long q0, long q1, int act, float slope, const cvm_q8_output *out);

/// out[k] = (code k of `codes`) - offset, k < count (even): the unpack of cvm_q8_gemm's 4-bit path.
void cvm_int8_unpack4(const uint8_t *codes, long count, int offset, int8_t *out);

/// Quantizes input rows [r0, r1) of channel groups [g0, g1) of x (`channels` planes of
/// height x width floats, NCHW) into a u8 map (group_stride words between group planes):
/// u = clamp(round_half_even(x * inv_scale) + zero, 0, 255), channels >= `channels` get the
/// zero point. Writes the rows' left and right border words, and the top / bottom border rows
/// with the first / last row.
void cvm_q8_quantize(const float *x, long channels, long height, long width, long r0, long r1,
                     float inv_scale, int zero, long g0, long g1, uint32_t *words, long group_stride);

/// The reverse, for FP32 islands of the graph: channel c < channels of a u8 map's interior to
/// y[c * height * width + ...] = scale * (u - zero), for groups [g0, g1).
void cvm_q8_dequantize(const uint32_t *words, long group_stride, long channels, long height, long width,
                       float scale, int zero, long g0, long g1, float *y);

/// The four phase planes of a stride-2 3x3 pad-1 conv's input, groups [g0, g1): for a u8 map
/// of height x width, phase (py, px) (index 2 py + px, `phase_stride` words apart, each with
/// `groups` planes `group_stride` words apart) is an (oh + 2) x (ow + 2) plane with
/// oh = (height - 1) / 2 + 1, ow = (width - 1) / 2 + 1, whose word (a + 1, b + 1) is the input
/// pixel (2a + py, 2b + px) where that is inside the map and the zero point word elsewhere
/// (its whole border too).
void cvm_q8_phase_split(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                        uint32_t zero_word, uint32_t *phases, long phase_stride, long group_stride);

/// Writes the zero point word to the top and bottom border rows of groups [g0, g1) of a u8
/// map of height x width (the rows a product does not compute).
void cvm_q8_fill_border_rows(uint32_t *words, long group_stride, long height, long width, long g0, long g1,
                             uint32_t zero_word);

/// 2x2 stride-2 max pool of groups [g0, g1) of a u8 map (height x width) into one of
/// (height / 2) x (width / 2), border included; both maps on the same grid (max of codes is
/// the code of the max). The border gets `zero_word`.
void cvm_q8_maxpool2x2(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                       uint32_t zero_word, uint32_t *y, long y_group_stride);

/// Stride-1 "same" max pool (kernel 2r + 1, padding r counted as -infinity: code 0 here) of
/// groups [g0, g1) of a u8 map into another u8 map of the same size, border included.
void cvm_q8_maxpool_same(const uint32_t *x, long x_group_stride, long height, long width, long r, long g0,
                         long g1, uint32_t zero_word, uint32_t *y, long y_group_stride);

/// Nearest upsampling by 2 of groups [g0, g1) of a u8 map (height x width) into one of
/// (2 height) x (2 width), border included.
void cvm_q8_upsample2x(const uint32_t *x, long x_group_stride, long height, long width, long g0, long g1,
                       uint32_t zero_word, uint32_t *y, long y_group_stride);

/// Whether the map kernels above use the vector code of the int8 level in effect (the default) or
/// their plain loops (tests run both).
void cvm_q8_use_avx512(int on);

#endif
