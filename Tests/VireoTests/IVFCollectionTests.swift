import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct IVFCollectionTests {
    @Test("IVF_FLAT (nprobe = nlist is exact) and IVF_PQ with refine through the engine, across reopen", arguments: [Metric.l2, .ip, .cosine])
    func lifecycle(metric: Metric) async throws {
        let dim = 32
        let base = Datasets.embeddingLike(n: 3000, dim: dim, seed: 131)
        let queries = Datasets.embeddingLike(n: 40, dim: dim, seed: 132)
        let deleted = Set(stride(from: 3, to: 3000, by: 9))
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 1500
        var pqBefore: [[SearchHit]] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("ivf", dim: dim, metric: metric, shards: 2))
            try await c.insert(makeRows(base))
            try await c.delete(ids: deleted.map { .int(Int64($0)) })
            try await c.createIndex(.ivfFlat(field: "vec", nlist: 16))
            await c.waitForIndexBuilds()
            #expect(try c.indexStatus(field: "vec").isFinished)
            let exact = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 16)))
            #expect(HNSWCollectionTests.recall(exact, queries, base, metric: metric, excluded: deleted) == 1.0)
            // Replacing the index rebuilds every segment with the new spec.
            try await c.createIndex(.ivfPQ(field: "vec", nlist: 16, m: 8))
            await c.waitForIndexBuilds()
            #expect(c.shards.allSatisfy { $0.snapshot.sealed.allSatisfy { $0.indexes[0]?.matches(.ivfPQ(field: "vec", nlist: 16, m: 8, metric: metric), rows: 0) == true } })
            pqBefore = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 8, refineK: 4)))
            let r = HNSWCollectionTests.recall(pqBefore, queries, base, metric: metric, excluded: deleted)
            #expect(r >= 0.9, "metric \(metric): IVF_PQ recall@10 with refine \(r)")
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("ivf")
        #expect(c.builder.pendingBuilds == 0, "reopen must not rebuild")
        let after = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 8, refineK: 4)))
        #expect(after.map { $0.map(\.id) } == pqBefore.map { $0.map(\.id) })
    }

    @Test("IVF parameters are validated with the valid values in the message")
    func invalid() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("v", dim: 30))
        do {
            try await c.createIndex(.ivfPQ(field: "vec", nlist: 16, m: 7))
            Issue.record("m = 7 accepted for dimension 30")
        } catch let e as VireoError {
            #expect(e.message.contains("divide"), "\(e.message)")
        }
        #expect(throws: VireoError.self) { _ = try IndexSpec(field: "vec", milvusIndexType: "IVF_PQ", params: ["nlist": 16]) }
        try await c.insert(makeRows([Array(repeating: 1, count: 30)]))
        await #expect(throws: VireoError.self) { try await c.search(SearchRequest(vectors: [Array(repeating: 1, count: 30)], params: SearchParameters(nprobe: 0))) }
    }
}
