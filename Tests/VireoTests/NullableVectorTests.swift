import Foundation
import Testing
@testable import Vireo
import VireoKernels
import VireoTestSupport

/// Nullable vector fields (Milvus 2.6): a row may have no vector; it is stored, counted, read back
/// with the field null, and never returned by that field's search — growing or sealed, with or
/// without an index, after compaction and reopen. Every search is compared with a brute-force oracle
/// over the rows that have a vector.
@Suite struct NullableVectorTests {
    static let dim = 16

    static func schema(shards: Int = 2) -> CollectionSchema {
        var vector = FieldSchema.floatVector("vec", dimension: dim, metric: .l2)
        vector.nullable = true
        return CollectionSchema(name: "nv", fields: [.int64PrimaryKey("id"), vector,
                                                     FieldSchema(name: "tag", dataType: .varChar, maxLength: 64)], shardsNum: shards)
    }

    /// `n` seeded vectors and the ~30 % of rows (seeded) that have none; half of those omit the key,
    /// half give null.
    static func data(n: Int, seed: UInt64) -> (vectors: [[Float]], nulls: Set<Int>, rows: [Row]) {
        let vectors = Datasets.embeddingLike(n: n, dim: dim, seed: seed)
        var g = SeededGenerator(seed: seed &+ 7)
        var nulls = Set<Int>()
        var rows: [Row] = []
        for i in 0..<n {
            var row: Row = ["id": .int(Int64(i)), "tag": .string("t\(i)")]
            if Double(g.next() % 1000) < 300 {
                nulls.insert(i)
                if i % 2 == 0 { row["vec"] = .null }
            } else {
                row["vec"] = .floatVector(vectors[i])
            }
            rows.append(row)
        }
        return (vectors, nulls, rows)
    }

