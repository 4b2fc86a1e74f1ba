import Foundation
import Testing
@testable import Vireo
@testable import VireoStorage
import VireoTestSupport

/// Sealed vectors past `Configuration.vectorChunkBytes` are stored in chunks, each committed before
/// the segment's transaction, and mapped back to back (``Shard/stageVectorChunks(id:_:)``).
@Suite struct ChunkedVectorsTests {
    /// 16 KiB chunks: with 8-dimensional float vectors (32 bytes a row, 128 rows a page) that is 512
    /// rows a chunk, so 2,000 rows make chunks of 512, 512, 512 and 464 rows.
    static func config() -> Configuration {
        var config = Configuration()
        config.vectorChunkBytes = 16 << 10
        config.compactionInterval = nil
        return config
    }

    /// The keys under segment `id`'s vectors of field 0: (the unchunked key's count, chunk numbers).
    static func vectorKeys(_ shard: Shard, segment id: UInt32) throws -> (single: Int, chunks: [UInt32]) {
        let prefix = SegmentKeys.vectors(id, field: 0)
        var single = 0
        var chunks: [UInt32] = []
        try shard.environment.read { txn in
            try txn.forEach(shard.environment.database("blobs"), prefix: prefix) { key, _ in
                if key.count == prefix.count { single += 1 } else { chunks.append(UInt32(bigEndian: key.loadUnaligned(fromByteOffset: prefix.count, as: UInt32.self))) }
            }
        }
        return (single, chunks)
    }

    /// Exact top-`k` ids of `query` among `base` rows whose index is not in `deleted`.
    static func oracle(_ query: [Float], _ base: [[Float]], k: Int, deleted: Set<Int> = []) -> [PrimaryKey] {
        Oracle.nearest(query, in: base, k: k, metric: .l2, excluded: deleted).map { .int(Int64($0.index)) }
    }

