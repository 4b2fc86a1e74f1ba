// Vireo's C kernels: distances over row-major n×d float32 matrices and a CRC-32C checksum.
//
// Layout contract (as everywhere in Vireo): a matrix of n vectors of dimension d is n*d contiguous
// floats, element (i, j) at base[i*d + j]. Pointers need no particular alignment.
//
// Each hot function is compiled several times (AVX-512, AVX2+FMA, baseline SSE2) and the loader picks
// the widest one the CPU supports (function multi-versioning), so one binary is portable and fast.
#ifndef VIREO_KERNELS_H
#define VIREO_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Inner product of two d-vectors.
float vk_dot(const float *a, const float *b, size_t d);
/// Squared Euclidean distance of two d-vectors.
float vk_l2sq(const float *a, const float *b, size_t d);
/// Squared norm of a d-vector.
float vk_norm_sq(const float *a, size_t d);

/// out[i] = dot(q, base[i]) for i in 0..<n.
void vk_dot_many(const float *q, const float *base, size_t n, size_t d, float *out);
/// out[i] = |q - base[i]|^2 for i in 0..<n.
void vk_l2sq_many(const float *q, const float *base, size_t n, size_t d, float *out);
/// out[i] = <q, base[rows[i]]> and |q - base[rows[i]]|^2 for the rows picked by number (base has d floats per row).
void vk_dot_gather(const float *q, const float *base, const uint32_t *rows, size_t n, size_t d, float *out);
void vk_l2sq_gather(const float *q, const float *base, const uint32_t *rows, size_t n, size_t d, float *out);
/// out[i] = |base[i]|^2 for i in 0..<n.
void vk_norms_sq(const float *base, size_t n, size_t d, float *out);

/// Compact element types (FLOAT16/BFLOAT16/INT8/BINARY vectors). x holds d half (IEEE binary16) or
/// bfloat16 values as raw 16-bit patterns; the query q is float32 (a compact query widens exactly).
float vk_f16_dot(const float *q, const uint16_t *x, size_t d);
float vk_f16_l2sq(const float *q, const uint16_t *x, size_t d);
float vk_bf16_dot(const float *q, const uint16_t *x, size_t d);
float vk_bf16_l2sq(const float *q, const uint16_t *x, size_t d);
/// out[i] = distance(q, base[i]) for n rows of d half / bfloat16 patterns (base holds n*d of them).
void vk_f16_dot_many(const float *q, const uint16_t *base, size_t n, size_t d, float *out);
void vk_f16_l2sq_many(const float *q, const uint16_t *base, size_t n, size_t d, float *out);
void vk_bf16_dot_many(const float *q, const uint16_t *base, size_t n, size_t d, float *out);
void vk_bf16_l2sq_many(const float *q, const uint16_t *base, size_t n, size_t d, float *out);
/// A float32 query against int8 rows (a COSINE query is normalised, so it is not int8 itself): each
/// element widens exactly and the sum is float32, as for half and bfloat16.
float vk_f32_i8_dot(const float *q, const int8_t *x, size_t d);
float vk_f32_i8_l2sq(const float *q, const int8_t *x, size_t d);
void vk_f32_i8_dot_many(const float *q, const int8_t *base, size_t n, size_t d, float *out);
void vk_f32_i8_l2sq_many(const float *q, const int8_t *base, size_t n, size_t d, float *out);

