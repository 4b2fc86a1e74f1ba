import Foundation
import Testing
@testable import Vireo
@testable import VireoStorage
import VireoTestSupport

/// VarChar primary keys of up to 65,535 bytes (Milvus' limit, what LangChain and LlamaIndex create),
/// past LMDB's 511-byte key limit: stored under a digest with the full key compared on every lookup
/// (see `PrimaryKeyIndex`). Checked against an in-memory model, with SHA-256 and with a weak digest
/// that makes most long keys collide, before and after compaction and reopen.
@Suite struct LongPrimaryKeyTests {
    static let dim = 4

    /// A digest that maps every key to one of three values (by length mod 3): long keys sharing a
    /// 400-byte prefix collide in bulk, which SHA-256 never lets a test see.
    static let weak = PrimaryKeyDigest(name: "weak") { [UInt8](repeating: UInt8($0.count % 3), count: 32) }

    static func schema(_ name: String = "docs", maxLength: Int = 65_535, shards: Int = 1) -> CollectionSchema {
        CollectionSchema(name: name, fields: [
            .varCharPrimaryKey("pk", maxLength: maxLength),
            .floatVector("vector", dimension: dim, metric: .l2),
            FieldSchema(name: "text", dataType: .varChar, maxLength: 65_535),
        ], enableDynamicField: true, shardsNum: shards)
    }

    /// A key of exactly `bytes` UTF-8 bytes: `prefix`, then seeded letters, with a two-byte "é" now
    /// and then (so prefixes and the 400-byte cut fall inside characters too).
    static func key(bytes: Int, prefix: String = "", using g: inout SeededGenerator) -> String {
        var s = prefix
        var n = prefix.utf8.count
        precondition(n <= bytes)
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        while n < bytes {
            if bytes - n >= 2, Int.random(in: 0..<8, using: &g) == 0 {
                s.append("é")
                n += 2
            } else {
                s.append(letters[Int.random(in: 0..<letters.count, using: &g)])
                n += 1
            }
        }
        return s
    }

    static func vector(_ g: inout SeededGenerator) -> [Float] { (0..<dim).map { _ in Float.random(in: -1..<1, using: &g) } }

    struct Model {
        var rows: [String: (vector: [Float], text: String)] = [:]

