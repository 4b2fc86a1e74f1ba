import ArgumentParser
import Foundation
import VireoBenchKit
import Vireo

/// Issue #3's benchmark: HNSW through the engine (durable storage, background build, in-place
/// graph), ef sweep with one search thread, next to hnswlib run in the same invocation.
struct HNSWBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hnsw", abstract: "HNSW build + ef sweep through the engine, vs hnswlib in the same run.")

    @Option(help: "Dataset directory.") var data: String = "../shared/data/dev"
    @Option var M: Int = 16
    @Option var efConstruction: Int = 200
    @Option(help: "Comma-separated ef values.") var ef: String = "10,16,24,32,48,64,128,256,512"
    @Option(help: "Build threads.") var buildThreads: Int = 2
    @Option(help: "Python with hnswlib (empty to skip the peer).") var peerPython: String = "/tmp/peers/bin/python"
    @Option(help: "The peers' benchmark script.") var peersScript: String = "../shared/peers/bench_peers.py"
    @Option(help: "Scratch directory for the database.") var scratch: String = NSTemporaryDirectory() + "vireo-bench-hnsw"
    @Option(help: "Write JSON lines here too.") var out: String?

    func run() async throws {
        var lines: [String] = []
        emit(["bench": .string("env"), "environment": RunInfo.environment()], to: &lines)
        let queries = try VectorFiles.readFVecs("\(data)/query.fvecs")
        let truth = try VectorFiles.readIVecs("\(data)/groundtruth.ivecs")
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var config = Configuration()
        config.indexBuildThreads = buildThreads
        config.searchThreads = 1
        config.verifyChecksumsOnOpen = false

        let buildSeconds: Double
        let n: Int
        do {
            let base = try VectorFiles.readFVecs("\(data)/base.fvecs")
            n = base.count
            let db = try Database.open(at: scratch, configuration: config)
            let c = try db.createCollection(CollectionSchema(name: "bench", fields: [
                .int64PrimaryKey("id"), .floatVector("vec", dimension: base[0].count, metric: .ip),
            ]))
            for start in stride(from: 0, to: base.count, by: 1000) {
                try await c.insert((start..<min(base.count, start + 1000)).map { ["id": .int(Int64($0)), "vec": .floatVector(base[$0])] })
            }
            // Build: seal the 50k rows and build the graph in the background on `buildThreads` cores.
            let start = DispatchTime.now().uptimeNanoseconds
            try await c.createIndex(.hnsw(field: "vec", M: M, efConstruction: efConstruction))
            await c.waitForIndexBuilds()
            buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        // Fresh open: graphs and vectors used in place from the memory map.
        let before = ProcessMemory.current()
        let db = try Database.open(at: scratch, configuration: config)
        let c = try db.collection("bench")
        let graphBytes = c.statistics().reduce(0) { $0 + $1.storageBytes }
        let points = ef.split(separator: ",").compactMap { Int($0) }.map { ("ef=\($0)", SearchParameters(ef: $0)) }
        let curve = try await sweep(c, queries: queries, truth: truth, points: points)
        for p in curve {
            emit(["bench": .string("hnsw"), "library": .string("vireo"), "params": .string("M=\(M) efC=\(efConstruction) \(p.params)"),
                  "recall@10": .double(p.recall), "qps": .double(p.qps), "p50_ms": .double(p.p50), "p99_ms": .double(p.p99),
                  "build_s": .double(buildSeconds), "build_threads": .int(Int64(buildThreads))], to: &lines)
        }
        let after = ProcessMemory.current()
        emit(["bench": .string("hnsw-memory"), "library": .string("vireo"), "n": .int(Int64(n)),
              "index_resident_mb": .double(after.rss - before.rss), "storage_mb": .double(Double(graphBytes) / 1e6),
              "peak_rss_mb": .double(after.peak)], to: &lines)

        let peers = PeerRunner.run(python: peerPython, script: peersScript, dataset: data, only: "hnswlib_hnsw")
        for p in peers {
            emit(["bench": .string("hnsw"), "library": .string(p.library), "params": .string(p.params), "recall@10": .double(p.point.recall),
                  "qps": .double(p.point.qps), "p50_ms": .double(p.point.p50), "p99_ms": .double(p.point.p99),
                  "build_s": .double(p.buildSeconds), "rss_mb": .double(p.rssMB), "serialized_mb": .double(p.serializedMB)], to: &lines)
        }
        let peerCurve = peers.map(\.point)
        print("\n| | Vireo | hnswlib | ratio |")
        print("|---|---:|---:|---:|")
        for target in [0.90, 0.95, 0.99] {
            let v = qps(at: target, on: curve), h = qps(at: target, on: peerCurve)
            print(String(format: "| QPS at recall@10 = %.2f | %@ | %@ | %@ |", target, v.map { String(format: "%.0f", $0) } ?? "not reached",
                         h.map { String(format: "%.0f", $0) } ?? "-", (v != nil && h != nil) ? String(format: "%.2f×", v! / h!) : "-"))
        }
        if let hb = peers.first?.buildSeconds {
            print(String(format: "| build time, %d threads (s) | %.2f | %.2f | %.2f× |", buildThreads, buildSeconds, hb, buildSeconds / hb))
        }
        if let hs = peers.first?.serializedMB {
            let vireoMB = Double(graphBytes) / 1e6
            print(String(format: "| index size on disk, MB (Vireo: live LMDB data: vectors, graph, keys; hnswlib: saved index) | %.1f | %.1f | %.2f× |", vireoMB, hs, vireoMB / hs))
        }
        if let hm = peers.first?.steadyIndexMB {
            let vm = after.rss - before.rss
            print(String(format: "| resident memory of the index after searching, MB | %.1f | %.1f | %.2f× |", vm, hm, vm / hm))
        }
        if let out { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }
}

/// One query per call on one thread through `Collection.search`, best of two passes per point.
func sweep(_ c: Vireo.Collection, queries: [[Float]], truth: [[Int32]], points: [(String, SearchParameters)]) async throws -> [CurvePoint] {
    var curve: [CurvePoint] = []
    for (label, params) in points {
        var lat: [Double] = []
        var results: [[SearchHit]] = []
        for pass in 0..<2 {  // the first pass warms caches
            lat.removeAll(keepingCapacity: true)
            results.removeAll(keepingCapacity: true)
            for q in queries {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let r = try await c.search(SearchRequest(vectors: [q], limit: 10, params: params))
                lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                if pass == 1 { results.append(r[0]) }
            }
        }
        let total = lat.reduce(0, +)
        curve.append(CurvePoint(params: label, recall: recall(results, truth: truth, k: 10), qps: Double(queries.count) / total,
                                p50: percentile(lat, 0.5), p99: percentile(lat, 0.99)))
    }
    return curve
}