/// 8-bit scalar quantisation (x̂_t = vmin_t + scale_t·code_t). `qs` = q∘scale: returns Σ qs_t·code_t
/// (add ⟨q, vmin⟩ for ⟨q, x̂⟩). `r` = q − vmin: returns |q − x̂|² = Σ (r_t − scale_t·code_t)².
float vk_sq8_dot(const float *qs, const uint8_t *code, size_t d);
float vk_sq8_l2sq(const float *r, const float *scale, const uint8_t *code, size_t d);
/// The same over n rows of d codes each.
void vk_sq8_dot_many(const float *qs, const uint8_t *codes, size_t n, size_t d, float *out);
void vk_sq8_l2sq_many(const float *r, const float *scale, const uint8_t *codes, size_t n, size_t d, float *out);
/// code_t = clamp(round((x_t − vmin_t)·inv_scale_t), 0, 255) for n rows.
void vk_sq8_encode(const float *x, const float *vmin, const float *inv_scale, size_t n, size_t d, uint8_t *out);
/// Widens n half / bfloat16 values to float32 (exact).
void vk_f16_to_f32(const uint16_t *src, size_t n, float *dst);
void vk_bf16_to_f32(const uint16_t *src, size_t n, float *dst);
/// Narrows n float32 values to half / bfloat16, rounding to nearest even (overflow gives infinity).
void vk_f32_to_f16(const float *src, size_t n, uint16_t *dst);
void vk_f32_to_bf16(const float *src, size_t n, uint16_t *dst);
/// Inner product and squared L2 of two int8 d-vectors, exact (integer sums; d ≤ 32,768).
int32_t vk_i8_dot(const int8_t *a, const int8_t *b, size_t d);
uint32_t vk_i8_l2sq(const int8_t *a, const int8_t *b, size_t d);
/// Hamming distance (differing bits) and Jaccard distance (1 - |a AND b| / |a OR b|; 0 for two empty
/// vectors) of two packed-bit vectors of nbytes bytes.
uint32_t vk_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes);
float vk_jaccard(const uint8_t *a, const uint8_t *b, size_t nbytes);
/// Set bits in n 64-bit words (the POPCNT instruction where the CPU has it: Swift's nonzeroBitCount
/// compiles for the x86-64 baseline, without it, to a dozen instructions a word).
uint64_t vk_popcount_words(const uint64_t *words, size_t n);
/// out[i] = distance(q, base[i]) for n packed rows of nbytes bytes each.
void vk_hamming_many(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out);
void vk_jaccard_many(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out);

/// Writes the indices i (ascending) with values[i] < threshold into out_idx (capacity n); returns the count.
/// The scan that feeds a top-k heap: most values fail the test, so the loop is a vector compare.
size_t vk_select_below(const float *values, size_t n, float threshold, uint32_t *out_idx);

/// CRC-32C (Castagnoli) of len bytes, continuing from crc (start with 0). Uses the SSE4.2 instruction
/// when the CPU has it, a table otherwise; both give the same value.
uint32_t vk_crc32c(uint32_t crc, const void *data, size_t len);
/// The table-driven CRC-32C, exposed so tests can check the hardware path against it.
uint32_t vk_crc32c_portable(uint32_t crc, const void *data, size_t len);

/// Results of vk_json_floats.
#define VK_JSON_END 0
#define VK_JSON_NUMBER 1
#define VK_JSON_FALLBACK (-1)
/// Parses a JSON array of numbers into out[*count ..< cap), advancing *pos and *count: from its '['
/// (after_value 0) or from just after an element (after_value 1). Returns VK_JSON_END with *pos past
/// the ']'; VK_JSON_NUMBER with *pos at an element outside the fast path (more than 19 significant
/// digits, an exponent past Clinger's fast path, or not a number), which the caller parses and then
/// calls again with after_value 1; VK_JSON_FALLBACK when the text is malformed or holds more than cap
/// elements.
int vk_json_floats(const unsigned char *s, size_t len, size_t *pos, int after_value, float *out, size_t cap, size_t *count);

/// Hints the CPU to fetch the cache lines of a vector that will be read soon.
static inline void vk_prefetch(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t off = 0; off < bytes; off += 64) {
        __builtin_prefetch(c + off, 0, 3);
    }
}

/// Sets the calling thread's nice value (Linux: per thread); 0 on success, -1 otherwise. Raising it
/// needs no privilege; lowering it again may.
int vk_nice_current_thread(int nice_value);
/// glibc's malloc_trim(0): the free pages of every arena back to the system (1 if any were); 0 elsewhere.
int vk_malloc_trim(void);
/// glibc's mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD): fixed values (which turn off
/// glibc's dynamic thresholds); 1 if both took effect, 0 otherwise or elsewhere.
int vk_malloc_fixed_thresholds(size_t mmap_threshold, size_t trim_threshold);

#ifdef __cplusplus
}
#endif
#endif
