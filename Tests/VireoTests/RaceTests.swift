import Foundation
import Synchronization
import Testing
@testable import Vireo
import VireoKernels
import VireoTestSupport

/// Operations that race stay atomic: many seeded rounds of interleavings, then the invariants, also
/// after reopening.
@Suite struct RaceTests {
    @Test("get of a key never misses it while upserts, seals and compactions move it")
    func getDuringUpserts() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 64
        config.compactionDeletedFraction = 0.1
        config.compactionInterval = .milliseconds(5)
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("g", dim: 4))
        let keys: [Int64] = [1, 2, 3]
        try await coll.insert(keys.map { ["id": .int($0), "vec": .floatVector([1, 0, 0, 0]), "tag": .string("0")] })
        let writes = 600
        let writer = Task {
            for v in 1...writes {
                try await coll.upsert(keys.map { ["id": .int($0), "vec": .floatVector([Float(v), 1, 0, 0]), "tag": .string("\(v)")] })
            }
        }
        var reads = 0
        var last = 0
        while !writer.isCancelled {
            let rows = try coll.get(ids: keys.map { .int($0) })
            #expect(rows.count == keys.count, "a get during upserts returned \(rows.count) of \(keys.count) rows")
            // One snapshot: every key shows the same version, never older than the last one seen.
            let versions = Set(rows.compactMap { r -> Int? in if case let .string(s)? = r["tag"] { Int(s) } else { nil } })
            #expect(versions.count == 1, "versions \(versions)")
            if let v = versions.first {
                #expect(v >= last)
                last = v
            }
            reads += 1
            if last == writes { break }
            await Task.yield()
        }
        try await writer.value
        #expect(reads > 10)
        #expect(coll.count() == keys.count)
    }

    @Test("dropping a partition never deletes a key an upsert moved to another partition", arguments: [UInt64(1), 2, 3, 4])
    func partitionDropVersusUpsert(seed: UInt64) async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 100
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("p", dim: 4))
        try await coll.createPartition("old")
        try await coll.createPartition("new")
        let n = 400
        let data = Datasets.uniform(n: n, dim: 4, seed: seed)
        try await coll.insert(makeRows(data), partition: "old")
        var g = SeededGenerator(seed: seed)
        let moved = (0..<n).filter { _ in Int.random(in: 0..<4, using: &g) == 0 }.map(Int64.init)
        // The upserts and the drop interleave (the writer orders them); every acknowledged upsert into
        // "new" must survive the drop of "old".
        async let upserts: Void = {
            for chunk in stride(from: 0, to: moved.count, by: 7) {
                let keys = moved[chunk..<min(moved.count, chunk + 7)]
                try await coll.upsert(keys.map { ["id": .int($0), "vec": .floatVector([1, 2, 3, 4]), "tag": .string("moved")] }, partition: "new")
            }
        }()
        async let drop: Void = coll.dropPartition("old")
        _ = try await (upserts, drop)
        let rows = try coll.query(filter: "id >= 0", outputFields: ["tag"])
        let ids = Set(rows.compactMap { r -> Int64? in if case let .int(i)? = r["id"] { i } else { nil } })
        #expect(ids == Set(moved), "seed \(seed): \(ids.symmetricDifference(Set(moved)).sorted().prefix(10))")
        #expect(rows.allSatisfy { $0["tag"] == .string("moved") })
        #expect(try coll.count(partitions: ["new"]) == moved.count)
    }

    @Test("create, drop and rename of one name in parallel leave the catalog and the open collections in agreement")
    func catalogRaces() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.compactionInterval = nil
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            for round in 0..<30 {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { _ = try? db.createCollection(simpleSchema("a", dim: 4)) }
                    group.addTask { try? db.dropCollection("a") }
                    group.addTask { try? db.renameCollection("a", to: "b") }
                    group.addTask { try? db.renameCollection("b", to: "a") }
                    group.addTask { try? db.dropCollection("b") }
                    group.addTask { _ = try? db.createCollection(simpleSchema("b", dim: 4)) }
                }
                // Every listed collection is usable and its record names it.
                for name in db.listCollections() {
                    let c = try db.collection(name)
                    try await c.insert(makeRows([[Float(round), 0, 0, 1]], firstID: Int64(round)))
                    #expect(try db.catalogRecord(name).schema.name == name)
                }
            }
            // A handle kept past a drop and a re-create under its name cannot touch the new record.
            if !db.hasCollection("a") { try db.createCollection(simpleSchema("a", dim: 4)) }
            let stale = try db.collection("a")
            try db.dropCollection("a")
            let fresh = try db.createCollection(simpleSchema("a", dim: 4))
            await #expect(throws: VireoError.self) { try await stale.createIndex(.hnsw(field: "vec", metric: .l2)) }
            #expect(try db.catalogRecord("a").indexes?.first?.kind == .flat)
            #expect(fresh.count() == 0)
        }
        let before = Set(try Database.open(at: dir.path, configuration: config).listCollections())
        #expect(before.contains("a"))
    }

    @Test("concurrent create_index calls with other parameters leave one spec: in memory, in the catalog, on every segment, after reopen",
          arguments: [UInt64(1), 2, 3])
    func createIndexRaces(seed: UInt64) async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 300
        config.compactionInterval = nil
        var final: IndexSpec?
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(simpleSchema("ix", dim: 8))
            try await coll.insert(makeRows(Datasets.uniform(n: 1200, dim: 8, seed: seed)))
            var g = SeededGenerator(seed: seed)
            let specs = (0..<6).map { _ in IndexSpec.hnsw(field: "vec", M: Int.random(in: 4...16, using: &g), efConstruction: 32, metric: .l2) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for spec in specs { group.addTask { try await coll.createIndex(spec) } }
                try await group.waitForAll()
            }
            await coll.waitForIndexBuilds()
            let spec = try #require(coll.indexes.first { $0.field == "vec" })
            #expect(try db.catalogRecord("ix").indexes?.first { $0.field == "vec" } == spec, "catalog and registry agree")
            for seg in coll.shards[0].snapshot.sealed {
                let index = try #require(seg.indexes[0], "segment \(seg.id) has an index")
                #expect(index.matches(spec, rows: seg.rowCount), "segment \(seg.id) carries the final spec")
            }
            final = spec
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("ix")
        #expect(coll.indexes.first { $0.field == "vec" } == final)
        await coll.waitForIndexBuilds()
        #expect(coll.shards[0].snapshot.sealed.allSatisfy { $0.indexes[0]?.matches(final!, rows: $0.rowCount) == true })
    }

    @Test("hit addresses carry segment ordinals beyond 16 bits and every shard")
    func hitAddresses() {
        for (shard, ordinal, row) in [(0, 70_000, 5), (63, HitAddress.maxOrdinal, Int(UInt32.max)), (17, 65_536, 0)] {
            let a = HitAddress(HitAddress.pack(shard: shard, ordinal: ordinal, row: row))
            #expect(a.shard == shard && a.ordinal == ordinal && a.row == row)
            #expect(HitAddress.pack(shard: shard, ordinal: ordinal, row: row) >= 0)
        }
    }
}
