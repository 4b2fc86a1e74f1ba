// Distance kernels. Plain loops that clang vectorises; reassociation is allowed in this file so the
// reductions use several SIMD accumulators (the float sum order differs from a scalar loop by
// rounding only; the tests compare against a scalar reference with a tolerance).
#include "vireo_kernels.h"

#pragma clang fp reassociate(on)

#include "vk_common.h"

static inline float dot_inline(const float *restrict a, const float *restrict b, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) {
        s += a[i] * b[i];
    }
    return s;
}

static inline float l2sq_inline(const float *restrict a, const float *restrict b, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) {
        float t = a[i] - b[i];
        s += t * t;
    }
    return s;
}

VK_MULTIVERSION
float vk_dot(const float *a, const float *b, size_t d) { return dot_inline(a, b, d); }

VK_MULTIVERSION
float vk_l2sq(const float *a, const float *b, size_t d) { return l2sq_inline(a, b, d); }

VK_MULTIVERSION
float vk_norm_sq(const float *a, size_t d) { return dot_inline(a, a, d); }

// Row i of `base` (d floats per row): the i-th, or row rows[i] when the rows are picked by number.
static inline __attribute__((always_inline)) const float *row_at(const float *base, const uint32_t *rows, size_t i, size_t d) {
    return base + (rows ? (size_t)rows[i] : i) * d;
}

// out[i] = <q, row i> (l2 = 0) or |q - row i|^2 (l2 = 1), each row fetched two ahead: for contiguous
// rows, and for rows picked by number (an IVF list over the segment's vectors), where the hardware
// prefetcher loses the stream at every row boundary. Inlined into each multi-versioned caller, where
// `rows` and `l2` are constants.
static inline __attribute__((always_inline)) void score_rows(const float *q, const float *base, const uint32_t *rows, size_t n,
                                                             size_t d, int l2, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n) vk_prefetch(row_at(base, rows, i + 2, d), d * sizeof(float));
        const float *x = row_at(base, rows, i, d);
        out[i] = l2 ? l2sq_inline(q, x, d) : dot_inline(q, x, d);
    }
}

VK_MULTIVERSION
void vk_dot_many(const float *q, const float *base, size_t n, size_t d, float *out) { score_rows(q, base, NULL, n, d, 0, out); }

VK_MULTIVERSION
void vk_l2sq_many(const float *q, const float *base, size_t n, size_t d, float *out) { score_rows(q, base, NULL, n, d, 1, out); }

VK_MULTIVERSION
void vk_dot_gather(const float *q, const float *base, const uint32_t *rows, size_t n, size_t d, float *out) {
    score_rows(q, base, rows, n, d, 0, out);
}

VK_MULTIVERSION
void vk_l2sq_gather(const float *q, const float *base, const uint32_t *rows, size_t n, size_t d, float *out) {
    score_rows(q, base, rows, n, d, 1, out);
}

VK_MULTIVERSION
void vk_norms_sq(const float *base, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        const float *x = base + i * d;
        out[i] = dot_inline(x, x, d);
    }
}

VK_MULTIVERSION
size_t vk_select_below(const float *values, size_t n, float threshold, uint32_t *out_idx) {
    size_t count = 0;
    size_t i = 0;
    // Blocks of 16: one vector compare rejects the whole block in the common case.
    for (; i + 16 <= n; i += 16) {
        int any = 0;
        for (size_t j = 0; j < 16; j++) {
            any |= values[i + j] < threshold;
        }
        if (any) {
            for (size_t j = 0; j < 16; j++) {
                if (values[i + j] < threshold) out_idx[count++] = (uint32_t)(i + j);
            }
        }
    }
    for (; i < n; i++) {
        if (values[i] < threshold) out_idx[count++] = (uint32_t)i;
    }
    return count;
}

// ---------------------------------------------------------------------------------------------
// Compact element types: IEEE half (FLOAT16_VECTOR), bfloat16 (BFLOAT16_VECTOR), int8
// (INT8_VECTOR) and packed bits (BINARY_VECTOR). Half and bfloat16 are widened to float32 element by
// element (F16C's vcvtph2ps on x86-64-v3/v4; a shift for bfloat16) and accumulated in float32, so a
// distance equals the float32 distance of the widened vectors up to summation order.

// Loads through this type may alias the caller's uint16_t storage.
typedef _Float16 vk_half_alias __attribute__((may_alias));

static inline float half_at(const uint16_t *p, size_t i) { return (float)((const vk_half_alias *)p)[i]; }

static inline float bf16_at(const uint16_t *p, size_t i) {
    uint32_t bits = (uint32_t)p[i] << 16;
    float f;
    __builtin_memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float f16_dot_inline(const float *restrict q, const uint16_t *restrict x, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) s += q[i] * half_at(x, i);
    return s;
}

