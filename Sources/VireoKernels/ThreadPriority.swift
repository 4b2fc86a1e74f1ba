import CVireoKernels

/// CPU priority of the calling thread.
package enum ThreadPriority {
    /// Sets the calling thread's nice value (Linux schedules each thread by its own); background work
    /// such as compaction runs at 10 so that searches and ingest get the CPU first.
    ///
    /// - Returns: whether it took effect.
    @discardableResult
    package static func setNice(_ value: Int32) -> Bool {
        vk_nice_current_thread(value) == 0
    }
}
