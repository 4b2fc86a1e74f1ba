import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// FLOAT16, BFLOAT16, INT8 and BINARY vector fields: stored compactly, searched exactly (against a
/// Double-precision oracle over the stored values) and through their indexes, read back bit for bit.
@Suite struct VectorTypesTests {
    struct Case: Sendable, CustomStringConvertible {
        var type: DataType
        var metric: Metric
        var description: String { "\(type.rawValue)/\(metric.rawValue)" }
    }

    static let denseCases: [Case] = [DataType.float16Vector, .bfloat16Vector, .int8Vector].flatMap { t in
        Metric.dense.map { Case(type: t, metric: $0) }
    }

    /// Seeded vectors already representable in the type (so the oracle sees the stored values).
    static func vectors(_ type: DataType, n: Int, dim: Int, seed: UInt64) -> [[Float]] {
        switch type {
        case .int8Vector:
            var g = SeededGenerator(seed: seed)
            return (0..<n).map { _ in (0..<dim).map { _ in Float(Int.random(in: -128...127, using: &g)) } }
        case .binaryVector:
            var g = SeededGenerator(seed: seed)
            return (0..<n).map { _ in (0..<dim).map { _ in Float(Int.random(in: 0...1, using: &g)) } }
        default:
            let e = VectorElement(type)!
            return Datasets.embeddingLike(n: n, dim: dim, seed: seed).map { $0.map { e.rounded($0) } }
        }
    }

    static func schema(_ type: DataType, dim: Int) -> CollectionSchema {
        CollectionSchema(name: "t", fields: [.int64PrimaryKey("id"), FieldSchema(name: "vec", dataType: type, dimension: dim)])
    }

    static func rows(_ base: [[Float]], _ type: DataType) -> [Row] {
        let e = VectorElement(type)!
        return base.enumerated().map { i, v in
            // Half of the rows come as their bytes (the gRPC form), half as numbers.
            ["id": .int(Int64(i)), "vec": i % 2 == 0 ? .vectorBytes(e.bytes(v)) : .floatVector(v)]
        }
    }

