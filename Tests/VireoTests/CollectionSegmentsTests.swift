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

    @Test("segments() counts each segment's rows per partition id; the counts add up to each partition's rows")
    func rowsPerPartition() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("p", dim: 4, shards: 2))
        try await c.createPartition("p1")
        try await c.createPartition("p2")
        var rng = LCG(state: 16)
        var want: [String: Int] = [:]
        var next = 0
        for round in 0..<3 {
            for part in ["_default", "p1", "p2"] {
                let n = Int.random(in: 3...30, using: &rng)
                try await c.insert(makeRows(Datasets.uniform(n: n, dim: 4, seed: UInt64(next + 1)), firstID: Int64(next)), partition: part)
                want[part, default: 0] += n
                next += n
            }
            if round < 2 { try await c.flush() }
        }
        let ids = Dictionary(uniqueKeysWithValues: c.partitionIDs().map { ($0.id, $0.name) })
        #expect(ids.count == 3 && Set(ids.values) == ["_default", "p1", "p2"])
        var got: [String: Int] = [:]
        for seg in c.segments() {
            #expect(seg.partitionRows.values.reduce(0, +) == seg.rows, "a segment's per-partition rows add up to its rows")
            for (id, rows) in seg.partitionRows {
                let name = try #require(ids[id])
                got[name, default: 0] += rows
            }
        }
        #expect(got == want)
        for (name, rows) in want { #expect(try c.count(partitions: [name]) == rows) }
        // A segment of `_default` rows only takes the free path and still reports them.
        let only = try db.createCollection(simpleSchema("d", dim: 4, shards: 1))
        try await only.insert(makeRows(Datasets.uniform(n: 7, dim: 4, seed: 9)))
        #expect(only.segments().map(\.partitionRows) == [[0: 7]])
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

/// A seeded generator for the test's partition sizes (Knuth's MMIX LCG).
private struct LCG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }
}
