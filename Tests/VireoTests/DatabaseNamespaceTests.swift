import Foundation
import Testing
@testable import Vireo
@testable import VireoStorage
import VireoTestSupport

@Suite struct DatabaseNamespaceTests {
    @Test("default always exists, cannot be dropped, and lists first")
    func defaultDatabase() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        #expect(db.listDatabases().map(\.name) == ["default"])
        #expect(try db.describeDatabase("default").id == 1)
        #expect { try db.dropDatabase("default") } throws: { ($0 as? VireoError)?.code == .databaseNotEmpty }
        try db.createDatabase("b_db")
        try db.createDatabase("a_db")
        #expect(db.listDatabases().map(\.name) == ["default", "b_db", "a_db"])
        #expect(db.listDatabases().map(\.id) == [1, 2, 3])
    }

    @Test("the same collection name in two databases holds different rows")
    func sameNameTwoDatabases() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        try db.createDatabase("other")
        let a = try db.createCollection(simpleSchema("docs", dim: 4))
        let b = try db.createCollection(simpleSchema("docs", dim: 4), in: "other")
        try await a.insert(makeRows(Datasets.uniform(n: 3, dim: 4, seed: 1)))
        try await b.insert(makeRows(Datasets.uniform(n: 5, dim: 4, seed: 2), firstID: 100))
        #expect(try db.collection("docs").count() == 3)
        #expect(try db.collection("docs", in: "other").count() == 5)
        #expect(try db.collection("docs", in: "other").databaseName == "other")
        #expect(db.listCollections() == ["docs"])
        #expect(db.listCollections(in: "other") == ["docs"])
        #expect { try db.collection("docs", in: "nope") } throws: { ($0 as? VireoError)?.code == .databaseNotFound }
        // Dropping one leaves the other.
        try db.dropCollection("docs", in: "other")
        #expect(try db.collection("docs").count() == 3)
        #expect(!db.hasCollection("docs", in: "other"))
    }

    @Test("a database with collections cannot be dropped; an empty one can, and a missing one is a no-op")
    func dropDatabase() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        try db.createDatabase("x")
        try db.createCollection(simpleSchema("c", dim: 2), in: "x")
        #expect { try db.dropDatabase("x") } throws: { ($0 as? VireoError)?.code == .databaseNotEmpty }
        try db.dropCollection("c", in: "x")
        try db.dropDatabase("x")
        #expect(!db.hasDatabase("x"))
        try db.dropDatabase("never_was")
        #expect { try db.createCollection(simpleSchema("c", dim: 2), in: "x") } throws: { ($0 as? VireoError)?.code == .databaseNotFound }
    }

    @Test("database names are validated, duplicates refused, and properties altered")
    func createAndAlter() throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        for bad in ["", "1abc", "a-b", "a/b", String(repeating: "x", count: 256)] {
            #expect(throws: VireoError.self, "name \(bad.prefix(10))") { try db.createDatabase(bad) }
        }
        try db.createDatabase("p", properties: ["database.max.collections": "10"])
        #expect { try db.createDatabase("p") } throws: { ($0 as? VireoError)?.code == .databaseAlreadyExists }
        try db.alterDatabase("p", set: ["a": "1"], delete: ["database.max.collections"])
        #expect(try db.describeDatabase("p").properties == ["a": "1"])
        #expect { try db.alterDatabase("q", set: [:]) } throws: { ($0 as? VireoError)?.code == .databaseNotFound }
    }

    @Test("databases, their properties, collections and aliases survive a reopen")
    func persistence() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            try db.createDatabase("shop", properties: ["k": "v"])
            let c = try db.createCollection(simpleSchema("items", dim: 4), in: "shop")
            try await c.insert(makeRows(Datasets.uniform(n: 7, dim: 4, seed: 3)))
            try db.createCollection(simpleSchema("items", dim: 4))
            try db.createAlias("current", for: "items", in: "shop")
            try db.createAlias("main", for: "items")
        }
        let db = try Database.open(at: dir.path)
        #expect(db.listDatabases().map(\.name) == ["default", "shop"])
        #expect(try db.describeDatabase("shop").properties == ["k": "v"])
        #expect(try db.describeDatabase("shop").createdAt != nil)
        #expect(try db.collection("current", in: "shop").count() == 7)
        #expect(try db.collection("main").count() == 0)
        #expect(try db.describeAlias("current", in: "shop") == "items")
        #expect(try db.listAliases() == ["main"])
        // A new database after reopen gets a fresh id.
        try db.createDatabase("later")
        #expect(try db.describeDatabase("later").id == 3)
    }

    @Test("collections of default keep the catalog form of directories written before databases existed")
    func legacyLayout() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(simpleSchema("legacy", dim: 4))
            try await c.insert(makeRows(Datasets.uniform(n: 4, dim: 4, seed: 5)))
            try db.createDatabase("other")
            try db.createCollection(simpleSchema("legacy", dim: 4), in: "other")
            // default's record: keyed by the bare name, without a `database` member (what Vireo
            // wrote before databases existed, and what it still reads).
            let keys: [String: String] = try db.catalog.read { txn in
                var out: [String: String] = [:]
                try txn.forEach(db.collectionsDB) { k, v in
                    out[String(decoding: k, as: UTF8.self)] = String(decoding: try Blob.decode(v, kind: .catalog, what: "t"), as: UTF8.self)
                    return true
                }
                return out
            }
            #expect(Set(keys.keys) == ["legacy", "other/legacy"])
            #expect(!(keys["legacy"] ?? "").contains("\"database\""))
            #expect((keys["other/legacy"] ?? "").contains("\"database\":\"other\""))
            try db.dropCollection("legacy", in: "other")
            try db.dropDatabase("other")
            // Nothing database-related is left in meta once `other` is gone and default was never altered.
            let metaKeys: [String] = try db.catalog.read { txn in
                var out: [String] = []
                try txn.forEach(db.metaDB) { k, _ in out.append(String(decoding: k, as: UTF8.self)); return true }
                return out
            }
            #expect(!metaKeys.contains { $0.hasPrefix("database/") })
        }
        let db = try Database.open(at: dir.path)
        #expect(db.listCollections() == ["legacy"])
        #expect(try db.collection("legacy").count() == 4)
        #expect(try db.collection("legacy").databaseName == "default")
    }
}