static inline float f16_l2sq_inline(const float *restrict q, const uint16_t *restrict x, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) {
        float t = q[i] - half_at(x, i);
        s += t * t;
    }
    return s;
}

static inline float bf16_dot_inline(const float *restrict q, const uint16_t *restrict x, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) s += q[i] * bf16_at(x, i);
    return s;
}

static inline float bf16_l2sq_inline(const float *restrict q, const uint16_t *restrict x, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) {
        float t = q[i] - bf16_at(x, i);
        s += t * t;
    }
    return s;
}

// A float32 query against int8 rows (COSINE queries are normalised, so not int8 themselves): each
// int8 widens exactly, the sum is float32 as for the other compact types.
static inline float f32_i8_dot_inline(const float *restrict q, const int8_t *restrict x, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) s += q[i] * (float)x[i];
    return s;
}

static inline float f32_i8_l2sq_inline(const float *restrict q, const int8_t *restrict x, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) {
        float t = q[i] - (float)x[i];
        s += t * t;
    }
    return s;
}

VK_MULTIVERSION
float vk_f16_dot(const float *q, const uint16_t *x, size_t d) { return f16_dot_inline(q, x, d); }

VK_MULTIVERSION
float vk_f16_l2sq(const float *q, const uint16_t *x, size_t d) { return f16_l2sq_inline(q, x, d); }

VK_MULTIVERSION
float vk_bf16_dot(const float *q, const uint16_t *x, size_t d) { return bf16_dot_inline(q, x, d); }

VK_MULTIVERSION
float vk_bf16_l2sq(const float *q, const uint16_t *x, size_t d) { return bf16_l2sq_inline(q, x, d); }

VK_MULTIVERSION
float vk_f32_i8_dot(const float *q, const int8_t *x, size_t d) { return f32_i8_dot_inline(q, x, d); }

VK_MULTIVERSION
float vk_f32_i8_l2sq(const float *q, const int8_t *x, size_t d) { return f32_i8_l2sq_inline(q, x, d); }

// Row-block versions: one call per block of rows (the exact scan's inner loop), prefetching two rows ahead.
#define VK_MANY(name, elem, inline_fn)                                                        \
    VK_MULTIVERSION                                                                          \
    void name(const float *q, const elem *base, size_t n, size_t d, float *out) {            \
        for (size_t i = 0; i < n; i++) {                                                     \
            if (i + 2 < n) vk_prefetch(base + (i + 2) * d, d * sizeof(elem));                \
            out[i] = inline_fn(q, base + i * d, d);                                          \
        }                                                                                    \
    }

VK_MANY(vk_f16_dot_many, uint16_t, f16_dot_inline)
VK_MANY(vk_f16_l2sq_many, uint16_t, f16_l2sq_inline)
VK_MANY(vk_bf16_dot_many, uint16_t, bf16_dot_inline)
VK_MANY(vk_bf16_l2sq_many, uint16_t, bf16_l2sq_inline)
VK_MANY(vk_f32_i8_dot_many, int8_t, f32_i8_dot_inline)
VK_MANY(vk_f32_i8_l2sq_many, int8_t, f32_i8_l2sq_inline)

VK_MULTIVERSION
void vk_f16_to_f32(const uint16_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = half_at(src, i);
}

VK_MULTIVERSION
void vk_bf16_to_f32(const uint16_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_at(src, i);
}

void vk_f32_to_f16(const float *src, size_t n, uint16_t *dst) {
    for (size_t i = 0; i < n; i++) {
        _Float16 h = (_Float16)src[i];
        __builtin_memcpy(&dst[i], &h, sizeof h);
    }
}

void vk_f32_to_bf16(const float *src, size_t n, uint16_t *dst) {
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        __builtin_memcpy(&bits, &src[i], sizeof bits);
        if ((bits & 0x7FFFFFFFu) > 0x7F800000u) {
            dst[i] = (uint16_t)((bits >> 16) | 0x0040u);  // NaN stays a (quiet) NaN
        } else {
            // Round to nearest, ties to even: add 0x7FFF plus the lowest kept bit.
            bits += 0x7FFFu + ((bits >> 16) & 1u);
            dst[i] = (uint16_t)(bits >> 16);
        }
    }
}

