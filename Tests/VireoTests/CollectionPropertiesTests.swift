import Foundation
import Synchronization
import Testing
@testable import Vireo
import VireoTestSupport

/// A clock the test moves by hand (the engine's time source, `Configuration.clock`).
final class ManualClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var date: Date { now.withLock { $0 } }
}

/// Collection properties (`collection.ttl.seconds` honoured, `mmap.enabled` and the other keys
/// validated and stored), field properties, added fields and index properties.
@Suite struct CollectionPropertiesTests {
    static func configuration(_ clock: ManualClock) -> Configuration {
        var c = Configuration()
        c.clock = { clock.date }
        c.compactionInterval = nil
        c.sealRows = 100
        return c
    }

    /// What every read must agree on: exactly the keys of `live` (with their vectors), by count,
    /// query, get (asked for every key ever written) and exact search against an oracle.
    static func expectLive(_ c: Collection, _ live: [Int64: [Float]], everWritten: [Int64], dim: Int, seed: UInt64,
                           _ what: String) async throws {
        #expect(c.count() == live.count, "\(what): count")
        #expect(try c.count(filter: "id >= 0") == live.count, "\(what): count with a filter")
        let queried = try c.query(filter: "id >= 0", outputFields: ["id"]).compactMap { r -> Int64? in
            if case let .int(i)? = r["id"] { i } else { nil }
        }
        #expect(Set(queried) == Set(live.keys), "\(what): query")
        let got = try c.get(ids: everWritten.map { .int($0) }, outputFields: ["vec"])
        #expect(got.count == live.count, "\(what): get")
        for row in got {
            guard case let .int(id)? = row["id"], let v = live[id] else {
                Issue.record("\(what): get returned a row that should be gone: \(row)")
                continue
            }
            #expect(row["vec"] == .floatVector(v), "\(what): vector of \(id)")
        }
        let ids = live.keys.sorted()
        let base = ids.map { live[$0]! }
        let queries = Datasets.uniform(n: 3, dim: dim, seed: seed &+ 77)
        let k = 10
        let hits = try await c.search(SearchRequest(vectors: queries, limit: k, params: SearchParameters(exact: true)))
        for (qi, q) in queries.enumerated() {
            let truth = Oracle.nearest(q, in: base, k: min(k, base.count), metric: .l2).map { PrimaryKey.int(ids[$0.index]) }
            #expect(hits[qi].map(\.id) == truth, "\(what): search \(qi)")
        }
    }

    @Test("collection.ttl.seconds: expired rows leave every read at once, are compacted away, and a TTL change applies to stored rows",
          arguments: [1, 2])
    func ttlHonoured(shards: Int) async throws {
        let dim = 8
        let seed = UInt64(40 + shards)
        let dir = TemporaryDirectory()
        let clock = ManualClock()
        let config = Self.configuration(clock)
        var written: [Int64: (vector: [Float], at: Double)] = [:]
        var elapsed = 0.0
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("t", dim: dim, shards: shards))
            // Six batches 10 s apart; the first ones are sealed (sealRows 100), the last stay growing.
            var next: Int64 = 0
            for batch in 0..<6 {
                let n = 60 + batch * 7
                let vectors = Datasets.uniform(n: n, dim: dim, seed: seed &* 100 &+ UInt64(batch))
                try await c.insert(makeRows(vectors, firstID: next))
                for (i, v) in vectors.enumerated() { written[next + Int64(i)] = (v, elapsed) }
                next += Int64(n)
                if batch == 2 { try await c.flush() }
                clock.advance(10)
                elapsed += 10
            }
            let all = written.keys.sorted()
            func live(ttl: Double) -> [Int64: [Float]] {
                written.filter { elapsed - $0.value.at < ttl }.mapValues(\.vector)
            }
            try await Self.expectLive(c, live(ttl: .infinity), everWritten: all, dim: dim, seed: seed, "no TTL")

            // Rows inserted 35 s ago or earlier (batches 0-3) expire under a 35 s TTL.
            try c.alterProperties(set: [CollectionProperties.ttlSeconds: "35"])
            #expect(c.properties[CollectionProperties.ttlSeconds] == "35")
            #expect(c.timeToLive == .seconds(35))
            let under35 = live(ttl: 35)
            #expect(under35.count < written.count && !under35.isEmpty)
            try await Self.expectLive(c, under35, everWritten: all, dim: dim, seed: seed, "ttl 35")

            // A longer TTL brings back rows that were not compacted yet (expiry uses the current TTL).
            try c.alterProperties(set: [CollectionProperties.ttlSeconds: "1000"])
            try await Self.expectLive(c, live(ttl: 1000), everWritten: all, dim: dim, seed: seed, "ttl 1000")

