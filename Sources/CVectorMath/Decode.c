// The packed weights' decode (YOLOQuant/PackedDecoding.swift): bit-packed codes (code n at bits
// [n * bits, (n + 1) * bits) of the little-endian stream, BitPacking.swift) to floats by table
// lookup, W[f, c, k] = levels[c * level_c + k * level_k + code], written to
// out[c * out_c + k * out_k]. A decode only copies table entries, so every version gives the same
// floats; the plain one is the reference the others are tested against (the kernel harness and
// PackedDecodingTests, which also check it against QuantizedTensor.dequantize).
//
// Packed models decode every conv's weights on every pass, in two orders: the weight's own
// (1x1 convs, stride-2 and im2col staging) and kernel-major planes, `[kh*kw][filters][C]`, which
// the Winograd weight transform reads with unit stride. The plain version, compiled per x86 level,
// takes each channel's `kernel` codes from one 64-bit window of the stream where they fit
// (bits * kernel + 7 <= 64: any width for 1x1, up to 6 bits for 3x3), two codes a byte for 4-bit
// weight order, else code by code. The AVX-512 version vectorizes the two cases 4-bit files run
// (one table row per filter: layer and filter granularity): weight order 64 codes a step, and
// kernel-major planes 16 channels a step, each lane's codes cut from a 64-bit window of its own.
#include "Kernels.h"

// Up to 8 bytes of the stream from byte `at`, as a little-endian number, zeros past its end.
// (Whole windows are written as one expression, which compilers turn into a single load.)
static inline unsigned long long stream_window(const unsigned char *bytes, long byte_count, long at) {
    const unsigned char *b = bytes + at;
    if (at + 8 <= byte_count)
        return (unsigned long long)b[0] | (unsigned long long)b[1] << 8 | (unsigned long long)b[2] << 16
            | (unsigned long long)b[3] << 24 | (unsigned long long)b[4] << 32 | (unsigned long long)b[5] << 40
            | (unsigned long long)b[6] << 48 | (unsigned long long)b[7] << 56;
    unsigned long long v = 0;
    for (long i = 0; at + i < byte_count; i++) v |= (unsigned long long)b[i] << (8 * i);
    return v;
}

static inline unsigned code_at(const unsigned char *bytes, long byte_count, int bits, long n) {
    long bit = n * bits, at = bit >> 3;
    unsigned window = bytes[at];
    if (at + 1 < byte_count) window |= (unsigned)bytes[at + 1] << 8;
    return (window >> (bit & 7)) & ((1u << bits) - 1);
}

CVM_INLINE void cvm_decode_filter_body CVM_DECODE_FILTER_PARAMS {
    if (bits == 4 && level_c == 0 && level_k == 0 && out_k == 1 && out_c == kernel) {
        // 4-bit, one table row, weight order: two codes a byte.
        long n = first, end = first + channels * kernel, o = 0;
        if (n & 1) { out[o++] = levels[bytes[n >> 1] >> 4]; n++; }
        for (; n + 1 < end; n += 2, o += 2) {
            unsigned byte = bytes[n >> 1];
            out[o] = levels[byte & 15];
            out[o + 1] = levels[byte >> 4];
        }
        if (n < end) out[o] = levels[bytes[n >> 1] & 15];
        return;
    }
    const unsigned long long mask = (1ull << bits) - 1;
    if (bits * kernel + 7 <= 64) {
        // Channel c's codes start at bit (first + c * kernel) * bits: one window holds them all.
        for (long c = 0; c < channels; c++) {
            const long bit = (first + c * kernel) * bits;
            const unsigned long long window = stream_window(bytes, byte_count, bit >> 3) >> (bit & 7);
            const float *row = levels + c * level_c;
            float *dst = out + c * out_c;
            for (long k = 0; k < kernel; k++) dst[k * out_k] = row[k * level_k + ((window >> (k * bits)) & mask)];
        }
        return;
    }
    long n = first;
    for (long c = 0; c < channels; c++) {
        const float *row = levels + c * level_c;
        float *dst = out + c * out_c;
        for (long k = 0; k < kernel; k++, n++) dst[k * out_k] = row[k * level_k + code_at(bytes, byte_count, bits, n)];
    }
}

void cvm_decode_filter_plain CVM_DECODE_FILTER_PARAMS {
    cvm_decode_filter_body(bytes, byte_count, bits, first, channels, kernel, levels, level_c, level_k, out, out_c,
                           out_k);
}

#if defined(__x86_64__)
#include <immintrin.h>

CVM_AVX2 void cvm_decode_filter_avx2 CVM_DECODE_FILTER_PARAMS {
    cvm_decode_filter_body(bytes, byte_count, bits, first, channels, kernel, levels, level_c, level_k, out, out_c,
                           out_k);
}

// 16 table entries looked up by the low 4 bits of each 32-bit lane of `codes`.
#define LOOKUP16(codes, table) _mm512_permutexvar_ps(codes, table)

