import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// Per-segment filter results are cached by the parsed expression: a repeated filter must give the
/// same rows as a fresh evaluation, deletes made after the result was cached must still apply, and
/// the cache stays bounded.
@Suite struct FilterCacheTests {
    @Test("a repeated filter is answered from the segment's cache, with deletes applied after it, and the cache is bounded")
    func repeated() async throws {
        let dim = 8
        let base = Datasets.embeddingLike(n: 2000, dim: dim, seed: 501)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var schema = simpleSchema("fc", dim: dim, metric: .l2)
        schema.fields.append(FieldSchema(name: "bucket", dataType: .int64))
        let c = try db.createCollection(schema)
        var rows = makeRows(base)
        for i in rows.indices { rows[i]["bucket"] = .int(Int64((i * 37) % 100)) }
        try await c.insert(rows)
        try await c.flush()
        let segment = try #require(c.shards[0].snapshot.sealed.first)
        func expected(_ pass: (Int) -> Bool, deleted: Set<Int> = []) -> Set<Int64> {
            Set((0..<base.count).filter { pass(($0 * 37) % 100) && !deleted.contains($0) }.map { Int64($0) })
        }
        func ids(_ rows: [Row]) -> Set<Int64> { Set(rows.compactMap { if case let .int(v)? = $0["id"] { v } else { nil } }) }
        let first = try c.query(filter: "bucket < 30", outputFields: ["id"], limit: 16_384)
        #expect(ids(first) == expected { $0 < 30 })
        #expect(segment.columns.cachedFilterResults == 1)
        let again = try c.query(filter: "bucket < 30", outputFields: ["id"], limit: 16_384)
        #expect(ids(again) == ids(first))
        #expect(segment.columns.cachedFilterResults == 1, "the same filter must reuse its result")
        // Deletes after the result was cached: tombstones apply on top of it.
        let gone = Set(stride(from: 0, to: 2000, by: 3))
        try await c.delete(ids: gone.map { .int(Int64($0)) })
        let afterDelete = try c.query(filter: "bucket < 30", outputFields: ["id"], limit: 16_384)
        #expect(ids(afterDelete) == expected({ $0 < 30 }, deleted: gone))
        // A filtered search over the same cached rows returns only allowed, live rows.
        let hits = try await c.search(SearchRequest(vectors: [base[1]], limit: 50, filter: "bucket < 30"))
        let allowed = expected({ $0 < 30 }, deleted: gone)
        #expect(hits[0].count == 50 && hits[0].allSatisfy { if case let .int(v) = $0.id { allowed.contains(v) } else { false } })
        // Distinct filters: each correct, the cache never above its limit.
        for t in 0..<(ColumnCache.filterCacheLimit + 4) {
            let r = try c.query(filter: "bucket >= \(t * 3)", outputFields: ["id"], limit: 16_384)
            #expect(ids(r) == expected({ $0 >= t * 3 }, deleted: gone))
        }
        #expect(segment.columns.cachedFilterResults == ColumnCache.filterCacheLimit)
    }

    @Test("a repeated filter text is parsed once per schema: cached, bounded, and dropped when a field is added")
    func parsedOnce() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var schema = simpleSchema("pf", dim: 4, metric: .l2)
        schema.fields.append(FieldSchema(name: "bucket", dataType: .int64))
        let c = try db.createCollection(schema)
        var rows = makeRows(Datasets.uniform(n: 100, dim: 4, seed: 502))
        for i in rows.indices { rows[i]["bucket"] = .int(Int64(i % 10)) }
        try await c.insert(rows)
        #expect(try c.count(filter: "bucket < 3") == 30)
        #expect(c.codecs.cachedFilters == 1)
        #expect(try c.count(filter: "bucket < 3") == 30)
        #expect(c.codecs.cachedFilters == 1, "the same text must reuse its parse")
        // A bad filter is an error every time, never cached.
        for _ in 0..<2 { #expect(throws: VireoError.self) { try c.count(filter: "bucket <") } }
        #expect(c.codecs.cachedFilters == 1)
        // A field added: filters parse against the new schema (the new field resolves; the old
        // parse is gone).
        try c.addField(FieldSchema(name: "extra", dataType: .int64, nullable: true))
        #expect(c.codecs.cachedFilters == 0)
        #expect(try c.count(filter: "extra is null and bucket < 3") == 30)
        #expect(try c.count(filter: "bucket < 3") == 30)
        // Bounded: distinct texts past the limit start the cache over.
        for t in 0..<(CodecBox.parsedFilterLimit + 5) { #expect(try c.count(filter: "bucket >= \(t % 10) or id == \(t)") >= 0) }
        #expect(c.codecs.cachedFilters <= CodecBox.parsedFilterLimit)
        #expect(c.codecs.cachedFilters > 0)
    }

    /// The cache key is the parsed expression's structure: spellings of one expression share it,
    /// and expressions that differ anywhere (operator, operand, literal type, string contents,
    /// nesting, negation, path) never do — a shared key would answer one filter with another's rows.
    @Test("filter cache keys: one per parsed expression, never shared by different expressions")
    func keys() throws {
        var schema = simpleSchema("fk", dim: 4, metric: .l2)
        schema.fields.append(FieldSchema(name: "bucket", dataType: .int64))
        schema.fields.append(FieldSchema(name: "name", dataType: .varChar, maxLength: 64, nullable: true))
        schema.fields.append(FieldSchema(name: "meta", dataType: .json))
        func key(_ e: String) throws -> String { try #require(try Filter(e, schema: schema).cacheKey) }
        #expect(try key("bucket < 30") == key("  bucket<30 "))
        #expect(try key("bucket < 30 and name == \"a\"") == key("(bucket < 30) && (name == 'a')"))
        let distinct = [
            "bucket < 30", "bucket <= 30", "bucket > 30", "bucket < 31", "bucket < 30.0", "not (bucket < 30)",
            "bucket < 30 and name == \"a\"", "bucket < 30 or name == \"a\"", "name == \"a\" and bucket < 30",
            "name == \"a,b\"", "name == \"a\" or name == \"b\"", "name in [\"a\", \"b\"]", "name not in [\"a\", \"b\"]",
            "name in [\"a,b\"]", "name like \"a%\"", "name like \"%a\"", "meta[\"x\"] == 1", "meta[\"y\"] == 1",
            "meta[\"x\"][0] == 1", "meta[\"x\"] == \"1\"", "bucket + 1 < 30", "bucket - 1 < 30", "-bucket < 30",
            "name is null", "name is not null", "bucket in [1, 2]", "bucket in [12]",
        ]
        let keys = try distinct.map(key)
        #expect(Set(keys).count == distinct.count, "\(zip(distinct, keys).map { "\($0) → \($1)" })")
    }
}