@Suite struct AliasTests {
    private func setup() async throws -> (TemporaryDirectory, Database) {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let a = try db.createCollection(simpleSchema("a", dim: 4))
        let b = try db.createCollection(simpleSchema("b", dim: 4))
        try await a.insert(makeRows(Datasets.uniform(n: 2, dim: 4, seed: 1)))
        try await b.insert(makeRows(Datasets.uniform(n: 6, dim: 4, seed: 2)))
        return (dir, db)
    }

    @Test("an alias resolves for reads and writes; alter moves it; drop removes it")
    func lifecycle() async throws {
        let (dir, db) = try await setup()
        _ = dir
        try db.createAlias("live", for: "a")
        #expect(try db.collection("live").count() == 2)
        #expect(db.hasCollection("live"))
        try await db.collection("live").insert(makeRows(Datasets.uniform(n: 1, dim: 4, seed: 9), firstID: 50))
        #expect(try db.collection("a").count() == 3)
        try db.alterAlias("live", to: "b")
        #expect(try db.collection("live").count() == 6)
        #expect(try db.describeAlias("live") == "b")
        #expect(try db.listAliases(collection: "b") == ["live"])
        #expect(try db.listAliases(collection: "a") == [])
        try db.dropAlias("live")
        #expect { try db.collection("live") } throws: { ($0 as? VireoError)?.code == .collectionNotFound }
        #expect { try db.dropAlias("live") } throws: { ($0 as? VireoError)?.code == .aliasNotFound }
        #expect(db.listCollections() == ["a", "b"])
    }

    @Test("Milvus' alias rules: names shared with collections, aliases of aliases, drops")
    func rules() async throws {
        let (dir, db) = try await setup()
        _ = dir
        try db.createAlias("x", for: "a")
        try db.createAlias("x", for: "a")  // the same again: fine
        #expect { try db.createAlias("x", for: "b") } throws: { ($0 as? VireoError)?.code == .aliasAlreadyExists }
        #expect { try db.createAlias("b", for: "a") } throws: { ($0 as? VireoError)?.code == .aliasConflict }
        #expect { try db.createAlias("y", for: "x") } throws: { ($0 as? VireoError)?.code == .aliasConflict }
        #expect { try db.createAlias("y", for: "nope") } throws: { ($0 as? VireoError)?.code == .collectionNotFound }
        #expect { try db.alterAlias("nope", to: "a") } throws: { ($0 as? VireoError)?.code == .aliasNotFound }
        #expect { try db.createCollection(simpleSchema("x", dim: 4)) } throws: { ($0 as? VireoError)?.code == .aliasConflict }
        #expect { try db.dropCollection("x") } throws: { ($0 as? VireoError)?.code == .aliasConflict }
        #expect { try db.dropCollection("a") } throws: { ($0 as? VireoError)?.code == .collectionHasAliases }
        #expect(db.hasCollection("a"))
        try db.dropAlias("x")
        try db.dropCollection("a")
        #expect(!db.hasCollection("a"))
    }

    @Test("aliases are per database; renaming a collection carries its aliases")
    func perDatabase() async throws {
        let (dir, db) = try await setup()
        try db.createDatabase("d2")
        try db.createCollection(simpleSchema("a", dim: 4), in: "d2")
        try db.createAlias("x", for: "a")
        try db.createAlias("x", for: "a", in: "d2")
        #expect(try db.collection("x").count() == 2)
        #expect(try db.collection("x", in: "d2").count() == 0)
        try db.renameCollection("a", to: "a2")
        #expect(try db.describeAlias("x") == "a2")
        #expect(try db.collection("x").count() == 2)
        #expect { try db.renameCollection("a2", to: "z", newDatabase: "d2") } throws: { ($0 as? VireoError)?.code == .collectionHasAliases }
        try db.renameCollection("b", to: "moved", newDatabase: "d2")
        #expect(try db.collection("moved", in: "d2").count() == 6)
        #expect(!db.hasCollection("b"))
        let db2: Database
        do {
            _ = consume db
            db2 = try Database.open(at: dir.path)
        }
        #expect(try db2.collection("moved", in: "d2").count() == 6)
        #expect(try db2.describeAlias("x") == "a2")
    }
}