            // Back to 35 s, then compaction removes the expired rows physically.
            try c.alterProperties(set: [CollectionProperties.ttlSeconds: "35"])
            let before = c.statistics().reduce(0) { $0 + $1.sealedRows + $1.growingRows }
            let report = try await c.compact()
            #expect(report.rowsExpired == written.count - under35.count, "\(report)")
            let after = c.statistics().reduce(0) { $0 + $1.sealedRows + $1.growingRows - $1.deletedRows }
            #expect(after == under35.count, "stored rows after compaction: \(c.statistics())")
            #expect(before > after)
            try await Self.expectLive(c, under35, everWritten: all, dim: dim, seed: seed, "ttl 35 after compaction")
            // Removing the TTL now cannot bring compacted rows back.
            try c.alterProperties(set: [:], delete: [CollectionProperties.ttlSeconds])
            #expect(c.timeToLive == nil)
            try await Self.expectLive(c, under35, everWritten: all, dim: dim, seed: seed, "ttl dropped after compaction")
            try c.alterProperties(set: [CollectionProperties.ttlSeconds: "35"])

            // An expired key can be inserted again (before or after compaction); new rows stay.
            let fresh = Datasets.uniform(n: 3, dim: dim, seed: seed &+ 5)
            try await c.insert([["id": .int(0), "vec": .floatVector(fresh[0]), "tag": .string("again")]])
            written[0] = (fresh[0], elapsed)
            try await Self.expectLive(c, live(ttl: 35), everWritten: all, dim: dim, seed: seed, "expired key inserted again")
        }
        // Properties and insert times survive a reopen; time goes on.
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("t")
        #expect(c.properties == [CollectionProperties.ttlSeconds: "35"])
        let all = written.keys.sorted()
        try await Self.expectLive(c, written.filter { elapsed - $0.value.at < 35 }.mapValues(\.vector), everWritten: all, dim: dim,
                                  seed: seed, "after reopen")
        clock.advance(20)
        elapsed += 20
        let remaining = written.filter { elapsed - $0.value.at < 35 }.mapValues(\.vector)
        #expect(remaining.count < written.filter { elapsed - 20 - $0.value.at < 35 }.count)
        try await Self.expectLive(c, remaining, everWritten: all, dim: dim, seed: seed, "after reopen, 20 s later")
        _ = try await c.compact()
        try await Self.expectLive(c, remaining, everWritten: all, dim: dim, seed: seed, "after reopen and compaction")
    }

    @Test("a filtered search and a partition read skip expired rows too")
    func ttlWithFilter() async throws {
        let dim = 4
        let clock = ManualClock()
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path, configuration: Self.configuration(clock))
        let c = try db.createCollection(simpleSchema("f", dim: dim), properties: [CollectionProperties.ttlSeconds: "5"])
        let old = Datasets.uniform(n: 50, dim: dim, seed: 9)
        try await c.insert(makeRows(old))
        clock.advance(6)
        let new = Datasets.uniform(n: 50, dim: dim, seed: 10)
        try await c.insert(makeRows(new, firstID: 50))
        let hits = try await c.search(SearchRequest(vectors: [old[3]], limit: 100, params: SearchParameters(exact: true), filter: "id < 80"))
        #expect(Set(hits[0].map(\.id)) == Set((50..<80).map { PrimaryKey.int(Int64($0)) }))
        #expect(try c.count(filter: "tag like \"t%\"") == 50)
    }

    @Test("property values are validated as Milvus validates them; unknown keys are kept", arguments: [
        (CollectionProperties.ttlSeconds, "-1"), (CollectionProperties.ttlSeconds, "abc"), (CollectionProperties.ttlSeconds, "1.5"),
        (CollectionProperties.mmapEnabled, "maybe"), (CollectionProperties.autoCompactionEnabled, "1x"),
        (CollectionProperties.partitionKeyIsolation, "true"), (CollectionProperties.replicaNumber, "0"),
    ])
    func validation(key: String, value: String) async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path, configuration: Self.configuration(ManualClock()))
        let c = try db.createCollection(simpleSchema("v", dim: 4))
        #expect(throws: VireoError.self) { try c.alterProperties(set: [key: value]) }
        #expect(c.properties.isEmpty)
        #expect(throws: VireoError.self) { try db.createCollection(simpleSchema("w", dim: 4), properties: [key: value]) }
        #expect(!db.hasCollection("w"))
    }

    @Test("accepted properties are stored, reported and survive reopen; set and delete cannot be combined")
    func storedProperties() async throws {
        let dir = TemporaryDirectory()
        let config = Self.configuration(ManualClock())
        let set = [CollectionProperties.mmapEnabled: "true", CollectionProperties.autoCompactionEnabled: "false",
                   CollectionProperties.replicaNumber: "1", CollectionProperties.resourceGroups: "rg1", "custom.key": "x"]
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("p", dim: 4))
            try c.alterProperties(set: set)
            #expect(c.properties == set)
            #expect(!c.autoCompactionEnabled)
            #expect(throws: VireoError.self) { try c.alterProperties(set: ["a": "b"], delete: ["custom.key"]) }
            try c.alterProperties(set: [:], delete: ["custom.key", "never.set"])
        }
        let db = try Database.open(at: dir.path, configuration: config)
        var expected = set
        expected["custom.key"] = nil
        #expect(try db.collection("p").properties == expected)
    }

    // MARK: Fields

    @Test("alter field: max_length and max_capacity apply to later inserts and persist; Milvus' rules")
    func alterField() async throws {
        let dir = TemporaryDirectory()
        let config = Self.configuration(ManualClock())
        let schema = CollectionSchema(name: "a", fields: [
            .int64PrimaryKey("id"), .floatVector("vec", dimension: 2),
            FieldSchema(name: "s", dataType: .varChar, maxLength: 4),
            FieldSchema(name: "arr", dataType: .array, elementType: .int64, maxCapacity: 2),
            FieldSchema(name: "n", dataType: .int64),
        ])
        func row(_ id: Int64, _ s: String, _ arr: [Int64]) -> Row {
            ["id": .int(id), "vec": .floatVector([1, 0]), "s": .string(s), "arr": .array(arr.map { .int($0) }), "n": .int(1)]
        }
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(schema)
            await #expect(throws: VireoError.self) { try await c.insert([row(1, "toolong", [1])]) }
            await #expect(throws: VireoError.self) { try await c.insert([row(1, "ok", [1, 2, 3])]) }
            try c.alterField("s", set: ["max_length": "16", "mmap_enabled": "true"])
            try c.alterField("arr", set: ["max_capacity": "3"])
            try await c.insert([row(1, "toolong", [1, 2, 3])])
            #expect(c.schema.field(named: "s")?.maxLength == 16)
            #expect(c.schema.field(named: "s")?.mmapEnabled == true)
            // Milvus' refusals.
            #expect(throws: VireoError.self) { try c.alterField("n", set: ["max_length": "8"]) }
            #expect(throws: VireoError.self) { try c.alterField("s", set: ["max_length": "65536"]) }
            #expect(throws: VireoError.self) { try c.alterField("s", set: ["max_capacity": "8"]) }
            #expect(throws: VireoError.self) { try c.alterField("arr", set: ["max_capacity": "4097"]) }
            #expect(throws: VireoError.self) { try c.alterField("s", set: ["nullable": "true"]) }
            #expect(throws: VireoError.self) { try c.alterField("s", set: [:], delete: ["max_length"]) }
            #expect(throws: VireoError.self) { try c.alterField("missing", set: ["max_length": "8"]) }
            // Lowering the limit keeps stored rows and refuses longer new ones.
            try c.alterField("s", set: ["max_length": "5"])
            await #expect(throws: VireoError.self) { try await c.insert([row(2, "toolong", [1])]) }
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("a")
        #expect(c.schema.field(named: "s")?.maxLength == 5)
        #expect(c.schema.field(named: "arr")?.maxCapacity == 3)
        #expect(try c.get(ids: [.int(1)], outputFields: ["s"]).first?["s"] == .string("toolong"))
        try c.alterField("s", set: [:], delete: ["mmap.enabled"])
        #expect(c.schema.field(named: "s")?.mmapEnabled == nil)
    }

    @Test("an added nullable field: old rows read its default or null (sealed, growing, dynamic field), new rows set it; after compaction and reopen",
          arguments: [false, true])
    func addField(dynamic: Bool) async throws {
        let dir = TemporaryDirectory()
        let config = Self.configuration(ManualClock())
        let dim = 4
        var schema = simpleSchema("add", dim: dim)
        schema.enableDynamicField = dynamic
        let old = Datasets.uniform(n: 150, dim: dim, seed: 3)
        var oldRows = makeRows(old)
        if dynamic { for i in oldRows.indices { oldRows[i]["extra"] = .int(Int64(i)) } }
        func check(_ c: Collection, _ what: String) throws {
            #expect(try c.count(filter: "score == 7") == 150 + 10, "\(what): default on old rows, and new rows that omit it")
            #expect(try c.count(filter: "score is null") == 0, "\(what)")
            #expect(try c.count(filter: "note is null") == 150 + 10, "\(what)")
            #expect(try c.count(filter: "note == \"n\"") == 20, "\(what)")
            #expect(try c.count(filter: "score == 42") == 20, "\(what)")
            let r = try c.get(ids: [.int(5), .int(1000), .int(2000)], outputFields: ["*"])
            #expect(r.count == 3)
            #expect(r[0]["score"] == .int(7) && r[0]["note"] == .null && r[0]["tag"] == .string("t5"), "\(what): \(r[0])")
            #expect(r[1]["score"] == .int(42) && r[1]["note"] == .string("n"), "\(what): \(r[1])")
            #expect(r[2]["score"] == .int(7) && r[2]["note"] == .null, "\(what): \(r[2])")
            if dynamic {
                #expect(r[0]["extra"] == .json(.int(5)), "\(what): dynamic keys of old rows stay readable")
                #expect(try c.count(filter: "extra >= 100") == 50, "\(what)")
            }
        }
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(schema)
            try await c.insert(Array(oldRows[0..<120]))  // sealed at 100 rows …
            try await c.insert(Array(oldRows[120...]))  // … and growing
            try c.addField(FieldSchema(name: "score", dataType: .int64, nullable: true, defaultValue: .int(7)))
            try c.addField(FieldSchema(name: "note", dataType: .varChar, maxLength: 8, nullable: true))
            // Milvus' rules.
            #expect(throws: VireoError.self) { try c.addField(FieldSchema(name: "x", dataType: .int64)) }
            #expect(throws: VireoError.self) { try c.addField(FieldSchema(name: "tag", dataType: .int64, nullable: true)) }
            #expect(throws: VireoError.self) { try c.addField(FieldSchema(name: "v2", dataType: .floatVector, dimension: 2, nullable: true)) }
            #expect(throws: VireoError.self) { try c.addField(FieldSchema(name: "k", dataType: .int64, nullable: true, isPartitionKey: true)) }
            #expect(throws: VireoError.self) { try c.addField(FieldSchema(name: "a", dataType: .int64, autoID: true, nullable: true)) }
            #expect(throws: VireoError.self) { try c.addField(FieldSchema(name: "s", dataType: .varChar, nullable: true)) }
            let newVectors = Datasets.uniform(n: 30, dim: dim, seed: 4)
            var newRows: [Row] = newVectors.prefix(20).enumerated().map { i, v in
                ["id": .int(1000 + Int64(i)), "vec": .floatVector(v), "tag": .string("new"), "score": .int(42), "note": .string("n")]
            }
            newRows += newVectors.suffix(10).enumerated().map { i, v in ["id": .int(2000 + Int64(i)), "vec": .floatVector(v), "tag": .string("new")] }
            try await c.insert(newRows)
            await #expect(throws: VireoError.self) {
                try await c.insert([["id": .int(3000), "vec": .floatVector(newVectors[0]), "tag": .string("x"), "note": .string("too long!")]])
            }
            try check(c, "before flush")
            try await c.flush()
            try check(c, "after flush")
            _ = try await c.delete(ids: (0..<40).map { .int($0) })
            try await c.insert(Array(oldRows[0..<40]))  // re-inserted old-shape rows now read the default
            _ = try await c.compact()
            try check(c, "after compaction")
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("add")
        #expect(c.schema.fields.map(\.name).suffix(2) == ["score", "note"])
        try check(c, "after reopen")
    }

    // MARK: Indexes

    @Test("index properties: mmap.enabled set, reported, persisted and dropped; build parameters refused")
    func indexProperties() async throws {
        let dir = TemporaryDirectory()
        let config = Self.configuration(ManualClock())
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let c = try db.createCollection(simpleSchema("ix", dim: 4))
            try await c.insert(makeRows(Datasets.uniform(n: 50, dim: 4, seed: 1)))
            try await c.createIndex(IndexSpec(field: "vec", kind: .hnsw, metric: .l2, name: "vidx"))
            await c.waitForIndexBuilds()
            try c.alterIndex("vidx", set: ["mmap.enabled": "True"])
            #expect(c.indexes.first { $0.field == "vec" }?.properties == ["mmap.enabled": "True"])
            #expect(throws: VireoError.self) { try c.alterIndex("vidx", set: ["M": "32"]) }
            #expect(throws: VireoError.self) { try c.alterIndex("vidx", set: ["mmap.enabled": "sometimes"]) }
            #expect(throws: VireoError.self) { try c.alterIndex("nope", set: ["mmap.enabled": "true"]) }
            // Nothing was rebuilt: the segment's index is still ready.
            #expect(try c.indexStatus(field: "vec").isFinished)
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.collection("ix")
        #expect(c.indexes.first?.properties == ["mmap.enabled": "True"])
        try c.alterIndex("vidx", set: [:], delete: ["mmap.enabled"])
        #expect(c.indexes.first?.properties == nil)
    }
}
