import Foundation
import Testing
@testable import Vireo
import VireoIndex
import VireoTestSupport

@Suite struct HNSWCollectionTests {
    static func recall(_ results: [[SearchHit]], _ queries: [[Float]], _ base: [[Float]], metric: Metric, excluded: Set<Int> = []) -> Double {
        var found = 0
        for (i, q) in queries.enumerated() {
            let truth = Set(Oracle.nearest(q, in: base, k: 10, metric: metric, excluded: excluded).map { PrimaryKey.int(Int64($0.index)) })
            found += results[i].filter { truth.contains($0.id) }.count
        }
        return Double(found) / Double(10 * queries.count)
    }

    @Test("an HNSW index built in the background serves searches with recall ≥ 0.95, survives reopen, and drops back to exact", arguments: Metric.dense)
    func lifecycle(metric: Metric) async throws {
        let dim = 32
        let base = Datasets.embeddingLike(n: 3000, dim: dim, seed: 31)
        let queries = Datasets.embeddingLike(n: 50, dim: dim, seed: 32)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 1000
        let deleted = Set(stride(from: 0, to: 3000, by: 10))
        var before: [[SearchHit]] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("h", dim: dim, metric: metric, shards: 2))
            try await c.insert(makeRows(base))
            try await c.delete(ids: deleted.map { .int(Int64($0)) })
            try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100))
            await c.waitForIndexBuilds()
            let status = try c.indexStatus(field: "vec")
            #expect(status.isFinished && status.totalRows == 3000 && status.growingRows == 0, "\(status)")
            #expect(c.shards.allSatisfy { $0.snapshot.sealed.allSatisfy { $0.indexes[0] != nil } })
            for s in c.shards {
                for seg in s.snapshot.sealed {
                    let graph = seg.indexes[0] as? IndexEnvelope<HNSWIndex>
                    #expect(graph != nil && graph!.metric == metric)
                    #expect(graph?.inner.checkInvariants() == nil)
                }
            }
            before = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64)))
            let r = Self.recall(before, queries, base, metric: metric, excluded: deleted)
            #expect(r >= 0.95, "metric \(metric): recall@10 \(r)")
            for hits in before { for h in hits { if case let .int(i) = h.id { #expect(!deleted.contains(Int(i))) } } }
            // Exact on request equals the oracle.
            let exact = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true)))
            #expect(Self.recall(exact, queries, base, metric: metric, excluded: deleted) == 1.0)
        }
        // Reopen: the graphs are mapped in place, no rebuild, identical results.
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("h")
        #expect(c.indexes == [.hnsw(field: "vec", M: 16, efConstruction: 100, metric: metric)], "the index keeps the field's metric")
        #expect(c.builder.pendingBuilds == 0, "reopen must not rebuild")
        let after = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64)))
        #expect(after.map { $0.map(\.id) } == before.map { $0.map(\.id) })
        try await c.dropIndex(field: "vec")
        #expect(c.shards.allSatisfy { $0.snapshot.sealed.allSatisfy { $0.indexes.isEmpty } })
        // Without an index the field has no metric of its own: the request names it (Milvus' model).
        #expect(c.metric(of: "vec") == nil)
        let exactAgain = try await c.search(SearchRequest(vectors: queries, limit: 10, metric: metric))
        #expect(Self.recall(exactAgain, queries, base, metric: metric, excluded: deleted) == 1.0)
    }

    @Test("searches and writes go on while an index builds; results never miss rows")
    func searchDuringBuild() async throws {
        let dim = 32
        let base = Datasets.embeddingLike(n: 6000, dim: dim, seed: 41)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 3000
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("b", dim: dim, metric: .l2))
        try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 200))
        var g = SeededGenerator(seed: 99)
        // Hold the builder so the first segment's build is certainly pending while we write and search.
        c.builder.suspend()
        try await c.insert(makeRows(Array(base[0..<3000])))  // seals: a build is queued
        #expect(c.builder.pendingBuilds == 1)
        var searchesDuringBuild = 0
        var written = 3000
        while c.builder.pendingBuilds > 0 || written < 6000 {
            if written == 4500 { c.builder.resume() }
            if written < 6000 {
                try await c.insert(makeRows(Array(base[written..<(written + 500)]), firstID: Int64(written)))
                written += 500
            }
            // Every row that exists is findable by its own vector, indexed or not yet.
            let probe = Int.random(in: 0..<written, using: &g)
            let hit = try await c.search(SearchRequest(vectors: [base[probe]], limit: 1, params: SearchParameters(ef: 64)))
            #expect(hit[0].first?.id == .int(Int64(probe)), "row \(probe) not found during the build")
            if c.builder.pendingBuilds > 0 { searchesDuringBuild += 1 }
            await Task.yield()
        }
        await c.waitForIndexBuilds()
        #expect(searchesDuringBuild > 0, "the build finished before any search could overlap it")
        #expect(c.count() == 6000)
        #expect(try c.indexStatus(field: "vec").isFinished)
    }

    @Test("invalid index parameters and search ef are rejected with their ranges")
    func invalid() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("v", dim: 4))
        await #expect(throws: VireoError.self) { try await c.createIndex(.hnsw(field: "vec", M: 1)) }
        await #expect(throws: VireoError.self) { try await c.createIndex(.hnsw(field: "tag")) }
        #expect(throws: VireoError.self) { _ = try IndexSpec(field: "vec", milvusIndexType: "DISKANN") }
        try await c.insert(makeRows([[1, 2, 3, 4]]))
        await #expect(throws: VireoError.self) { try await c.search(SearchRequest(vectors: [[1, 2, 3, 4]], params: SearchParameters(ef: 0))) }
    }
}

