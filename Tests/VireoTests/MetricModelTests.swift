import Foundation
import Testing
@testable import Vireo
import VireoIndex
import VireoStorage
import VireoTestSupport

/// Milvus' data model: vectors are stored exactly as inserted, the metric belongs to the index.
/// Every ranking here is checked against the exact oracle on the raw vectors.
@Suite struct MetricModelTests {
    /// `n` vectors of dimension `dim` with norms spread log-uniformly over [0.05, 20] (so L2, IP and
    /// COSINE rank them differently).
    static func spreadNorms(n: Int, dim: Int, seed: UInt64) -> [[Float]] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in
            let v = (0..<dim).map { _ in Float.random(in: -1..<1, using: &g) }
            let scale = Float(pow(10, Double.random(in: log10(0.05)...log10(20), using: &g)))
            return Oracle.normalized(v).map { $0 * scale }
        }
    }

    static func overlap(_ hits: [[SearchHit]], _ queries: [[Float]], _ base: [[Float]], metric: Metric, k: Int = 10, firstID: Int = 0) -> Double {
        var found = 0
        for (i, q) in queries.enumerated() {
            let truth = Set(Oracle.nearest(q, in: base, k: k, metric: metric).map { PrimaryKey.int(Int64($0.index + firstID)) })
            found += hits[i].filter { truth.contains($0.id) }.count
        }
        return Double(found) / Double(k * queries.count)
    }

    static let schema = CollectionSchema(name: "m", fields: [
        .int64PrimaryKey("id"),
        .floatVector("vec", dimension: 16),  // no metric: Milvus' create_collection(schema)
        FieldSchema(name: "tag", dataType: .varChar, maxLength: 64),
    ])

    static let kinds: [IndexSpec.Kind] = [.flat, .hnsw, .ivfFlat, .ivfPQ]

    static func spec(_ kind: IndexSpec.Kind, _ metric: Metric) -> IndexSpec {
        switch kind {
        case .hnsw: return .hnsw(field: "vec", M: 16, efConstruction: 200, metric: metric)
        case .ivfFlat: return .ivfFlat(field: "vec", nlist: 16, metric: metric)
        case .ivfPQ: return .ivfPQ(field: "vec", nlist: 16, m: 8, metric: metric)
        default: return .flat(field: "vec", metric: metric)
        }
    }

    static let params = SearchParameters(ef: 256, nprobe: 16, refineK: 16)

    @Test("create without a metric → insert non-unit vectors → index with L2/IP/COSINE → search ranks the raw vectors; rows after the index are found too",
          arguments: Metric.dense, kinds)
    func indexMetricRanksRawVectors(metric: Metric, kind: IndexSpec.Kind) async throws {
        let base = Self.spreadNorms(n: 1500, dim: 16, seed: 7)
        let later = Self.spreadNorms(n: 300, dim: 16, seed: 8)
        let queries = Self.spreadNorms(n: 20, dim: 16, seed: 9)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.schema)
        #expect(c.indexes.isEmpty && c.metric(of: "vec") == nil)
        try await c.insert(makeRows(base))
        try await c.createIndex(Self.spec(kind, metric))
        await c.waitForIndexBuilds()
        #expect(c.metric(of: "vec") == metric)
        try await c.insert(makeRows(later, firstID: 1500))  // growing: searched exactly with the index's metric
        let all = base + later
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: Self.params))
        let r = Self.overlap(hits, queries, all, metric: metric)
        let goal = kind == .ivfPQ ? 0.8 : 0.95
        #expect(r >= goal, "\(kind.rawValue) \(metric): top-10 overlap with the exact ranking on raw vectors \(r)")
        // Scores are the metric's on the raw vectors (the exact paths to float precision).
        if kind != .ivfPQ {
            for (i, q) in queries.enumerated() {
                let truth = Oracle.nearest(q, in: all, k: 1, metric: metric)[0]
                let top = hits[i][0]
                if top.id == .int(Int64(truth.index)) {
                    let want = Oracle.score(truth.distance, metric: metric)
                    #expect(abs(Double(top.score) - want) <= 1e-3 * max(1, abs(want)), "query \(i): score \(top.score), exact \(want)")
                }
            }
        }
        // Stored vectors come back exactly as inserted.
        let got = try c.get(ids: [.int(3), .int(1501)], outputFields: ["vec"])
        #expect(got[0]["vec"] == .floatVector(base[3]) && got[1]["vec"] == .floatVector(later[1]))
        // A search naming another metric is Milvus' "metric type not match".
        let other = Metric.dense.first { $0 != metric }!
        await #expect(throws: VireoError.self) { try await c.search(SearchRequest(vectors: queries, limit: 10, metric: other)) }
        do {
            _ = try await c.search(SearchRequest(vectors: queries, limit: 10, metric: other))
        } catch let e as VireoError {
            #expect(e.message.contains("metric type not match") && e.message.contains("expected=\(metric)") && e.message.contains("actual=\(other)"), "\(e.message)")
        }
    }

    @Test("drop index + create index with another metric re-ranks, and the index is rebuilt from the stored vectors; survives reopen")
    func metricChange() async throws {
        let base = Self.spreadNorms(n: 2000, dim: 16, seed: 11)
        let queries = Self.spreadNorms(n: 20, dim: 16, seed: 12)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 700
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(Self.schema)
            try await c.insert(makeRows(base))
            for metric in [Metric.l2, .cosine, .ip] {
                if !c.indexes.isEmpty { try await c.dropIndex(field: "vec") }
                try await c.createIndex(.hnsw(field: "vec", efConstruction: 100, metric: metric))
                await c.waitForIndexBuilds()
                #expect(c.shards[0].snapshot.sealed.allSatisfy { $0.indexes[0]?.metric == metric })
                let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: Self.params))
                let r = Self.overlap(hits, queries, base, metric: metric)
                #expect(r >= 0.95, "\(metric): \(r)")
            }
            // Replacing the index in one call (Vireo's createIndex replaces) re-ranks as well.
            try await c.createIndex(.ivfFlat(field: "vec", nlist: 8, metric: .l2))
            let exactNow = try await c.search(SearchRequest(vectors: queries, limit: 10))  // some segments may still be building
            #expect(Self.overlap(exactNow, queries, base, metric: .l2) >= 0.95)
            await c.waitForIndexBuilds()
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("m")
        #expect(c.metric(of: "vec") == .l2 && c.indexes.first?.kind == .ivfFlat)
        #expect(c.shards[0].snapshot.sealed.allSatisfy { $0.indexes[0]?.metric == .l2 })
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: Self.params))
        #expect(Self.overlap(hits, queries, base, metric: .l2) >= 0.95)
        #expect(try c.get(ids: [.int(1999)], outputFields: ["vec"])[0]["vec"] == .floatVector(base[1999]))
    }

    @Test("a field without an index is searched exactly with the request's metric (COSINE by default)", arguments: Metric.dense)
    func noIndex(metric: Metric) async throws {
        let base = Self.spreadNorms(n: 900, dim: 16, seed: 21)
        let queries = Self.spreadNorms(n: 8, dim: 16, seed: 22)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 400
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(Self.schema)
        try await c.insert(makeRows(base))
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, metric: metric))
        #expect(Self.overlap(hits, queries, base, metric: metric) == 1.0)
        let batch = try await c.search(SearchRequest(vectors: queries + queries, limit: 10))  // the GEMM path, default COSINE
        #expect(Self.overlap(Array(batch.prefix(8)), queries, base, metric: .cosine) == 1.0)
    }

    @Test("rows written while create_index runs are acknowledged, searchable, and survive reopen")
    func writesDuringIndexCreation() async throws {
        let dim = 32
        let base = Datasets.embeddingLike(n: 12_000, dim: dim, seed: 41)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 3000
        var acknowledged: [Int64] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(CollectionSchema(name: "w", fields: [.int64PrimaryKey("id"), .floatVector("vec", dimension: dim)]))
            try await c.insert((0..<8000).map { ["id": .int(Int64($0)), "vec": .floatVector(base[$0])] })
            let writer = Task { () -> [Int64] in
                var done: [Int64] = []
                var next = 8000
                while next < 12_000 {
                    let ids = (next..<(next + 50)).map(Int64.init)
                    try await c.insert(ids.map { ["id": .int($0), "vec": .floatVector(base[Int($0)])] })
                    done += ids
                    next += 50
                    await Task.yield()
                }
                return done
            }
            try await c.createIndex(.hnsw(field: "vec", efConstruction: 64, metric: .l2))
            try await c.createIndex(.ivfFlat(field: "vec", nlist: 32, metric: .ip))  // parameters and metric change mid-stream
            acknowledged = try await writer.value
            await c.waitForIndexBuilds()
            #expect(c.count() == 8000 + acknowledged.count)
            let got = try c.get(ids: acknowledged.map { .int($0) }, outputFields: ["id"])
            #expect(got.count == acknowledged.count)
            // Each acknowledged row is found by its own vector (IP over nprobe = nlist is exact).
            let probe = Array(acknowledged.prefix(200))
            let hits = try await c.search(SearchRequest(vectors: probe.map { base[Int($0)] }, limit: 10, params: SearchParameters(nprobe: 32)))
            for (i, id) in probe.enumerated() {
                let truth = Oracle.nearest(base[Int(id)], in: base, k: 1, metric: .ip)[0].index
                #expect(hits[i].first?.id == .int(Int64(truth)), "row \(id)")
            }
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("w")
        #expect(c.count() == 8000 + acknowledged.count)
        #expect(try c.get(ids: acknowledged.map { .int($0) }, outputFields: ["id"]).count == acknowledged.count)
        #expect(c.metric(of: "vec") == .ip)
    }

    @Test("a data directory of the old model (metric on the field, COSINE vectors stored normalised) migrates in place and answers as before")
    func migration() async throws {
        let base = Self.spreadNorms(n: 600, dim: 16, seed: 51)
        let queries = Self.spreadNorms(n: 10, dim: 16, seed: 52)
        let dir = TemporaryDirectory()
        var before: [[SearchHit]] = []
        do {
            // What Vireo ≤ 0.2 wrote: normalised COSINE vectors, the metric on the field (nil =
            // COSINE), index specs without a metric, no model version.
            var schema = Self.schema
            schema.fields[1].storesNormalizedVectors = true
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(schema)
            try await c.insert(makeRows(base))
            try await c.createIndex(.hnsw(field: "vec", efConstruction: 64, metric: .cosine))
            await c.waitForIndexBuilds()
            before = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 128)))
            try c.catalog.update("making the record old") { r in
                r.modelVersion = nil
                r.schema.fields[1].storesNormalizedVectors = false
                r.schema.fields[1].metric = nil
                r.indexes = r.indexes?.map { var s = $0; s.metric = nil; return s }
            }
        }
        let db = try Database.open(at: dir.path)
        let c = try db.collection("m")
        #expect(c.schema.fields[1].storesNormalizedVectors, "describe says the vectors are stored normalised")
        #expect(c.metric(of: "vec") == .cosine)
        let after = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 128)))
        #expect(after.map { $0.map(\.id) } == before.map { $0.map(\.id) })
        #expect(Self.overlap(after, queries, base, metric: .cosine) >= 0.95)
        // Its rows stay normalised, including new ones, so rankings stay consistent.
        try await c.insert(makeRows([base[0]], firstID: 10_000))
        let v = try c.get(ids: [.int(10_000)], outputFields: ["vec"])[0]["vec"]
        #expect(v == .floatVector(Oracle.normalized(base[0])) || {
            guard case let .floatVector(x)? = v else { return false }
            return zip(x, Oracle.normalized(base[0])).allSatisfy { abs($0 - $1) < 1e-6 }
        }())
        // The migrated record was written back once: a third open needs no migration.
        let stored = try db.catalogRecord("m")
        #expect(stored.modelVersion == Database.CollectionRecord.currentModelVersion)
    }

    @Test("Swift API: a field metric at creation becomes the field's initial FLAT index")
    func fieldMetricBecomesFlatIndex() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("s", dim: 4, metric: .ip))
        #expect(c.indexes == [.flat(field: "vec", metric: .ip)])
        #expect(c.schema.fields[1].metric == nil)
        try await c.createIndex(.hnsw(field: "vec"))  // no metric: keeps the field's
        #expect(c.metric(of: "vec") == .ip)
    }

    @Test("hybridSearch fuses per-field searches with RRF and weighted rankers, each field with its index's metric")
    func hybrid() async throws {
        let a = Self.spreadNorms(n: 400, dim: 16, seed: 61)
        let b = Datasets.uniform(n: 400, dim: 8, seed: 62)
        let qa = Self.spreadNorms(n: 5, dim: 16, seed: 63)
        let qb = Datasets.uniform(n: 5, dim: 8, seed: 64)
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(CollectionSchema(name: "h", fields: [
            .int64PrimaryKey("id"), .floatVector("a", dimension: 16), .floatVector("b", dimension: 8),
            FieldSchema(name: "tag", dataType: .varChar, maxLength: 16),
        ]))
        try await c.insert((0..<400).map { ["id": .int(Int64($0)), "a": .floatVector(a[$0]), "b": .floatVector(b[$0]), "tag": .string("t\($0)")] })
        try await c.createIndex(.flat(field: "a", metric: .ip))
        try await c.createIndex(.flat(field: "b", metric: .l2))
        let searches = [SearchRequest(vectors: qa, annsField: "a", limit: 30), SearchRequest(vectors: qb, annsField: "b", limit: 30)]
        for ranker in [HybridRanker.rrf(k: 60), .weighted([0.7, 0.3])] {
            let fused = try await c.hybridSearch(HybridSearchRequest(searches: searches, ranker: ranker, limit: 10, offset: 2, outputFields: ["tag"]))
            // The oracle: exact per-field lists on the raw vectors, fused here.
            for q in 0..<5 {
                var scores: [Int: Double] = [:]
                let lists = [Oracle.nearest(qa[q], in: a, k: 30, metric: .ip), Oracle.nearest(qb[q], in: b, k: 30, metric: .l2)]
                for (i, list) in lists.enumerated() {
                    for (rank, hit) in list.enumerated() {
                        switch ranker {
                        case let .rrf(k): scores[hit.index, default: 0] += 1 / (k + Double(rank + 1))
                        case let .weighted(w):
                            let m: Metric = i == 0 ? .ip : .l2
                            scores[hit.index, default: 0] += w[i] * HybridRanker.normalized(Oracle.score(hit.distance, metric: m), m)
                        }
                    }
                }
                let want = scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.dropFirst(2).prefix(10)
                #expect(fused[q].map(\.id) == want.map { .int(Int64($0.key)) }, "\(ranker) query \(q)")
                for (hit, w) in zip(fused[q], want) {
                    #expect(abs(Double(hit.score) - w.value) < 1e-4)
                    #expect(hit.fields["tag"] == .string("t\(w.key)"))
                }
            }
        }
        await #expect(throws: VireoError.self) {
            try await c.hybridSearch(HybridSearchRequest(searches: searches, ranker: .weighted([1]), limit: 10))
        }
        await #expect(throws: VireoError.self) {
            try await c.hybridSearch(HybridSearchRequest(searches: [searches[0], SearchRequest(vectors: [qb[0]], annsField: "b")], ranker: .rrf(k: 60)))
        }
    }
}
