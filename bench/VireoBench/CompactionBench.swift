import ArgumentParser
import Foundation
import Synchronization
import VireoBenchKit
import Vireo
import VireoKernels
#if canImport(Glibc)
import Glibc
#endif

/// Issue #15's benchmark: (1) the data directory across insert → delete 80 % → compact → insert again →
/// compact, against its size before the deletes (goal ≤ 1.3×); (2) search and insert latency while a
/// compaction runs, against the same loops just before it (goal ≤ 1.5×).
struct CompactionBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "compaction",
                                                    abstract: "Space reclaimed by compaction, and search/insert latency while it runs.")

    @Option(help: "Rows of the first load.") var rows: Int = 40_000
    @Option(help: "Rows inserted after the deletes.") var refill: Int = 32_000
    @Option var dim: Int = 128
    @Option(help: "Bytes of text per row.") var textBytes: Int = 400
    @Option(help: "Rows per sealed segment in the latency part (cut by flushes).") var latencySealRows: Int = 20_000
    @Option(help: "Seconds of the baseline (and of the run after the compaction) in the latency part.") var baselineSeconds: Double = 8
    @Option(help: "Configuration.compactionBusyDutyCycle for the latency part (default: the library's).") var busyDutyCycle: Double?
    @Flag(help: "Control run: the 'during' span runs for --baseline-seconds with no compaction (shows the spread between spans).")
    var noCompaction = false
    @Option(help: "Scratch directory for the databases.") var scratch: String = NSTemporaryDirectory() + "vireo-bench-compaction"
    @Option(help: "Write JSON lines here too.") var out: String?

    func run() async throws {
        var lines: [String] = []
        emit(["bench": .string("env"), "environment": RunInfo.environment()], to: &lines)
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try await space(&lines)
        try await latency(&lines)
        if let out { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }

    /// Apparent bytes of the files under `dir` and the bytes allocated on disk for them.
    static func directoryBytes(_ dir: String) -> (apparent: Int, allocated: Int) {
        var apparent = 0
        var allocated = 0
        let e = FileManager.default.enumerator(atPath: dir)
        while let rel = e?.nextObject() as? String {
            var st = stat()
            // The disk reserve (<dir>/RESERVE, preallocated free space kept for deletes on a full disk) is
            // not data: left out.
            guard rel != "RESERVE", stat("\(dir)/\(rel)", &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            apparent += Int(st.st_size)
            allocated += Int(st.st_blocks) * 512
        }
        return (apparent, allocated)
    }

    func rowsFor(_ range: Range<Int>, seed: UInt64) -> [Row] {
        var g = SplitMix64(seed: seed)
        let text = String(repeating: "lorem ipsum dolor sit amet ", count: textBytes / 27 + 1)
        return range.map { i in
            let v = (0..<dim).map { _ in Float.random(in: -1..<1, using: &g) }
            let offset = Int(g.next() % 27)
            let t = String(text.dropFirst(offset).prefix(textBytes - 8)) + String(format: "%08d", i)
            return ["id": .int(Int64(i)), "vec": .floatVector(v), "text": .string(t)]
        }
    }

    func schema(_ name: String) -> CollectionSchema {
        CollectionSchema(name: name, fields: [
            .int64PrimaryKey("id"), .floatVector("vec", dimension: dim, metric: .ip),
            FieldSchema(name: "text", dataType: .varChar, maxLength: 1024),
        ])
    }

    func space(_ lines: inout [String]) async throws {
        let dir = scratch + "/space"
        var config = Configuration()
        config.compactionInterval = nil
        let db = try Database.open(at: dir, configuration: config)
        let c = try db.createCollection(schema("space"))
        try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100, metric: .ip))
        func measure(_ step: String) async {
            await c.waitForIndexBuilds()
            let b = CompactionBench.directoryBytes(dir)
            let s = c.statistics()
            print(String(format: "| %@ | %d | %d | %.1f | %.1f | %.1f |", step, c.count(), s.reduce(0) { $0 + $1.sealedSegments },
                         Double(b.apparent) / 1e6, Double(b.allocated) / 1e6, Double(s.reduce(0) { $0 + $1.storageBytes }) / 1e6))
            emit(["bench": .string("compaction-space"), "step": .string(step), "rows": .int(Int64(c.count())),
                  "dir_apparent_bytes": .int(Int64(b.apparent)), "dir_allocated_bytes": .int(Int64(b.allocated)),
                  "live_bytes": .int(Int64(s.reduce(0) { $0 + $1.storageBytes }))], to: &lines)
        }
        print("| step | live rows | sealed segments | directory MB (apparent) | directory MB (allocated) | LMDB live MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for start in stride(from: 0, to: rows, by: 1000) { try await c.insert(rowsFor(start..<min(rows, start + 1000), seed: UInt64(start))) }
        try await c.flush()
        await measure("insert \(rows) + flush")
        let before = CompactionBench.directoryBytes(dir).apparent
        let victims = (0..<rows).filter { $0 % 5 != 0 }.map { PrimaryKey.int(Int64($0)) }
        for start in stride(from: 0, to: victims.count, by: 5000) { try await c.delete(ids: Array(victims[start..<min(victims.count, start + 5000)])) }
        await measure("delete 80 %")
        var t0 = Date()
        try await c.compact()
        print("compaction took \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
        await measure("compact")
        for start in stride(from: 0, to: refill, by: 1000) {
            try await c.insert(rowsFor((rows + start)..<(rows + min(refill, start + 1000)), seed: UInt64(rows + start)))
        }
        await measure("insert \(refill) more")
        try await c.flush()
        t0 = Date()
        try await c.compact()
        print("compaction took \(String(format: "%.2f", Date().timeIntervalSince(t0))) s")
        await measure("flush + compact")
        let after = CompactionBench.directoryBytes(dir).apparent
        let growth = Double(after) / Double(before)
        print(String(format: "directory after / before the deletes: %.3f (goal ≤ 1.30)", growth))
        emit(["bench": .string("compaction-space-growth"), "ratio": .double(growth)], to: &lines)
    }

    func latency(_ lines: inout [String]) async throws {
        let dir = scratch + "/latency"
        var config = Configuration()
        config.compactionInterval = nil
        // Segments are cut by flushes; nothing seals on its own (an ingest seal and its index build
        // during the measurement would be measured instead of the compaction).
        config.sealRows = 1 << 22
        if let busyDutyCycle { config.compactionBusyDutyCycle = busyDutyCycle }
        let db = try Database.open(at: dir, configuration: config)
        let c = try db.createCollection(schema("latency"))
        try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100, metric: .ip))
        let n = 4 * latencySealRows
        for start in stride(from: 0, to: n, by: 1000) {
            try await c.insert(rowsFor(start..<start + 1000, seed: UInt64(start)))
            if (start + 1000) % latencySealRows == 0 { try await c.flush() }
        }
        await c.waitForIndexBuilds()
        try await c.delete(ids: (0..<n).filter { $0 % 2 == 0 }.map { .int(Int64($0)) })
        // What compaction must not slow down is the rest of the work: searches go to a second collection
        // (same data, nothing deleted, so its cost does not change when the compacted one gets cheaper)
        // and ingest to a third, all in the same database (same writer threads, disk and cores).
        let searched = try db.createCollection(schema("searched"))
        try await searched.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100, metric: .ip))
        for start in stride(from: 0, to: n, by: 1000) {
            try await searched.insert(rowsFor(start..<start + 1000, seed: UInt64(start)))
            if (start + 1000) % latencySealRows == 0 { try await searched.flush() }
        }
        await searched.waitForIndexBuilds()
        let ingest = try db.createCollection(schema("ingest"))
        var g = SplitMix64(seed: 99)
        let queries = (0..<200).map { _ in (0..<dim).map { _ in Float.random(in: -1..<1, using: &g) } }
        var nextID = 10_000_000

        /// One search and one 100-row insert per round, until `until` says stop; their latencies.
        func loop(_ until: () -> Bool) async throws -> (search: [Double], insert: [Double], at: [Double]) {
            var s: [Double] = []
            var w: [Double] = []
            var at: [Double] = []
            var i = 0
            while !until() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try await searched.search(SearchRequest(vectors: [queries[i % queries.count]], limit: 10, params: SearchParameters(ef: 64)))
                let t1 = DispatchTime.now().uptimeNanoseconds
                try await ingest.insert(rowsFor(nextID..<nextID + 100, seed: UInt64(nextID)))
                let t2 = DispatchTime.now().uptimeNanoseconds
                s.append(Double(t1 - t0) / 1e9)
                w.append(Double(t2 - t1) / 1e9)
                at.append(Double(t1) / 1e9)
                nextID += 100
                i += 1
            }
            return (s, w, at)
        }
        // Warm-up (page cache, first touches of the mapped segments), not reported; then the baseline:
        // the same loop for a fixed number of rounds just before.
        // Percentiles compare like with like only over similar spans (a long span catches the disk's
        // periodic writeback, a short one may not), so the baseline runs for as long as a compaction
        // takes (--baseline-seconds).
        func forSeconds(_ seconds: Double) -> () -> Bool {
            let end = Date().addingTimeInterval(seconds)
            return { Date() >= end }
        }
        _ = try await loop(forSeconds(1))
        let baseline = try await loop(forSeconds(baselineSeconds))
        // During: compaction of the four half-deleted segments in the background.
        let done = Atomic(false)
        let control = noCompaction
        let span = baselineSeconds
        let job = Task {
            if control {
                try await Task.sleep(for: .seconds(span))
                done.store(true, ordering: .relaxed)
                return CompactionReport()
            }
            let r = try await c.compact()
            done.store(true, ordering: .relaxed)
            return r
        }
        let t0 = Date()
        let during = try await loop { done.load(ordering: .relaxed) }
        let report = try await job.value
        let seconds = Date().timeIntervalSince(t0)
        // When the slow inserts happened: tenths of the compaction's span (the swap commit is at the end).
        if let first = during.at.first, let last = during.at.last, last > first {
            let slow = percentile(baseline.insert, 0.99) / 1000
            var buckets = [Int](repeating: 0, count: 10)
            for (t, l) in zip(during.at, during.insert) where l > slow { buckets[min(9, Int((t - first) / (last - first) * 10))] += 1 }
            print("inserts slower than the baseline p99, by tenth of the compaction: \(buckets)")
        }
        // And once more after, so drift (a growing ingest segment, page cache) shows.
        let after = try await loop(forSeconds(baselineSeconds))
        print("compaction of \(report.merges.count) plans (\(report.rowsRewritten) rows rewritten, \(report.rowsRemoved) removed) took \(String(format: "%.2f", seconds)) s; rounds before / during / after: \(baseline.search.count) / \(during.search.count) / \(after.search.count)")
        print("| operation | p50 ms before | p50 ms during | ratio | p99 ms before | p99 ms during | ratio | p50 / p99 ms after |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for (name, b, d, a) in [("search another collection (1 query, ef 64)", baseline.search, during.search, after.search),
                                ("insert (100 rows)", baseline.insert, during.insert, after.insert)] {
            let (b50, d50, b99, d99) = (percentile(b, 0.5), percentile(d, 0.5), percentile(b, 0.99), percentile(d, 0.99))
            print(String(format: "| %@ | %.3f | %.3f | %.2f | %.3f | %.3f | %.2f | %.3f / %.3f |", name, b50, d50, d50 / b50, b99, d99, d99 / b99,
                         percentile(a, 0.5), percentile(a, 0.99)))
            emit(["bench": .string("compaction-latency"), "operation": .string(name), "p50_before_ms": .double(b50), "p50_during_ms": .double(d50),
                  "p99_before_ms": .double(b99), "p99_during_ms": .double(d99), "rounds_during": .int(Int64(d.count))], to: &lines)
        }
    }
}
