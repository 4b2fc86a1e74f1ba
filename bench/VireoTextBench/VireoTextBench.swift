import Dispatch
import Foundation
import Synchronization
import VireoText

/// vireo-text-bench: BM25 index build and top-10 search of VireoText on a passages/queries JSONL
/// dataset, the Vireo half of bench/text/text_peers.py (which runs tantivy and bm25s on the very
/// tokens this program writes, with the same k1 and b).
///
/// Usage: vireo-text-bench DATA_DIR OUT_DIR [--repeat N]
/// Reads DATA_DIR/passages.jsonl and DATA_DIR/queries.jsonl ({"text": ...} per line); writes
/// OUT_DIR/passages.tokens and OUT_DIR/queries.tokens (one line of space-separated english-analyzer
/// tokens per text), OUT_DIR/vireo_top10.json (each algorithm's top-10 rows per query) and
/// OUT_DIR/vireo.json (timings).
@main
struct VireoTextBench {
    struct Line: Decodable { let text: String }

    static func readTexts(_ path: String) throws -> [String] {
        let data = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = JSONDecoder()
        return try data.split(separator: "\n").map { try decoder.decode(Line.self, from: Data($0.utf8)).text }
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// CPU time of this thread: immune to the preemption of a loaded machine, so the peers'
    /// (measured the same way in text_peers.py) compare fairly when other work shares the cores.
    static func cpu() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func main() throws {
        let args = CommandLine.arguments
        guard args.count >= 3 else {
            print("usage: vireo-text-bench DATA_DIR OUT_DIR [--repeat N]")
            exit(2)
        }
        let dataDir = args[1], outDir = args[2]
        let repeats = args.count >= 5 && args[3] == "--repeat" ? max(1, Int(args[4]) ?? 3) : 3
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let passages = try readTexts(dataDir + "/passages.jsonl")
        let queries = try readTexts(dataDir + "/queries.jsonl")

        // Analysis (english analyzer), timed on its own: peers get these tokens pre-made.
        let session = Analyzer(.english).makeSession()
        var t0 = now()
        let docTokens = passages.map { session.analyze($0).map(\.text) }
        let analyzeSeconds = now() - t0
        let queryTokens = queries.map { session.analyze($0).map(\.text) }
        try docTokens.map { $0.joined(separator: " ") }.joined(separator: "\n").appending("\n")
            .write(toFile: outDir + "/passages.tokens", atomically: true, encoding: .utf8)
        try queryTokens.map { $0.joined(separator: " ") }.joined(separator: "\n").appending("\n")
            .write(toFile: outDir + "/queries.tokens", atomically: true, encoding: .utf8)

        // Build: term ids and counts (the BM25 function), statistics, the compressed index. Best of N.
        var buildSeconds = Double.infinity
        var buildCPU = Double.infinity
        var index: SparseInvertedIndex! = nil
        var stats = BM25Statistics()
        for _ in 0..<repeats {
            t0 = now()
            let c0 = cpu()
            let rows = docTokens.map { TermHash.termCounts($0) }
            var s = BM25Statistics()
            for r in rows { s.add(r) }
            let built = try SparseInvertedIndex(rows: rows, metric: .bm25)
            let dt = now() - t0
            buildCPU = min(buildCPU, cpu() - c0)
            if dt < buildSeconds { buildSeconds = dt }
            index = built
            stats = s
        }
        let blob = index.serialize()

        // The same build with the term counting (the BM25 function's share) split over two threads, as
        // tantivy's index writer works on a thread of its own beside the caller: wall time at two cores.
        var build2Seconds = Double.infinity
        for _ in 0..<repeats {
            t0 = now()
            let halves = Mutex<[[SparseVector]]>([[], []])
            let half = (docTokens.count + 1) / 2
            DispatchQueue.concurrentPerform(iterations: 2) { h in
                let part = docTokens[(h * half)..<min(docTokens.count, (h + 1) * half)].map { TermHash.termCounts($0) }
                halves.withLock { $0[h] = part }
            }
            let rows = halves.withLock { $0[0] + $0[1] }
            var s = BM25Statistics()
            for r in rows { s.add(r) }
            _ = try SparseInvertedIndex(rows: rows, metric: .bm25)
            build2Seconds = min(build2Seconds, now() - t0)
        }

        // Search: one thread, k = 10, drop_ratio_search 0, k1 1.2, b 0.75 (tantivy's fixed values).
        // Batch: all queries back to back (best of N); per query: each query's own latency.
        var results: [String: Any] = [:]
        var top10: [String: [[UInt32]]] = [:]
        for algorithm in InvertedIndexAlgorithm.allCases {
            let options = SparseSearchOptions(algorithm: algorithm, dropRatio: 0, bm25: .default)
            var best = Double.infinity
            var bestCPU = Double.infinity
            var hits: [[UInt32]] = []
            var latencies: [Double] = []
            for rep in 0..<repeats {
                var out: [[UInt32]] = []
                out.reserveCapacity(queryTokens.count)
                var lat: [Double] = []
                lat.reserveCapacity(queryTokens.count)
                let start = now()
                let c0 = cpu()
                for q in queryTokens {
                    let a = now()
                    let r = index.search(TermHash.termCounts(q), k: 10, statistics: stats, options: options)
                    lat.append(now() - a)
                    out.append(r.map(\.row))
                }
                let dt = now() - start
                bestCPU = min(bestCPU, cpu() - c0)
                if dt < best { best = dt }
                if rep == 0 { hits = out; latencies = lat }
            }
            latencies.sort()
            // Self-check: every algorithm must return TAAT_NAIVE's exact top-10.
            if let reference = top10[InvertedIndexAlgorithm.taatNaive.rawValue] {
                let mismatched = zip(hits, reference).enumerated().filter { $0.element.0 != $0.element.1 }
                if let first = mismatched.first {
                    let q = TermHash.termCounts(queryTokens[first.offset])
                    let a = index.search(q, k: 10, statistics: stats, options: options)
                    let b = index.search(q, k: 10, statistics: stats, options: SparseSearchOptions(algorithm: .taatNaive))
                    FileHandle.standardError.write(Data("\(algorithm.rawValue): \(mismatched.count) queries differ from TAAT_NAIVE; first \(first.offset) (\(q.count) terms)\n got \(a)\n exact \(b)\n".utf8))
                }
            }
            top10[algorithm.rawValue] = hits
            results[algorithm.rawValue] = [
                "qps": Double(queryTokens.count) / best,
                "qps_cpu": Double(queryTokens.count) / bestCPU,
                "p50_us": latencies[latencies.count / 2] * 1e6,
                "p99_us": latencies[min(latencies.count - 1, latencies.count * 99 / 100)] * 1e6,
            ]
        }
        let summary: [String: Any] = [
            "docs": passages.count, "queries": queries.count,
            "analyze_seconds": analyzeSeconds,
            "build_seconds": buildSeconds,
            "build_cpu_seconds": buildCPU,
            "build_seconds_2_threads": build2Seconds,
            "index_bytes": blob.count, "terms": index.termCount, "postings": index.postingCount,
            "search": results,
        ]
        try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: outDir + "/vireo.json"))
        try JSONSerialization.data(withJSONObject: top10.mapValues { $0.map { $0.map(Int.init) } })
            .write(to: URL(fileURLWithPath: outDir + "/vireo_top10.json"))
        print(String(data: try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys]), encoding: .utf8)!)
    }
}
