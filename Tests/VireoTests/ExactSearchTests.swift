import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct ExactSearchTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var metric: Metric
        var nq: Int
        var shards: Int
        var testDescription: String { "\(metric) nq=\(nq) shards=\(shards)" }
    }

    static let cases: [Case] = Metric.dense.flatMap { m in
        [Case(metric: m, nq: 1, shards: 1), Case(metric: m, nq: 1000, shards: 1), Case(metric: m, nq: 1000, shards: 3), Case(metric: m, nq: 7, shards: 2)]
    }

    @Test("exact search equals the naive oracle over sealed and growing segments with deletes", arguments: cases)
    func matchesOracle(_ c: Case) async throws {
        let seed: UInt64 = 42
        let dim = 24
        let n = 2500
        let data = Datasets.clustered(n: n, dim: dim, clusters: 20, seed: seed)
        let queries = Datasets.clustered(n: c.nq, dim: dim, clusters: 20, seed: seed + 1)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 700
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("x", dim: dim, metric: c.metric, shards: c.shards))
        for start in stride(from: 0, to: n, by: 400) {
            try await coll.insert(makeRows(Array(data[start..<min(n, start + 400)]), firstID: Int64(start)))
        }
        let deleted = Set(stride(from: 1, to: n, by: 7))
        try await coll.delete(ids: deleted.map { .int(Int64($0)) })
        #expect(coll.statistics().contains { $0.sealedSegments > 0 }, "the case must cover sealed segments")
        #expect(coll.statistics().contains { $0.growingRows > 0 }, "the case must cover growing segments")

        let k = 10
        let results = try await coll.search(SearchRequest(vectors: queries, limit: k, outputFields: ["tag"]))
        #expect(results.count == c.nq)
        for (qi, q) in queries.enumerated() {
            let truth = Oracle.nearest(q, in: data, k: k, metric: c.metric, excluded: deleted)
            let got = results[qi]
            #expect(got.map(\.id) == truth.map { .int(Int64($0.index)) }, "seed \(seed) query \(qi)")
            for (h, t) in zip(got, truth) {
                let expected = Oracle.score(t.distance, metric: c.metric)
                #expect(abs(Double(h.score) - expected) <= 2e-3 * max(1, abs(expected)), "query \(qi): score \(h.score) vs \(expected)")
                if case let .int(i) = h.id { #expect(h.fields["tag"] == .string("t\(i)")) }
            }
        }
    }

    @Test("k larger than the collection returns every live row, best first")
    func kLargerThanCount() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("x", dim: 3, metric: .ip))
        try await c.insert(makeRows([[1, 0, 0], [0.5, 0, 0], [0.1, 0, 0]]))
        let hits = try await c.search(SearchRequest(vectors: [[1, 0, 0]], limit: 50))
        #expect(hits[0].map(\.id) == [.int(0), .int(1), .int(2)])
        #expect(hits[0].map(\.score) == [1, 0.5, 0.1].map { Float($0) })
    }

    @Test("searching an empty collection returns empty lists")
    func empty() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("x", dim: 3))
        let hits = try await c.search(SearchRequest(vectors: [[1, 0, 0], [0, 1, 0]], limit: 5))
        #expect(hits == [[], []])
    }

    @Test("multiple vector fields: search targets the named one")
    func multipleVectorFields() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(CollectionSchema(name: "m", fields: [
            .int64PrimaryKey(), .floatVector("a", dimension: 2, metric: .l2), .floatVector("b", dimension: 3, metric: .ip),
        ]))
        try await c.insert([
            ["id": .int(1), "a": .floatVector([0, 0]), "b": .floatVector([0, 0, 1])],
            ["id": .int(2), "a": .floatVector([5, 5]), "b": .floatVector([1, 0, 0])],
        ])
        await #expect(throws: VireoError.self) { try await c.search(SearchRequest(vectors: [[0, 0]])) }
        let byA = try await c.search(SearchRequest(vectors: [[0, 0]], annsField: "a", limit: 1))
        let byB = try await c.search(SearchRequest(vectors: [[1, 0, 0]], annsField: "b", limit: 1, outputFields: ["a"]))
        #expect(byA[0].first?.id == .int(1))
        #expect(byB[0].first?.id == .int(2))
        #expect(byB[0].first?.fields["a"] == .floatVector([5, 5]))
    }
}
