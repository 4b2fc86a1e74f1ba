import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct CrashRecoveryTests {
    /// The crash writer binary, built next to the test bundle.
    static var writerPath: String {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("vireo-crash-writer").path
    }

    static func vector(_ id: Int64) -> [Float] { (0..<8).map { Float(id % 9973) + Float($0) / 8 } }

    @Test("kill -9 at a random moment loses no acknowledged batch and leaves no half batch", arguments: [UInt64(1), 2, 3])
    func killNine(seed: UInt64) async throws {
        try await killNine(seed: seed, chunkBytes: nil)
    }

    /// As ``killNine(seed:)`` with every seal storing its vectors as chunks (a page each: 300 or more rows of 32
    /// bytes make three or more), each committed before the segment's transaction: a kill between them must
    /// lose nothing acknowledged, and the chunks left behind must not be taken for a segment.
    @Test("kill -9 while seals write their vectors in chunks loses nothing and leaves a clean database", arguments: [UInt64(4), 5])
    func killNineChunked(seed: UInt64) async throws {
        try await killNine(seed: seed, chunkBytes: 4096)
    }

    private func killNine(seed: UInt64, chunkBytes: Int?) async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.writerPath), "missing \(Self.writerPath)")
        let dir = TemporaryDirectory("vireo-crash")
        var rng = SeededGenerator(seed: seed)
        let batchSize = 40
        var acked = Set<Int>()
        var attempted = 0..<0
        // Two crashes in a row on the same directory: recovery after a crash must itself be crash-safe.
        for round in 0..<2 {
            let first = round * 10_000
            let batches = 400
            attempted = 0..<(first + batches)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.writerPath)
            // Small segments so seals (multi-blob transactions) happen while we kill.
            p.arguments = [dir.path, String(first), String(batches), String(batchSize), "4", "300"] + (chunkBytes.map { [String($0)] } ?? [])
            let out = Pipe()
            p.standardOutput = out
            p.standardError = FileHandle.nullDevice
            try p.run()
            let killAfter = Int.random(in: 5...60, using: &rng)
            let extraDelay = UInt32.random(in: 0...3000, using: &rng)
            var buffer = Data()
            var seen = 0
            let reader = out.fileHandleForReading
            while seen < killAfter {
                let chunk = reader.availableData
                if chunk.isEmpty { break }  // child exited
                buffer.append(chunk)
                seen = buffer.split(separator: UInt8(ascii: "\n")).count
            }
            usleep(extraDelay)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            buffer.append(reader.readDataToEndOfFile())
            let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
            #expect(!lines.contains("DONE"), "seed \(seed) round \(round): the child finished before the kill; raise the batch count")
            for line in lines where line.hasPrefix("ACK ") { acked.insert(Int(line.dropFirst(4))!) }
            #expect(p.terminationReason == .uncaughtSignal, "seed \(seed): child was not killed")
        }
        // Reopen and check.
        let db = try Database.open(at: dir.path)
        let c = try db.collection("crash")
        var present = 0
        for b in attempted where b < 400 || b >= 10_000 {
            let ids = (0..<batchSize).map { PrimaryKey.int(Int64(b * batchSize + $0)) }
            let rows = try c.get(ids: ids, outputFields: ["vec", "batch"])
            #expect(rows.count == 0 || rows.count == batchSize, "seed \(seed): batch \(b) is half written (\(rows.count) rows)")
            if acked.contains(b) {
                #expect(rows.count == batchSize, "seed \(seed): acknowledged batch \(b) lost \(batchSize - rows.count) rows")
            }
            for r in rows {
                guard case let .int(id)? = r["id"] else { continue }
                #expect(r["vec"] == .floatVector(Self.vector(id)) && r["batch"] == .int(Int64(b)), "seed \(seed): row \(id) has wrong contents")
            }
            present += rows.count
        }
        #expect(c.count() == present, "seed \(seed): count \(c.count()) disagrees with the rows found (\(present))")
        #expect(acked.count >= 5, "seed \(seed): too few acknowledged batches to be meaningful")
        if chunkBytes != nil {
            // Chunks of a seal the kill interrupted were deleted at open, and every stored blob checks.
            let report = try db.check()
            #expect(report.isOK, "seed \(seed): \(report.parts.flatMap(\.problems))")
            #expect(c.statistics()[0].sealedSegments > 0, "seed \(seed): no seal happened before the kill")
            let manifest = c.shards[0].snapshot.manifest
            for id in [manifest.growingSegment, manifest.nextSegmentId] {
                #expect(try ChunkedVectorsTests.vectorKeys(c.shards[0], segment: id).chunks.isEmpty, "seed \(seed): chunks left under segment \(id)")
            }
            for sealed in manifest.sealed {
                #expect(try ChunkedVectorsTests.vectorKeys(c.shards[0], segment: sealed.id).chunks.count >= 3, "seed \(seed): segment \(sealed.id)")
            }
        }
    }
}
