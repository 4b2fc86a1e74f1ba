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
}