// 4-bit codes n ..< n + count in weight order, one 16-entry table: each step widens 32 bytes to
// words, puts a byte's low nibble in the word's low byte and its high nibble in the high byte
// (so bytes are codes in stream order), then looks up 16 at a time.
CVM_AVX512 static void weight_order4_avx512(const unsigned char *bytes, long n, long count, const float *levels,
                                            float *out) {
    const long end = n + count;
    if ((n & 1) && n < end) { *out++ = levels[bytes[n >> 1] >> 4]; n++; }
    const __m512 table = _mm512_loadu_ps(levels);
    const __m512i low = _mm512_set1_epi16(0x0F);
    for (; n + 64 <= end; n += 64, out += 64) {
        const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(bytes + (n >> 1))));
        const __m512i codes = _mm512_or_si512(_mm512_and_si512(w, low), _mm512_slli_epi16(_mm512_srli_epi16(w, 4), 8));
        _mm512_storeu_ps(out, LOOKUP16(_mm512_cvtepu8_epi32(_mm512_castsi512_si128(codes)), table));
        _mm512_storeu_ps(out + 16, LOOKUP16(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(codes, 1)), table));
        _mm512_storeu_ps(out + 32, LOOKUP16(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(codes, 2)), table));
        _mm512_storeu_ps(out + 48, LOOKUP16(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(codes, 3)), table));
    }
    for (; n + 16 <= end; n += 16, out += 16) {
        const __m128i w = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(bytes + (n >> 1))));
        const __m128i codes = _mm_or_si128(_mm_and_si128(w, _mm_set1_epi16(0x0F)), _mm_slli_epi16(_mm_srli_epi16(w, 4), 8));
        _mm512_storeu_ps(out, LOOKUP16(_mm512_cvtepu8_epi32(codes), table));
    }
    for (; n + 1 < end; n += 2, out += 2) {
        const unsigned byte = bytes[n >> 1];
        out[0] = levels[byte & 15];
        out[1] = levels[byte >> 4];
    }
    if (n < end) *out = levels[bytes[n >> 1] & 15];
}

// Each 64-bit lane of the result: the stream's bits from bit `shift` of qword `index` of the 16
// qwords lo:hi on (the two qwords it spans, joined).
CVM_AVX512 static inline __m512i lane_windows(__m512i lo, __m512i hi, __m512i index, __m512i shift) {
    const __m512i first = _mm512_permutex2var_epi64(lo, index, hi);
    const __m512i second = _mm512_permutex2var_epi64(lo, _mm512_add_epi64(index, _mm512_set1_epi64(1)), hi);
    // A shift of 64 (shift 0) gives zeros, as wanted.
    return _mm512_or_si512(_mm512_srlv_epi64(first, shift),
                           _mm512_sllv_epi64(second, _mm512_sub_epi64(_mm512_set1_epi64(64), shift)));
}

// 4-bit codes of channels 0 ..< a multiple of 16 of a filter (its codes from `first`, `kernel` per
// channel, 2 <= kernel <= 14) into kernel-major planes out[k * out_k + c], one 16-entry table;
// returns how many channels it did. A step's 16 channels are 16 * kernel codes, whole bytes, so
// every step starts on the same half byte; its bytes are loaded once (masked: never past the
// codes), and each lane gets a 64-bit window starting at its channel's first code: even channels
// in one vector, odd ones in another, so that code k of both fits the 16 32-bit lanes of one
// lookup in channel order (even lanes from the first, odd ones from the second shifted up).
CVM_AVX512 static long planes4_avx512(const unsigned char *bytes, long first, long channels, long kernel,
                                      const float *levels, float *out, long out_k) {
    const long half = first & 1;
    long even_q[8], even_r[8], odd_q[8], odd_r[8];
    for (int i = 0; i < 8; i++) {
        const long even = 4 * (half + 2 * i * kernel), odd = 4 * (half + (2 * i + 1) * kernel);
        even_q[i] = even >> 6, even_r[i] = even & 63, odd_q[i] = odd >> 6, odd_r[i] = odd & 63;
    }
    const __m512i eq = _mm512_loadu_si512(even_q), er = _mm512_loadu_si512(even_r);
    const __m512i oq = _mm512_loadu_si512(odd_q), orr = _mm512_loadu_si512(odd_r);
    const long need = (half + 16 * kernel + 1) / 2;  // bytes a step's codes touch
    const __mmask64 m0 = need >= 64 ? ~0ull : (1ull << need) - 1;
    const __mmask64 m1 = need > 64 ? (1ull << (need - 64)) - 1 : 0;
    const __m512 table = _mm512_loadu_ps(levels);
    const __m512i fifteen = _mm512_set1_epi32(15);
    long c = 0;
    for (; c + 16 <= channels; c += 16) {
        const unsigned char *p = bytes + ((first + c * kernel) >> 1);
        const __m512i lo = _mm512_maskz_loadu_epi8(m0, p);
        const __m512i hi = m1 ? _mm512_maskz_loadu_epi8(m1, p + 64) : _mm512_setzero_si512();
        const __m512i even = lane_windows(lo, hi, eq, er), odd = lane_windows(lo, hi, oq, orr);
        for (long k = 0; k < kernel; k++) {
            const __m512i e = _mm512_srl_epi64(even, _mm_cvtsi64_si128(4 * k));
            const __m512i o = 4 * k <= 32 ? _mm512_sll_epi64(odd, _mm_cvtsi64_si128(32 - 4 * k))
                                          : _mm512_srl_epi64(odd, _mm_cvtsi64_si128(4 * k - 32));
            const __m512i codes = _mm512_and_si512(_mm512_mask_blend_epi32(0xAAAA, e, o), fifteen);
            _mm512_storeu_ps(out + k * out_k + c, LOOKUP16(codes, table));
        }
    }
    return c;
}

CVM_AVX512 void cvm_decode_filter_avx512 CVM_DECODE_FILTER_PARAMS {
    if (bits == 4 && level_c == 0 && level_k == 0) {
        if (out_k == 1 && out_c == kernel) {
            weight_order4_avx512(bytes, first, channels * kernel, levels, out);
            return;
        }
        if (out_c == 1 && kernel >= 2 && kernel <= 14) {
            const long done = planes4_avx512(bytes, first, channels, kernel, levels, out, out_k);
            first += done * kernel, channels -= done, out += done;
        }
    }
    cvm_decode_filter_body(bytes, byte_count, bits, first, channels, kernel, levels, level_c, level_k, out, out_c,
                           out_k);
}
#endif
