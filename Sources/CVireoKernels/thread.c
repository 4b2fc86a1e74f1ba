// Thread scheduling helpers Swift cannot reach directly (gettid is not in Swift's Glibc module and
// syscall(2) is variadic).
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "vireo_kernels.h"

int vk_nice_current_thread(int nice_value) {
#if defined(__linux__)
    // On Linux each thread has its own nice value (PRIO_PROCESS with a thread id).
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice_value);
#else
    (void)nice_value;
    return -1;
#endif
}
