import Foundation
import Testing
@testable import Vireo
import VireoKernels
@testable import VireoStorage
import VireoTestSupport

/// A fault in one collection's files stays there: the database opens, the others serve, the broken one
/// reports why and can be dropped; a corrupt index (derived data) is rebuilt from the vectors.
@Suite struct FaultIsolationTests {
    /// Flips one payload byte of the blob under `key` in shard 0 of collection `id` (the header and its
    /// CRC stay, so the checksum no longer matches), with the database closed.
    static func corrupt(dir: String, collectionID: UInt64, key: (Shard) -> [UInt8]?, keyMatching: ([UInt8]) -> Bool) throws {
        let env = try Environment(path: "\(dir)/collections/\(collectionID)/shard-0", mapSize: 1 << 30, databases: Shard.databaseNames)
        let blobs = env.database("blobs")
        try env.write { txn in
            var target: ([UInt8], [UInt8])?
            try txn.forEach(blobs) { k, v in
                if keyMatching(Array(k)) { target = (Array(k), Array(v)) }
                return target == nil
            }
            guard let k = target?.0, var v = target?.1 else { throw StorageError.corrupted(what: "test", reason: "no such blob") }
            v[v.count - 5] ^= 0x40
            try txn.put(blobs, key: k, value: v)
        }
    }

    @Test("a collection whose vectors fail their checksum is unavailable with the reason; the others serve; drop removes it")
    func corruptCollectionIsIsolated() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.uniform(n: 300, dim: 8, seed: 3)
        var brokenID: UInt64 = 0
        do {
            let db = try Database.open(at: dir.path)
            for name in ["broken", "healthy"] {
                let c = try db.createCollection(simpleSchema(name, dim: 8))
                try await c.insert(makeRows(data))
                try await c.flush()
            }
            brokenID = try db.catalogRecord("broken").id
        }
        // The vectors blob of the sealed segment: key = segment id (4 bytes) + "v" + field.
        try Self.corrupt(dir: dir.path, collectionID: brokenID, key: { _ in nil }, keyMatching: { $0.count == 9 && $0[4] == UInt8(ascii: "v") })

        let db = try Database.open(at: dir.path)
        #expect(db.listCollections() == ["broken", "healthy"])
        #expect(db.unavailableCollections["broken"]?.contains("checksum") == true, "\(db.unavailableCollections)")
        #expect(throws: VireoError.self) { try db.collection("broken") }
        do {
            _ = try db.collection("broken")
        } catch let e as VireoError {
            #expect(e.code == .collectionUnavailable)
            #expect(e.message.contains("vireo check"))
        }
        let healthy = try db.collection("healthy")
        let hits = try await healthy.search(SearchRequest(vectors: [data[7]], limit: 1))
        #expect(hits[0].first?.id == .int(7))
        // Creating over it is refused (the record exists); dropping it removes record and files.
        #expect(throws: VireoError.self) { try db.createCollection(simpleSchema("broken", dim: 8)) }
        try db.dropCollection("broken")
        #expect(!FileManager.default.fileExists(atPath: "\(dir.path)/collections/\(brokenID)"))
        #expect(db.listCollections() == ["healthy"])
        let again = try db.createCollection(simpleSchema("broken", dim: 8))
        #expect(again.count() == 0)
    }

    @Test("a corrupt index blob is rebuilt from the vectors instead of refusing the collection")
    func corruptIndexIsRebuilt() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.clustered(n: 1200, dim: 16, clusters: 8, seed: 4)
        var id: UInt64 = 0
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(simpleSchema("ix", dim: 16))
            try await c.createIndex(.hnsw(field: "vec", M: 8, efConstruction: 64, metric: .l2))
            try await c.insert(makeRows(data))
            try await c.flush()
            await c.waitForIndexBuilds()
            #expect(c.shards[0].snapshot.sealed[0].indexes[0] != nil)
            id = try db.catalogRecord("ix").id
        }
        // Index keys: segment id (4) + "i" + field (4) + generation (4).
        try Self.corrupt(dir: dir.path, collectionID: id, key: { _ in nil }, keyMatching: { $0.count == 13 && $0[4] == UInt8(ascii: "i") })

        let db = try Database.open(at: dir.path)
        #expect(db.unavailableCollections.isEmpty)
        let c = try db.collection("ix")
        await c.waitForIndexBuilds()
        let seg = c.shards[0].snapshot.sealed[0]
        #expect(seg.indexes[0] != nil, "the index was rebuilt")
        // Exactly one index blob is left for the field (the corrupt one was deleted).
        let keys = try c.shards[0].environment.read { txn in
            var n = 0
            try txn.forEach(c.shards[0].blobs, prefix: SegmentKeys.indexPrefix(seg.id, field: 0)) { _, _ in n += 1 }
            return n
        }
        #expect(keys == 1)
        let queries = Datasets.clustered(n: 20, dim: 16, clusters: 8, seed: 5)
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64)))
        var found = 0
        for (qi, q) in queries.enumerated() {
            let truth = Set(Oracle.nearest(q, in: data, k: 10, metric: .l2).map { PrimaryKey.int(Int64($0.index)) })
            found += hits[qi].filter { truth.contains($0.id) }.count
        }
        #expect(Double(found) / 200 >= 0.9)
    }
}
