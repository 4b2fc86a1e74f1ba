import Foundation
import Testing
@testable import Vireo
import VireoKernels
import VireoStorage
import VireoTestSupport

/// Sealed segments of FLOAT16, BFLOAT16, INT8 and BINARY fields keep their vectors compact in memory
/// and are scanned with the compact kernels: exact top-k over sealed plus growing rows equals the
/// brute force over the widened stored values, with and without filters, single queries and
/// batches, before and after reopening and after compaction; a sealed segment holds the stored size.
@Suite struct CompactSegmentSearchTests {
    struct Case: Sendable, CustomStringConvertible {
        var type: DataType
        var metric: Metric
        var description: String { "\(type.rawValue)/\(metric.rawValue)" }
    }

    static let cases: [Case] = [DataType.float16Vector, .bfloat16Vector, .int8Vector].flatMap { t in
        Metric.dense.map { Case(type: t, metric: $0) }
    } + [Case(type: .binaryVector, metric: .hamming), Case(type: .binaryVector, metric: .jaccard)]

    /// `hits` is a valid exact top-`k` of `query` over the rows not in `excluded`: the score sequence
    /// is the oracle's, and each hit's score is its own row's (ties may order equal rows either way).
    static func expectExact(_ hits: [SearchHit], query q: [Float], stored: [[Float]], excluded: Set<Int>, metric: Metric, k: Int,
                            _ what: String) {
        let truth = Oracle.nearest(q, in: stored, k: k, metric: metric, excluded: excluded)
        #expect(hits.count == truth.count, "\(what): \(hits.count) hits, want \(truth.count)")
        var seen = Set<Int64>()
        func close(_ a: Float, _ b: Double) -> Bool { abs(Double(a) - b) <= 1e-4 * max(1, abs(b)) }
        for (h, t) in zip(hits, truth) {
            guard case let .int(id) = h.id else { Issue.record("\(what): non-integer id"); continue }
            #expect(seen.insert(id).inserted, "\(what): row \(id) twice")
            #expect(!excluded.contains(Int(id)), "\(what): excluded row \(id) returned")
            #expect(close(h.score, Oracle.score(t.distance, metric: metric)), "\(what): score \(h.score), oracle \(Oracle.score(t.distance, metric: metric))")
            let own = Oracle.nearest(q, in: [stored[Int(id)]], k: 1, metric: metric)[0].distance
            #expect(close(h.score, Oracle.score(own, metric: metric)), "\(what): row \(id) scored \(h.score), its distance is \(own)")
        }
    }

