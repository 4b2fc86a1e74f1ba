import ArgumentParser
import Foundation
import Vireo

/// Issue #2's benchmark: durable insert throughput, reopen time, batch and single-query exact search,
/// against faiss IndexFlatIP measured in the same run.
struct Exact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Exact search, insert and reopen benchmark (vs faiss IndexFlatIP).")

    @Option(help: "Dataset directory (base.fvecs, query.fvecs, groundtruth.ivecs).") var data: String = "../shared/data/dev"
    @Option(help: "Scratch directory for the database (removed afterwards).") var scratch: String = NSTemporaryDirectory() + "vireo-bench-exact"
    @Option(help: "Python with faiss for the peer run (empty to skip).") var peerPython: String = "/tmp/peers/bin/python"
    @Option(name: .customLong("repeat"), help: "Repetitions of each batch measurement (best is reported).") var repeats: Int = 3
    @Option(help: "Write the JSON lines here as well.") var out: String?
    @Option(help: "Rows per insert batch.") var batch: Int = 1000

    func run() async throws {
        var lines: [String] = []
        emit(["bench": .string("env"), "environment": RunInfo.environment()], to: &lines)
        let base = try VectorFiles.readFVecs("\(data)/base.fvecs")
        let queries = try VectorFiles.readFVecs("\(data)/query.fvecs")
        let truth = try VectorFiles.readIVecs("\(data)/groundtruth.ivecs")
        let dim = base[0].count
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }

        // 1. Durable inserts, batches of `batch` rows, each its own fsync'd commit.
        do {
            let db = try Database.open(at: scratch)
            let c = try db.createCollection(CollectionSchema(name: "bench", fields: [
                .int64PrimaryKey("id"), .floatVector("vec", dimension: dim, metric: .ip),
            ]))
            var rows: [[Row]] = []
            for start in stride(from: 0, to: base.count, by: batch) {
                rows.append((start..<min(base.count, start + batch)).map { ["id": .int(Int64($0)), "vec": .floatVector(base[$0])] })
            }
            let (_, seconds) = try await timed { for r in rows { try await c.insert(r) } }
            emit(["bench": .string("insert"), "library": .string("vireo"), "rows": .int(Int64(base.count)), "batch": .int(Int64(batch)),
                  "seconds": .double(seconds), "rows_per_s": .double(Double(base.count) / seconds), "durable": .bool(true)], to: &lines)
        }
        // 2. Reopen with everything in the growing segment (batches replayed from LMDB).
        do {
            let (db, seconds) = try await timed { try Database.open(at: scratch) }
            let c = try db.collection("bench")
            emit(["bench": .string("reopen"), "library": .string("vireo"), "state": .string("growing"), "rows": .int(Int64(c.count())),
                  "ms": .double(seconds * 1000)], to: &lines)
            try await c.flush()
        }
        // 3. Reopen with the data sealed: mapped in place, with and without checksum verification.
        for verify in [true, false] {
            var config = Configuration()
            config.verifyChecksumsOnOpen = verify
            let (db, seconds) = try await timed { try Database.open(at: scratch, configuration: config) }
            emit(["bench": .string("reopen"), "library": .string("vireo"), "state": .string("sealed"), "verifyChecksums": .bool(verify),
                  "rows": .int(Int64(try db.collection("bench").count())), "ms": .double(seconds * 1000)], to: &lines)
        }
        // 4. Search: batch (1 and all threads) and single query.
        var config = Configuration()
        config.verifyChecksumsOnOpen = false
        for threads in Array(Set([1, System.coreCount])).sorted() {
            config.searchThreads = threads
            let db = try Database.open(at: scratch, configuration: config)
            let c = try db.collection("bench")
            var best = Double.infinity
            var results: [[SearchHit]] = []
            for _ in 0..<repeats {
                let (r, s) = try await timed { try await c.search(SearchRequest(vectors: queries, limit: 10)) }
                best = min(best, s)
                results = r
            }
            emit(["bench": .string("exact"), "library": .string("vireo"), "mode": .string("batch"), "threads": .int(Int64(threads)),
                  "nq": .int(Int64(queries.count)), "seconds": .double(best), "qps": .double(Double(queries.count) / best),
                  "recall@10": .double(recall(results, truth: truth, k: 10))], to: &lines)
        }
        do {
            config.searchThreads = 1
            let db = try Database.open(at: scratch, configuration: config)
            let c = try db.collection("bench")
            var latencies: [Double] = []
            var results: [[SearchHit]] = []
            for q in queries {
                let (r, s) = try await timed { try await c.search(SearchRequest(vectors: [q], limit: 10)) }
                latencies.append(s)
                results.append(r[0])
            }
            let total = latencies.reduce(0, +)
            emit(["bench": .string("exact"), "library": .string("vireo"), "mode": .string("single"), "threads": .int(1),
                  "nq": .int(Int64(queries.count)), "seconds": .double(total), "qps": .double(Double(queries.count) / total),
                  "p50_ms": .double(percentile(latencies, 0.5)), "p99_ms": .double(percentile(latencies, 0.99)),
                  "recall@10": .double(recall(results, truth: truth, k: 10))], to: &lines)
        }
        // 5. The peer, same data, same run.
        var peer: [String: [String: JSONValue]] = [:]
        if !peerPython.isEmpty, FileManager.default.isExecutableFile(atPath: peerPython) {
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("peers/faiss_flat.py").path
            if let output = RunInfo.shell("'\(peerPython)' '\(script)' --data '\(data)' --repeat \(repeats)") {
                for line in output.split(separator: "\n") {
                    guard case let .object(o)? = try? JSONValue(parsing: String(line)) else { continue }
                    var tagged = o
                    tagged["bench"] = .string(o["mode"] == .string("env") ? "peer-env" : "exact")
                    emit(tagged, to: &lines)
                    if case let .string(mode)? = o["mode"], case let .int(t)? = o["threads"] { peer["\(mode)/\(t)"] = o }
                }
            } else {
                FileHandle.standardError.write(Data("peer run failed: \(peerPython) \(script)\n".utf8))
            }
        }
        // 6. Ratios.
        func qps(_ o: [String: JSONValue]?) -> Double? {
            if case let .double(d)? = o?["qps"] { return d }
            if case let .int(i)? = o?["qps"] { return Double(i) }
            return nil
        }
        print("\n| measurement | Vireo | faiss | Vireo / faiss |")
        print("|---|---:|---:|---:|")
        for line in lines {
            guard case let .object(o)? = try? JSONValue(parsing: line), o["library"] == .string("vireo"), o["bench"] == .string("exact"),
                  case let .string(mode)? = o["mode"], case let .int(t)? = o["threads"], let v = qps(o) else { continue }
            let f = qps(peer["\(mode)/\(t)"])
            print(String(format: "| %@ search, %d thread(s), q/s | %.0f | %@ | %@ |", mode, t, v,
                         f.map { String(format: "%.0f", $0) } ?? "-", f.map { String(format: "%.2f", v / $0) } ?? "-"))
        }
        if let out { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }
}
