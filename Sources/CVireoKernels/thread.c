// Thread scheduling and allocator helpers Swift cannot reach directly (gettid is not in Swift's Glibc
// module and syscall(2) is variadic; malloc_trim is in <malloc.h>, which that module leaves out).
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include "vireo_kernels.h"

int vk_malloc_fixed_thresholds(size_t mmap_threshold, size_t trim_threshold) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return 0;
#endif
}

int vk_malloc_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int vk_nice_current_thread(int nice_value) {
#if defined(__linux__)
    // On Linux each thread has its own nice value (PRIO_PROCESS with a thread id).
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice_value);
#else
    (void)nice_value;
    return -1;
#endif
}
