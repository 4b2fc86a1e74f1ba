import Foundation
import Testing
@testable import VireoStorage
import VireoKernels
import VireoTestSupport

@Suite struct EnvironmentTests {
    @Test("values written in a committed transaction are read back after reopening")
    func roundTrip() throws {
        let dir = TemporaryDirectory()
        do {
            let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
            let db = env.database("a")
            try env.write { txn in
                for i in 0..<100 { try txn.put(db, key: [UInt8(i)], value: Array(repeating: UInt8(i), count: i)) }
            }
        }
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
        let db = env.database("a")
        try env.read { txn in
            #expect(try txn.entryCount(db) == 100)
            for i in 0..<100 {
                let v = try #require(try txn.get(db, key: [UInt8(i)]))
                #expect(Array(v) == Array(repeating: UInt8(i), count: i))
            }
            #expect(try txn.lastKey(db) == [99])
        }
    }

    @Test("a mapped blob small enough to sit in a leaf page keeps its bytes while later writes copy and reuse that page")
    func smallMappedBlobSurvivesPageReuse() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 26, databases: ["blobs"])
        let db = env.database("blobs")
        // 400 bytes: a 50-row segment's Int64 primary keys, stored inside a leaf page.
        let payload = (0..<400).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        try env.write { txn in try Blob.write(txn, db, key: [0, 0, 0, 2, 0x70], kind: .primaryKeys, payload: payload, compress: false) }
        let mapped = try #require(try env.mapBlob(db, key: [0, 0, 0, 2, 0x70], kind: .primaryKeys, verifyChecksum: true, what: "pks"))
        // Many transactions writing and deleting small neighbours of the same page: each copies the
        // leaf page and frees the old copy, which later transactions reuse.
        for round in 0..<200 {
            try env.write { txn in
                for j in 0..<8 {
                    let key: [UInt8] = [0, 0, 0, 2, 0x71, UInt8(j)]
                    try txn.put(db, key: key, value: Array(repeating: UInt8(truncatingIfNeeded: round), count: 300))
                }
            }
            if round % 2 == 1 { try env.write { txn in for j in 0..<8 { _ = try txn.delete(db, key: [0, 0, 0, 2, 0x71, UInt8(j)]) } } }
        }
        #expect(Array(mapped.bytes) == payload, "the mapped bytes changed under a later write")
    }

    @Test("a throwing write closure aborts: nothing is written")
    func abortOnThrow() throws {
        struct Boom: Error {}
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
        let db = env.database("a")
        #expect(throws: Boom.self) {
            try env.write { txn in
                try txn.put(db, key: [1], value: [1])
                throw Boom()
            }
        }
        let missing = try env.read { txn in try txn.get(db, key: [1]) == nil }
        #expect(missing)
    }

    @Test("a failed nested transaction discards only its own writes")
    func nested() throws {
        struct Boom: Error {}
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
        let db = env.database("a")
        try env.write { txn in
            try txn.put(db, key: [1], value: [1])
            _ = try? txn.nested { child in
                try child.put(db, key: [2], value: [2])
                throw Boom()
            }
            try txn.nested { child in try child.put(db, key: [3], value: [3]) }
        }
        let present = try env.read { txn in
            [try txn.get(db, key: [1]) != nil, try txn.get(db, key: [2]) != nil, try txn.get(db, key: [3]) != nil]
        }
        #expect(present == [true, false, true])
    }

    @Test("NOOVERWRITE reports keyExists")
    func noOverwrite() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
        let db = env.database("a")
        try env.write { txn in try txn.put(db, key: [1], value: [1]) }
        do {
            try env.write { txn in try txn.put(db, key: [1], value: [2], noOverwrite: true) }
            Issue.record("expected keyExists")
        } catch let e as StorageError {
            #expect(e.lmdbCode == .keyExists)
        }
    }

    @Test("opening the same path twice in one process is refused")
    func doubleOpen() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
        #expect(throws: StorageError.self) { _ = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"]) }
        _ = env
    }

    @Test("a full map fails with mapFull and a remedy, and the environment stays usable")
    func mapFull() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 20, databases: ["a"])
        let db = env.database("a")
        do {
            try env.write { txn in try txn.put(db, key: [1], value: Array(repeating: 7, count: 4 << 20)) }
            Issue.record("expected mapFull")
        } catch let e as StorageError {
            #expect(e.lmdbCode == .mapFull)
            #expect(e.description.contains("map size"))
        }
        try env.write { txn in try txn.put(db, key: [2], value: [2]) }
        let found = try env.read { txn in try txn.get(db, key: [2]) != nil }
        #expect(found)
    }

    @Test("many concurrent read transactions on few threads (MDB_NOTLS)")
    func concurrentReaders() async throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["a"])
        let db = env.database("a")
        try env.write { txn in try txn.put(db, key: [1], value: [42]) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask {
                    try env.read { outer in
                        // A second read transaction while one is open on this thread.
                        let innerValue = try env.read { inner in try inner.get(db, key: [1]).map(Array.init) }
                        #expect(innerValue == [42])
                        let outerFound = try outer.get(db, key: [1]) != nil
                        #expect(outerFound)
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

@Suite struct BlobTests {
    @Test("stored-blob decoding answers every mutated blob (seeded fuzz): a payload or a corruption error, never a crash")
    func fuzzDecode() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["b"])
        let db = env.database("b")
        let payload = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 31 % 11) }
        var bases: [[UInt8]] = []
        for (i, compress) in [false, true].enumerated() {
            try env.write { txn in try Blob.write(txn, db, key: [UInt8(i)], kind: .column, payload: payload, compress: compress) }
            try env.read { txn in bases.append(Array(try #require(try txn.get(db, key: [UInt8(i)])))) }
        }
        var rng = SeededGenerator(seed: 0x5EED_B10B)
        var accepted = 0
        for i in 0..<4000 {
            var b = bases[i % 2]
            for _ in 0..<(1 + Int.random(in: 0..<3, using: &rng)) {
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1 where !b.isEmpty: b = Array(b.prefix(Int.random(in: 0..<b.count, using: &rng)))
                case 2:  // a header field (lengths, flags, kind) set to an extreme
                    let at = [4, 6, 8, 16, 20, 24, 28][Int.random(in: 0..<7, using: &rng)]
                    if at + 4 <= b.count { for j in 0..<4 { b[at + j] = Bool.random(using: &rng) ? 0xFF : 0 } }
                default: b += [UInt8](repeating: 0, count: Int.random(in: 1..<64, using: &rng))
                }
            }
            let result = b.withUnsafeBytes { raw in Result { try Blob.decode(raw, kind: .column, what: "fuzz") } }
            switch result {
            case let .success(decoded):
                accepted += 1
                #expect(decoded == payload, "iteration \(i): a mutated blob decoded to other bytes")
            case let .failure(error):
                #expect(error is StorageError, "iteration \(i): \(error)")
            }
        }
        #expect(accepted < 4000)
        // Regressions the fuzzer found: a stored length beyond Int (trapped), and a compressed blob whose
        // compression flag is cleared (served the compressed bytes: the CRC covers the payload only).
        var huge = bases[0]
        for j in 16..<24 { huge[j] = 0xFF }
        var unflagged = bases[1]
        unflagged[8] &= 0xFE
        for (name, bytes) in [("length beyond Int", huge), ("cleared compression flag", unflagged)] {
            #expect(throws: StorageError.self, "\(name)") { try bytes.withUnsafeBytes { _ = try Blob.decode($0, kind: .column, what: name) } }
        }
    }

    @Test("blobs round-trip, compressed or not, and detect corruption", arguments: [false, true])
    func roundTripAndCorruption(compress: Bool) throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["b"])
        let db = env.database("b")
        let payload = (0..<10_000).map { UInt8($0 % 7) }
        try env.write { txn in try Blob.write(txn, db, key: [1], kind: .scalars, payload: payload, compress: compress) }
        try env.read { txn in
            let stored = try #require(try txn.get(db, key: [1]))
            if compress { #expect(stored.count < payload.count / 4, "zstd should shrink a repetitive payload") }
            #expect(try Blob.decode(stored, kind: .scalars, what: "t") == payload)
            #expect(throws: StorageError.self) { () throws -> Void in _ = try Blob.decode(stored, kind: .vectors, what: "t") }
        }
        // Flip one payload byte.
        try env.write { txn in
            var bytes = Array(try #require(try txn.get(db, key: [1])))
            bytes[Blob.headerSize + 10] ^= 0xFF
            try txn.put(db, key: [1], value: bytes)
        }
        try env.read { txn in
            let stored = try #require(try txn.get(db, key: [1]))
            do {
                _ = try Blob.decode(stored, kind: .scalars, what: "test blob")
                Issue.record("corruption not detected")
            } catch let StorageError.corrupted(what, _) {
                #expect(what == "test blob")
            }
        }
    }

    @Test("in-place blobs are mapped without copying and stay valid after the transaction")
    func inPlace() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["b"])
        let db = env.database("b")
        try env.write { txn in
            try Blob.writeInPlace(txn, db, key: [9], kind: .vectors, payloadCount: 4096) { buf in
                for i in 0..<4096 { buf[i] = UInt8(i & 0xFF) }
            }
        }
        let blob = try #require(try env.mapBlob(db, key: [9], kind: .vectors, verifyChecksum: true, what: "v"))
        #expect(blob.count == 4096)
        // Its own mapping of the data file, not a copy (a copy is correct too, so only this shows it).
        #expect(blob.isMapped, "a blob on overflow pages is used in place")
        #expect(Int(bitPattern: blob.bytes.baseAddress) % 16 == 0, "payload should be 16-byte aligned")
        try env.write { txn in try txn.put(db, key: [10], value: [1, 2, 3]) }
        #expect((0..<4096).allSatisfy { blob.bytes[$0] == UInt8($0 & 0xFF) })
    }

    @Test("a blob in chunks maps back to back into one range; a missing chunk is reported by number")
    func chunked() throws {
        let dir = TemporaryDirectory()
        let env = try Environment(path: dir.path, mapSize: 1 << 24, databases: ["b"])
        let db = env.database("b")
        let prefix: [UInt8] = [7, 7]
        // Three chunks of whole pages but the last, bytes numbered across them.
        let sizes = [3 * env.pageSize, 2 * env.pageSize, 1000]
        try env.write { txn in
            var at = 0
            for (i, n) in sizes.enumerated() {
                try Blob.writeChunk(txn, db, key: prefix + [0, 0, 0, UInt8(i)], kind: .vectors, pageSize: env.pageSize,
                                    chunkCount: sizes.count, dataCount: n) { buf in
                    for j in 0..<n { buf[j] = UInt8((at + j) % 251) }
                }
                at += n
            }
            // The unchunked key under the prefix itself is not a chunk.
            try txn.put(db, key: prefix, value: [1, 2, 3])
        }
        do {
            let blob = try #require(try env.mapChunkedBlob(db, prefix: prefix, kind: .vectors, verifyChecksum: true, what: "v"))
            #expect(blob.isMapped, "page-aligned chunks map in place")
            #expect(blob.count == sizes.reduce(0, +))
            #expect((0..<blob.count).allSatisfy { blob.bytes[$0] == UInt8($0 % 251) })
        }
        #expect(try env.mapChunkedBlob(db, prefix: [7, 8], kind: .vectors, verifyChecksum: true, what: "v") == nil)
        // (Keys are deleted only once nothing maps them: the blob above is gone.) Without its last
        // chunk the blob is incomplete, not shorter.
        let last = try env.read { txn in Array(try #require(try txn.get(db, key: prefix + [0, 0, 0, 2]))) }
        try env.write { txn in _ = try txn.delete(db, key: prefix + [0, 0, 0, 2]) }
        do {
            _ = try env.mapChunkedBlob(db, prefix: prefix, kind: .vectors, verifyChecksum: false, what: "v")
            Issue.record("a blob without its last chunk was taken for a whole one")
        } catch let StorageError.corrupted(what, reason) {
            #expect(what.contains("chunk 0") && reason.contains("3 chunks") && reason.contains("2 are stored"), "\(what): \(reason)")
        }
        // Without a middle one, the gap is named.
        try env.write { txn in
            try txn.put(db, key: prefix + [0, 0, 0, 2], value: last)
            _ = try txn.delete(db, key: prefix + [0, 0, 0, 1])
        }
        do {
            _ = try env.mapChunkedBlob(db, prefix: prefix, kind: .vectors, verifyChecksum: false, what: "v")
            Issue.record("a missing chunk was not reported")
        } catch let StorageError.corrupted(what, reason) {
            #expect(what.contains("chunk 2") && reason.contains("chunk 1 is missing"), "\(what): \(reason)")
        }
    }
}
