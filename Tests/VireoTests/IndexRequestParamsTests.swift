import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// An index keeps the parameters as its creator sent them (Milvus' "user index params", echoed by
/// `DescribeIndex`): stored in the catalog with the index, in order, through a reopen; changing
/// only their spelling is not a different index (no rebuild).
@Suite struct IndexRequestParamsTests {
    @Test("request params survive a reopen in order, and a respelled create keeps the built index")
    func persisted() async throws {
        let dir = TemporaryDirectory()
        let sent: [IndexSpec.RequestParam] = [
            .init(key: "metric_type", value: "L2"), .init(key: "index_type", value: "HNSW"),
            .init(key: "params", value: #"{"M":8,"efConstruction":40}"#),
        ]
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(simpleSchema("p", dim: 8))
            try await c.insert(makeRows(Datasets.uniform(n: 300, dim: 8, seed: 5)))
            var spec = IndexSpec(field: "vec", kind: .hnsw, metric: .l2, hnsw: HNSWConfiguration(M: 8, efConstruction: 40))
            spec.requestParams = sent
            try await c.createIndex(spec)
            await c.waitForIndexBuilds()
            #expect(c.indexes.first?.requestParams == sent)
        }
        let db = try Database.open(at: dir.path)
        let c = try db.collection("p")
        #expect(c.indexes.count == 1)
        #expect(c.indexes.first?.requestParams == sent)
        #expect(c.indexes.first?.hnsw.M == 8)
        // Specs that differ only in how the client spelled them are the same index for the rebuild check.
        var respelled = try #require(c.indexes.first)
        respelled.requestParams = [.init(key: "M", value: "8"), .init(key: "efConstruction", value: "40")]
        await c.waitForIndexBuilds()
        #expect(try c.indexStatus(field: "vec").indexedRows == 300)
        try await c.createIndex(respelled)
        // A rebuild would detach the built indexes before scheduling new builds.
        #expect(try c.indexStatus(field: "vec").indexedRows == 300)
        #expect(c.indexes.first?.requestParams == respelled.requestParams)
    }
}
