import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct CollectionLifecycleTests {
    @Test("create, list, describe and drop collections; reopening restores the catalog")
    func catalog() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            try db.createCollection(simpleSchema("a", dim: 4))
            try db.createCollection(simpleSchema("b", dim: 8, metric: .ip, shards: 3))
            #expect(db.listCollections() == ["a", "b"])
            #expect(throws: VireoError.self) { try db.createCollection(simpleSchema("a", dim: 4)) }
            try db.dropCollection("a")
            #expect(db.listCollections() == ["b"])
            #expect(!db.hasCollection("a"))
        }
        let db = try Database.open(at: dir.path)
        #expect(db.listCollections() == ["b"])
        let b = try db.collection("b")
        // The field's metric became the field's initial FLAT index (the metric belongs to the index).
        var stored = simpleSchema("b", dim: 8, metric: .ip, shards: 3)
        stored.fields[1].metric = nil
        #expect(b.schema == stored)
        #expect(b.indexes == [.flat(field: "vec", metric: .ip)])
        #expect(b.statistics().count == 3)
        do {
            _ = try db.collection("a")
            Issue.record("dropped collection is still there")
        } catch let e as VireoError {
            #expect(e.code == .collectionNotFound)
            #expect(e.kind == .notFound)
        }
        // A dropped name can be reused, with fresh (empty) storage.
        let a2 = try db.createCollection(simpleSchema("a", dim: 4))
        #expect(a2.count() == 0)
    }

    @Test("a dropped collection's directory is removed once it is no longer used")
    func dropRemovesFiles() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        do {
            let c = try db.createCollection(simpleSchema("gone", dim: 4))
            try await c.insert(makeRows(Datasets.uniform(n: 10, dim: 4, seed: 1)))
            try db.dropCollection("gone")
            // Still usable by whoever holds it (a search in flight finishes on intact data).
            #expect(c.count() == 10)
            let before = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/collections")
            #expect(before.count == 1)
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/collections")
        #expect(after.isEmpty)
    }

    static let badSchemas: [(String, CollectionSchema)] = [
        ("no primary key", CollectionSchema(name: "x", fields: [.floatVector("v", dimension: 4)])),
        ("no vector", CollectionSchema(name: "x", fields: [.int64PrimaryKey()])),
        ("dimension 0", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 0)])),
        ("dimension too large", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 32_769)])),
        ("eleven vector fields", CollectionSchema(name: "x", fields: [.int64PrimaryKey()] + (0..<11).map { .floatVector("v\($0)", dimension: 2) })),
        ("a filter keyword as a field name", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 4), FieldSchema(name: "Like", dataType: .int64)])),
        ("bad name", CollectionSchema(name: "1abc", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 4)])),
        ("duplicate field", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 4), .floatVector("v", dimension: 4)])),
        ("float primary key", CollectionSchema(name: "x", fields: [FieldSchema(name: "id", dataType: .float, isPrimaryKey: true), .floatVector("v", dimension: 4)])),
        ("varchar without maxLength", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 4), FieldSchema(name: "s", dataType: .varChar)])),
        ("array without element type", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 4), FieldSchema(name: "a", dataType: .array, maxCapacity: 4)])),
        ("zero shards", CollectionSchema(name: "x", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 4)], shardsNum: 0)),
    ]

    @Test("invalid schemas are rejected with invalidSchema and a message", arguments: badSchemas.indices)
    func invalidSchema(_ i: Int) throws {
        let (label, schema) = Self.badSchemas[i]
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        do {
            try db.createCollection(schema)
            Issue.record("\(label): accepted")
        } catch let e as VireoError {
            #expect(e.code == .invalidSchema, "\(label)")
            #expect(e.kind == .invalidInput)
            #expect(!e.message.isEmpty)
        }
        #expect(db.listCollections().isEmpty)
    }
}

@Suite struct ReadOnlyOpenTests {
    static func digest(_ dir: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let e = FileManager.default.enumerator(atPath: dir)!
        while let rel = e.nextObject() as? String {
            guard rel.hasSuffix("data.mdb") else { continue }  // lock.mdb holds reader slots, not data
            out[rel] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + rel))
        }
        return out
    }

    @Test("a read-only open reads everything, writes nothing (not even a pending migration), and refuses writes")
    func readOnly() async throws {
        let dir = TemporaryDirectory()
        let base = Datasets.uniform(n: 300, dim: 8, seed: 3)
        do {
            var config = Configuration()
            config.sealRows = 100
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("r", dim: 8, metric: .l2))
            try await c.insert(makeRows(base))
            try await c.createIndex(.hnsw(field: "vec", efConstruction: 32))
            await c.waitForIndexBuilds()
            // Leave a migration pending: the record as the old model wrote it.
            try c.catalog.update("making the record old") { r in
                r.modelVersion = nil
                r.schema.fields[1].metric = .l2
                r.indexes = r.indexes?.map { var s = $0; s.metric = nil; return s }
            }
        }
        let before = try Self.digest(dir.path)
        var config = Configuration()
        config.readOnly = true
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.collection("r")
            #expect(c.count() == 300 && c.metric(of: "vec") == .l2)
            let hits = try await c.search(SearchRequest(vectors: [base[42]], limit: 1))
            #expect(hits[0].first?.id == .int(42))
            #expect(try c.query(filter: "id < 5").count == 5)
            for attempt in 0..<4 {
                do {
                    switch attempt {
                    case 0: try await c.insert(makeRows([base[0]], firstID: 1000))
                    case 1: _ = try await c.delete(ids: [.int(1)])
                    case 2: try await c.createIndex(.flat(field: "vec", metric: .ip))
                    default: try db.dropCollection("r")
                    }
                    Issue.record("write \(attempt) was accepted read-only")
                } catch let e as VireoError {
                    #expect(e.code == .readOnly, "write \(attempt): \(e)")
                }
            }
        }
        #expect(try Self.digest(dir.path) == before, "a read-only open changed a data file")
        // A writable open (the owner) can run beside a read-only one, and migrates.
        let writer = try Database.open(at: dir.path)
        #expect(try writer.catalogRecord("r").modelVersion == Database.CollectionRecord.currentModelVersion)
    }
}
