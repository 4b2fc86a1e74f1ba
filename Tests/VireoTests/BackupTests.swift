import Foundation
import Synchronization
import Testing
@testable import Vireo
import VireoTestSupport

@Suite struct BackupTests {
    static let dim = 16

    static func config() -> Configuration {
        var c = Configuration()
        c.sealRows = 300  // several sealed segments plus a growing one
        return c
    }

    static func sortedByID(_ rows: [Row]) -> [Row] {
        rows.sorted {
            guard case let .int(a)? = $0["id"], case let .int(b)? = $1["id"] else { return false }
            return a < b
        }
    }

    @Test("a backup taken while a task keeps inserting holds every row acknowledged before it began, equal, with the same exact search answers; it restores")
    func backupUnderWrites() async throws {
        let dir = TemporaryDirectory()
        let out = TemporaryDirectory()
        let restored = TemporaryDirectory()
        let seed: UInt64 = 15
        let data = Datasets.clustered(n: 4000, dim: Self.dim, clusters: 8, seed: seed)
        let db = try Database.open(at: dir.path, configuration: Self.config())
        let c = try db.createCollection(simpleSchema("docs", dim: Self.dim, metric: .l2, shards: 2))
        for start in stride(from: 0, to: 1000, by: 250) {
            try await c.insert(makeRows(Array(data[start..<(start + 250)]), firstID: Int64(start)))
        }
        // The writer acknowledges rows in id order; `acked` is one past the last acknowledged id.
        let acked = Mutex(1000)
        let stop = Mutex(false)
        let writer = Task {
            var next = 1000
            while !stop.withLock({ $0 }) && next + 50 <= data.count {
                try await c.insert(makeRows(Array(data[next..<(next + 50)]), firstID: Int64(next)))
                next += 50
                acked.withLock { $0 = next }
            }
        }
        while acked.withLock({ $0 }) < 1200 { try await Task.sleep(for: .milliseconds(5)) }
        let before = acked.withLock { $0 }  // every id below this was acknowledged before the backup began
        let manifest = try db.backup(to: out.path + "/b")
        let during = acked.withLock { $0 }
        stop.withLock { $0 = true }
        try await writer.value
        #expect(manifest.collections.map(\.name) == ["docs"])
        #expect(manifest.files.map(\.path).sorted() == ["catalog/data.mdb", "collections/1/shard-0/data.mdb", "collections/1/shard-1/data.mdb"])
        #expect(try Database.verifyBackup(at: out.path + "/b").isOK)

        let ids = (0..<before).map { PrimaryKey.int(Int64($0)) }
        let queries = Datasets.clustered(n: 12, dim: Self.dim, clusters: 8, seed: seed + 1)
        let request = SearchRequest(vectors: queries, limit: 10, outputFields: ["tag"], params: SearchParameters(exact: true),
                                    filter: "id < \(before)")
        let sourceRows = Self.sortedByID(try c.get(ids: ids))
        let sourceHits = try await c.search(request)
        #expect(sourceRows.count == before)

        for path in [out.path + "/b", restored.path + "/r"] {
            if path.hasPrefix(restored.path) { try Database.restore(backup: out.path + "/b", to: path) }
            let copy = try Database.open(at: path, configuration: Self.config())
            let cc = try copy.collection("docs")
            let copyRows = Self.sortedByID(try cc.get(ids: ids))
            #expect(copyRows.count == before, "rows acknowledged before the backup (\(before)) missing in \(path) (seed \(seed))")
            #expect(copyRows == sourceRows, "rows differ in \(path) (seed \(seed))")
            #expect(cc.count() >= before && cc.count() <= max(during, acked.withLock { $0 }))
            #expect(try await cc.search(request) == sourceHits, "exact search answers differ in \(path) (seed \(seed))")
            #expect(try copy.check().isOK)
        }
        #expect(try db.check().isOK)

        // Nothing is ever overwritten.
        #expect(throws: VireoError.self) { try db.backup(to: out.path + "/b") }
        #expect(throws: VireoError.self) { try Database.restore(backup: out.path + "/b", to: restored.path + "/r") }
    }

