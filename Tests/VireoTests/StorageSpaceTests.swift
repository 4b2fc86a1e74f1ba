import Foundation
import Testing
@testable import Vireo
import VireoStorage
import VireoTestSupport

/// Issue #15: the map grows on demand up to its ceiling, and one request's storage error in a group
/// commit fails only that request.
@Suite struct StorageSpaceTests {
    /// Checks exact search against the flat oracle.
    func expectExact(_ coll: Collection, data: [[Float]], queries: [[Float]], excluded: Set<Int> = [], seed: UInt64) async throws {
        let k = 10
        let results = try await coll.search(SearchRequest(vectors: queries, limit: k))
        for (qi, q) in queries.enumerated() {
            let truth = Oracle.nearest(q, in: data, k: k, metric: .l2, excluded: excluded)
            #expect(results[qi].map(\.id) == truth.map { .int(Int64($0.index)) }, "seed \(seed) query \(qi)")
        }
    }

    @Test("a 1 MiB initial map grows while a collection ingests and seals; search equals the flat oracle before and after reopening")
    func growingMapIngestSealSearch() async throws {
        let seed: UInt64 = 15
        let dim = 128
        let n = 3000
        let data = Datasets.clustered(n: n, dim: dim, clusters: 12, seed: seed)
        let queries = Datasets.clustered(n: 20, dim: dim, clusters: 12, seed: seed + 1)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.initialMapSize = 1 << 20
        config.mapSize = 256 << 20
        config.sealRows = 500
        config.diskReserveBytes = 1 << 16
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(simpleSchema("g", dim: dim))
            for start in stride(from: 0, to: n, by: 250) {
                try await coll.insert(makeRows(Array(data[start..<min(n, start + 250)]), firstID: Int64(start)))
            }
            let shard = coll.shards[0]
            #expect(shard.environment.currentMapSize > 1 << 20, "the map grew (now \(shard.environment.currentMapSize) bytes)")
            #expect(coll.statistics().contains { $0.sealedSegments >= 5 }, "the case must cover sealed segments")
            try await expectExact(coll, data: data, queries: queries, seed: seed)
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("g")
        #expect(coll.count() == n)
        try await expectExact(coll, data: data, queries: queries, seed: seed)
        // Writes after reopening grow the map further and stay searchable.
        try await coll.delete(ids: (0..<100).map { .int(Int64($0)) })
        try await expectExact(coll, data: data, queries: queries, excluded: Set(0..<100), seed: seed)
    }