    @Test("dense compact types: exact search equals the oracle, HNSW recall ≥ 0.95, reads return the stored vector", arguments: denseCases)
    func dense(_ t: Case) async throws {
        let dim = 24
        let base = Self.vectors(t.type, n: 1500, dim: dim, seed: 7)
        let queries = Self.vectors(t.type, n: 20, dim: dim, seed: 8)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 600  // sealed segments plus a growing one
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(Self.schema(t.type, dim: dim))
            try await c.insert(Self.rows(base, t.type))
            try await c.createIndex(IndexSpec(field: "vec", kind: .flat, metric: t.metric))
            let exact = try await c.search(SearchRequest(vectors: queries, limit: 10))
            for (qi, q) in queries.enumerated() {
                let truth = Oracle.nearest(q, in: base, k: 10, metric: t.metric)
                #expect(exact[qi].map(\.id) == truth.map { .int(Int64($0.index)) }, "\(t) query \(qi)")
                for (h, o) in zip(exact[qi], truth) {
                    let want = Oracle.score(o.distance, metric: t.metric)
                    #expect(abs(Double(h.score) - want) <= 1e-3 * max(1, abs(want)), "\(t)")
                }
            }
            try await c.createIndex(IndexSpec(field: "vec", kind: .hnsw, metric: t.metric, hnsw: HNSWConfiguration(M: 16, efConstruction: 100)))
            await c.waitForIndexBuilds()
            let approx = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64)))
            var found = 0
            for (qi, q) in queries.enumerated() {
                let truth = Set(Oracle.nearest(q, in: base, k: 10, metric: t.metric).map { PrimaryKey.int(Int64($0.index)) })
                found += approx[qi].filter { truth.contains($0.id) }.count
            }
            #expect(Double(found) / Double(10 * queries.count) >= 0.95, "\(t) recall")
        }
        // Reopen: compact batch records and segments decode to the same vectors.
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("t")
        let e = VectorElement(t.type)!
        let got = try c.get(ids: [0, 1, 2, 999, 1499].map { PrimaryKey.int($0) })
        for row in got {
            guard case let .int(id)? = row["id"] else { Issue.record("no id"); continue }
            let v = base[Int(id)]
            switch row["vec"] {
            case let .vectorBytes(b)?: #expect(b == e.bytes(v), "\(t) row \(id)")
            case let .array(items)?: #expect(items == v.map { .int(Int64($0)) }, "\(t) row \(id)")
            default: Issue.record("\(t): unexpected vector value \(String(describing: row["vec"]))")
            }
        }
    }

    @Test("binary vectors: BIN_FLAT equals the HAMMING/JACCARD oracle, BIN_IVF_FLAT with every list probed too; bytes read back", arguments: [Metric.hamming, .jaccard])
    func binary(metric: Metric) async throws {
        let dim = 64
        let base = Self.vectors(.binaryVector, n: 1200, dim: dim, seed: 11)
        let queries = Self.vectors(.binaryVector, n: 15, dim: dim, seed: 12)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 500
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(Self.schema(.binaryVector, dim: dim))
        try await c.insert(Self.rows(base, .binaryVector))
        try await c.createIndex(IndexSpec(field: "vec", kind: .binFlat, metric: metric))
        func check(_ hits: [[SearchHit]], _ what: String) {
            for (qi, q) in queries.enumerated() {
                // Distances tie often (HAMMING is a count): compare the score sequences, and each
                // returned row's own distance.
                let truth = Oracle.nearest(q, in: base, k: 10, metric: metric)
                #expect(hits[qi].map { Double($0.score) }.elementsEqual(truth.map(\.distance)) { abs($0 - $1) <= 1e-5 }, "\(what) query \(qi)")
                for h in hits[qi] {
                    guard case let .int(i) = h.id else { continue }
                    let d = Oracle.nearest(q, in: [base[Int(i)]], k: 1, metric: metric)[0].distance
                    #expect(abs(Double(h.score) - d) <= 1e-5)
                }
            }
        }
        check(try await c.search(SearchRequest(vectors: queries, limit: 10)), "BIN_FLAT \(metric)")
        try await c.createIndex(IndexSpec(field: "vec", kind: .binIvfFlat, metric: metric, ivf: IVFConfiguration(nlist: 8, encoding: .flat)))
        await c.waitForIndexBuilds()
        #expect(c.shards.allSatisfy { $0.snapshot.sealed.allSatisfy { $0.indexes[0] != nil } }, "every sealed segment has its lists")
        check(try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(nprobe: 8))), "BIN_IVF_FLAT \(metric)")
        let e = VectorElement.binary
        for row in try c.get(ids: [0, 1, 777].map { PrimaryKey.int($0) }) {
            guard case let .int(id)? = row["id"] else { continue }
            #expect(row["vec"] == .vectorBytes(e.bytes(base[Int(id)])))
        }
    }

    @Test("wrong metrics, index types, dimensions and values are refused with Milvus' messages")
    func refusals() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        #expect(throws: VireoError.self) { _ = try db.createCollection(Self.schema(.binaryVector, dim: 12)) }
        let bin = try db.createCollection(CollectionSchema(name: "b", fields: [.int64PrimaryKey("id"), FieldSchema(name: "vec", dataType: .binaryVector, dimension: 16)]))
        do {
            try await bin.createIndex(IndexSpec(field: "vec", kind: .binFlat, metric: .l2))
            Issue.record("L2 on binary accepted")
        } catch let e as VireoError { #expect(e.message.contains("metric type L2 not found or not supported")) }
        do {
            try await bin.createIndex(IndexSpec(field: "vec", kind: .hnsw, metric: .hamming))
            Issue.record("HNSW on binary accepted")
        } catch let e as VireoError { #expect(e.message.contains("data type BinaryVector can't build with this index HNSW")) }
        await #expect(throws: VireoError.self) { try await bin.insert([["id": .int(1), "vec": .vectorBytes([1, 2, 3])]]) }
        await #expect(throws: VireoError.self) { try await bin.insert([["id": .int(1), "vec": .array([.int(1), .int(300)])]]) }
        let half = try db.createCollection(CollectionSchema(name: "h", fields: [.int64PrimaryKey("id"), FieldSchema(name: "vec", dataType: .float16Vector, dimension: 4)]))
        do {
            try await half.createIndex(IndexSpec(field: "vec", kind: .flat, metric: .jaccard))
            Issue.record("JACCARD on float16 accepted")
        } catch let e as VireoError { #expect(e.message.contains("metric type JACCARD not found or not supported")) }
        // 1e5 overflows half precision (max 65504); a NaN half is refused as bytes too.
        await #expect(throws: VireoError.self) { try await half.insert([["id": .int(1), "vec": .floatVector([1, 2, 3, 1e5])]]) }
        await #expect(throws: VireoError.self) { try await half.insert([["id": .int(1), "vec": .vectorBytes([0, 0x7E, 0, 0, 0, 0, 0, 0])]]) }
        await #expect(throws: VireoError.self) { try await half.insert([["id": .int(1), "vec": .vectorBytes([0, 0])]]) }
        let i8 = try db.createCollection(CollectionSchema(name: "i", fields: [.int64PrimaryKey("id"), FieldSchema(name: "vec", dataType: .int8Vector, dimension: 2)]))
        await #expect(throws: VireoError.self) { try await i8.insert([["id": .int(1), "vec": .array([.int(1), .int(128)])]]) }
        await #expect(throws: VireoError.self) { try await i8.insert([["id": .int(1), "vec": .array([.double(1.5), .int(1)])]]) }
        do {
            try await i8.createIndex(IndexSpec(field: "vec", kind: .ivfFlat, metric: .l2))
            Issue.record("IVF_FLAT on int8 accepted")
        } catch let e as VireoError { #expect(e.message.contains("data type Int8Vector can't build with this index IVF_FLAT")) }
        #expect(half.count() == 0 && i8.count() == 0 && bin.count() == 0)
    }
}