    @Test("check() passes on a good database and names the sealed blob whose payload byte was flipped; verify and restore refuse the damaged copy")
    func checkFindsAFlippedByte() async throws {
        let dir = TemporaryDirectory()
        let out = TemporaryDirectory()
        let data = Datasets.uniform(n: 2000, dim: Self.dim, seed: 21)
        var config = Configuration()
        config.sealRows = 500
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(simpleSchema("docs", dim: Self.dim, metric: .l2))
        for start in stride(from: 0, to: 2000, by: 500) {
            try await c.insert(makeRows(Array(data[start..<(start + 500)]), firstID: Int64(start)))
        }
        try await c.flush()
        #expect(c.statistics()[0].sealedSegments == 4)
        let good = try db.check()
        #expect(good.isOK)
        #expect(good.parts.map(\.path) == ["catalog", "collections/1/shard-0"])
        #expect(good.parts[1].blobs >= 4 * 2, "4 sealed segments with vectors and primary keys at least")

        let backup = out.path + "/b"
        try db.backup(to: backup)
        let file = backup + "/collections/1/shard-0/data.mdb"
        var bytes = try #require(FileManager.default.contents(atPath: file))
        // Row 1234's vector, as stored (L2 keeps vectors as inserted): in the sealed vectors blob of
        // the segment holding rows 1000..<1500, and only there (a compacted copy has no free pages).
        let needle = data[1234].withUnsafeBytes { Data($0) }
        let hit = try #require(bytes.range(of: needle), "the vector's bytes are not in the copy")
        #expect(bytes[hit.upperBound...].range(of: needle) == nil, "the vector's bytes occur twice")
        bytes[hit.lowerBound + 5] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: file))

        let report = try Database.check(dataDirectory: backup)
        #expect(!report.isOK)
        #expect(report.parts[0].isOK, "the catalog is intact")
        let problems = report.parts.flatMap(\.problems)
        #expect(problems.count == 1, "\(problems)")
        let problem = try #require(problems.first)
        #expect(problem.database == "blobs")
        #expect(problem.key.hasPrefix("segment ") && problem.key.contains("vectors of field 0"), "\(problem)")
        let damagedSegment = try #require(Int(problem.key.split(separator: " ")[1]))
        let segments = try Set(db.collection("docs").shards[0].snapshot.sealed.map { Int($0.id) })
        #expect(segments.contains(damagedSegment), "\(problem) names no sealed segment of \(segments)")
        #expect(problem.reason.contains("checksum mismatch"), "\(problem)")

        let verification = try Database.verifyBackup(at: backup)
        #expect(verification.problems.map(\.path) == ["collections/1/shard-0/data.mdb"])
        // Opening the damaged copy sets its collection aside with the reason (the database opens).
        #expect(try Database.open(at: backup).unavailableCollections["docs"]?.contains("checksum") == true)
        let target = out.path + "/restored"
        #expect(throws: VireoError.self) { try Database.restore(backup: backup, to: target) }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: target))?.isEmpty ?? true, "a failed restore leaves nothing")
    }

    @Test("a directory backup (read-only, no lock) of a closed database opens with the same rows")
    func directoryBackup() async throws {
        let dir = TemporaryDirectory()
        let out = TemporaryDirectory()
        let data = Datasets.uniform(n: 700, dim: Self.dim, seed: 33)
        do {
            let db = try Database.open(at: dir.path, configuration: Self.config())
            let c = try db.createCollection(simpleSchema("a", dim: Self.dim, shards: 3))
            try await c.insert(makeRows(data))
            try await c.delete(ids: [.int(3), .int(400)])
            let gone = try db.createCollection(simpleSchema("gone", dim: Self.dim))
            try await gone.insert(makeRows(Array(data[0..<10])))
            try db.dropCollection("gone")
        }
        let manifest = try Database.backup(dataDirectory: dir.path, to: out.path + "/b")
        #expect(manifest.collections.map(\.name) == ["a"])
        #expect(manifest.files.count == 4)
        let copy = try Database.open(at: out.path + "/b")
        let c = try copy.collection("a")
        #expect(c.count() == 698)
        #expect(try c.get(ids: [.int(3)]).isEmpty)
        guard case let .floatVector(v)? = try c.get(ids: [.int(5)]).first?["vec"] else {
            Issue.record("row 5 is missing from the copy")
            return
        }
        #expect(v == data[5])
        #expect(try Database.check(dataDirectory: dir.path).isOK)
    }
}