    @Test("at the ceiling inserts fail with storageFull naming the setting; reads, searches and deletes keep working")
    func ceilingKeepsReads() async throws {
        let dim = 64
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.initialMapSize = 256 << 10
        config.mapSize = 3 << 20
        config.diskReserveBytes = 0
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("c", dim: dim))
        let data = Datasets.uniform(n: 200, dim: dim, seed: 3)
        try await coll.insert(makeRows(data))
        do {
            try await coll.insert(makeRows(Datasets.uniform(n: 20_000, dim: dim, seed: 4), firstID: 1000))
            Issue.record("expected storageFull")
        } catch let e as VireoError {
            #expect(e.code == .storageFull, "\(e)")
            #expect(e.message.contains("Configuration.mapSize"), "\(e.message)")
        }
        #expect(coll.shards[0].environment.currentMapSize == 3 << 20)
        #expect(coll.count() == 200)
        try await expectExact(coll, data: data, queries: Array(data.prefix(5)), seed: 3)
        try await coll.delete(ids: [.int(0)])
        #expect(coll.count() == 199)
    }

    @Test("a storage error in one request of a group commit fails only that request; the others commit durably")
    func groupIsolation() async throws {
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.diskReserveBytes = 0
        let data = Datasets.uniform(n: 3, dim: 4, seed: 8)
        do {
            let db = try Database.open(at: dir.path, configuration: config)
            let coll = try db.createCollection(simpleSchema("i", dim: 4))
            let shard = coll.shards[0]
            let rows = try makeRows(data).enumerated().map { i, r in try coll.codec.prepare(r, index: i, autoID: nil) }
            // An empty LMDB key: MDB_BAD_VALSIZE from the put inside the second request's nested txn.
            var bad = rows[1]
            bad.pk = .string("")
            let resumptions = shard.process([(.insert([rows[0]]), { _ in }), (.insert([bad]), { _ in }), (.insert([rows[2]]), { _ in })])
            #expect(resumptions.count == 3)
            let outcomes = resumptions.map { $0.1 }
            #expect((try? outcomes[0].get()) == 1)
            #expect((try? outcomes[2].get()) == 1)
            if case let .failure(e) = outcomes[1] {
                #expect((e as? VireoError)?.code == .storageFailure, "\(e)")
            } else {
                Issue.record("the bad request succeeded")
            }
            #expect(coll.count() == 2)
        }
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.collection("i")
        #expect(coll.count() == 2)
        let got = try coll.get(ids: [.int(0), .int(1), .int(2)])
        #expect(got.compactMap { $0["id"] } == [.int(0), .int(2)])
    }

    @Test("a request that passes the map's ceiling fails alone; smaller requests of its group commit")
    func groupIsolationAtCeiling() async throws {
        let dim = 64
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.initialMapSize = 256 << 10
        config.mapSize = 3 << 20
        config.diskReserveBytes = 0
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("c", dim: dim))
        let prepare = { (rows: [Row]) in try rows.enumerated().map { i, r in try coll.codec.prepare(r, index: i, autoID: nil) } }
        let small = try prepare(makeRows(Datasets.uniform(n: 10, dim: dim, seed: 1)))
        let huge = try prepare(makeRows(Datasets.uniform(n: 20_000, dim: dim, seed: 2), firstID: 1000))
        let small2 = try prepare(makeRows(Datasets.uniform(n: 10, dim: dim, seed: 3), firstID: 100))
        let outcomes = coll.shards[0].process([(.insert(small), { _ in }), (.insert(huge), { _ in }), (.insert(small2), { _ in })]).map { $0.1 }
        #expect((try? outcomes[0].get()) == 10)
        #expect((try? outcomes[2].get()) == 10)
        if case let .failure(e) = outcomes[1] {
            #expect((e as? VireoError)?.code == .storageFull, "\(e)")
        } else {
            Issue.record("the huge request succeeded")
        }
        #expect(coll.count() == 20)
    }

    @Test("in the disk-full state inserts, upserts, flushes and creates fail with diskFull; reads, deletes and drops work; space back ends it")
    func diskFullState() async throws {
        let dim = 8
        let data = Datasets.uniform(n: 40, dim: dim, seed: 21)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.diskReserveBytes = 1 << 20
        config.diskCheckInterval = .seconds(3600)  // hold the state: the temporary directory has space
        let db = try Database.open(at: dir.path, configuration: config)
        let coll = try db.createCollection(simpleSchema("d", dim: dim))
        let other = try db.createCollection(simpleSchema("o", dim: dim))
        try await coll.insert(makeRows(data))
        // One reading: free bytes (statvfs) move between two readings while other tests write.
        let status = db.storageStatus
        #expect(status == StorageStatus(diskFull: false, availableBytes: status.availableBytes, reserveBytes: 1 << 20, diskFullEpisodes: 0))
        #expect(status.availableBytes != nil)
        #expect(FileManager.default.fileExists(atPath: dir.path + "/RESERVE"))
        // What a commit failing with ENOSPC does (a real full disk is in Tests/e2e/test_disk_full.py).
        #expect(db.configuration.space!.enterDiskFull())
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/RESERVE"))
        #expect(db.storageStatus.diskFull)
        #expect(db.storageStatus.diskFullEpisodes == 1)
        func expectDiskFull(_ what: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("\(what) succeeded on a full disk")
            } catch let e as VireoError {
                #expect(e.code == .diskFull, "\(what): \(e)")
                #expect(e.isRetryable)
                #expect(e.message.contains("disk"), "\(e.message)")
            } catch {
                Issue.record("\(what): \(error)")
            }
        }
        await expectDiskFull("insert") { try await coll.insert(makeRows([data[0]], firstID: 1000)) }
        await expectDiskFull("upsert") { try await coll.upsert(makeRows([data[0]], firstID: 0)) }
        await expectDiskFull("flush") { try await coll.flush() }
        await expectDiskFull("create") { _ = try db.createCollection(simpleSchema("n", dim: dim)) }
        #expect(coll.count() == 40)
        try await expectExact(coll, data: data, queries: Array(data.prefix(4)), seed: 21)
        try await coll.delete(ids: [.int(0), .int(1)])
        #expect(coll.count() == 38)
        try db.dropCollection("o")
        _ = other
        #expect(!db.hasCollection("o"))

        // Space is back: the next check (here: a database checking at every call) leaves the state.
        let dir2 = TemporaryDirectory()
        config.diskCheckInterval = .zero
        let db2 = try Database.open(at: dir2.path, configuration: config)
        let c2 = try db2.createCollection(simpleSchema("d", dim: dim))
        db2.configuration.space!.enterDiskFull()
        #expect(!db2.storageStatus.diskFull, "the temporary directory has more than twice the reserve free")
        #expect(FileManager.default.fileExists(atPath: dir2.path + "/RESERVE"))
        try await c2.insert(makeRows(data))
        #expect(c2.count() == 40)
    }
}
