import Foundation
import Testing
@testable import VireoStorage
import VireoKernels
import VireoTestSupport

/// The map grows on demand (issue #15) and blobs used in place survive it; a full disk is a
/// separate state (``SpaceGuard``).
@Suite struct MapGrowthTests {
    /// Seeded payload bytes.
    static func payload(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    @Test("a tiny map grows across many writes; blobs mapped before each growth keep their exact bytes")
    func growthKeepsMappedBlobs() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 256 << 20, initialMapSize: 64 << 10, databases: ["blobs"])
        let db = env.database("blobs")
        let start = env.currentMapSize
        #expect(start == 64 << 10)
        var mapped: [(MappedBlob, [UInt8])] = []
        for i in 0..<40 {
            // 20 KiB … 400 KiB blobs on overflow pages, plus small values that churn leaf pages.
            let bytes = Self.payload(20_000 * (1 + i % 20), seed: UInt64(i))
            let key: [UInt8] = [0, UInt8(i)]
            try env.write { txn in
                try Blob.write(txn, db, key: key, kind: .vectors, payload: bytes, compress: false)
                for j in 0..<50 { try txn.put(db, key: [1, UInt8(i), UInt8(j)], value: Self.payload(100, seed: UInt64(i * 100 + j))) }
            }
            let blob = try #require(try env.mapBlob(db, key: key, kind: .vectors, verifyChecksum: true, what: "blob \(i)"))
            #expect(blob.isMapped, "blob \(i) (\(bytes.count) bytes) is used in place, not copied")
            mapped.append((blob, bytes))
        }
        let end = env.currentMapSize
        #expect(end > start * 64, "the map grew from \(start) to \(end) bytes")
        for (i, (blob, bytes)) in mapped.enumerated() {
            #expect(blob.count == bytes.count)
            #expect(Array(blob.bytes) == bytes, "blob \(i) changed after the map grew")
        }
        // The blobs have their own mapping, not LMDB's: re-mapping reads the same bytes.
        let again = try #require(try env.mapBlob(db, key: [0, 0], kind: .vectors, verifyChecksum: true, what: "blob 0"))
        #expect(Array(again.bytes) == mapped[0].1)
        #expect(again.bytes.baseAddress != mapped[0].0.bytes.baseAddress)
    }

    @Test("a write body runs again after the map grew: it must be (and here is) retry-safe")
    func bodyRetriesAfterGrowth() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 64 << 20, initialMapSize: 64 << 10, databases: ["a"])
        let db = env.database("a")
        var runs = 0
        try env.write { txn in
            runs += 1
            try txn.put(db, key: [1], value: Self.payload(1 << 20, seed: 9))
        }
        #expect(runs > 1, "a 1 MiB value in a 64 KiB map needs at least one growth")
        let stored = try env.read { txn in try txn.get(db, key: [1]).map { Array($0) } }
        #expect(stored == Self.payload(1 << 20, seed: 9))
    }

    @Test("at the ceiling a write fails with mapFull naming the ceiling; reads and smaller writes still work")
    func ceiling() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 2 << 20, initialMapSize: 64 << 10, databases: ["a"])
        let db = env.database("a")
        try env.write { txn in try txn.put(db, key: [1], value: [1, 2, 3]) }
        do {
            try env.write { txn in try txn.put(db, key: [2], value: Array(repeating: 7, count: 4 << 20)) }
            Issue.record("expected mapFull")
        } catch let e as StorageError {
            #expect(e.lmdbCode == .mapFull)
            #expect(e.description.contains("ceiling of 2 MiB"), "\(e)")
            #expect(e.description.contains("Configuration.mapSize"))
        }
        #expect(env.currentMapSize == 2 << 20)
        let v = try env.read { txn in try txn.get(db, key: [1]).map { Array($0) } }
        #expect(v == [1, 2, 3])
        try env.write { txn in try txn.put(db, key: [3], value: [3]) }
    }

    @Test("an existing file reopens with room above it and keeps its data")
    func reopenLeavesRoom() throws {
        let dir = TemporaryDirectory()
        do {
            let env = try Environment(path: dir.path, mapSize: 64 << 20, initialMapSize: 64 << 10, databases: ["a"])
            try env.write { txn in try txn.put(env.database("a"), key: [1], value: Self.payload(1 << 20, seed: 1)) }
        }
        let env = try Environment(path: dir.path, mapSize: 64 << 20, initialMapSize: 64 << 10, databases: ["a"])
        #expect(env.currentMapSize >= env.usedBytes() * 4 / 3)
        let v = try env.read { txn in try txn.get(env.database("a"), key: [1]).map { Array($0) } }
        #expect(v == Self.payload(1 << 20, seed: 1))
    }

    @Test("the disk-full state: the reserve is freed on entry, writes that add data are refused, essential writes run; space back ends it")
    func diskFullState() throws {
        let dir = TemporaryDirectory()
        let space = SpaceGuard(directory: dir.path, reserveBytes: 1 << 20, marginBytes: 1 << 20, checkInterval: .zero)
        let reserve = dir.path + "/RESERVE"
        #expect((try FileManager.default.attributesOfItem(atPath: reserve)[.size] as? Int) == 1 << 20)
        let env = try Environment(path: dir.path + "/env", mapSize: 8 << 20, initialMapSize: 1 << 20, databases: ["a"], space: space)
        let db = env.database("a")
        try env.write { txn in try txn.put(db, key: [1], value: [1]) }
        #expect(space.enterDiskFull())
        #expect(!space.enterDiskFull(), "entered once")
        #expect(!FileManager.default.fileExists(atPath: reserve))
        #expect(space.diskFullEpisodes == 1)
        // The temporary directory has space, so the next (unthrottled) check ends the state: hold
        // the state by checking with a long interval instead.
        let held = SpaceGuard(directory: dir.path + "/env", reserveBytes: 0, checkInterval: .seconds(3600))
        held.enterDiskFull()
        let env2 = try Environment(path: dir.path + "/env2", mapSize: 8 << 20, initialMapSize: 1 << 20, databases: ["a"], space: held)
        #expect(throws: StorageError.self) { try env2.write { txn in try txn.put(env2.database("a"), key: [1], value: [1]) } }
        try env2.write(essential: true) { txn in try txn.put(env2.database("a"), key: [2], value: [2]) }
        let n = try env2.read { txn in try txn.entryCount(env2.database("a")) }
        #expect(n == 1)
        // Space is back (a temp dir with more than 2 MiB free): the reserve returns, writes resume.
        #expect(!space.isDiskFull)
        #expect((try FileManager.default.attributesOfItem(atPath: reserve)[.size] as? Int) == 1 << 20)
        try env.write { txn in try txn.put(db, key: [2], value: [2]) }
    }

    @Test("ENOSPC and EDQUOT from LMDB are a full disk, MDB_MAP_FULL is not")
    func noSpaceClassification() {
        #expect(StorageError.lmdb(LMDBError(rawValue: ENOSPC), context: "x").isNoSpace)
        #expect(StorageError.lmdb(LMDBError(rawValue: EDQUOT), context: "x").isNoSpace)
        #expect(!StorageError.lmdb(.mapFull, context: "x").isNoSpace)
        #expect(StorageError.diskFull(path: "/d").isNoSpace)
    }
}
