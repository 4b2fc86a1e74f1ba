// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum on every stored blob.
#include "vireo_kernels.h"
#include <string.h>

static uint32_t crc_table[256];
static int crc_table_ready = 0;

static void crc_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : (c >> 1);
        crc_table[i] = c;
    }
    __atomic_store_n(&crc_table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc32c_soft(uint32_t crc, const unsigned char *p, size_t len) {
    // Racing initialisers write identical values, so a data race here is benign but we still publish
    // with release/acquire so readers never see a half-built table.
    if (!__atomic_load_n(&crc_table_ready, __ATOMIC_ACQUIRE)) crc_table_init();
    while (len--) crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t len) {
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t vk_crc32c(uint32_t crc, const void *data, size_t len) {
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) {
        crc = crc32c_hw(crc, (const unsigned char *)data, len);
    } else {
        crc = crc32c_soft(crc, (const unsigned char *)data, len);
    }
#else
    crc = crc32c_soft(crc, (const unsigned char *)data, len);
#endif
    return ~crc;
}

uint32_t vk_crc32c_portable(uint32_t crc, const void *data, size_t len) {
    return ~crc32c_soft(~crc, (const unsigned char *)data, len);
}
