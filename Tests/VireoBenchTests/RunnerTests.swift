import Foundation
import Testing
import Vireo
@testable import VireoBenchKit
import VireoTestSupport

@Suite("Runner through the engine in-process")
struct RunnerTests {
    static func data(seed: UInt64) -> BenchData {
        let base = Datasets.clustered(n: 1_500, dim: 16, clusters: 12, seed: seed)
        let queries = Datasets.clustered(n: 40, dim: 16, clusters: 12, seed: seed + 1)
        let truth = queries.map { q in Oracle.nearest(q, in: base, k: 100, metric: .l2).map { Int32($0.index) } }
        return BenchData(name: "seeded-\(seed)", base: base, queries: queries, truth: truth)
    }

    @Test("FLAT finds the exact neighbours: recall@1/10/100 are 1, one record per point, build and size reported",
          arguments: [(1, 1), (2, 1), (2, 8)])
    func flatIsExact(threads: Int, batch: Int) async throws {
        let dir = TemporaryDirectory("bench-run")
        let target = InProcessTarget(directory: "\(dir.path)/db", searchThreads: threads, buildThreads: 2)
        var s = RunSettings()
        s.k = 100
        s.threads = threads
        s.batch = batch
        s.runs = 1
        let (report, records) = try await Runner.run(target: target, data: Self.data(seed: 21), plan: IndexPlan(kind: .flat, metric: .l2),
                                                     points: SearchPoint.sweep(.flat, ef: [], nprobe: [], refine: []), settings: s,
                                                     progress: ProgressBar(enabled: false))
        await target.cleanup()
        #expect(report.rows == 1_500 && report.sealedSegments == 1)
        let r = try #require(records.first)
        #expect(records.count == 1)
        #expect(r.recallAt1 == 1 && r.recallAt10 == 1 && r.recallAt100 == 1, "threads \(threads) batch \(batch)")
        #expect(r.qps > 0 && r.p50Ms != nil && r.p99Ms! >= r.p50Ms! && (r.indexBytes ?? 0) > 1_500 * 16 * 4)
        #expect(r.threads == threads && r.batch == batch && r.index == "FLAT")
    }

    @Test("an HNSW sweep gives one record per ef, recall rising to ≥ 0.95 at ef 128; recall@100 unknown with k 10")
    func hnswSweep() async throws {
        let dir = TemporaryDirectory("bench-run")
        let target = InProcessTarget(directory: "\(dir.path)/db", searchThreads: 1, buildThreads: 2)
        var plan = IndexPlan(kind: .hnsw, metric: .l2)
        plan.M = 8
        plan.efConstruction = 64
        var s = RunSettings()
        s.runs = 1
        let (_, records) = try await Runner.run(target: target, data: Self.data(seed: 31), plan: plan,
                                                points: SearchPoint.sweep(.hnsw, ef: [10, 128], nprobe: [], refine: []), settings: s,
                                                progress: ProgressBar(enabled: false))
        await target.cleanup()
        #expect(records.map(\.paramsText) == ["M=8 efConstruction=64 ef=10", "M=8 efConstruction=64 ef=128"])
        #expect(records[1].recallAt10! >= 0.95 && records[1].recallAt10! >= records[0].recallAt10!)
        #expect(records.allSatisfy { $0.recallAt100 == nil && $0.recallAt1 != nil && ($0.buildSeconds ?? 0) > 0 })
        #expect(Set(records.map(\.curveName)).count == 1)
    }

    @Test("filtered search is measured against the exact neighbours among the rows that pass (IVF_FLAT probing every list is exact)")
    func filtered() async throws {
        let dir = TemporaryDirectory("bench-run")
        let target = InProcessTarget(directory: "\(dir.path)/db", searchThreads: 1, buildThreads: 2)
        var plan = IndexPlan(kind: .ivfFlat, metric: .l2)
        plan.nlist = 8
        var s = RunSettings()
        s.runs = 1
        s.filterSelectivity = 0.2
        let (_, records) = try await Runner.run(target: target, data: Self.data(seed: 41), plan: plan,
                                                points: SearchPoint.sweep(.ivfFlat, ef: [], nprobe: [8], refine: []), settings: s,
                                                progress: ProgressBar(enabled: false))
        // The filtered hits all pass the filter.
        let buckets = Runner.buckets(rows: 1_500)
        let ids = try await target.search(Self.data(seed: 41).queries, limit: 10, parameters: SearchParameters(nprobe: 8), filter: Runner.filter(selectivity: 0.2))
        await target.cleanup()
        #expect(ids.allSatisfy { $0.count == 10 && $0.allSatisfy { buckets[Int($0)] < 2_000 } })
        #expect(records[0].recallAt10 == 1 && records[0].dataset.contains("bucket < 2000"))
        // And the engine's own exact filtered search agrees with the truth the runner used.
        let data = Self.data(seed: 41)
        let allowed = buckets.indices.filter { buckets[$0] < 2_000 }
        for (q, hits) in ids.enumerated() {
            let want = Oracle.nearest(data.queries[q], in: allowed.map { data.base[$0] }, k: 10, metric: .l2).map { Int64(allowed[$0.index]) }
            #expect(hits == want, "query \(q)")
        }
    }

    @Test("bad settings fail with a message before anything runs")
    func badSettings() async throws {
        var s = RunSettings()
        s.filterSelectivity = 1.5
        let target = InProcessTarget(directory: NSTemporaryDirectory() + "unused-\(UUID().uuidString)", searchThreads: 1, buildThreads: 1)
        await #expect(throws: BenchError.self) {
            _ = try await Runner.run(target: target, data: Self.data(seed: 1), plan: IndexPlan(kind: .flat, metric: .l2), points: [],
                                     settings: s, progress: ProgressBar(enabled: false))
        }
        #expect(throws: BenchError.self) { _ = try RESTTarget(url: "http://x") }
        #expect(try RESTTarget(url: "rest://localhost:19530").port == 19530)
    }
}
