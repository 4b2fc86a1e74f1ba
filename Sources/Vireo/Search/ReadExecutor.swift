import Dispatch
import Synchronization

/// Whether a read should stop: its deadline passed or its task was cancelled. Checked by the engine
/// between segments and blocks (and by queries between rows), from whatever thread runs the work,
/// so a request past its deadline, or whose client went away, stops instead of running on.
final class WorkBudget: Sendable {
    let deadline: ContinuousClock.Instant?
    private let cancelled = Atomic<Bool>(false)

    init(deadline: ContinuousClock.Instant?) { self.deadline = deadline }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Whether the work should stop now.
    var isExpired: Bool {
        if cancelled.load(ordering: .relaxed) { return true }
        if let deadline, ContinuousClock.now >= deadline { return true }
        return false
    }

    /// Throws the error that says why the work stopped, if it should.
    func check(_ what: @autoclosure () -> String) throws {
        if cancelled.load(ordering: .relaxed) {
            throw VireoError(.cancelled, kind: .unavailable, "\(what()) was cancelled (the caller went away)")
        }
        if let deadline, ContinuousClock.now >= deadline {
            throw VireoError(.deadlineExceeded, kind: .unavailable, "\(what()) passed its deadline and was stopped; give it more time or narrow it (fewer queries, a smaller limit, a more selective filter)")
        }
    }
}

/// Runs the blocking part of searches and queries (SIMD and GEMM scans, graph walks, filter passes,
/// `concurrentPerform`) on its own threads, never on Swift's cooperative pool, with a bound on how
/// many run and wait: past it a read is refused at once (``VireoError/Code/overloaded``) instead of
/// queueing without limit — load shedding a server turns into 503 / `UNAVAILABLE` with a retry hint.
final class ReadExecutor: Sendable {
    private let queue = DispatchQueue(label: "vireo.reads", qos: .userInitiated, attributes: .concurrent)
    private let slots: DispatchSemaphore
    private let admitted = Atomic<Int>(0)
    let maxRunning: Int
    let maxAdmitted: Int

    /// - Parameters:
    ///   - maxRunning: reads running at once (each may use several cores through its own fan-out).
    ///   - maxQueued: reads waiting for a slot beyond those; more are refused.
    init(maxRunning: Int, maxQueued: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxAdmitted = self.maxRunning + max(0, maxQueued)
        slots = DispatchSemaphore(value: self.maxRunning)
    }

    /// Runs `work` on the executor's threads and returns its result; cancelling the calling task
    /// marks `budget` cancelled, which the work checks.
    ///
    /// - Parameter inline: run on the calling thread instead (admission still counts): for work that
    ///   neither fans out nor waits — one query's graph walk or scan — where a thread hop would cost
    ///   more than the work; the cooperative pool itself bounds how many run at once.
    func run<T: Sendable>(_ budget: WorkBudget, _ what: String, inline: Bool = false,
                          _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let n = admitted.wrappingAdd(1, ordering: .relaxed).newValue
        guard n <= maxAdmitted else {
            admitted.wrappingSubtract(1, ordering: .relaxed)
            throw VireoError(.overloaded, kind: .unavailable, "the server is busy: \(maxAdmitted) searches and queries are running or queued; retry shortly")
        }
        if inline {
            defer { admitted.wrappingSubtract(1, ordering: .relaxed) }
            if Task.isCancelled { budget.cancel() }
            try budget.check(what)
            return try work()
        }
        // The work (and what it captures: collections, snapshots) is released before the caller
        // resumes, so a caller that drops its database right after the read can reopen the directory.
        let slot = WorkSlot(work)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
                queue.async { [self] in
                    slots.wait()
                    let result: Result<T, any Error>
                    do {
                        let work = slot.take()
                        result = Result {
                            try budget.check(what)  // it may have expired while it waited
                            return try work()
                        }
                    }
                    slots.signal()
                    admitted.wrappingSubtract(1, ordering: .relaxed)
                    c.resume(with: result)
                }
            }
        } onCancel: {
            budget.cancel()
        }
    }
}

/// Holds a read's work until the executor's thread takes it, so the closure (and what it captures)
/// is released by that thread as soon as it ran, not whenever the dispatch block is freed.
private final class WorkSlot<T: Sendable>: Sendable {
    private let work: Mutex<(@Sendable () throws -> T)?>

    init(_ work: @escaping @Sendable () throws -> T) { self.work = Mutex(work) }

    func take() -> @Sendable () throws -> T {
        work.withLock { w in
            defer { w = nil }
            return w!
        }
    }
}
