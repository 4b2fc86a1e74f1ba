// Product-quantisation lookup tables and code scanning.
#include "vireo_ivf.h"

#pragma clang fp reassociate(on)

#include "vk_common.h"

VK_MULTIVERSION
void vk_pq_lut_ip(const float *q, const float *codebooks, size_t m, size_t dsub, float *lut) {
    for (size_t j = 0; j < m; j++) {
        float *out = lut + j * 256;
        for (size_t c = 0; c < 256; c++) out[c] = 0.0f;
        for (size_t t = 0; t < dsub; t++) {
            const float qt = q[j * dsub + t];
            const float *row = codebooks + (j * dsub + t) * 256;
            for (size_t c = 0; c < 256; c++) out[c] += qt * row[c];
        }
    }
}

VK_MULTIVERSION
void vk_pq_lut_l2(const float *q, const float *codebooks, size_t m, size_t dsub, float *lut) {
    for (size_t j = 0; j < m; j++) {
        float *out = lut + j * 256;
        for (size_t c = 0; c < 256; c++) out[c] = 0.0f;
        for (size_t t = 0; t < dsub; t++) {
            const float qt = q[j * dsub + t];
            const float *row = codebooks + (j * dsub + t) * 256;
            for (size_t c = 0; c < 256; c++) {
                float e = qt - row[c];
                out[c] += e * e;
            }
        }
    }
}

VK_MULTIVERSION
void vk_argmin_rows(const float *tile, size_t rows, size_t cols, const float *bias, uint32_t *out_idx, float *out_val) {
    for (size_t r = 0; r < rows; r++) {
        const float *t = tile + r * cols;
        float best = __builtin_inff();
        uint32_t arg = 0;
        if (bias) {
            for (size_t c = 0; c < cols; c++) {
                float v = t[c] + bias[c];
                if (v < best) { best = v; arg = (uint32_t)c; }
            }
        } else {
            for (size_t c = 0; c < cols; c++) {
                if (t[c] < best) { best = t[c]; arg = (uint32_t)c; }
            }
        }
        out_idx[r] = arg;
        out_val[r] = best;
    }
}

VK_MULTIVERSION
void vk_pq_scan(const uint8_t *codes, size_t n, size_t m, const float *lut, float bias, float sign, float *out) {
    // Four codes at a time: independent accumulators hide the latency of the table loads.
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c0 = codes + i * m, *c1 = c0 + m, *c2 = c1 + m, *c3 = c2 + m;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t j = 0; j < m; j++) {
            const float *t = lut + j * 256;
            s0 += t[c0[j]];
            s1 += t[c1[j]];
            s2 += t[c2[j]];
            s3 += t[c3[j]];
        }
        out[i] = bias + sign * s0;
        out[i + 1] = bias + sign * s1;
        out[i + 2] = bias + sign * s2;
        out[i + 3] = bias + sign * s3;
    }
    for (; i < n; i++) {
        const uint8_t *c = codes + i * m;
        float s = 0;
        for (size_t j = 0; j < m; j++) s += lut[j * 256 + c[j]];
        out[i] = bias + sign * s;
    }
}
