import Dispatch
import Foundation
import Vireo
import VireoKernels

/// How searches are issued and measured.
public struct RunSettings: Sendable, Hashable {
    /// Hits per query (`limit`); recall@r is reported for r ≤ k.
    public var k: Int = 10
    /// With `batch` 1: concurrent callers, each issuing one query per call. With `batch` > 1: one
    /// caller, and each call's queries are split over this many engine threads.
    public var threads: Int = 1
    /// Queries per search call (> 1 exercises the engine's batch/GEMM path).
    public var batch: Int = 1
    /// More call sizes measured at every point after `batch` (one record each), passes alternating
    /// between the sizes so each is measured under the same machine load.
    public var moreBatches: [Int] = []
    /// Every call size measured.
    public var batches: [Int] { [batch] + moreBatches.filter { $0 != batch } }
    /// Passes over the queries per point; the fastest is reported (the first also warms caches).
    public var runs: Int = 2
    /// Fraction of rows a filter lets through (`bucket < t` on a seeded uniform column); nil: no filter.
    public var filterSelectivity: Double?

    public init() {}
}

/// Runs a sweep against a ``SearchTarget`` and turns it into ``ResultRecord``s.
public enum Runner {
    /// Values 0..<`bucketRange` of the seeded `bucket` column.
    public static let bucketRange: Int64 = 10_000

    /// The `bucket` column for `rows` rows (seeded: the same on every run).
    public static func buckets(rows: Int, seed: UInt64 = 7) -> [Int64] {
        var g = SplitMix64(seed: seed)
        return (0..<rows).map { _ in Int64(g.next() % UInt64(bucketRange)) }
    }

    /// The filter expression letting `selectivity` of the rows through.
    public static func filter(selectivity: Double) -> String {
        "bucket < \(Int64((selectivity * Double(bucketRange)).rounded()))"
    }

    /// Loads, builds and sweeps; returns the build report and one record per point.
    public static func run(
        target: any SearchTarget, data: BenchData, plan: IndexPlan, points: [SearchPoint], settings: RunSettings,
        progress: ProgressBar
    ) async throws -> (BuildReport, [ResultRecord]) {
        guard settings.k >= 1, settings.k <= SearchRequest.maxLimit, settings.batches.allSatisfy({ $0 >= 1 }), settings.threads >= 1, settings.runs >= 1 else {
            throw BenchError("--k must be in 1...\(SearchRequest.maxLimit); --batch, --threads and --runs at least 1")
        }
        if let s = settings.filterSelectivity, !(s > 0 && s <= 1) {
            throw BenchError("--filter-selectivity must be in (0, 1], got \(s)")
        }
        try plan.spec(field: "vec", rows: data.base.count).validate(dimension: data.dimension)
        let buckets = settings.filterSelectivity.map { _ in Self.buckets(rows: data.base.count) }
        let filter = settings.filterSelectivity.map { Self.filter(selectivity: $0) }
        guard filter == nil || !data.base.isEmpty else { throw BenchError("no base rows") }
        let report = try await target.prepare(data, plan: plan, buckets: buckets, progress: progress)
        // Ground truth: the dataset's, or (filtered) the exact neighbours among the rows the filter
        // lets through, computed here with the engine's batch kernel (the same for every target).
        var truth = data.truth
        if let buckets, let s = settings.filterSelectivity {
            let threshold = Int64((s * Double(bucketRange)).rounded())
            let allowed = buckets.indices.filter { buckets[$0] < threshold }
            progress.start("exact filtered truth (\(allowed.count) rows pass)", total: data.queries.count)
            let sub = GroundTruth.compute(base: allowed.map { data.base[$0] }, queries: data.queries, k: min(max(settings.k, 100), allowed.count),
                                          metric: plan.metric, progress: { progress.advance($0) })
            truth = sub.map { $0.map { Int32(allowed[Int($0)]) } }
            progress.finish()
        }
        let indexBytes = try await target.storageBytes()
        let buildParams = plan.buildParams(rows: data.base.count)
        var records: [ResultRecord] = []
        let batches = settings.batches
        progress.start("search \(plan.kind.milvusName)", total: points.count * settings.runs * data.queries.count * batches.count)
        for point in points {
            var bests = [(ids: [[Int64]], seconds: Double, latency: LatencyRecorder)?](repeating: nil, count: batches.count)
            for _ in 0..<settings.runs {
                for (bi, size) in batches.enumerated() {
                    var s = settings
                    s.batch = size
                    let pass = try await measurePass(target: target, queries: data.queries, point: point, settings: s, filter: filter,
                                                     progress: progress)
                    if bests[bi] == nil || pass.seconds < bests[bi]!.seconds { bests[bi] = pass }
                }
            }
            for (bi, size) in batches.enumerated() {
            let b = bests[bi]!
            func recall(_ r: Int) -> Double? { Recall.at(r, results: b.ids, truth: truth, limit: settings.k) }
            records.append(ResultRecord(
                system: target.system, index: plan.kind.milvusName, params: buildParams + point.params,
                threads: settings.threads, batch: size, buildSeconds: report.buildSeconds,
                recallAt1: recall(1), recallAt10: recall(10), recallAt100: recall(100),
                qps: Double(data.queries.count) / b.seconds,
                p50Ms: b.latency.milliseconds(atPercentile: 50), p95Ms: b.latency.milliseconds(atPercentile: 95),
                p99Ms: b.latency.milliseconds(atPercentile: 99), rssMB: ProcessMemory.current().peak,
                indexBytes: indexBytes, dataset: data.name + (filter.map { " [\($0)]" } ?? ""), gitSHA: RunInfo.gitSHA))
            }
        }
        progress.finish()
        return (report, records)
    }

    /// One pass over all queries: calls of `batch` queries, from `threads` concurrent callers when
    /// `batch` is 1. Returns the ids per query, the wall time and each call's latency.
    static func measurePass(
        target: any SearchTarget, queries: [[Float]], point: SearchPoint, settings: RunSettings, filter: String?, progress: ProgressBar
    ) async throws -> (ids: [[Int64]], seconds: Double, latency: LatencyRecorder) {
        let calls = stride(from: 0, to: queries.count, by: settings.batch).map { $0..<min(queries.count, $0 + settings.batch) }
        let workers = settings.batch == 1 ? min(settings.threads, calls.count) : 1
        let t0 = DispatchTime.now().uptimeNanoseconds
        let parts = try await withThrowingTaskGroup(of: (LatencyRecorder, [(Int, [[Int64]])]).self) { group in
            for w in 0..<workers {
                group.addTask {
                    var latency = LatencyRecorder()
                    var out: [(Int, [[Int64]])] = []
                    for c in stride(from: w, to: calls.count, by: workers) {
                        let qs = Array(queries[calls[c]])
                        let s = DispatchTime.now().uptimeNanoseconds
                        let ids = try await target.search(qs, limit: settings.k, parameters: point.parameters, filter: filter)
                        latency.record(nanoseconds: DispatchTime.now().uptimeNanoseconds - s)
                        out.append((c, ids))
                        progress.advance(qs.count)
                    }
                    return (latency, out)
                }
            }
            var all: [(LatencyRecorder, [(Int, [[Int64]])])] = []
            for try await p in group { all.append(p) }
            return all
        }
        let wall = seconds(since: t0)
        var latency = LatencyRecorder()
        var ids = [[Int64]](repeating: [], count: queries.count)
        for (l, out) in parts {
            latency.add(l)
            for (c, r) in out {
                for (j, q) in calls[c].enumerated() { ids[q] = r[j] }
            }
        }
        return (ids, wall, latency)
    }
}
