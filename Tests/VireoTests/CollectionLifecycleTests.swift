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
        ("five vector fields", CollectionSchema(name: "x", fields: [.int64PrimaryKey()] + (0..<5).map { .floatVector("v\($0)", dimension: 2) })),
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
