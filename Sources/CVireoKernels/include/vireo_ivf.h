// Product-quantisation kernels (Jégou, Douze, Schmid, "Product quantization for nearest neighbor
// search", TPAMI 2011): asymmetric distance computation with per-query lookup tables.
#ifndef VIREO_IVF_H
#define VIREO_IVF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Lookup table for inner products: lut[j*256 + c] = <q_j, codebook_j[c]> where q_j is the j-th
/// sub-vector (dsub floats) of q. Codebooks are stored transposed, m × dsub × 256 floats
/// (codebook_j[c][t] at codebooks[(j*dsub + t)*256 + c]), so the table is built 8 codewords per SIMD op.
void vk_pq_lut_ip(const float *q, const float *codebooks, size_t m, size_t dsub, float *lut);
/// Lookup table for squared L2: lut[j*256 + c] = |q_j - codebook_j[c]|^2 (same codebook layout).
void vk_pq_lut_l2(const float *q, const float *codebooks, size_t m, size_t dsub, float *lut);
/// For each of `rows` rows of a row-major rows × cols matrix: the column c minimising
/// tile[r*cols + c] + bias[c] (bias may be NULL), written to out_idx[r], and that value to out_val[r].
void vk_argmin_rows(const float *tile, size_t rows, size_t cols, const float *bias, uint32_t *out_idx, float *out_val);

/// out[i] = bias + sign * sum_j lut[j*256 + codes[i*m + j]] for n codes of m bytes.
void vk_pq_scan(const uint8_t *codes, size_t n, size_t m, const float *lut, float bias, float sign, float *out);

/// Candidates for the p nearest of n items known only within bounds: lo[i] <= exact[i] <= hi[i].
/// Every item among the exact p nearest has lo <= tau, tau the p-th smallest hi (the exact p-th
/// smallest distance is at most tau), so the indices with lo[i] <= tau, written to out_idx in
/// increasing order, contain them all; returns their count (>= min(p, n)). heap: p floats of scratch.
size_t vk_bounded_candidates(const float *lo, const float *hi, size_t n, size_t p, float *heap, uint32_t *out_idx);
/// out[i] = sum_t q[t] * codes[i*d + t] in 32-bit integers; requires |q[t]| * 255 * d < 2^31.
void vk_u8_i16_dot_many(const int16_t *q, const uint8_t *codes, size_t n, size_t d, int32_t *out);
/// Rounds w[0..<d] to 16-bit integers in steps of max|w| / limit: out[t] = round(w[t] / step),
/// |out[t]| <= limit. Returns the step; *delta_norm = |w/step - out| (each term at most 1/2).
float vk_quantize_i16(const float *w, size_t d, float limit, int16_t *out, float *delta_norm);
/// Bounds on n distances taken against 8-bit codes from integer sums (vk_u8_i16_dot_many): with
/// dot = step * sums[c], an inner-product distance -(offset + dot) (offset = <q, vmin>) or a squared
/// L2 distance offset - 2 dot + decoded_squares[c] (offset = |q - vmin|^2), widened by the query's
/// rounding (query_error * code_norms[c]), the code's own error (errors[c]: query_norm times it for
/// inner products, a distance for L2) and float rounding. Writes lo[c] <= exact <= hi[c].
void vk_coarse_bounds(const int32_t *sums, size_t n, int l2, float step, float offset, float query_error, float query_norm,
                      const float *code_norms, const float *errors, const float *decoded_squares, float *lo, float *hi);

#ifdef __cplusplus
}
#endif
#endif