        func check(_ c: Collection, seed: UInt64, _ what: String) async throws {
            let label = "\(what), seed \(seed)"
            #expect(c.count() == rows.count, "\(label): count")
            let keys = rows.keys.sorted()
            // get by ids, plus keys that are absent (a near miss of a present long key included).
            var asked = keys.map { PrimaryKey.string($0) }
            if let k = keys.first(where: { $0.utf8.count > 511 }) { asked.append(.string(String(k.dropLast()) + "#")) }
            asked.append(.string(String(repeating: "z", count: 700)))
            let got = try c.get(ids: asked)
            #expect(got.count == keys.count, "\(label): get returns exactly the model's rows")
            for row in got {
                guard case let .string(k)? = row["pk"], let want = rows[k] else {
                    Issue.record("\(label): unexpected row with key of \(String(describing: row["pk"]).utf8.count) bytes")
                    continue
                }
                #expect(row["vector"] == .floatVector(want.vector), "\(label): vector of a \(k.utf8.count)-byte key")
                #expect(row["text"] == .string(want.text), "\(label): text of a \(k.utf8.count)-byte key")
            }
            // Query: everything in key order, paged by `after:` through the iterator.
            var it = c.queryIterator(outputFields: ["pk"], batchSize: 7)
            var walked: [String] = []
            while let page = try it.next() {
                for r in page { if case let .string(s)? = r["pk"] { walked.append(s) } }
            }
            #expect(walked == keys, "\(label): the iterator walks every key once, in key order")
            // pk == and pk in, for a few keys.
            for k in keys.prefix(3) {
                let one = try c.query(filter: "pk == \(Self.literal(k))", outputFields: ["text"])
                #expect(one.count == 1 && one.first?["pk"] == .string(k), "\(label): pk == on a \(k.utf8.count)-byte key")
            }
            let some = Array(keys.suffix(4))
            let hits = try c.query(filter: "pk in [\(some.map(Self.literal).joined(separator: ", "))]", outputFields: ["pk"])
            #expect(Set(hits.compactMap { r -> String? in if case let .string(s)? = r["pk"] { s } else { nil } }) == Set(some),
                    "\(label): pk in [...]")
            // A comparison on the key, against a long key.
            if let mid = keys.last(where: { $0.utf8.count > 511 }) {
                let above = try c.query(filter: "pk >= \(Self.literal(mid))", outputFields: ["pk"])
                #expect(above.compactMap { r -> String? in if case let .string(s)? = r["pk"] { s } else { nil } } == keys.filter { $0 >= mid },
                        "\(label): pk >= a long key, in key order")
            }
            // Exact search returns the model's keys, and a row's own vector finds that row first.
            if !keys.isEmpty {
                let k = keys[keys.count / 2]
                let v = rows[k]!.vector
                let res = try await c.search(SearchRequest(vectors: [v], limit: 3, outputFields: ["text"], params: SearchParameters(exact: true)))
                #expect(res[0].first?.id == .string(k), "\(label): search finds a \(k.utf8.count)-byte key by its own vector")
                #expect(res[0].allSatisfy { if case let .string(s) = $0.id { rows[s] != nil } else { false } }, "\(label): search ids")
            }
        }

        /// The key as a filter string literal.
        static func literal(_ s: String) -> String { "\"\(s)\"" }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var seed: UInt64
        var weakDigest: Bool
        var shards: Int
        var testDescription: String { "seed \(seed), \(weakDigest ? "weak" : "SHA-256") digest, \(shards) shard(s)" }
    }

    @Test("long keys agree with a model through inserts, upserts, deletes, compaction and reopen",
          arguments: [Case(seed: 1, weakDigest: false, shards: 1), Case(seed: 2, weakDigest: true, shards: 1),
                      Case(seed: 3, weakDigest: true, shards: 2), Case(seed: 4, weakDigest: false, shards: 2)])
    func modelAgreement(_ c: Case) async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 40
        config.compactionDeletedFraction = 0.01
        config.compactionInterval = nil
        if c.weakDigest { config.primaryKeyDigest = Self.weak }
        var g = SeededGenerator(seed: c.seed)
        let common = Self.key(bytes: 600, using: &g)
        func freshKey(_ g: inout SeededGenerator) -> String {
            let kind = Int.random(in: 0..<10, using: &g)
            let length: Int
            switch kind {
            case 0: length = [510, 511, 512][Int.random(in: 0..<3, using: &g)]
            case 1: length = Int.random(in: 1...40, using: &g)
            case 2: length = 65_535
            case 3: length = Int.random(in: 400...520, using: &g)
            default: length = Int.random(in: 601...1200, using: &g)
            }
            return Self.key(bytes: length, prefix: kind >= 4 ? common : "", using: &g)
        }
        var model = Model()
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(Self.schema(shards: c.shards))
            for step in 0..<40 {
                let roll = Int.random(in: 0..<100, using: &g)
                if roll < 35 || model.rows.count < 5 {
                    var rows: [Row] = []
                    var batch: [String: ([Float], String)] = [:]
                    for _ in 0..<Int.random(in: 1...12, using: &g) {
                        let k = freshKey(&g)
                        guard model.rows[k] == nil, batch[k] == nil else { continue }
                        let v = Self.vector(&g)
                        batch[k] = (v, "i\(step)")
                        rows.append(["pk": .string(k), "vector": .floatVector(v), "text": .string("i\(step)")])
                    }
                    try await coll.insert(rows)
                    for (k, v) in batch { model.rows[k] = v }
                } else if roll < 50 {
                    // A key already present is refused, and nothing of its request is written.
                    let k = model.rows.keys.sorted().randomElement(using: &g)!
                    let extra = freshKey(&g)
                    let v1 = Self.vector(&g), v2 = Self.vector(&g)
                    await #expect(throws: VireoError.self) {
                        try await coll.insert([["pk": .string(extra), "vector": .floatVector(v1), "text": .string("x")],
                                               ["pk": .string(k), "vector": .floatVector(v2), "text": .string("x")]])
                    }
                } else if roll < 65 {
                    let present = model.rows.keys.sorted()
                    var keys = Set((0..<Int.random(in: 1...6, using: &g)).map { _ in present.randomElement(using: &g)! })
                    keys.insert(freshKey(&g))
                    var rows: [Row] = []
                    for k in keys.sorted() { rows.append(["pk": .string(k), "vector": .floatVector(Self.vector(&g)), "text": .string("u\(step)")]) }
                    try await coll.upsert(rows)
                    for r in rows {
                        guard case let .string(k)? = r["pk"], case let .floatVector(v)? = r["vector"] else { continue }
                        model.rows[k] = (v, "u\(step)")
                    }
                } else if roll < 78 {
                    let present = model.rows.keys.sorted()
                    var victims = present.filter { _ in Int.random(in: 0..<4, using: &g) == 0 }
                    victims.append(String(repeating: "q", count: 900))  // absent: not counted
                    let n = try await coll.delete(ids: victims.map { .string($0) })
                    #expect(n == victims.count - 1, "delete by ids counts the present keys, seed \(c.seed)")
                    for k in victims { model.rows[k] = nil }
                } else if roll < 86 {
                    let present = model.rows.keys.sorted()
                    let victims = Array(present.shuffled(using: &g).prefix(3))
                    let n = try await coll.delete(filter: "pk in [\(victims.map(Model.literal).joined(separator: ", "))]")
                    #expect(n == victims.count, "delete by filter, seed \(c.seed)")
                    for k in victims { model.rows[k] = nil }
                } else if roll < 93 {
                    try await coll.flush()
                } else {
                    _ = try await coll.compact()
                    try await model.check(coll, seed: c.seed, "after compaction at step \(step)")
                }
            }
            try await model.check(coll, seed: c.seed, "before compaction")
            try await coll.flush()
            _ = try await coll.compact()
            #expect(coll.statistics().allSatisfy { $0.deletedRows == 0 })
            try await model.check(coll, seed: c.seed, "after compaction")
            let report = try db.check()
            #expect(report.isOK, "integrity: \(report.parts.flatMap(\.problems))")
            #expect(model.rows.keys.contains { $0.utf8.count > 511 } && model.rows.keys.contains { $0.utf8.count <= 511 })
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("docs")
        try await model.check(coll, seed: c.seed, "after reopen")
        // Writes go on after reopen, on the keys compaction moved.
        let victims = Array(model.rows.keys.sorted().prefix(5))
        #expect(try await coll.delete(ids: victims.map { .string($0) }) == victims.count)
        for k in victims { model.rows[k] = nil }
        try await coll.upsert(victims.map { ["pk": .string($0), "vector": .floatVector([1, 2, 3, 4]), "text": .string("back")] })
        for k in victims { model.rows[k] = ([1, 2, 3, 4], "back") }
        try await model.check(coll, seed: c.seed, "after writes following reopen")
        #expect(try db.check().isOK)
    }

    @Test("keys of 510, 511, 512, 1000 and 65,535 bytes round-trip; the 511-byte one keeps the direct layout")
    func boundaryLengths() async throws {
        let dir = TemporaryDirectory()
        var g = SeededGenerator(seed: 11)
        let keys = [510, 511, 512, 1000, 65_535].map { Self.key(bytes: $0, using: &g) }
        #expect(keys.map(\.utf8.count) == [510, 511, 512, 1000, 65_535])
        do {
            let db = try Database.open(at: dir.path)
            let coll = try db.createCollection(Self.schema())
            try await coll.insert(keys.enumerated().map { i, k in ["pk": .string(k), "vector": .floatVector([Float(i), 0, 0, 0]), "text": .string("\(i)")] })
            // What LMDB holds: two direct keys, three 435-byte digest keys.
            let shard = coll.shards[0]
            let stored = try shard.environment.read { txn in
                var lengths: [[UInt8]] = []
                try txn.forEach(shard.pkDB) { k, _ in lengths.append(Array(k)); return true }
                return lengths.sorted { $0.count < $1.count }
            }
            #expect(stored.map(\.count) == [435, 435, 435, 510, 511])
            // Keys a previous version could store keep its exact layout: the UTF-8 bytes, an 8-byte location.
            #expect(stored.filter { $0.count != 435 } == [Array(keys[0].utf8), Array(keys[1].utf8)])
            let values = try shard.environment.read { txn in try keys.prefix(2).map { try txn.get(shard.pkDB, key: Array($0.utf8))?.count } }
            #expect(values == [8, 8])
            let got = try coll.get(ids: keys.map { .string($0) }, outputFields: ["text"])
            #expect(got.map { $0["text"] } == (0..<5).map { .string("\($0)") })
            _ = try db.backup(to: dir.path + "-backup")
            #expect(try Database.verifyBackup(at: dir.path + "-backup").isOK)
        }
        // A backup restores the long keys too.
        let restored = TemporaryDirectory()
        _ = try Database.restore(backup: dir.path + "-backup", to: restored.path + "/db")
        do {
            let db = try Database.open(at: restored.path + "/db")
            let got = try db.collection("docs").get(ids: keys.map { .string($0) }, outputFields: ["text"])
            #expect(got.map { $0["text"] } == (0..<5).map { .string("\($0)") }, "after backup and restore")
        }
        try? FileManager.default.removeItem(atPath: dir.path + "-backup")
        let db = try Database.open(at: dir.path)
        let coll = try db.collection("docs")
        let got = try coll.get(ids: keys.reversed().map { .string($0) }, outputFields: ["text"])
        #expect(got.map { $0["text"] } == (0..<5).reversed().map { .string("\($0)") })
        #expect(try await coll.delete(ids: [.string(keys[4])]) == 1)
        #expect(try coll.get(ids: [.string(keys[4])]).isEmpty)
    }

    @Test("colliding long keys form a gapless chain: removing from its middle keeps every other key")
    func collisionChain() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.primaryKeyDigest = Self.weak
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(Self.schema())
        var g = SeededGenerator(seed: 5)
        let common = Self.key(bytes: 600, using: &g)
        // Same prefix, same length: the weak digest gives all five the same LMDB key but for the slot.
        let keys = (0..<5).map { _ in Self.key(bytes: 900, prefix: common, using: &g) }
        #expect(Set(keys).count == 5)
        try await coll.insert(keys.map { ["pk": .string($0), "vector": .floatVector([0, 0, 0, 0]), "text": .string($0.suffix(6).description)] })
        func slots() throws -> [Int] {
            try coll.shards[0].environment.read { txn in
                var s: [Int] = []
                try txn.forEach(coll.shards[0].pkDB) { k, _ in s.append(Int(k[k.count - 2]) << 8 | Int(k[k.count - 1])); return true }
                return s
            }
        }
        #expect(try slots() == [0, 1, 2, 3, 4])
        #expect(try await coll.delete(ids: [.string(keys[1])]) == 1)
        #expect(try slots() == [0, 1, 2, 3])
        #expect(try coll.get(ids: keys.map { .string($0) }).compactMap { $0["pk"] } == [0, 2, 3, 4].map { FieldValue.string(keys[$0]) })
        // A colliding key is still a different key: inserting one present is refused, a new one is not.
        await #expect(throws: VireoError.self) {
            try await coll.insert([["pk": .string(keys[3]), "vector": .floatVector([1, 1, 1, 1]), "text": .string("dup")]])
        }
        try await coll.insert([["pk": .string(keys[1]), "vector": .floatVector([1, 1, 1, 1]), "text": .string("again")]])
        try await coll.upsert([["pk": .string(keys[4]), "vector": .floatVector([2, 2, 2, 2]), "text": .string("up")]])
        let rows = try coll.get(ids: keys.map { .string($0) }, outputFields: ["text"])
        #expect(rows.count == 5)
        #expect(rows[1]["text"] == .string("again") && rows[4]["text"] == .string("up"))
        #expect(try db.check().isOK)
    }

    @Test("maxLength up to 65,535 is accepted at create; longer, and keys past maxLength, are refused with what to do")
    func limits() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        _ = try db.createCollection(Self.schema("ok"))
        #expect(throws: VireoError.self) { _ = try db.createCollection(Self.schema("too", maxLength: 65_536)) }
        let small = try db.createCollection(Self.schema("small", maxLength: 600))
        do {
            try await small.insert([["pk": .string(String(repeating: "é", count: 301)), "vector": .floatVector([0, 0, 0, 0]), "text": .string("")]])
            Issue.record("a 602-byte key was accepted under maxLength 600")
        } catch let e as VireoError {
            #expect(e.code == .invalidArgument)
            #expect(e.message.contains("602 bytes") && e.message.contains("maxLength 600"), "\(e.message)")
        }
        try await small.insert([["pk": .string(String(repeating: "é", count: 300)), "vector": .floatVector([0, 0, 0, 0]), "text": .string("")]])
        #expect(small.count() == 1)
        // Filters: string literals may hold ten 65,535-byte keys; the rest stays within 65,536 characters.
        let schema = Self.schema()
        let long = String(repeating: "k", count: 65_535)
        _ = try Filter("pk in [\(Array(repeating: "\"\(long)\"", count: 10).joined(separator: ", "))]", schema: schema)
        #expect(throws: VireoError.self) { _ = try Filter(Array(repeating: "pk == \"a\"", count: 7_000).joined(separator: " or "), schema: schema) }
        #expect(throws: VireoError.self) { _ = try Filter("pk in [\(Array(repeating: "\"\(long)\"", count: 17).joined(separator: ", "))]", schema: schema) }
    }

    @Test("SHA-256 matches the FIPS 180-4 test vectors")
    func sha256Vectors() {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        #expect(hex(SHA256.hash(Array("".utf8))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(SHA256.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(hex(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
