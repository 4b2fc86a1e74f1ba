import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// `SearchParameters.ignoreGrowing` (Milvus' `ignore_growing`): only sealed segments are searched.
@Suite struct SearchIgnoreGrowingTests {
    @Test("ignoreGrowing returns the oracle's neighbours among sealed rows only; without it, among all rows", arguments: [1, 3])
    func sealedOnly(shards: Int) async throws {
        let dim = 8
        let base = Datasets.uniform(n: 120, dim: dim, seed: 41)
        let queries = Datasets.uniform(n: 6, dim: dim, seed: 42)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("g", dim: dim, shards: shards))
        try await c.insert(makeRows(Array(base[0..<80])))
        try await c.flush()  // rows 0..<80 sealed
        try await c.insert(makeRows(Array(base[80...]), firstID: 80))  // rows 80..<120 growing
        try await c.delete(ids: [.int(3), .int(90)])
        let excluded: Set<Int> = [3, 90]
        for ignore in [true, false] {
            let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true, ignoreGrowing: ignore)))
            let filtered = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true, ignoreGrowing: ignore),
                                                            filter: "id % 2 == 0"))
            for (qi, q) in queries.enumerated() {
                let visible = ignore ? excluded.union(80..<120) : excluded
                let truth = Oracle.nearest(q, in: base, k: 10, metric: .l2, excluded: visible).map { PrimaryKey.int(Int64($0.index)) }
                #expect(hits[qi].map(\.id) == truth, "ignoreGrowing \(ignore), query \(qi)")
                let odd = Set((0..<120).filter { $0 % 2 == 1 })
                let truthEven = Oracle.nearest(q, in: base, k: 10, metric: .l2, excluded: visible.union(odd)).map { PrimaryKey.int(Int64($0.index)) }
                #expect(filtered[qi].map(\.id) == truthEven, "ignoreGrowing \(ignore), filtered query \(qi)")
            }
        }
    }
}
