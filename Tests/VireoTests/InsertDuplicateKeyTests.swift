import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// A primary key given more than once in one insert (Milvus accepts such an insert and serves the
/// later row; Milvus 2.6 refuses it in an upsert). Checked against the model of `CompactionTests`:
/// seeded inserts with repeated keys, deletes, re-inserts, flushes and compactions, before and after
/// reopening, so the later row wins, deleted keys stay deleted and acknowledged rows are durable.
@Suite struct InsertDuplicateKeyTests {
    @Test("a key twice in one insert: accepted, counted and listed per row, the later row stored")
    func laterRowWins() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("d", dim: 4))
        let rows: [Row] = [
            ["id": .int(1), "vec": .floatVector([1, 0, 0, 0]), "tag": .string("first")],
            ["id": .int(2), "vec": .floatVector([0, 1, 0, 0]), "tag": .string("two")],
            ["id": .int(1), "vec": .floatVector([0, 0, 1, 0]), "tag": .string("second")],
        ]
        let r = try await c.insert(rows)
        #expect(r.count == 3)
        #expect(r.ids == [.int(1), .int(2), .int(1)])
        #expect(c.count() == 2)
        let got = try c.get(ids: [.int(1)], outputFields: ["*"])
        #expect(got.count == 1)
        #expect(got.first?["tag"] == .string("second"))
        #expect(got.first?["vec"] == .floatVector([0, 0, 1, 0]))
    }

    @Test("a key twice in one upsert fails and writes nothing")
    func upsertRefuses() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(simpleSchema("d", dim: 4))
        let rows = makeRows([[1, 0, 0, 0], [0, 1, 0, 0]], firstID: 7) + makeRows([[0, 0, 1, 0]], firstID: 7)
        do {
            try await c.upsert(rows)
            Issue.record("an upsert with a repeated key was accepted")
        } catch let e as VireoError {
            #expect(e.code == .duplicatePrimaryKey)
            #expect(e.message.contains("row 2"), "\(e.message)")
        }
        #expect(c.count() == 0)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var seed: UInt64
        var shards: Int
        var testDescription: String { "seed \(seed), \(shards) shard(s)" }
    }

    @Test("seeded inserts with repeated keys, deletes, flushes and compactions agree with a last-row-wins model, also after reopen",
          arguments: [Case(seed: 11, shards: 1), Case(seed: 12, shards: 3)])
    func model(_ c: Case) async throws {
        let dim = 6
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 60
        config.compactionInterval = nil
        var g = SeededGenerator(seed: c.seed)
        var model = CompactionTests.Model()
        var deleted = Set<Int64>()
        var repeatedSeen = 0
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(simpleSchema("m", dim: dim, shards: c.shards))
            for step in 0..<40 {
                let roll = Int.random(in: 0..<100, using: &g)
                if roll < 55 || model.rows.isEmpty {
                    // Keys drawn from a small range, so a batch repeats some; only keys not stored
                    // (insert refuses stored keys), deleted ones included: a re-insert is allowed.
                    let n = Int.random(in: 1...50, using: &g)
                    let keys = (0..<n).map { _ in Int64.random(in: 0..<400, using: &g) }.filter { model.rows[$0] == nil }
                    guard !keys.isEmpty else { continue }
                    let vectors = Datasets.uniform(n: keys.count, dim: dim, seed: c.seed &* 1000 &+ UInt64(step))
                    let rows: [Row] = zip(keys, vectors).enumerated().map { i, kv in
                        ["id": .int(kv.0), "vec": .floatVector(kv.1), "tag": .string("s\(step)r\(i)")]
                    }
                    let r = try await coll.insert(rows)
                    #expect(r.count == keys.count)
                    #expect(r.ids == keys.map { .int($0) })
                    repeatedSeen += keys.count - Set(keys).count
                    for (i, (k, v)) in zip(keys, vectors).enumerated() {
                        model.rows[k] = (v, "s\(step)r\(i)")  // the later row wins
                        deleted.remove(k)
                    }
                } else if roll < 80 {
                    let live = model.rows.keys.sorted()
                    let victims = live.filter { _ in Double.random(in: 0..<1, using: &g) < 0.3 }
                    let n = try await coll.delete(ids: victims.map { .int($0) })
                    #expect(n == victims.count)
                    for k in victims { model.rows[k] = nil; deleted.insert(k) }
                } else if roll < 90 {
                    try await coll.flush()
                } else {
                    _ = try await coll.compact()
                }
                if step % 10 == 9 {
                    try await model.check(coll, dim: dim, seed: c.seed, "step \(step)")
                    #expect(try coll.get(ids: deleted.map { .int($0) }).isEmpty, "deleted keys stay deleted, step \(step)")
                }
            }
            #expect(repeatedSeen > 0, "the sequence must repeat keys within a batch, seed \(c.seed)")
            try await model.check(coll, dim: dim, seed: c.seed, "at the end")
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("m")
        try await model.check(coll, dim: dim, seed: c.seed, "after reopen")
        #expect(try coll.get(ids: deleted.map { .int($0) }).isEmpty, "deleted keys stay deleted after reopen")
    }
}