// int8: products and squared differences summed exactly in 32-bit integers (|sum| < 2^31 for
// d ≤ 32,768: 128·128·32,768 for the dot, 255²·32,768 for L2), returned as integers (a float32
// would round sums above 2^24).
VK_MULTIVERSION
int32_t vk_i8_dot(const int8_t *a, const int8_t *b, size_t d) {
    int32_t s = 0;
    for (size_t i = 0; i < d; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

VK_MULTIVERSION
uint32_t vk_i8_l2sq(const int8_t *a, const int8_t *b, size_t d) {
    uint32_t s = 0;
    for (size_t i = 0; i < d; i++) {
        int32_t t = (int32_t)a[i] - (int32_t)b[i];
        s += (uint32_t)(t * t);
    }
    return s;
}

// Packed bits (Milvus' BINARY_VECTOR: dimension/8 bytes, bit i of the vector is bit 7 − i%8 of byte
// i/8). Both distances count bits over 64-bit words, then the tail bytes.
static inline uint64_t load64(const uint8_t *p) {
    uint64_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

VK_MULTIVERSION
uint32_t vk_hamming(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    uint64_t c = 0;
    size_t i = 0;
    for (; i + 8 <= nbytes; i += 8) c += (uint64_t)__builtin_popcountll(load64(a + i) ^ load64(b + i));
    for (; i < nbytes; i++) c += (uint64_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
    return (uint32_t)c;
}

VK_MULTIVERSION
uint64_t vk_popcount_words(const uint64_t *words, size_t n) {
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++) c += (uint64_t)__builtin_popcountll(words[i]);
    return c;
}

VK_MULTIVERSION
float vk_jaccard(const uint8_t *a, const uint8_t *b, size_t nbytes) {
    uint64_t inter = 0, uni = 0;
    size_t i = 0;
    for (; i + 8 <= nbytes; i += 8) {
        uint64_t x = load64(a + i), y = load64(b + i);
        inter += (uint64_t)__builtin_popcountll(x & y);
        uni += (uint64_t)__builtin_popcountll(x | y);
    }
    for (; i < nbytes; i++) {
        inter += (uint64_t)__builtin_popcount((unsigned)(a[i] & b[i]));
        uni += (uint64_t)__builtin_popcount((unsigned)(a[i] | b[i]));
    }
    // Two empty sets are identical (distance 0), as in faiss/knowhere.
    return uni == 0 ? 0.0f : 1.0f - (float)((double)inter / (double)uni);
}

VK_MULTIVERSION
void vk_hamming_many(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = (float)vk_hamming(q, base + i * nbytes, nbytes);
}

VK_MULTIVERSION
void vk_jaccard_many(const uint8_t *q, const uint8_t *base, size_t n, size_t nbytes, float *out) {
    for (size_t i = 0; i < n; i++) out[i] = vk_jaccard(q, base + i * nbytes, nbytes);
}

// ---------------------------------------------------------------------------------------------
// 8-bit scalar quantisation (SQ8: per-dimension affine codes, x̂_t = vmin_t + scale_t · code_t).
// Inner products and L2 are taken against the decoded vector without decoding it:
//   ⟨q, x̂⟩ = ⟨q, vmin⟩ + Σ (q_t·scale_t)·code_t      → vk_sq8_dot_many(q∘scale, …) + a per-query bias
//   |q − x̂|² = Σ ((q_t − vmin_t) − scale_t·code_t)²   → vk_sq8_l2sq_many(q − vmin, scale, …)
// so the inner loop is one widening load and one FMA (two for L2) per coordinate.

static inline float sq8_dot_inline(const float *restrict qs, const uint8_t *restrict c, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) s += qs[i] * (float)c[i];
    return s;
}

static inline float sq8_l2sq_inline(const float *restrict r, const float *restrict scale, const uint8_t *restrict c, size_t d) {
    float s = 0.0f;
    for (size_t i = 0; i < d; i++) {
        float t = r[i] - scale[i] * (float)c[i];
        s += t * t;
    }
    return s;
}

VK_MULTIVERSION
float vk_sq8_dot(const float *qs, const uint8_t *code, size_t d) { return sq8_dot_inline(qs, code, d); }

VK_MULTIVERSION
float vk_sq8_l2sq(const float *r, const float *scale, const uint8_t *code, size_t d) { return sq8_l2sq_inline(r, scale, code, d); }

VK_MULTIVERSION
void vk_sq8_dot_many(const float *qs, const uint8_t *codes, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 4 < n) vk_prefetch(codes + (i + 4) * d, d);
        out[i] = sq8_dot_inline(qs, codes + i * d, d);
    }
}

VK_MULTIVERSION
void vk_sq8_l2sq_many(const float *r, const float *scale, const uint8_t *codes, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 4 < n) vk_prefetch(codes + (i + 4) * d, d);
        out[i] = sq8_l2sq_inline(r, scale, codes + i * d, d);
    }
}

VK_MULTIVERSION
void vk_sq8_encode(const float *x, const float *vmin, const float *inv_scale, size_t n, size_t d, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * d;
        uint8_t *o = out + i * d;
        for (size_t t = 0; t < d; t++) {
            float v = (row[t] - vmin[t]) * inv_scale[t] + 0.5f;
            v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
            o[t] = (uint8_t)v;
        }
    }
}