    @Test("exact top-k over compact sealed + growing segments equals the oracle over the widened stored values", arguments: cases)
    func exact(_ t: Case) async throws {
        let e = VectorElement(t.type)!
        let dim = t.type == .binaryVector ? 72 : 40
        let n = 1300
        let base = VectorTypesTests.vectors(t.type, n: n, dim: dim, seed: 51)
        // The oracle reads what is stored: the widening of each vector's encoding.
        let stored = base.map { e.floats(e.bytes($0), dim: dim) }
        let queries = VectorTypesTests.vectors(t.type, n: 6, dim: dim, seed: 52)
        let listed: Set<Int> = Set(stride(from: 3, to: n, by: 41))
        // No filter; a broad one (tombstone bits over a scan); a selective one (listed rows only).
        let filters: [(expr: String?, keep: (Int) -> Bool)] = [
            (nil, { _ in true }),
            ("id >= 250", { $0 >= 250 }),
            ("id in [\(listed.sorted().map(String.init).joined(separator: ", "))]", { listed.contains($0) }),
        ]
        var deleted: Set<Int> = []
        func check(_ c: Collection, _ when: String) async throws {
            for f in filters {
                let excluded = Set((0..<n).filter { !f.keep($0) }).union(deleted)
                let what = "\(t) \(when) filter \(f.expr ?? "none")"
                let batch = try await c.search(SearchRequest(vectors: queries, limit: 10, metric: t.metric, filter: f.expr))
                for (qi, q) in queries.enumerated() {
                    Self.expectExact(batch[qi], query: q, stored: stored, excluded: excluded, metric: t.metric, k: 10, "\(what) batch query \(qi)")
                    let one = try await c.search(SearchRequest(vectors: [q], limit: 10, metric: t.metric, filter: f.expr))
                    Self.expectExact(one[0], query: q, stored: stored, excluded: excluded, metric: t.metric, k: 10, "\(what) single query \(qi)")
                }
            }
        }
        func expectCompact(_ c: Collection, _ when: String) {
            let sealed = c.segments().filter { $0.state == .sealed }
            #expect(!sealed.isEmpty, "\(t) \(when): no sealed segment")
            for s in sealed {
                #expect(s.vectorBytes == s.rows * e.bytesPerVector(dim: dim), "\(t) \(when): segment \(s.segment) holds \(s.vectorBytes) bytes for \(s.rows) rows")
            }
            for shard in c.shards {
                for seg in shard.snapshot.sealed {
                    guard case let .compact(m) = seg.vectors[0] else { Issue.record("\(t) \(when): sealed rows are not compact"); continue }
                    #expect(m.element == e && m.owner is MappedBlob, "\(t) \(when): rows are used in place from the map")
                }
            }
        }
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 500
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(VectorTypesTests.schema(t.type, dim: dim))
            let rows = VectorTypesTests.rows(base, t.type)
            try await c.insert(Array(rows[0..<1000]))
            try await c.flush()
            try await c.insert(Array(rows[1000...]))
            #expect(c.segments().contains { $0.state == .growing && $0.rows > 0 }, "\(t): rows in the growing segment")
            expectCompact(c, "after flush")
            try await check(c, "open")
        }
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.collection("t")
            expectCompact(c, "reopened")
            try await check(c, "reopened")
            // Compaction re-encodes the live rows of compact segments into a compact segment.
            let gone = (0..<1000).filter { $0 % 5 < 2 }
            _ = try await c.delete(ids: gone.map { PrimaryKey.int(Int64($0)) })
            deleted = Set(gone)
            try await c.compact()
            expectCompact(c, "compacted")
            try await check(c, "compacted")
            for row in try c.get(ids: [1, 3, 999, 1001, 1299].map { PrimaryKey.int($0) }) {
                guard case let .int(id)? = row["id"] else { Issue.record("no id"); continue }
                switch row["vec"] {
                case let .vectorBytes(b)?: #expect(b == e.bytes(base[Int(id)]), "\(t) row \(id)")
                case let .array(items)?: #expect(items == base[Int(id)].map { .int(Int64($0)) }, "\(t) row \(id)")
                default: Issue.record("\(t): unexpected vector value \(String(describing: row["vec"]))")
                }
            }
        }
    }

    @Test("an HNSW index on a compact field holds its own float32 copy; the sealed rows stay compact and exact search still reads them")
    func indexedCompactField() async throws {
        let dim = 32
        let base = VectorTypesTests.vectors(.float16Vector, n: 800, dim: dim, seed: 61)
        let queries = VectorTypesTests.vectors(.float16Vector, n: 3, dim: dim, seed: 62)
        let e = VectorElement.float16
        let stored = base.map { e.floats(e.bytes($0), dim: dim) }
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(VectorTypesTests.schema(.float16Vector, dim: dim))
        try await c.insert(VectorTypesTests.rows(base, .float16Vector))
        try await c.flush()
        try await c.createIndex(IndexSpec(field: "vec", kind: .hnsw, metric: .l2, hnsw: HNSWConfiguration(M: 16, efConstruction: 200)))
        await c.waitForIndexBuilds()
        let sealed = c.segments().filter { $0.state == .sealed }
        #expect(!sealed.isEmpty && sealed.allSatisfy { $0.indexedFields == ["vec"] && $0.vectorBytes == $0.rows * dim * 2 })
        let approx = try await c.search(SearchRequest(vectors: queries, limit: 10, metric: .l2, params: SearchParameters(ef: 200)))
        var exactParams = SearchParameters()
        exactParams.exact = true
        let exact = try await c.search(SearchRequest(vectors: queries, limit: 10, metric: .l2, params: exactParams))
        var found = 0
        for (qi, q) in queries.enumerated() {
            Self.expectExact(exact[qi], query: q, stored: stored, excluded: [], metric: .l2, k: 10, "exact over an indexed compact field")
            let truth = Set(Oracle.nearest(q, in: stored, k: 10, metric: .l2).map { PrimaryKey.int(Int64($0.index)) })
            found += approx[qi].filter { truth.contains($0.id) }.count
        }
        #expect(Double(found) / Double(10 * queries.count) >= 0.9, "HNSW recall over the widened copy")
    }

    @Test("range and grouping searches over compact sealed + growing segments return the oracle's rows and groups",
          arguments: [Case(type: .float16Vector, metric: .l2), Case(type: .bfloat16Vector, metric: .ip), Case(type: .int8Vector, metric: .cosine)])
    func rangeAndGrouping(_ t: Case) async throws {
        let e = VectorElement(t.type)!
        let dim = 24
        let n = 1300
        let groups = 37
        let base = VectorTypesTests.vectors(t.type, n: n, dim: dim, seed: 71)
        let stored = base.map { e.floats(e.bytes($0), dim: dim) }
        let queries = VectorTypesTests.vectors(t.type, n: 3, dim: dim, seed: 72)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var schema = VectorTypesTests.schema(t.type, dim: dim)
        schema.fields.append(FieldSchema(name: "doc", dataType: .int64))
        let c = try db.createCollection(schema)
        var rows = VectorTypesTests.rows(base, t.type)
        for i in rows.indices { rows[i]["doc"] = .int(Int64(i % groups)) }
        try await c.insert(Array(rows[0..<1000]))
        try await c.flush()
        try await c.insert(Array(rows[1000...]))
        #expect(c.segments().contains { $0.state == .sealed && $0.vectorBytes == $0.rows * e.bytesPerVector(dim: dim) })
        for (qi, q) in queries.enumerated() {
            let all = Oracle.nearest(q, in: stored, k: n, metric: t.metric)
            let scores = all.map { Oracle.score($0.distance, metric: t.metric) }
            // Bounds halfway across a clear gap near ranks 20 and 120 (float summation order must
            // not move a row across a bound).
            func gap(near i: Int) -> Int {
                var j = i
                while abs(scores[j] - scores[j + 1]) <= 1e-3 * max(1, abs(scores[j])) { j += 1 }
                return j
            }
            let a = gap(near: 20), b = gap(near: 120)
            let range = ScoreRange(radius: Float((scores[b] + scores[b + 1]) / 2), rangeFilter: Float((scores[a] + scores[a + 1]) / 2))
            var r = SearchRequest(vectors: [q], limit: 1000, metric: t.metric)
            r.range = range
            let got = try await c.search(r)[0]
            #expect(Set(got.map(\.id)) == Set(all[(a + 1)...b].map { PrimaryKey.int(Int64($0.index)) }), "\(t) query \(qi) range")
            #expect(got.count == b - a, "\(t) query \(qi) range count")
            // Grouping by doc (id mod 37): the 10 groups of the closest rows, each hit its group's best.
            var g = SearchRequest(vectors: [q], limit: 10, metric: t.metric)
            g.grouping = SearchGrouping(field: "doc", size: 1)
            let grouped = try await c.search(g)[0]
            var best: [Int: Double] = [:]
            var order: [Int] = []
            for (i, s) in zip(all.map(\.index), scores) where best[i % groups] == nil {
                best[i % groups] = s
                order.append(i % groups)
            }
            #expect(grouped.count == 10, "\(t) query \(qi) groups")
            #expect(Set(grouped.compactMap { h -> Int? in if case let .int(v)? = h.groupValue { return Int(v) } else { return nil } }) == Set(order.prefix(10)),
                    "\(t) query \(qi) group values")
            for h in grouped {
                guard case let .int(v)? = h.groupValue, let want = best[Int(v)] else { Issue.record("\(t): hit without group"); continue }
                #expect(abs(Double(h.score) - want) <= 1e-4 * max(1, abs(want)), "\(t) query \(qi) group \(v)")
            }
        }
    }
}
