import CVireoKernels

/// The process' memory allocator.
package enum Allocator {
    /// Gives the free memory in the allocator's heaps back to the system (glibc `malloc_trim(0)`:
    /// free pages of every arena, not only the top of the main heap).
    ///
    /// Why: glibc keeps what a thread freed in that thread's arena, and fragmentation keeps it from
    /// shrinking. After ingesting and sealing dev (50,000 × 384) the arenas held about 19 MiB of
    /// freed request buffers and batch records for good (`vireo-bench run`, `/proc/<pid>/smaps`;
    /// trimming from a debugger took RssAnon 111 → 92 MiB). The engine calls this after the work that
    /// frees a lot at once (a seal, an index attached, a compaction); it costs a walk of the arenas'
    /// free lists, milliseconds. With another allocator (jemalloc, tcmalloc: they purge on their own)
    /// it does nothing.
    package static func releaseFreePages() {
        _ = vk_malloc_trim()
    }

    /// Fixes glibc malloc's thresholds: blocks of `mmapBytes` or more get their own mapping (given
    /// back when freed) and a heap gives back its free top past `trimBytes`.
    ///
    /// Why: glibc starts at 128 KiB / 128 KiB and raises both after a large block is freed, up to
    /// 32 MiB / 64 MiB, so after ingest and a seal free their multi-MiB buffers, later buffers of that
    /// size come from the heaps and stay there once freed. Measured on dev (`vireo-bench run --index
    /// hnsw`, GLIBC_TUNABLES with 1 MiB / 1 MiB): two arenas held 21 MiB with 19 KiB in use
    /// (`malloc_stats`), and the process' peak went 217 → 205 MiB with no change in QPS (a buffer
    /// of a MiB or more costs one `mmap` and its page faults, against a search call that uses it for
    /// milliseconds).
    ///
    /// - Returns: whether both took effect (false with another C library).
    @discardableResult
    package static func useFixedThresholds(mmapBytes: Int = 1 << 20, trimBytes: Int = 1 << 20) -> Bool {
        vk_malloc_fixed_thresholds(mmapBytes, trimBytes) == 1
    }
}