    @Test("a seal past vectorChunkBytes stores chunks, maps them back to back in place, and reads every row as stored")
    func sealInChunks() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.uniform(n: 2000, dim: 8, seed: 41)
        let queries = Datasets.uniform(n: 25, dim: 8, seed: 42)
        do {
            let db = try Database.open(at: dir.path, configuration: Self.config())
            let c = try db.createCollection(simpleSchema("chunks", dim: 8))
            try await c.insert(makeRows(data))
            try await c.flush()
            let shard = c.shards[0]
            let seg = try #require(shard.snapshot.sealed.first)
            let keys = try Self.vectorKeys(shard, segment: seg.id)
            #expect(keys.single == 0)
            #expect(keys.chunks == [0, 1, 2, 3])
            let blob = try #require(seg.vectors[0].owner as? MappedBlob)
            #expect(blob.isMapped, "chunks whose data are whole pages map back to back")
            #expect(blob.count == 2000 * 8 * 4)
            // Mapping the chunks compared a page at each end of each with LMDB's view; what that read
            // (and the kernel mapped around it) is given back: nothing of the blob stays resident.
            let resident = try ResidentMemory.bytes(overlapping: blob.bytes)
            #expect(resident == 0, "\(resident) bytes of the sealed vectors resident after the seal")
            for i in [0, 511, 512, 1023, 1536, 1999] {
                let row = (0..<8).map { blob.bytes.loadUnaligned(fromByteOffset: (i * 8 + $0) * 4, as: Float.self) }
                #expect(row == data[i], "row \(i)")
            }
            let hits = try await c.search(SearchRequest(vectors: queries, limit: 10))
            for (q, h) in zip(queries, hits) { #expect(h.map(\.id) == Self.oracle(q, data, k: 10)) }
        }
        // Reopened with the checksums verified (through the blob's own mapping), and checked.
        let db = try Database.open(at: dir.path, configuration: Self.config())
        let c = try db.collection("chunks")
        let blob = try #require(c.shards[0].snapshot.sealed.first?.vectors[0].owner as? MappedBlob)
        #expect(blob.isMapped)
        #expect((0..<2000).allSatisfy { i in (0..<8).allSatisfy { blob.bytes.loadUnaligned(fromByteOffset: (i * 8 + $0) * 4, as: Float.self) == data[i][$0] } })
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10))
        for (q, h) in zip(queries, hits) { #expect(h.map(\.id) == Self.oracle(q, data, k: 10)) }
        let report = try db.check()
        #expect(report.isOK, "\(report.parts.flatMap(\.problems))")
    }

    @Test("a compaction stores its segment in chunks too; rows deleted before it stay deleted")
    func compactInChunks() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.uniform(n: 2400, dim: 8, seed: 43)
        let queries = Datasets.uniform(n: 20, dim: 8, seed: 44)
        let db = try Database.open(at: dir.path, configuration: Self.config())
        let c = try db.createCollection(simpleSchema("compacted", dim: 8))
        try await c.insert(makeRows(data))
        try await c.flush()
        let deleted = Set(stride(from: 0, to: 2400, by: 3))
        try await c.delete(ids: deleted.map { .int(Int64($0)) })
        _ = try await c.compact()
        let shard = c.shards[0]
        let seg = try #require(shard.snapshot.sealed.first)
        #expect(seg.rowCount == 1600)
        #expect(try Self.vectorKeys(shard, segment: seg.id).chunks == [0, 1, 2, 3])
        #expect((seg.vectors[0].owner as? MappedBlob)?.isMapped == true)
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10))
        for (q, h) in zip(queries, hits) { #expect(h.map(\.id) == Self.oracle(q, data, k: 10, deleted: deleted)) }
    }

    @Test("a chunk that fails its checksum is detected at open and named")
    func corruptChunk() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path, configuration: Self.config())
            let c = try db.createCollection(simpleSchema("bad", dim: 8))
            try await c.insert(makeRows(Datasets.uniform(n: 2000, dim: 8, seed: 45)))
            try await c.flush()
        }
        let collections = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/collections")
        do {
            let env = try Environment(path: dir.path + "/collections/\(collections[0])/shard-0", mapSize: Configuration().mapSize, databases: Shard.databaseNames)
            let blobs = env.database("blobs")
            let key = SegmentKeys.vectorChunk(1, field: 0, chunk: 2)
            try env.write { txn in
                var bytes = Array(try #require(try txn.get(blobs, key: key)))
                bytes[bytes.count - 100] ^= 0x10
                try txn.put(blobs, key: key, value: bytes)
            }
        }
        let db = try Database.open(at: dir.path, configuration: Self.config())
        do {
            _ = try db.collection("bad")
            Issue.record("corruption was not detected")
        } catch let e as VireoError {
            #expect(e.code == .collectionUnavailable, "\(e)")
            #expect(e.message.contains("chunk 2") && e.message.contains("checksum"), "\(e.message)")
        }
    }

    @Test("chunks a seal or compaction stored and never recorded are deleted at open; the rows are intact")
    func unrecordedChunksRemoved() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.uniform(n: 300, dim: 8, seed: 46)
        var growingID: UInt32 = 0
        var nextID: UInt32 = 0
        do {
            let db = try Database.open(at: dir.path, configuration: Self.config())
            let c = try db.createCollection(simpleSchema("orphans", dim: 8))
            try await c.insert(makeRows(Array(data[..<200])))
            try await c.flush()
            try await c.insert(makeRows(Array(data[200...]), firstID: 200))
            let manifest = c.shards[0].snapshot.manifest
            growingID = manifest.growingSegment
            nextID = manifest.nextSegmentId
        }
        // What an interrupted seal (the growing segment's id) and compaction (the next id) leave.
        let collections = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/collections")
        let shardPath = dir.path + "/collections/\(collections[0])/shard-0"
        do {
            let env = try Environment(path: shardPath, mapSize: Configuration().mapSize, databases: Shard.databaseNames)
            let blobs = env.database("blobs")
            try env.write { txn in
                for id in [growingID, nextID, nextID + 3] {
                    for chunk in 0..<2 {
                        try Blob.writeChunk(txn, blobs, key: SegmentKeys.vectorChunk(id, field: 0, chunk: chunk), kind: .vectors,
                                            pageSize: env.pageSize, chunkCount: 3, dataCount: 4096) { $0.initializeMemory(as: UInt8.self, repeating: 7) }
                    }
                }
            }
        }
        let db = try Database.open(at: dir.path, configuration: Self.config())
        let c = try db.collection("orphans")
        for id in [growingID, nextID, nextID + 3] {
            #expect(try Self.vectorKeys(c.shards[0], segment: id).chunks.isEmpty, "segment \(id)")
        }
        #expect(c.count() == 300)
        let hits = try await c.search(SearchRequest(vectors: [data[250], data[10]], limit: 1))
        #expect(hits.map { $0.first?.id } == [.int(250), .int(10)])
        // The next seal uses the growing id again and stores what it holds.
        try await c.flush()
        #expect(c.statistics()[0].sealedSegments == 2)
        #expect(try db.check().isOK)
    }

    /// Keys under segment `id`'s index blobs of field 0: (generation, chunk number or nil for one blob).
    static func indexKeys(_ shard: Shard, segment id: UInt32) throws -> [(UInt32, UInt32?)] {
        var out: [(UInt32, UInt32?)] = []
        try shard.environment.read { txn in
            try txn.forEach(shard.environment.database("blobs"), prefix: SegmentKeys.indexPrefix(id, field: 0)) { key, _ in
                let generation = UInt32(bigEndian: key.loadUnaligned(fromByteOffset: 9, as: UInt32.self))
                out.append((generation, key.count == 17 ? UInt32(bigEndian: key.loadUnaligned(fromByteOffset: 13, as: UInt32.self)) : nil))
            }
        }
        return out
    }

    @Test("an index past vectorChunkBytes is stored in chunks, used in place after reopen and compaction, and its chunks go when it is replaced")
    func indexInChunks() async throws {
        let dir = TemporaryDirectory()
        let data = Datasets.clustered(n: 2000, dim: 8, clusters: 12, seed: 47)
        let queries = Datasets.clustered(n: 20, dim: 8, clusters: 12, seed: 48)
        let request = SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64))
        let before: [[SearchHit]]
        do {
            let db = try Database.open(at: dir.path, configuration: Self.config())
            let c = try db.createCollection(simpleSchema("indexed", dim: 8))
            try await c.insert(makeRows(data))
            try await c.flush()
            try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100))
            await c.waitForIndexBuilds()
            let shard = c.shards[0]
            let seg = try #require(shard.snapshot.sealed.first)
            #expect(seg.indexes[0] != nil)
            // The graph (2,000 × 33 links of 4 bytes and more) is well past 16 KiB: chunks, one generation.
            let keys = try Self.indexKeys(shard, segment: seg.id)
            #expect(keys.count > 4 && keys.allSatisfy { $0.1 != nil } && Set(keys.map(\.0)).count == 1, "\(keys)")
            #expect(keys.map { $0.1! } == (0..<UInt32(keys.count)).map { $0 })
            #expect(seg.indexBlobs[0]?.blob.isMapped == true)
            before = try await c.search(request)
            // The index finds what the exact oracle finds, mostly (an HNSW graph at ef 64 on 2,000 rows).
            var found = 0
            for (q, h) in zip(queries, before) { found += Set(h.map(\.id)).intersection(Self.oracle(q, data, k: 10)).count }
            #expect(Double(found) / Double(10 * queries.count) >= 0.95)
        }
        var compactedID: UInt32 = 0
        do {
            let db = try Database.open(at: dir.path, configuration: Self.config())
            let c = try db.collection("indexed")
            let seg = try #require(c.shards[0].snapshot.sealed.first)
            #expect(seg.indexes[0] != nil, "the chunked index is opened, not rebuilt")
            #expect(seg.indexBlobs[0]?.blob.isMapped == true)
            #expect(try await c.search(request) == before)
            #expect(try db.check().isOK)
            // A compaction writes the new segment's index in chunks too.
            try await c.delete(ids: stride(from: 0, to: 2000, by: 4).map { .int(Int64($0)) })
            _ = try await c.compact()
            await c.waitForIndexBuilds()
            let compacted = try #require(c.shards[0].snapshot.sealed.first)
            compactedID = compacted.id
            #expect(compacted.id != seg.id && compacted.rowCount == 1500)
            let keys = try Self.indexKeys(c.shards[0], segment: compacted.id)
            #expect(keys.count > 4 && keys.allSatisfy { $0.1 != nil }, "\(keys)")
            #expect(compacted.indexBlobs[0]?.blob.isMapped == true)
            let deleted = Set(stride(from: 0, to: 2000, by: 4))
            let after = try await c.search(request)
            #expect(after.allSatisfy { $0.count == 10 && $0.allSatisfy { if case let .int(v) = $0.id { !deleted.contains(Int(v)) } else { false } } })
            #expect(try db.check().isOK)
            // Dropped: its chunks are retired (deleted once nothing maps them, or at the next open).
            try await c.dropIndex(field: "vec")
        }
        let db = try Database.open(at: dir.path, configuration: Self.config())
        let c = try db.collection("indexed")
        #expect(c.shards[0].snapshot.sealed.first?.indexes[0] == nil)
        #expect(try Self.indexKeys(c.shards[0], segment: compactedID).isEmpty)
        #expect(try db.check().isOK)
    }

    @Test("chunk rows make whole pages and about the target; nil where one unit is far past it")
    func chunkRows() {
        for (perRow, page, target) in [(1536, 4096, 8 << 20), (32, 4096, 16 << 10), (3, 4096, 1 << 20), (1001, 4096, 8 << 20), (4, 65536, 8 << 20), (6000, 4096, 8 << 20)] {
            guard let rows = Shard.chunkRows(bytesPerRow: perRow, pageSize: page, target: target) else {
                Issue.record("no chunk rows for \(perRow)-byte rows on \(page)-byte pages")
                continue
            }
            #expect(rows * perRow % page == 0, "\(perRow) bytes a row, \(page)-byte pages")
            #expect(rows * perRow <= max(target, page) * 4)
        }
        #expect(Shard.chunkRows(bytesPerRow: 32, pageSize: 4096, target: 16 << 10) == 512)
        // 4097-byte rows on 64 KiB pages: whole pages only every 65,536 rows (256 MiB), past 4 × 8 MiB.
        #expect(Shard.chunkRows(bytesPerRow: 4097, pageSize: 65536, target: 8 << 20) == nil)
    }
}
