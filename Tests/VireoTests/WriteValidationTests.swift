import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct WriteValidationTests {
    static func richSchema() -> CollectionSchema {
        CollectionSchema(name: "rich", fields: [
            .int64PrimaryKey("id"),
            .floatVector("vec", dimension: 4, metric: .l2),
            FieldSchema(name: "title", dataType: .varChar, maxLength: 8),
            FieldSchema(name: "n", dataType: .int8),
            FieldSchema(name: "score", dataType: .double, nullable: true),
            FieldSchema(name: "meta", dataType: .json),
            FieldSchema(name: "tags", dataType: .array, maxLength: 16, elementType: .varChar, maxCapacity: 3),
            FieldSchema(name: "flag", dataType: .bool),
        ])
    }

    static func good(_ id: Int64) -> Row {
        ["id": .int(id), "vec": .floatVector([1, 2, 3, 4]), "title": .string("t\(id)"), "n": .int(3),
         "meta": .json(.object(["k": .int(id)])), "tags": .array([.string("a")]), "flag": .bool(true)]
    }

    static let badRows: [(String, VireoError.Code, Row)] = [
        ("wrong dimension", .dimensionMismatch, good(1).merging(["vec": .floatVector([1, 2, 3])]) { $1 }),
        ("NaN", .invalidVector, good(1).merging(["vec": .floatVector([1, .nan, 3, 4])]) { $1 }),
        ("infinity", .invalidVector, good(1).merging(["vec": .floatVector([1, .infinity, 3, 4])]) { $1 }),
        ("unknown field", .unknownField, good(1).merging(["nope": .int(1)]) { $1 }),
        ("missing vector", .missingField, good(1).filter { $0.key != "vec" }),
        ("missing scalar", .missingField, good(1).filter { $0.key != "title" }),
        ("missing primary key", .missingField, good(1).filter { $0.key != "id" }),
        ("string for int", .typeMismatch, good(1).merging(["n": .string("x")]) { $1 }),
        ("int8 overflow", .invalidArgument, good(1).merging(["n": .int(300)]) { $1 }),
        ("varchar too long", .invalidArgument, good(1).merging(["title": .string("123456789")]) { $1 }),
        ("array over capacity", .invalidArgument, good(1).merging(["tags": .array([.string("a"), .string("b"), .string("c"), .string("d")])]) { $1 }),
        ("array element type", .typeMismatch, good(1).merging(["tags": .array([.int(1)])]) { $1 }),
        ("string primary key", .typeMismatch, good(1).merging(["id": .string("x")]) { $1 }),
    ]

    @Test("bad rows fail with a typed error naming the row and field, and nothing is written", arguments: badRows.indices)
    func badRow(_ i: Int) async throws {
        let (label, code, bad) = Self.badRows[i]
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.richSchema())
        try await c.insert([Self.good(100)])
        do {
            // The bad row is second: the good first row must not be written either.
            try await c.insert([Self.good(1), bad])
            Issue.record("\(label): accepted")
        } catch let e as VireoError {
            #expect(e.code == code, "\(label): \(e)")
            #expect(e.kind == .invalidInput)
            #expect(e.message.contains("row 1"), "\(label): message should name the row: \(e.message)")
        }
        #expect(c.count() == 1)
        #expect(try c.get(ids: [.int(1)]).isEmpty)
    }

    @Test("duplicate primary keys in one upsert are rejected; nothing is written (insert: InsertDuplicateKeyTests)")
    func duplicateInRequest() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.richSchema())
        await #expect(throws: VireoError.self) { try await c.upsert([Self.good(1), Self.good(2), Self.good(1)]) }
        #expect(c.count() == 0)
    }

    @Test("inserting an existing key fails with primaryKeyExists (single and multi shard); upsert replaces", arguments: [1, 4])
    func existingKey(shards: Int) async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var schema = Self.richSchema()
        schema.shardsNum = shards
        let c = try db.createCollection(schema)
        try await c.insert((0..<20).map { Self.good($0) })
        do {
            try await c.insert((15..<40).map { Self.good($0) })
            Issue.record("accepted an existing key")
        } catch let e as VireoError {
            #expect(e.code == .primaryKeyExists)
            #expect(e.kind == .conflict)
        }
        #expect(c.count() == 20, "no part of the failed insert may be written")
        var replaced = Self.good(5)
        replaced["title"] = .string("new")
        let r = try await c.upsert([replaced, Self.good(50)])
        #expect(r.count == 2)
        #expect(c.count() == 21)
        let rows = try c.get(ids: [.int(5)])
        #expect(rows.count == 1)
        #expect(rows.first?["title"] == .string("new"))
    }

    @Test("insert(existing: .replace) replaces stored keys (single and multi shard) and keeps a repeated key's later row", arguments: [1, 4])
    func insertReplacingExistingKeys(shards: Int) async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        var schema = Self.richSchema()
        schema.shardsNum = shards
        let c = try db.createCollection(schema)
        try await c.insert((0..<20).map { Self.good($0) })
        try await c.flush()
        var rows = (15..<40).map { Self.good($0) }
        rows[0]["title"] = .string("replaced")    // key 15, stored and sealed
        var again = Self.good(30)
        again["title"] = .string("later")         // key 30 twice in this request: the later row stays
        rows.append(again)
        let r = try await c.insert(rows, existing: .replace)
        #expect(r.ids.count == rows.count)
        #expect(c.count() == 40)
        #expect(try c.get(ids: [.int(15)]).map { $0["title"] } == [.string("replaced")])
        #expect(try c.get(ids: [.int(30)]).map { $0["title"] } == [.string("later")])
        #expect(try c.get(ids: [.int(3)]).count == 1)
    }

    @Test("all field types round-trip through get, before and after sealing and reopening")
    func roundTrip() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 10
        var expected: [Row] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(Self.richSchema())
            for i in 0..<25 {
                var r = Self.good(Int64(i))
                r["score"] = i % 2 == 0 ? .double(Double(i) / 4) : .null
                r["tags"] = .array((0..<(i % 4)).map { .string("x\($0)") })
                r["vec"] = .floatVector([Float(i), 1, 2, 3])
                r["n"] = .int(Int64(i - 12))
                expected.append(r)
            }
            try await c.insert(Array(expected[0..<13]))
            try await c.insert(Array(expected[13...]))
            let stats = c.statistics()[0]
            #expect(stats.sealedSegments >= 1, "sealRows 10 should have sealed")
            let got = try c.get(ids: (0..<25).map { .int(Int64($0)) })
            #expect(got == expected.map(Self.normalizedExpectation))
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("rich")
        #expect(c.count() == 25)
        let got = try c.get(ids: (0..<25).map { .int(Int64($0)) })
        #expect(got == expected.map(Self.normalizedExpectation))
        let some = try c.get(ids: [.int(3)], outputFields: ["title"])
        #expect(some == [["id": .int(3), "title": .string("t3")]])
    }

    /// What get returns for a row: absent nullable fields come back as null.
    static func normalizedExpectation(_ r: Row) -> Row {
        var r = r
        if r["score"] == nil { r["score"] = .null }
        return r
    }

    @Test("varchar keys, auto ids and the dynamic field")
    func keysAndDynamic() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let s = try db.createCollection(CollectionSchema(name: "s", fields: [
            .varCharPrimaryKey("doc", maxLength: 32), .floatVector("v", dimension: 2, metric: .ip),
        ], enableDynamicField: true))
        try await s.insert([["doc": .string("a"), "v": .floatVector([1, 0]), "source": .string("x.md"), "page": .int(3)]])
        let rows = try s.get(ids: [.string("a")])
        #expect(rows.first?["source"] == .json(.string("x.md")))
        #expect(rows.first?["page"] == .json(.int(3)))

        let a = try db.createCollection(CollectionSchema(name: "a", fields: [
            .int64PrimaryKey("id", autoID: true), .floatVector("v", dimension: 2, metric: .l2),
        ]))
        let r1 = try await a.insert([["v": .floatVector([0, 0])], ["v": .floatVector([1, 1])]])
        let r2 = try await a.insert([["v": .floatVector([2, 2])]])
        let ids = (r1.ids + r2.ids).map { id -> Int64 in if case let .int(i) = id { return i }; return -1 }
        #expect(ids == ids.sorted() && Set(ids).count == 3, "auto ids must be unique and increasing: \(ids)")
        await #expect(throws: VireoError.self) { try await a.insert([["id": .int(5), "v": .floatVector([0, 0])]]) }
    }

    @Test("a zero vector is stored as inserted (cosine 0 with anything); a zero COSINE query and bad searches are refused")
    func searchValidation() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("c", dim: 3, metric: .cosine))
        try await c.insert(makeRows([[0, 0, 0]], firstID: 7))
        #expect(try c.get(ids: [.int(7)], outputFields: ["vec"])[0]["vec"] == .floatVector([0, 0, 0]))
        try await c.insert(makeRows([[1, 0, 0]]))
        let ranked = try await c.search(SearchRequest(vectors: [[0.5, 0.5, 0]], limit: 2))[0]
        #expect(ranked.map(\.id) == [.int(0), .int(7)] && ranked[1].score == 0)
        await #expect(throws: VireoError.self) { try await c.search(SearchRequest(vectors: [[0, 0, 0]])) }
        let bad: [SearchRequest] = [
            SearchRequest(vectors: [[1, 0]]),
            SearchRequest(vectors: [[1, .nan, 0]]),
            SearchRequest(vectors: []),
            SearchRequest(vectors: [[1, 0, 0]], limit: 0),
            SearchRequest(vectors: [[1, 0, 0]], annsField: "nope"),
            SearchRequest(vectors: [[1, 0, 0]], metric: .l2),
            SearchRequest(vectors: [[1, 0, 0]], outputFields: ["nope"]),
        ]
        for (i, r) in bad.enumerated() {
            do {
                _ = try await c.search(r)
                Issue.record("bad search \(i) accepted")
            } catch let e as VireoError {
                #expect(e.kind == .invalidInput, "request \(i): \(e)")
            }
        }
    }

    @Test("deletes are tombstones: count is exact and deleted rows never return")
    func deletes() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 50
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("d", dim: 8, shards: 2))
        let data = Datasets.uniform(n: 120, dim: 8, seed: 5)
        try await c.insert(makeRows(data))
        let deleted = try await c.delete(ids: stride(from: 0, to: 120, by: 3).map { .int(Int64($0)) } + [.int(9999)])
        #expect(deleted == 40)
        #expect(c.count() == 80)
        #expect(try await c.delete(ids: [.int(0)]) == 0, "deleting twice removes nothing")
        let hits = try await c.search(SearchRequest(vectors: data, limit: 5))
        for (q, h) in hits.enumerated() {
            for hit in h { if case let .int(i) = hit.id { #expect(i % 3 != 0, "query \(q) returned deleted row \(i)") } }
        }
    }
}
