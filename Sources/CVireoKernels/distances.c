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

VK_MULTIVERSION
void vk_dot_many(const float *q, const float *base, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n) vk_prefetch(base + (i + 2) * d, d * sizeof(float));
        out[i] = dot_inline(q, base + i * d, d);
    }
}

VK_MULTIVERSION
void vk_l2sq_many(const float *q, const float *base, size_t n, size_t d, float *out) {
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n) vk_prefetch(base + (i + 2) * d, d * sizeof(float));
        out[i] = l2sq_inline(q, base + i * d, d);
    }
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
