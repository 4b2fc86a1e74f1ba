// Shared by the kernel sources (not part of the module's public headers).
#ifndef VIREO_VK_COMMON_H
#define VIREO_VK_COMMON_H

// Compile a function for AVX-512, AVX2+FMA and baseline x86-64; the loader picks the widest one the
// CPU supports (function multi-versioning), so one binary is both portable and fast.
#if defined(__x86_64__) && defined(__clang__)
#define VK_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VK_MULTIVERSION
#endif

#endif
