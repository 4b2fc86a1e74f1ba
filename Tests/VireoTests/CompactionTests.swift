import Foundation
import Synchronization
import Testing
@testable import Vireo
import VireoKernels
@testable import VireoStorage
import VireoTestSupport

/// Compaction against an in-memory model: after any seeded sequence of inserts, upserts, deletes,
/// flushes and compactions, every row the model holds is stored (exactly), nothing else is, and exact
/// search equals the oracle over the model; before and after reopening.
@Suite struct CompactionTests {
    struct Model {
        var rows: [Int64: (vector: [Float], tag: String)] = [:]

        func check(_ c: Collection, dim: Int, seed: UInt64, _ what: String) async throws {
            #expect(c.count() == rows.count, "\(what): count, seed \(seed)")
            let ids = rows.keys.sorted()
            let got = try c.get(ids: ids.map { .int($0) }, outputFields: ["*"])
            #expect(got.count == ids.count, "\(what): get, seed \(seed)")
            for row in got {
                guard case let .int(id)? = row["id"], let want = rows[id] else {
                    Issue.record("\(what): unexpected row \(row)")
                    continue
                }
                #expect(row["vec"] == .floatVector(want.vector), "\(what): vector of \(id)")
                #expect(row["tag"] == .string(want.tag), "\(what): tag of \(id)")
            }
            let all = try c.query(filter: "id >= 0", outputFields: ["tag"])
            #expect(Set(all.compactMap { r -> Int64? in if case let .int(i)? = r["id"] { i } else { nil } }) == Set(ids),
                    "\(what): query returns exactly the model's keys")
            // Exact search equals the oracle over the model.
            let queries = Datasets.uniform(n: 4, dim: dim, seed: seed &+ 99)
            let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true)))
            let base = ids.map { rows[$0]!.vector }
            for (qi, q) in queries.enumerated() {
                let truth = Oracle.nearest(q, in: base, k: 10, metric: .l2).map { PrimaryKey.int(ids[$0.index]) }
                #expect(hits[qi].map(\.id) == truth, "\(what): query \(qi), seed \(seed)")
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var seed: UInt64
        var shards: Int
        var testDescription: String { "seed \(seed), \(shards) shard(s)" }
    }

    @Test("random inserts, upserts, deletes, flushes and compactions agree with a model, also after reopen",
          arguments: [Case(seed: 1, shards: 1), Case(seed: 2, shards: 2), Case(seed: 3, shards: 1)])
    func modelAgreement(_ c: Case) async throws {
        let dim = 8
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 150
        config.compactionDeletedFraction = 0.01
        config.compactionInterval = nil
        var g = SeededGenerator(seed: c.seed)
        var model = Model()
        var nextKey: Int64 = 0
        var removed = 0
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(simpleSchema("m", dim: dim, shards: c.shards))
            for step in 0..<60 {
                let roll = Int.random(in: 0..<100, using: &g)
                if roll < 35 || model.rows.isEmpty {
                    let n = Int.random(in: 1...120, using: &g)
                    let vectors = Datasets.uniform(n: n, dim: dim, seed: c.seed &* 1000 &+ UInt64(step))
                    try await coll.insert(makeRows(vectors, firstID: nextKey))
                    for (i, v) in vectors.enumerated() { model.rows[nextKey + Int64(i)] = (v, "t\(nextKey + Int64(i))") }
                    nextKey += Int64(n)
                } else if roll < 55 {
                    // Upsert existing and new keys.
                    let keys = (0..<Int.random(in: 1...40, using: &g)).map { _ in Int64.random(in: 0..<(nextKey + 5), using: &g) }
                    let unique = Array(Set(keys)).sorted()
                    let vectors = Datasets.uniform(n: unique.count, dim: dim, seed: c.seed &* 7919 &+ UInt64(step))
                    let rows: [Row] = zip(unique, vectors).map { k, v in ["id": .int(k), "vec": .floatVector(v), "tag": .string("u\(step)")] }
                    try await coll.upsert(rows)
                    for (k, v) in zip(unique, vectors) { model.rows[k] = (v, "u\(step)") }
                    nextKey = max(nextKey, (unique.last ?? 0) + 1)
                } else if roll < 85 {
                    let live = model.rows.keys.sorted()
                    let fraction = Double.random(in: 0.05...0.6, using: &g)
                    let victims = live.filter { _ in Double.random(in: 0..<1, using: &g) < fraction }
                    let n = try await coll.delete(ids: victims.map { .int($0) })
                    #expect(n == victims.count)
                    for k in victims { model.rows[k] = nil }
                } else if roll < 92 {
                    try await coll.flush()
                } else {
                    let report = try await coll.compact()
                    removed += report.rowsRemoved
                    try await model.check(coll, dim: dim, seed: c.seed, "after compaction at step \(step)")
                }
            }
            let report = try await coll.compact()
            removed += report.rowsRemoved
            #expect(removed > 0, "the sequence must make compaction drop rows, seed \(c.seed)")
            // With the threshold at 1 %, nothing deleted is left behind.
            #expect(coll.statistics().allSatisfy { $0.deletedRows == 0 }, "\(coll.statistics())")
            try await model.check(coll, dim: dim, seed: c.seed, "after the last compaction")
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("m")
        try await model.check(coll, dim: dim, seed: c.seed, "after reopen")
        // Writes continue after reopen: a key the compaction moved can be deleted and re-inserted.
        if let k = model.rows.keys.min() {
            #expect(try await coll.delete(ids: [.int(k)]) == 1)
            model.rows[k] = nil
            try await model.check(coll, dim: dim, seed: c.seed, "after a delete following reopen")
        }
    }

    @Test("writes and searches go on during compaction; rows changed meanwhile keep their last write")
    func concurrentWrites() async throws {
        let dim = 16
        let n = 3000
        let seed: UInt64 = 7
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 500
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("c", dim: dim))
        try await coll.createIndex(.hnsw(field: "vec", M: 8, efConstruction: 40, metric: .l2))
        let data = Datasets.clustered(n: n, dim: dim, clusters: 10, seed: seed)
        var model = Model()
        for start in stride(from: 0, to: n, by: 500) {
            try await coll.insert(makeRows(Array(data[start..<start + 500]), firstID: Int64(start)))
        }
        for (i, v) in data.enumerated() { model.rows[Int64(i)] = (v, "t\(i)") }
        await coll.waitForIndexBuilds()
        let victims = (0..<n).filter { $0 % 5 != 0 }.map(Int64.init)
        try await coll.delete(ids: victims.map { .int($0) })
        for k in victims { model.rows[k] = nil }

        // While compaction runs: one task upserts and deletes keys of the segments being rewritten
        // (sequentially, so the model is exact), another searches.
        let writes = Datasets.uniform(n: 200, dim: dim, seed: seed + 1)
        async let compaction = coll.compact()
        let writer = Task { () -> [(Int64, [Float]?)] in
            var log: [(Int64, [Float]?)] = []
            for (i, v) in writes.enumerated() {
                let key = Int64(i * 15)  // live (multiple of 5) and deleted keys alike
                if i % 3 == 2 {
                    _ = try await coll.delete(ids: [.int(key)])
                    log.append((key, nil))
                } else {
                    try await coll.upsert([["id": .int(key), "vec": .floatVector(v), "tag": .string("w\(i)")]])
                    log.append((key, v))
                }
            }
            return log
        }
        let searcher = Task { () -> Int in
            var answered = 0
            for q in Datasets.uniform(n: 100, dim: dim, seed: seed + 2) {
                let hits = try await coll.search(SearchRequest(vectors: [q], limit: 5))
                if hits[0].count == 5 { answered += 1 }
            }
            return answered
        }
        let report = try await compaction
        let log = try await writer.value
        #expect(try await searcher.value == 100)
        for (i, (k, v)) in log.enumerated() {
            if let v { model.rows[k] = (v, "w\(i)") } else { model.rows[k] = nil }
        }
        #expect(report.rowsRemoved > 0)
        try await model.check(coll, dim: dim, seed: seed, "after concurrent compaction")
        // The compacted segments carry the index again, and it finds the exact neighbours.
        await coll.waitForIndexBuilds()
        #expect(coll.shards[0].snapshot.sealed.allSatisfy { $0.indexes[0] != nil })
        let queries = Datasets.clustered(n: 50, dim: dim, clusters: 10, seed: seed + 3)
        let hits = try await coll.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 64)))
        let ids = model.rows.keys.sorted()
        let base = ids.map { model.rows[$0]!.vector }
        var found = 0
        for (qi, q) in queries.enumerated() {
            let truth = Set(Oracle.nearest(q, in: base, k: 10, metric: .l2).map { PrimaryKey.int(ids[$0.index]) })
            found += hits[qi].filter { truth.contains($0.id) }.count
        }
        #expect(Double(found) / 500 >= 0.9, "recall@10 after compaction: \(Double(found) / 500)")
    }

    @Test("rows upserted or deleted after compaction gathered them, before it committed, keep their last write")
    func writesBetweenGatherAndCommit() async throws {
        let dim = 8
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 300
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("g", dim: dim))
        let data = Datasets.uniform(n: 600, dim: dim, seed: 21)
        var model = Model()
        try await coll.insert(makeRows(Array(data[..<300])))
        try await coll.insert(makeRows(Array(data[300...]), firstID: 300))
        for (i, v) in data.enumerated() { model.rows[Int64(i)] = (v, "t\(i)") }
        try await coll.delete(ids: (0..<600).filter { $0 % 3 == 0 }.map { .int(Int64($0)) })
        for k in (0..<600).filter({ $0 % 3 == 0 }) { model.rows[Int64(k)] = nil }
        let shard = coll.shards[0]
        // Hold the writer: the compaction gathers and builds, then its commit waits in the queue.
        shard.queue.suspend()
        async let compaction = coll.compact()
        func queued() -> Int { shard.pending.withLock { $0.ops.count } }
        func waitQueued(_ n: Int) async throws {
            let deadline = ContinuousClock.now + .seconds(30)
            while queued() < n {
                guard ContinuousClock.now < deadline else { throw CancellationError() }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        try await waitQueued(1)
        // Writes to rows the compaction gathered, queued behind its commit: the writer applies data
        // first, so the commit must reconcile them.
        let fresh = Datasets.uniform(n: 3, dim: dim, seed: 22)
        async let upsert: Collection.WriteResult = coll.upsert([1, 2, 4].enumerated().map { i, k in
            ["id": .int(Int64(k)), "vec": .floatVector(fresh[i]), "tag": .string("new")]
        })
        async let deletion = coll.delete(ids: [.int(5), .int(7)])
        try await waitQueued(3)
        shard.queue.resume()
        _ = try await (upsert, deletion)
        let report = try await compaction
        #expect(report.merges.count == 2 && report.rowsRewritten == 400, "\(report)")
        for (i, k) in [1, 2, 4].enumerated() { model.rows[Int64(k)] = (fresh[i], "new") }
        model.rows[5] = nil
        model.rows[7] = nil
        try await model.check(coll, dim: dim, seed: 21, "after racing writes")
        // The compacted segments hold the rows 1, 2, 4, 5, 7 as deleted (their last versions are elsewhere).
        let snap = shard.snapshot
        #expect(snap.sealed.reduce(0) { $0 + (snap.tombstones[$1.id]?.count ?? 0) } == 5)
    }

    @Test("a compacted segment's blobs are deleted only after the last snapshot that maps them is gone, or at the next open")
    func retiredBlobsWaitForReaders() async throws {
        let dim = 8
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 400
        config.compactionInterval = nil
        let data = Datasets.uniform(n: 800, dim: dim, seed: 11)
        var oldIDs: [UInt32] = []
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(simpleSchema("r", dim: dim))
            try await coll.insert(makeRows(Array(data[..<400])))
            try await coll.insert(makeRows(Array(data[400...]), firstID: 400))
            let shard = coll.shards[0]
            oldIDs = shard.snapshot.sealed.map(\.id)
            #expect(oldIDs.count == 2)
            try await coll.delete(ids: (0..<800).filter { $0 % 2 == 0 }.map { .int(Int64($0)) })
            let liveBefore = shard.environment.liveBytes()
            // A reader holding the old snapshot keeps the old segments' pages in place.
            var held: ShardSnapshot? = shard.snapshot
            let oldVector = held!.sealed[0].vectors[0].rowArray(1)
            let report = try await coll.compact()
            #expect(report.merges.count == 1 && report.merges[0].sources.count == 2)
            #expect(shard.retiredCount == 2)
            #expect(shard.snapshot.manifest.retired?.sorted() == oldIDs.sorted())
            #expect(held!.sealed[0].vectors[0].rowArray(1) == oldVector, "a held snapshot still reads its rows")
            held = nil
            _ = try await shard.submit(.sweep)
            #expect(shard.retiredCount == 0)
            #expect(shard.snapshot.manifest.retired == nil)
            for id in oldIDs { #expect(try keys(shard, prefix: id) == 0, "segment \(id)'s blobs are deleted") }
            #expect(shard.environment.liveBytes() < liveBefore, "half the rows deleted: live bytes shrink")

            // Retired but not swept before the database closed: deleted at the next open.
            try await coll.delete(ids: (0..<800).filter { $0 % 4 == 1 }.map { .int(Int64($0)) })
            held = shard.snapshot
            oldIDs = held!.sealed.map(\.id)
            _ = try await coll.compact()
            #expect(shard.snapshot.manifest.retired == oldIDs)
            held = nil
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("r")
        #expect(coll.shards[0].snapshot.manifest.retired == nil)
        for id in oldIDs { #expect(try keys(coll.shards[0], prefix: id) == 0) }
        #expect(coll.count() == 200)
    }

    @Test("small sealed segments (one per flush) merge into one")
    func smallSegmentsMerge() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 1000
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("s", dim: 4))
        let data = Datasets.uniform(n: 300, dim: 4, seed: 5)
        for start in stride(from: 0, to: 300, by: 30) {
            try await coll.insert(makeRows(Array(data[start..<start + 30]), firstID: Int64(start)))
            try await coll.flush()
        }
        #expect(coll.statistics()[0].sealedSegments == 10)
        let report = try await coll.compact()
        #expect(report.rowsRewritten == 300 && report.rowsRemoved == 0)
        #expect(coll.statistics()[0].sealedSegments == 1)
        var model = Model()
        for (i, v) in data.enumerated() { model.rows[Int64(i)] = (v, "t\(i)") }
        try await model.check(coll, dim: 4, seed: 5, "after merging")
    }

    @Test("the background compactor rewrites a segment with many deletions on its own")
    func background() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 200
        config.compactionInterval = .milliseconds(20)
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("b", dim: 4))
        try await coll.insert(makeRows(Datasets.uniform(n: 400, dim: 4, seed: 9)))
        try await coll.delete(ids: (0..<150).map { .int(Int64($0)) })
        // Wait (bounded) for the pass to notice: it is asynchronous by design.
        let deadline = ContinuousClock.now + .seconds(20)
        while coll.statistics()[0].deletedRows > 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(coll.statistics()[0].deletedRows == 0)
        #expect(coll.count() == 250)
    }

    @Test("a growing segment seals by bytes as well as rows, and compaction merges within the same bound")
    func sealByBytes() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 1_000_000
        config.sealBytes = 64 << 10  // 64 KiB: about 500 rows of 32 floats + a short tag
        config.compactionInterval = nil
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("bytes", dim: 32))
        let data = Datasets.uniform(n: 2000, dim: 32, seed: 8)
        for start in stride(from: 0, to: 2000, by: 100) {
            try await coll.insert(makeRows(Array(data[start..<start + 100]), firstID: Int64(start)))
        }
        let stats = coll.statistics()[0]
        #expect(stats.sealedSegments >= 3, "\(stats)")
        let bytesPerRow = (32 + 1) * 4 + 8 + 8
        for seg in coll.shards[0].snapshot.sealed {
            #expect(seg.rowCount * bytesPerRow <= config.sealBytes + 100 * bytesPerRow, "segment \(seg.id): \(seg.rowCount) rows")
        }
        // Half deleted everywhere: compaction merges pairs, never past the byte bound.
        try await coll.delete(ids: (0..<2000).filter { $0 % 2 == 0 }.map { .int(Int64($0)) })
        try await coll.flush()
        try await coll.compact()
        for seg in coll.shards[0].snapshot.sealed {
            #expect(seg.rowCount * ((32 + 1) * 4 + 64) <= config.sealBytes, "segment \(seg.id): \(seg.rowCount) rows")
        }
        #expect(coll.count() == 1000)
    }

    /// Keys of `shard`'s blobs database under segment `id`.
    func keys(_ shard: Shard, prefix id: UInt32) throws -> Int {
        try shard.environment.read { txn in
            var n = 0
            try txn.forEach(shard.blobs, prefix: SegmentKeys.be32(id)) { _, _ in n += 1 }
            return n
        }
    }
}
