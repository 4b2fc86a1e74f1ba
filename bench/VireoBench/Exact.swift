import ArgumentParser
import Foundation
import VireoBenchKit
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
    @Option(help: "Alternating Vireo/faiss rounds for the search comparison.") var rounds: Int = 3

    func run() async throws {
        var lines: [String] = []
        emit(["bench": .string("env"), "environment": RunInfo.environment()], to: &lines)
        let (base, queries, truth) = try BenchDataset.load(data).parts
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
        // 4–5. Search (batch on 1 and all threads, best of `repeats`; single query) and the peer on the
        // same data, alternated for `rounds` rounds so drift on a shared machine hits both alike; the
        // table reports the median of the per-round ratios and their range.
        var vireoQPS: [String: [Double]] = [:]
        var peerQPS: [String: [Double]] = [:]
        var config = Configuration()
        config.verifyChecksumsOnOpen = false
        for round in 0..<rounds {
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
                vireoQPS["batch/\(threads)", default: []].append(Double(queries.count) / best)
                emit(["bench": .string("exact"), "library": .string("vireo"), "mode": .string("batch"), "threads": .int(Int64(threads)),
                      "round": .int(Int64(round)), "nq": .int(Int64(queries.count)), "seconds": .double(best),
                      "qps": .double(Double(queries.count) / best), "recall@10": .double(recall(results, truth: truth, k: 10))], to: &lines)
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
                vireoQPS["single/1", default: []].append(Double(queries.count) / total)
                emit(["bench": .string("exact"), "library": .string("vireo"), "mode": .string("single"), "threads": .int(1),
                      "round": .int(Int64(round)), "nq": .int(Int64(queries.count)), "seconds": .double(total),
                      "qps": .double(Double(queries.count) / total),
                      "p50_ms": .double(percentile(latencies, 0.5)), "p99_ms": .double(percentile(latencies, 0.99)),
                      "recall@10": .double(recall(results, truth: truth, k: 10))], to: &lines)
            }
            if !peerPython.isEmpty, FileManager.default.isExecutableFile(atPath: peerPython) {
                let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent("peers/faiss_flat.py").path
                if let output = RunInfo.shell("'\(peerPython)' '\(script)' --data '\(data)' --repeat \(repeats)") {
                    for line in output.split(separator: "\n") {
                        guard case var .object(o)? = try? JSONValue(parsing: String(line)) else { continue }
                        o["bench"] = .string(o["mode"] == .string("env") ? "peer-env" : "exact")
                        o["round"] = .int(Int64(round))
                        emit(o, to: &lines)
                        if case let .string(mode)? = o["mode"], case let .int(t)? = o["threads"], let q = number(o["qps"]) {
                            peerQPS["\(mode)/\(t)", default: []].append(q)
                        }
                    }
                } else {
                    FileHandle.standardError.write(Data("peer run failed: \(peerPython) \(script)\n".utf8))
                }
            }
        }
        // 6. Ratios: median over rounds.
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        print("\n| measurement (\(rounds) rounds) | Vireo q/s (median) | faiss q/s (median) | Vireo / faiss: median (range) |")
        print("|---|---:|---:|---:|")
        for key in vireoQPS.keys.sorted() {
            let v = vireoQPS[key]!
            let parts = key.split(separator: "/")
            guard let f = peerQPS[key], f.count == v.count else {
                print(String(format: "| %@ search, %@ thread(s) | %.0f | - | - |", String(parts[0]), String(parts[1]), median(v)))
                continue
            }
            let ratios = zip(v, f).map { $0 / $1 }
            print(String(format: "| %@ search, %@ thread(s) | %.0f | %.0f | %.2f (%.2f–%.2f) |", String(parts[0]), String(parts[1]),
                         median(v), median(f), median(ratios), ratios.min()!, ratios.max()!))
        }
        if let out { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }
}

/// A JSON number as a Double.
func number(_ v: JSONValue?) -> Double? {
    switch v {
    case let .double(d)?: return d
    case let .int(i)?: return Double(i)
    default: return nil
    }
}