    /// Top-k of each query equals the oracle over the rows that have a vector and are live.
    static func expectExact(_ c: Collection, queries: [[Float]], base: [[Float]], excluded: Set<Int>, params: SearchParameters = SearchParameters(),
                            _ what: String) async throws {
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: params))
        for (q, found) in zip(queries, hits) {
            let truth = Oracle.nearest(q, in: base, k: 10, metric: .l2, excluded: excluded).map { PrimaryKey.int(Int64($0.index)) }
            #expect(found.map(\.id) == truth, "\(what)")
        }
    }

    /// A search asking for every row returns exactly the live rows that have a vector: a null row
    /// is never among the hits.
    static func expectNoNullHit(_ c: Collection, nulls: Set<Int>, deleted: Set<Int>, n: Int, _ what: String) async throws {
        let hits = try await c.search(SearchRequest(vectors: [[Float](repeating: 0.1, count: dim)], limit: min(n, SearchRequest.maxLimit),
                                                    params: SearchParameters(ef: 2048)))
        let ids = Set(hits[0].compactMap { h -> Int? in if case let .int(i) = h.id { return Int(i) } else { return nil } })
        #expect(ids.isDisjoint(with: nulls), "\(what): a row without a vector was returned")
        #expect(ids == Set(0..<n).subtracting(nulls).subtracting(deleted), "\(what): \(ids.count) hits")
    }

    @Test("null vectors are stored, counted, read back null and never searched: growing, sealed, indexed, compacted, reopened")
    func lifecycle() async throws {
        let n = 2400
        let (base, nulls, rows) = Self.data(n: n, seed: 1601)
        let queries = Datasets.embeddingLike(n: 20, dim: Self.dim, seed: 1602)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 500
        var deleted = Set<Int>()
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(Self.schema())
            // Most rows seal; the last ones stay in the growing segments.
            try await c.insert(Array(rows[0..<2000]))
            try await c.insert(Array(rows[2000...]))
            #expect(c.count() == n)
            #expect(c.shards.contains { !$0.snapshot.sealed.isEmpty } && c.shards.contains { $0.snapshot.growing.rowCount > 0 })
            try await Self.expectExact(c, queries: queries, base: base, excluded: nulls, "growing + sealed")
            try await Self.expectNoNullHit(c, nulls: nulls, deleted: deleted, n: n, "growing + sealed")
            // Reads: the field is null for rows without a vector, the vector otherwise.
            let got = try c.get(ids: (0..<40).map { .int(Int64($0)) })
            #expect(got.count == 40)
            for row in got {
                guard case let .int(i)? = row["id"] else { Issue.record("no id"); continue }
                if nulls.contains(Int(i)) { #expect(row["vec"] == .null) } else { #expect(row["vec"] == .floatVector(base[Int(i)])) }
            }
            // Everything sealed, then an HNSW index: segments holding null rows are scanned exactly.
            try await c.flush()
            try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100))
            await c.waitForIndexBuilds()
            #expect(try c.indexStatus(field: "vec").isFinished)
            try Self.expectValidRowsIndexes(c)
            try await Self.expectExact(c, queries: queries, base: base, excluded: nulls, params: SearchParameters(ef: 256), "sealed, indexed")
            try await Self.expectNoNullHit(c, nulls: nulls, deleted: deleted, n: n, "sealed, indexed")
            // Compaction keeps which rows have no vector.
            deleted = Set(stride(from: 0, to: n, by: 2))
            _ = try await c.delete(ids: deleted.map { .int(Int64($0)) })
            let report = try await c.compact()
            #expect(!report.merges.isEmpty, "the test needs a compaction to happen")
            await c.waitForIndexBuilds()
            try await Self.expectExact(c, queries: queries, base: base, excluded: nulls.union(deleted), params: SearchParameters(ef: 256), "compacted")
            try await Self.expectNoNullHit(c, nulls: nulls, deleted: deleted, n: n, "compacted")
            try Self.expectValidRowsIndexes(c)
            #expect(c.count() == n - deleted.count)
        }
        // Reopen: the bitmaps come back from the sealed segments and the batch records.
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.collection("nv")
            #expect(c.count() == n - deleted.count)
            try await Self.expectExact(c, queries: queries, base: base, excluded: nulls.union(deleted), params: SearchParameters(ef: 256), "reopened")
            try await Self.expectNoNullHit(c, nulls: nulls, deleted: deleted, n: n, "reopened")
            #expect(c.builder.pendingBuilds == 0, "reopen maps the valid-rows indexes, no rebuild")
            try Self.expectValidRowsIndexes(c)
        }
        // `vireo check` knows the null-vector blobs and finds nothing wrong.
        #expect(try Database.check(dataDirectory: dir.path).isOK)
    }

    /// Every sealed segment with null rows has an index over its valid rows only: searched directly
    /// (no cost model in between) with a valid row's own vector, it finds that row first at distance 0,
    /// and never a row without a vector.
    static func expectValidRowsIndexes(_ c: Collection) throws {
        var checked = 0
        for shard in c.shards {
            for seg in shard.snapshot.sealed {
                guard let nulls = seg.nullVectors[0] else { continue }
                let index = try #require(seg.indexes[0] as? ValidRowsIndex, "segment \(seg.id) has null rows and no valid-rows index")
                #expect(index.rows.count == seg.rowCount - nulls.count)
                let probes = index.rows.prefix(5)
                let queries = FloatArena(copying: probes.flatMap { seg.vectors[0].rowArray($0) }).matrix(dim: dim)
                var heaps = [TopK](repeating: TopK(k: 5), count: probes.count)
                index.search(queries: queries, range: 0..<probes.count, k: 5, params: ResolvedSearchParameters(ef: 128, nprobe: 8, refineK: 0),
                             excluded: nil, idBase: 0, heaps: &heaps, backend: c.configuration.computeBackend)
                for (row, heap) in zip(probes, heaps) {
                    let hits = heap.sorted()
                    #expect(hits.first?.id == Int64(row) && hits.first?.distance == 0)
                    #expect(hits.allSatisfy { !nulls.contains(Int($0.id)) }, "an index returned a row without a vector")
                }
                checked += 1
            }
        }
        #expect(checked > 0, "the test needs sealed segments with null rows")
    }

    @Test("growing rows without a vector survive reopen (batch-record trailer) and stay out of searches")
    func growingReopen() async throws {
        let n = 300
        let (base, nulls, rows) = Self.data(n: n, seed: 1611)
        let queries = Datasets.embeddingLike(n: 10, dim: Self.dim, seed: 1612)
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(Self.schema(shards: 1))
            for chunk in stride(from: 0, to: n, by: 37) { try await c.insert(Array(rows[chunk..<min(n, chunk + 37)])) }
            #expect(c.shards[0].snapshot.sealed.isEmpty)
        }
        let db = try Database.open(at: dir.path)
        let c = try db.collection("nv")
        #expect(c.count() == n)
        try await Self.expectExact(c, queries: queries, base: base, excluded: nulls, "growing, reopened")
        try await Self.expectNoNullHit(c, nulls: nulls, deleted: [], n: n, "growing, reopened")
        try await c.flush()
        try await Self.expectExact(c, queries: queries, base: base, excluded: nulls, "sealed after reopen")
    }

    @Test("upsert sets and clears a row's vector")
    func upsertSetAndClear() async throws {
        let n = 200
        let (base, nulls, rows) = Self.data(n: n, seed: 1621)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.schema(shards: 1))
        try await c.insert(rows)
        let nullRow = nulls.min()!
        let validRow = (0..<n).first { !nulls.contains($0) }!
        // Set: the null row gets a vector and is its own nearest neighbour.
        let v = Datasets.uniform(n: 1, dim: Self.dim, seed: 1622)[0]
        _ = try await c.upsert([["id": .int(Int64(nullRow)), "vec": .floatVector(v), "tag": .string("set")]])
        var hits = try await c.search(SearchRequest(vectors: [v], limit: 1))
        #expect(hits[0].first?.id == .int(Int64(nullRow)) && hits[0].first?.score == 0)
        // Clear: the valid row loses its vector and is no longer found by it.
        _ = try await c.upsert([["id": .int(Int64(validRow)), "vec": .null, "tag": .string("cleared")]])
        hits = try await c.search(SearchRequest(vectors: [base[validRow]], limit: 10))
        #expect(!hits[0].contains { $0.id == .int(Int64(validRow)) })
        #expect(try c.get(ids: [.int(Int64(validRow))]).first?["vec"] == .null)
        #expect(c.count() == n)
        try await c.flush()
        hits = try await c.search(SearchRequest(vectors: [base[validRow]], limit: 10))
        #expect(!hits[0].contains { $0.id == .int(Int64(validRow)) })
        hits = try await c.search(SearchRequest(vectors: [v], limit: 1))
        #expect(hits[0].first?.id == .int(Int64(nullRow)))
    }

    @Test("a non-nullable vector field still needs a vector; a vector field takes no default value")
    func rules() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("plain", dim: 4))
        await #expect(throws: VireoError.self) { try await c.insert([["id": .int(1), "tag": .string("x")]]) }
        await #expect(throws: VireoError.self) { try await c.insert([["id": .int(1), "vec": .null, "tag": .string("x")]]) }
        var vector = FieldSchema.floatVector("vec", dimension: 4, metric: .l2)
        vector.nullable = true
        vector.defaultValue = .array([.double(0), .double(0), .double(0), .double(0)])
        do {
            _ = try db.createCollection(CollectionSchema(name: "dv", fields: [.int64PrimaryKey("id"), vector]))
            Issue.record("a vector field with a default value was accepted")
        } catch let e as VireoError {
            #expect(e.code == .invalidSchema && e.message.contains("'vec'"))
        }
    }
}
