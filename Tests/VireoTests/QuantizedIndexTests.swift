import Foundation
import Testing
@testable import Vireo
@testable import VireoIndex
import VireoKernels
import VireoTestSupport

/// HNSW_SQ and IVF_SQ8 (8-bit scalar-quantised codes) through the engine, checked against the exact
/// oracle: recall, exact scores after re-ranking, scores within the quantisation bound without it,
/// reopen, deletions, COSINE over vectors stored as inserted (the codes encode the normalised rows;
/// re-ranking divides by the stored row's norm), and the parameters' validation.
@Suite struct QuantizedIndexTests {
    static let dim = 48

    /// Milvus' score of `q` against `x` (squared L2, or inner product / cosine similarity).
    static func exactScore(_ q: [Float], _ x: [Float], _ metric: Metric) -> Double {
        switch metric {
        case .l2: return zip(q, x).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        case .cosine:
            let d = zip(q, x).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            let nq = q.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot(), nx = x.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            return d / (nq * nx)
        default: return zip(q, x).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
    }

    @Test("HNSW_SQ: recall ≥ 0.95 with refine and exact scores, codes' scores within the SQ8 bound without, across reopen", arguments: [Metric.l2, .ip, .cosine])
    func hnswSQ(metric: Metric) async throws {
        let base = Datasets.embeddingLike(n: 3000, dim: Self.dim, seed: 401)
        let queries = Datasets.embeddingLike(n: 40, dim: Self.dim, seed: 402)
        let deleted = Set(stride(from: 5, to: 3000, by: 11))
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 1500
        var refined: [[SearchHit]] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("sq", dim: Self.dim, metric: metric, shards: 2))
            try await c.insert(makeRows(base))
            try await c.delete(ids: deleted.map { .int(Int64($0)) })
            try await c.flush()
            // Without refine: the walk's scores are the codes'.
            try await c.createIndex(.hnswSQ(field: "vec", M: 16, efConstruction: 100, refine: false, metric: metric))
            await c.waitForIndexBuilds()
            #expect(try c.indexStatus(field: "vec").isFinished)
            let coded = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64)))
            let r0 = HNSWCollectionTests.recall(coded, queries, base, metric: metric, excluded: deleted)
            #expect(r0 >= 0.9, "metric \(metric): HNSW_SQ recall@10 without refine \(r0)")
            var worst = 0.0, scale = 0.0
            for (qi, hits) in coded.enumerated() {
                for h in hits {
                    guard case let .int(id) = h.id else { continue }
                    #expect(!deleted.contains(Int(id)))
                    let exact = Self.exactScore(queries[qi], base[Int(id)], metric)
                    worst = max(worst, abs(Double(h.score) - exact))
                    scale = max(scale, abs(exact))
                }
            }
            // SQ8 keeps each coordinate within 1/510 of its range: scores stay within a few per mille.
            #expect(worst <= 0.01 * max(scale, 1), "metric \(metric): codes' scores differ from exact by \(worst) (scale \(scale))")
            // With refine: exact scores, recall ≥ 0.95.
            try await c.createIndex(.hnswSQ(field: "vec", M: 16, efConstruction: 100, refine: true, metric: metric))
            await c.waitForIndexBuilds()
            #expect(c.shards.allSatisfy { $0.snapshot.sealed.allSatisfy { $0.indexes[0]?.matches(.hnswSQ(field: "vec", M: 16, efConstruction: 100, refine: true, metric: metric), rows: 0) == true } })
            refined = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64, refineK: 2)))
            let r1 = HNSWCollectionTests.recall(refined, queries, base, metric: metric, excluded: deleted)
            #expect(r1 >= 0.95, "metric \(metric): HNSW_SQ recall@10 with refine \(r1)")
            for (qi, hits) in refined.enumerated() {
                for h in hits {
                    guard case let .int(id) = h.id else { continue }
                    let exact = Self.exactScore(queries[qi], base[Int(id)], metric)
                    #expect(abs(Double(h.score) - exact) <= 1e-3 * max(1, abs(exact)), "metric \(metric): refined score \(h.score) vs exact \(exact)")
                }
                #expect(zip(hits, hits.dropFirst()).allSatisfy { metric == .l2 ? $0.score <= $1.score : $0.score >= $1.score })
            }
            // The index holds codes, not a float copy (COSINE included): per row `dim` code bytes, the
            // level-0 list (4·(2M+1)), its level and upper-list offset (5) and ~M/15 words of upper
            // lists — well below the 4·dim bytes a float copy alone would add.
            for shard in c.shards {
                for seg in shard.snapshot.sealed {
                    guard let ix = seg.indexes[0] else { continue }
                    let rows = seg.rowCount
                    #expect(ix.byteCount < rows * (Self.dim + 4 * 33 + 5 + 16) + 4096, "index \(ix.byteCount) bytes for \(rows) rows")
                    #expect(ix.byteCount > rows * (Self.dim + 4 * 33))
                }
            }
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("sq")
        #expect(c.builder.pendingBuilds == 0, "reopen must not rebuild")
        let after = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64, refineK: 2)))
        #expect(after.map { $0.map(\.id) } == refined.map { $0.map(\.id) })
        #expect(after.map { $0.map(\.score) } == refined.map { $0.map(\.score) })
    }

    @Test("IVF_SQ8: every list probed is exact up to SQ8 error (recall ≥ 0.95; ≥ 0.99 with refine), across reopen", arguments: [Metric.l2, .ip, .cosine])
    func ivfSQ8(metric: Metric) async throws {
        let base = Datasets.embeddingLike(n: 3000, dim: Self.dim, seed: 411)
        let queries = Datasets.embeddingLike(n: 40, dim: Self.dim, seed: 412)
        let deleted = Set(stride(from: 2, to: 3000, by: 7))
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 1500
        var before: [[SearchHit]] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("sq8", dim: Self.dim, metric: metric, shards: 2))
            try await c.insert(makeRows(base))
            try await c.delete(ids: deleted.map { .int(Int64($0)) })
            try await c.flush()
            try await c.createIndex(.ivfSQ8(field: "vec", nlist: 16, metric: metric))
            await c.waitForIndexBuilds()
            let all = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 16)))
            let r0 = HNSWCollectionTests.recall(all, queries, base, metric: metric, excluded: deleted)
            #expect(r0 >= 0.95, "metric \(metric): IVF_SQ8 recall@10 probing every list \(r0)")
            before = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 16, refineK: 4)))
            let r1 = HNSWCollectionTests.recall(before, queries, base, metric: metric, excluded: deleted)
            #expect(r1 >= 0.99, "metric \(metric): IVF_SQ8 recall@10 with refine \(r1)")
            for (qi, hits) in before.enumerated() {
                for h in hits {
                    guard case let .int(id) = h.id else { continue }
                    let exact = Self.exactScore(queries[qi], base[Int(id)], metric)
                    #expect(abs(Double(h.score) - exact) <= 1e-3 * max(1, abs(exact)))
                }
            }
            let fewer = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 2)))
            #expect(HNSWCollectionTests.recall(fewer, queries, base, metric: metric, excluded: deleted) < r0 + 1e-9)
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("sq8")
        #expect(c.builder.pendingBuilds == 0, "reopen must not rebuild")
        let after = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 16, refineK: 4)))
        #expect(after.map { $0.map(\.id) } == before.map { $0.map(\.id) })
    }

    @Test("an HNSW_SQ build reads the sealed vectors once and gives their pages back; refine still reads them exactly")
    func hnswSQBuildReleasesVectorPages() async throws {
        let n = 6000
        let base = Datasets.embeddingLike(n: n, dim: 64, seed: 407)
        let queries = Datasets.embeddingLike(n: 30, dim: 64, seed: 408)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("sqpages", dim: 64, metric: .l2))
        try await c.insert(makeRows(base))
        try await c.flush()
        guard case let .float32(view) = try #require(c.shards[0].snapshot.sealed.first?.vectors[0]) else {
            Issue.record("FLOAT_VECTOR rows are stored as float32")
            return
        }
        let bytes = UnsafeRawBufferPointer(start: view.base, count: n * 64 * 4)
        // Read every row so that all the vectors' pages are resident, as a build on the floats leaves them.
        var sum: Float = 0
        for i in 0..<n { sum += view.row(i)[0] }
        let before = try ResidentMemory.bytes(overlapping: bytes)
        #expect(sum.isFinite && before >= bytes.count - 8192, "the sealed vectors are one mapping, resident after a full read: \(before) of \(bytes.count) bytes")
        try await c.createIndex(.hnswSQ(field: "vec", M: 16, efConstruction: 64, refine: true, metric: .l2))
        await c.waitForIndexBuilds()
        let after = try ResidentMemory.bytes(overlapping: bytes)
        #expect(after * 10 < before, "after the build \(after) of \(before) bytes are still resident")
        let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64, refineK: 4)))
        let r = HNSWCollectionTests.recall(hits, queries, base, metric: .l2, excluded: [])
        #expect(r >= 0.95, "recall@10 with refine \(r)")
        for (qi, hs) in hits.enumerated() {
            for h in hs {
                guard case let .int(id) = h.id else { continue }
                let exact = Self.exactScore(queries[qi], base[Int(id)], .l2)
                #expect(abs(Double(h.score) - exact) <= 1e-3 * max(1, exact), "refined score \(h.score) vs exact \(exact)")
            }
        }
    }

    @Test("SQ8 codes: each decoded coordinate within half a step of the original")
    func quantizerBound() {
        let rows = Datasets.embeddingLike(n: 500, dim: 24, seed: 421)
        let flat = rows.flatMap { $0 }
        let arena = FloatArena(count: flat.count) { buf in for i in flat.indices { buf[i] = flat[i] } }
        let view = arena.matrix(dim: 24)
        let q = ScalarQuantizer8(training: view)
        var codes = [UInt8](repeating: 0, count: flat.count)
        codes.withUnsafeMutableBufferPointer { q.encode(view, into: $0.baseAddress!) }
        var worst: Float = 0
        for i in 0..<rows.count {
            let decoded = codes.withUnsafeBufferPointer { q.decode($0.baseAddress! + i * 24) }
            for t in 0..<24 { worst = max(worst, abs(decoded[t] - rows[i][t]) / max(q.scale[t], 1e-12)) }
        }
        #expect(worst <= 0.5001, "worst error \(worst) steps")
        // The range's ends are codes 0 and 255.
        #expect(codes.contains(0) && codes.contains(255))
    }

    @Test("HNSW_SQ and IVF_SQ8 parameters: sq_type, refine, refine_type are validated with the valid values named")
    func parameters() async throws {
        var spec = try IndexSpec(field: "vec", milvusIndexType: "HNSW_SQ", params: ["M": 8, "efConstruction": 64])
        try spec.applyQuantizationParams(["sq_type": "sq8", "refine": "true", "refine_type": "fp16"])
        #expect(spec.kind == .hnswSQ && spec.hnsw.sqType == "SQ8" && spec.hnsw.refine == true && spec.hnsw.refineType == "FP16")
        try spec.validate(dimension: 16)
        var bad = spec
        try bad.applyQuantizationParams(["sq_type": "SQ6"])
        #expect { try bad.validate(dimension: 16) } throws: { ($0 as? VireoError)?.message.contains("SQ8") == true }
        #expect(throws: VireoError.self) { try spec.applyQuantizationParams(["refine": "maybe"]) }
        var badRefine = spec
        try badRefine.applyQuantizationParams(["refine_type": "INT4"])
        #expect { try badRefine.validate(dimension: 16) } throws: { ($0 as? VireoError)?.message.contains("FP32") == true }
        let ivf = try IndexSpec(field: "vec", milvusIndexType: "IVF_SQ8", params: ["nlist": 64])
        #expect(ivf.kind == .ivfSQ8 && ivf.ivf.encoding == .sq8 && ivf.ivf.nlist == 64)
        #expect(throws: VireoError.self) { try IndexSpec(field: "vec", milvusIndexType: "IVF_SQ8", params: ["nlist": 0]).validate(dimension: 16) }
    }
}
