import Foundation
import Testing
@testable import Vireo
@testable import VireoStorage
import VireoTestSupport

@Suite struct PersistenceTests {
    @Test("reopening restores rows, sealed and growing segments and tombstones; search results are identical")
    func reopen() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 300
        let data = Datasets.clustered(n: 1000, dim: 16, clusters: 8, seed: 9)
        let queries = Datasets.clustered(n: 20, dim: 16, clusters: 8, seed: 10)
        let before: [[SearchHit]]
        let statsBefore: [Collection.ShardStatistics]
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("p", dim: 16, metric: .cosine, shards: 2))
            for start in stride(from: 0, to: 1000, by: 250) {
                try await c.insert(makeRows(Array(data[start..<(start + 250)]), firstID: Int64(start)))
            }
            try await c.delete(ids: (0..<50).map { .int(Int64($0 * 2)) })
            try await c.upsert(makeRows([data[0]], firstID: 1))
            before = try await c.search(SearchRequest(vectors: queries, limit: 10, outputFields: ["*"]))
            statsBefore = c.statistics()
            #expect(c.count() == 950)
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("p")
        #expect(c.count() == 950)
        let after = try await c.search(SearchRequest(vectors: queries, limit: 10, outputFields: ["*"]))
        #expect(after == before)
        let statsAfter = c.statistics()
        #expect(statsAfter.map(\.sealedSegments) == statsBefore.map(\.sealedSegments))
        #expect(statsAfter.map(\.growingRows) == statsBefore.map(\.growingRows))
        #expect(statsAfter.map(\.deletedRows) == statsBefore.map(\.deletedRows))
        #expect(try c.get(ids: [.int(0)]).isEmpty)
        guard case let .floatVector(v)? = try c.get(ids: [.int(1)]).first?["vec"] else {
            Issue.record("upserted row 1 is missing")
            return
        }
        #expect(v == data[0], "upserted vector differs from what was inserted")
    }

    @Test("flush seals the growing segment; the sealed segment is used in place after reopen")
    func flushAndMap() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.uniform(n: 500, dim: 8, seed: 3)
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(simpleSchema("f", dim: 8))
            try await c.insert(makeRows(data))
            try await c.flush()
            #expect(c.statistics()[0].sealedSegments == 1)
            #expect(c.statistics()[0].growingRows == 0)
        }
        let db = try Database.open(at: dir.path)
        let c = try db.collection("f")
        #expect(c.statistics()[0].sealedSegments == 1)
        let shard = c.shards[0]
        let seg = try #require(shard.snapshot.sealed.first)
        // The vectors are read from the memory map, not from a copy: the pointer lies inside it.
        let blob = try #require(seg.vectors[0].owner as? MappedBlob)
        #expect(blob.environment === shard.environment)
        let hits = try await c.search(SearchRequest(vectors: [data[17]], limit: 1))
        #expect(hits[0].first?.id == .int(17))
    }

    @Test("a corrupted sealed blob is detected at open and not served: its collection is unavailable")
    func corruption() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(simpleSchema("k", dim: 8))
            try await c.insert(makeRows(Datasets.uniform(n: 100, dim: 8, seed: 3)))
            try await c.flush()
        }
        // Flip one byte of the sealed vector blob with the storage layer directly.
        let collections = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/collections")
        let shardPath = dir.path + "/collections/\(collections[0])/shard-0"
        do {
            let env = try Environment(path: shardPath, mapSize: Configuration().mapSize, databases: Shard.databaseNames)
            let blobs = env.database("blobs")
            let key = SegmentKeys.vectors(1, field: 0)
            try env.write { txn in
                var bytes = Array(try #require(try txn.get(blobs, key: key)))
                bytes[Blob.headerSize + 123] ^= 0x40
                try txn.put(blobs, key: key, value: bytes)
            }
        }
        // The database opens; the collection is set aside with the reason and serves nothing.
        let db = try Database.open(at: dir.path)
        do {
            _ = try db.collection("k")
            Issue.record("corruption was not detected")
        } catch let e as VireoError {
            #expect(e.code == .collectionUnavailable, "\(e)")
            #expect(e.message.contains("checksum"))
        }
    }

    @Test("a full storage map fails the write with storageFull and a remedy; earlier rows stay")
    func mapFull() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.mapSize = 2 << 20
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("m", dim: 256))
        try await c.insert(makeRows(Datasets.uniform(n: 10, dim: 256, seed: 1)))
        do {
            try await c.insert(makeRows(Datasets.uniform(n: 4000, dim: 256, seed: 2), firstID: 100))
            Issue.record("expected storageFull")
        } catch let e as VireoError {
            #expect(e.code == .storageFull, "\(e)")
            #expect(e.message.contains("mapSize"))
        }
        #expect(c.count() == 10)
        try await c.insert(makeRows(Datasets.uniform(n: 5, dim: 256, seed: 3), firstID: 50))
        #expect(c.count() == 15)
    }
}
