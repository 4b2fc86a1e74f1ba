import Dispatch
import Synchronization
import VireoIndex

/// The index specs of one collection, shared by the collection and its shards.
final class IndexRegistry: Sendable {
    /// By ``IndexSpec/registryKey``: the field for most indexes, the name for JSON path indexes.
    private let specs: Mutex<[String: IndexSpec]>

    init(_ specs: [IndexSpec]) {
        self.specs = Mutex(Dictionary(specs.map { ($0.registryKey, $0) }, uniquingKeysWith: { $1 }))
    }

    /// The index of `field` (nil for JSON path indexes, see ``jsonPathSpecs(field:)``).
    func spec(for field: String) -> IndexSpec? { specs.withLock { $0[field] } }
    var all: [IndexSpec] { specs.withLock { $0.values.sorted { ($0.field, $0.indexName) < ($1.field, $1.indexName) } } }
    func set(_ spec: IndexSpec) { specs.withLock { $0[spec.registryKey] = spec } }
    func remove(_ field: String) { specs.withLock { _ = $0.removeValue(forKey: field) } }
    func remove(key: String) { specs.withLock { _ = $0.removeValue(forKey: key) } }
    /// The JSON path indexes of `field`.
    func jsonPathSpecs(field: String) -> [IndexSpec] {
        specs.withLock { $0.values.filter { $0.field == field && $0.jsonPath != nil } }
    }
    /// Whether any JSON path index exists (filters skip the lookup otherwise).
    var hasJSONPathSpecs: Bool { specs.withLock { $0.values.contains { $0.jsonPath != nil } } }
}

/// Builds indexes off the write path: one build at a time on its own thread (each build uses
/// `Configuration.indexBuildThreads` cores), in the order segments sealed. Writes and searches go on
/// meanwhile; a segment is searched exactly until its index is attached.
final class IndexBuilder: Sendable {
    private let queue = DispatchQueue(label: "vireo.index-builder", qos: .utility)
    private let state = Mutex(State())

    private struct State {
        var pending = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var current: IndexBuildProgress?
    }

    /// Queues a build of `rows` rows; `job` receives the progress object to update.
    func schedule(rows: Int, _ job: @escaping @Sendable (IndexBuildProgress) -> Void) {
        state.withLock { $0.pending += 1 }
        queue.async { [self] in
            let progress = IndexBuildProgress(total: rows)
            state.withLock { $0.current = progress }
            job(progress)
            let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
                s.pending -= 1
                s.current = nil
                guard s.pending == 0 else { return [] }
                defer { s.waiters.removeAll() }
                return s.waiters
            }
            for w in waiters { w.resume() }
        }
    }

    /// Holds queued builds until ``resume()`` (tests use it to overlap writes and searches with
    /// pending builds deterministically).
    func suspend() { queue.suspend() }
    func resume() { queue.resume() }

    /// Rows inserted so far by the running build (0 when idle).
    var currentProgress: Int { state.withLock { $0.current?.done ?? 0 } }

    /// Builds queued or running.
    var pendingBuilds: Int { state.withLock { $0.pending } }

    /// Returns once no build is queued or running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { s -> Bool in
                if s.pending == 0 { return true }
                s.waiters.append(c)
                return false
            }
            if resumeNow { c.resume() }
        }
    }
}
