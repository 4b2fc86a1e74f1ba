import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// `QueryRequest.ignoreGrowing` (Milvus' `ignore_growing` on query): query and count read sealed
/// segments only, as search does (``SearchIgnoreGrowingTests``).
@Suite struct QueryIgnoreGrowingTests {
    @Test("query and count with ignoreGrowing see exactly the live sealed rows; without it, every live row", arguments: [1, 3])
    func sealedOnly(shards: Int) async throws {
        let dim = 4
        let base = Datasets.uniform(n: 150, dim: dim, seed: 51)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("q", dim: dim, shards: shards))
        try await c.insert(makeRows(Array(base[0..<90])))
        try await c.flush()  // rows 0..<90 sealed
        try await c.insert(makeRows(Array(base[90...]), firstID: 90))  // rows 90..<150 growing
        try await c.delete(ids: [.int(5), .int(100)])
        let deleted: Set<Int> = [5, 100]
        for ignore in [true, false] {
            let visible = (0..<150).filter { !deleted.contains($0) && (!ignore || $0 < 90) }
            let all = try await c.query(QueryRequest(filter: nil, outputFields: ["id"], ignoreGrowing: ignore))
            #expect(all.map { $0["id"] } == visible.map { FieldValue?.some(.int(Int64($0))) }, "ignoreGrowing \(ignore)")
            let even = try await c.query(QueryRequest(filter: "id % 2 == 0", outputFields: ["id"], ignoreGrowing: ignore))
            #expect(even.map { $0["id"] } == visible.filter { $0 % 2 == 0 }.map { FieldValue?.some(.int(Int64($0))) }, "ignoreGrowing \(ignore), filtered")
            #expect(try await c.count(QueryRequest(ignoreGrowing: ignore)) == visible.count, "count, ignoreGrowing \(ignore)")
            #expect(try await c.count(QueryRequest(filter: "id >= 80", ignoreGrowing: ignore)) == visible.filter { $0 >= 80 }.count,
                    "filtered count, ignoreGrowing \(ignore)")
        }
    }
}
