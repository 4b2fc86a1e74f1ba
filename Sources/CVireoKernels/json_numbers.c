// JSON number arrays straight to floats: the bulk of an insert request body is vectors printed as
// text, and this loop is where a REST insert spends its time.
//
// Only the common form is handled here (at most 19 significant digits, a decimal exponent that
// leaves the value within Clinger's fast path: mantissa <= 2^53, power of ten within +-22, one exactly
// rounded multiplication or division in double, then rounded to float). At any other element it stops
// and returns VK_JSON_NUMBER: the caller's general parser reads that one element exactly (or rejects it)
// and calls back to continue after it. Malformed separators return VK_JSON_FALLBACK, and the caller
// reparses the array with the general parser, which reports errors with positions.
#include "vireo_kernels.h"
#include <string.h>

static const double vk_pow10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

// Eight ASCII digits at once (SWAR): the bytes, read little-endian, are all '0'...'9' exactly when
// adding 0x46 to each leaves the high bit clear (byte <= '9') and subtracting 0x30 borrows nowhere
// (byte >= '0'); their value is then three multiplications, pairing digits, then pairs, then quads.
static inline uint64_t vk_load8(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline int vk_eight_digits(uint64_t v) {
    return !(((v + 0x4646464646464646ull) | (v - 0x3030303030303030ull)) & 0x8080808080808080ull);
}
static inline uint64_t vk_eight_digits_value(uint64_t v) {
    v -= 0x3030303030303030ull;
    v = v * 10 + (v >> 8);  // each byte pair: 10*first + second (in the low byte of each 16 bits)
    v = (((v & 0x000000FF000000FFull) * 0x000F424000000064ull) +
         (((v >> 16) & 0x000000FF000000FFull) * 0x0000271000000001ull)) >> 32;
    return v;
}

/// Digits at s[*i...] appended to *mantissa; returns how many.
static inline size_t vk_digits(const unsigned char *s, size_t len, size_t *i, uint64_t *mantissa) {
    size_t start = *i;
    size_t k = start;
    uint64_t m = *mantissa;
    while (k + 8 <= len) {
        uint64_t v = vk_load8(s + k);
        if (!vk_eight_digits(v)) break;
        m = m * 100000000ull + vk_eight_digits_value(v);
        k += 8;
    }
    while (k < len && (unsigned)(s[k] - '0') <= 9) { m = m * 10 + (unsigned)(s[k] - '0'); k++; }
    *i = k;
    *mantissa = m;
    return k - start;
}

static inline int vk_is_space(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }
static inline unsigned vk_digit(unsigned char c) { return (unsigned)(c - '0'); }

int vk_json_floats(const unsigned char *s, size_t len, size_t *pos, int after_value, float *out, size_t cap, size_t *count) {
    size_t i = *pos;
    size_t n = *count;
    if (!after_value) {
        if (i >= len || s[i] != '[') return VK_JSON_FALLBACK;
        i++;
        while (i < len && vk_is_space(s[i])) i++;
        if (i < len && s[i] == ']') { *pos = i + 1; return VK_JSON_END; }
    }
    for (;;) {
        if (after_value) {
            while (i < len && vk_is_space(s[i])) i++;
            if (i >= len) return VK_JSON_FALLBACK;
            if (s[i] == ']') { *pos = i + 1; *count = n; return VK_JSON_END; }
            if (s[i] != ',') return VK_JSON_FALLBACK;
            i++;
        }
        after_value = 1;
        while (i < len && vk_is_space(s[i])) i++;
        if (i >= len) return VK_JSON_FALLBACK;
        size_t number_start = i;
        int negative = 0;
        if (s[i] == '-') { negative = 1; i++; }
        size_t int_start = i;
        uint64_t mantissa = 0;
        size_t int_digits = vk_digits(s, len, &i, &mantissa);
        size_t frac_digits = 0;
        int has_exponent = 0;
        int exponent = 0;
        int handled = int_digits > 0 && !(int_digits > 1 && s[int_start] == '0');
        if (handled && i < len && s[i] == '.') {
            i++;
            frac_digits = vk_digits(s, len, &i, &mantissa);
            handled = frac_digits > 0;
        }
        handled = handled && int_digits + frac_digits <= 19;
        if (handled && i < len && (s[i] == 'e' || s[i] == 'E')) {
            has_exponent = 1;
            i++;
            int negative_exponent = 0;
            if (i < len && (s[i] == '+' || s[i] == '-')) { negative_exponent = s[i] == '-'; i++; }
            size_t exp_start = i;
            while (i < len && vk_digit(s[i]) <= 9 && i - exp_start < 4) { exponent = exponent * 10 + (int)vk_digit(s[i]); i++; }
            handled = i > exp_start && !(i < len && vk_digit(s[i]) <= 9);
            if (negative_exponent) exponent = -exponent;
        }
        double value = 0.0;
        if (handled) {
            if (mantissa == 0 && frac_digits == 0 && !has_exponent) {
                value = 0.0;  // "-0" is the integer 0
            } else {
                int e = exponent - (int)frac_digits;
                if (mantissa > (1ull << 53) || e < -22 || e > 22) {
                    handled = 0;
                } else {
                    double m = (double)mantissa;
                    value = e < 0 ? m / vk_pow10[-e] : m * vk_pow10[e];
                    if (negative) value = -value;
                }
            }
        }
        if (!handled) {
            // Not in the fast path (or not a number): the caller decides.
            *pos = number_start;
            *count = n;
            return VK_JSON_NUMBER;
        }
        if (n >= cap) return VK_JSON_FALLBACK;
        out[n++] = (float)value;
    }
}
