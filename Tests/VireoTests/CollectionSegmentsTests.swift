import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct CollectionSegmentsTests {
    @Test("segments() reports each shard's sealed and growing segments with their rows and deletions")
    func segments() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("s", dim: 4, shards: 2))
        try await c.insert(makeRows(Datasets.uniform(n: 40, dim: 4, seed: 1)))
        try await c.flush()
        try await c.insert(makeRows(Datasets.uniform(n: 6, dim: 4, seed: 2), firstID: 1000))
        try await c.delete(ids: [.int(0), .int(1), .int(2)])
        let segs = c.segments()
        let stats = c.statistics()
        #expect(Set(segs.map(\.shard)) == [0, 1])
        for st in stats {
            let mine = segs.filter { $0.shard == st.shard }
            #expect(mine.filter { $0.state == .sealed }.count == st.sealedSegments)
            #expect(mine.filter { $0.state == .sealed }.reduce(0) { $0 + $1.rows } == st.sealedRows)
            #expect(mine.filter { $0.state == .growing }.map(\.rows) == [st.growingRows])
        }
        #expect(segs.reduce(0) { $0 + $1.rows } == 46)
        #expect(segs.reduce(0) { $0 + $1.deletedRows } == 3)
        #expect(Set(segs.map(\.id)).count == segs.count, "ids are unique within the collection")
        #expect(segs.filter { $0.state == .sealed }.allSatisfy { $0.vectorBytes == $0.rows * 4 * 4 })
    }

    @Test("truncate deletes every row of every partition and shard; the collection stays usable")
    func truncate() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("t", dim: 4, shards: 2))
        try await c.createPartition("p1")
        try await c.insert(makeRows(Datasets.uniform(n: 30, dim: 4, seed: 1)))
        try await c.flush()
        try await c.insert(makeRows(Datasets.uniform(n: 5, dim: 4, seed: 2), firstID: 100), partition: "p1")
        #expect(c.count() == 35)
        try await c.truncate()
        #expect(c.count() == 0)
        #expect(c.listPartitions() == ["_default", "p1"])
        try await c.insert(makeRows(Datasets.uniform(n: 2, dim: 4, seed: 3), firstID: 7))
        #expect(c.count() == 2)
        #expect(try c.get(ids: [.int(0)]).isEmpty)
    }
}
