import Foundation
import Synchronization
import Vireo

/// Milvus' manual compaction as clients see it: `compact` answers at once with a job id and the job
/// runs in the background (``Collection/compact()``); `get_compaction_state` and
/// `get_compaction_plans` report on it. The server keeps the newest ``CompactionJobs/capacity`` jobs.
public struct CompactionJob: Sendable {
    public enum State: Sendable, Hashable {
        case executing, completed, failed
    }

    public var id: Int64
    public var collection: String
    public var state: State
    /// Plans known when the job started (groups of segments to rewrite, plus a growing segment to
    /// seal first), for `compactionPlanCount`.
    public var plannedCount: Int
    public var report: CompactionReport?
    public var failure: String?

    /// Milvus reports a job as Executing or Completed; a failed job is Completed with failed plans.
    public var isFinished: Bool { state != .executing }
    /// Plans still running, done, and failed, as Milvus counts them.
    public var executingPlans: Int { state == .executing ? plannedCount : 0 }
    public var completedPlans: Int { state == .completed ? report?.merges.count ?? 0 : 0 }
    public var failedPlans: Int { state == .failed ? max(1, plannedCount) : 0 }
}

/// The registry of compaction jobs (bounded; oldest forgotten first).
final class CompactionJobs: Sendable {
    static let capacity = 1000
    private let jobs = Mutex<(next: Int64, byID: [Int64: CompactionJob], order: [Int64])>(
        (next: Int64(Date().timeIntervalSince1970 * 1000) << 16, byID: [:], order: []))

    func start(collection: String, planned: Int) -> Int64 {
        jobs.withLock { j in
            j.next += 1
            let id = j.next
            j.byID[id] = CompactionJob(id: id, collection: collection, state: .executing, plannedCount: planned)
            j.order.append(id)
            if j.order.count > Self.capacity { j.byID[j.order.removeFirst()] = nil }
            return id
        }
    }

    func finish(_ id: Int64, _ outcome: Result<CompactionReport, any Error>) {
        jobs.withLock { j in
            switch outcome {
            case let .success(r):
                j.byID[id]?.state = .completed
                j.byID[id]?.report = r
            case let .failure(e):
                j.byID[id]?.state = .failed
                j.byID[id]?.failure = "\(e)"
            }
        }
    }

    func job(_ id: Int64) -> CompactionJob? { jobs.withLock { $0.byID[id] } }

    /// The newest job of `collection`.
    func latest(of collection: String) -> CompactionJob? {
        jobs.withLock { j in
            for id in j.order.reversed() {
                if let job = j.byID[id], job.collection == collection { return job }
            }
            return nil
        }
    }
}

extension MilvusHandlers {
    /// Starts compacting collection `name`; returns the job id and the plans known at the start.
    public func compact(_ name: String) async throws(APIError) -> (id: Int64, plans: Int) {
        try await mapped {
            let c = try collection(name)
            let planned = c.compactionPlanCount()
            let id = compactions.start(collection: name, planned: planned)
            let jobs = compactions
            Task.detached(priority: .utility) {
                do {
                    jobs.finish(id, .success(try await c.compact()))
                } catch {
                    jobs.finish(id, .failure(error))
                }
            }
            return (id, planned)
        }
    }

    /// A compaction job by id (nil: unknown, e.g. forgotten or from another server process).
    public func compactionJob(_ id: Int64) -> CompactionJob? { compactions.job(id) }

    /// The newest compaction job of collection `name`.
    public func latestCompactionJob(_ name: String) throws(APIError) -> CompactionJob? {
        do { _ = try collection(name) } catch { throw ErrorTable.apiError(error) }
        return compactions.latest(of: name)
    }
}
