import ArgumentParser
import Foundation
import VireoBenchKit
import Vireo
import VireoKernels

/// Issue #5's benchmark: filtered search at several selectivities next to unfiltered search, with
/// HNSW and IVF_PQ, on the dev set with a seeded scalar column added.
struct FilterBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "filter", abstract: "Filtered vs unfiltered search (HNSW, IVF_PQ) at 1 %, 10 %, 50 % selectivity.")

    @Option(help: "Dataset directory.") var data: String = "../shared/data/dev"
    @Option(help: "Queries to run per point.") var nq: Int = 200
    @Option var ef: Int = 64
    @Option var nprobe: Int = 32
    @Option var refine: Int = 4
    @Option(help: "Scratch directory for the database.") var scratch: String = NSTemporaryDirectory() + "vireo-bench-filter"
    @Option(help: "Write JSON lines here too.") var out: String?
    @Option(help: "Scalar index on the filtered field (INVERTED, STL_SORT, BITMAP), or none.") var scalarIndex: String?

    func run() async throws {
        var lines: [String] = []
        emit(["bench": .string("env"), "environment": RunInfo.environment()], to: &lines)
        let base = try VectorFiles.readFVecs("\(data)/base.fvecs")
        let queries = Array(try VectorFiles.readFVecs("\(data)/query.fvecs").prefix(nq))
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var config = Configuration()
        config.searchThreads = 1
        let db = try Database.open(at: scratch, configuration: config)
        var g = SplitMix64(seed: 2024)
        let buckets = (0..<base.count).map { _ in Int64(g.next() % 100) }
        print("scalar index on bucket: \(scalarIndex ?? "none")")
        print("| index | filter (selectivity) | recall@10 vs exact filtered | QPS | p50 ms | p99 ms |")
        print("|---|---|---:|---:|---:|---:|")
        for (name, spec, params) in [("HNSW", IndexSpec.hnsw(field: "vec"), SearchParameters(ef: ef)),
                                      ("IVF_PQ", IndexSpec.ivfPQ(field: "vec", nlist: 894, m: 48), SearchParameters(nprobe: nprobe, refineK: refine))] {
            let c = try db.createCollection(CollectionSchema(name: name.lowercased(), fields: [
                .int64PrimaryKey("id"), .floatVector("vec", dimension: base[0].count, metric: .ip), FieldSchema(name: "bucket", dataType: .int64),
            ]))
            for start in stride(from: 0, to: base.count, by: 1000) {
                try await c.insert((start..<min(base.count, start + 1000)).map {
                    ["id": .int(Int64($0)), "vec": .floatVector(base[$0]), "bucket": .int(buckets[$0])]
                })
            }
            try await c.createIndex(spec)
            if let scalarIndex { try await c.createIndex(IndexSpec(field: "bucket", milvusIndexType: scalarIndex)) }
            await c.waitForIndexBuilds()
            for (label, filter) in [("none (100 %)", nil), ("bucket < 50 (50 %)", "bucket < 50"), ("bucket < 10 (10 %)", "bucket < 10"), ("bucket == 7 (1 %)", "bucket == 7")] as [(String, String?)] {
                // Ground truth: exact search with the same filter.
                let truth = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(exact: true), filter: filter))
                var lat: [Double] = []
                var found = 0
                for (i, q) in queries.enumerated() {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let r = try await c.search(SearchRequest(vectors: [q], limit: 10, params: params, filter: filter))
                    lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                    let want = Set(truth[i].map(\.id))
                    found += r[0].filter { want.contains($0.id) }.count
                }
                let recall = Double(found) / Double(10 * queries.count)
                let qps = Double(queries.count) / lat.reduce(0, +)
                print(String(format: "| %@ | %@ | %.4f | %.0f | %.3f | %.3f |", name, label, recall, qps, percentile(lat, 0.5), percentile(lat, 0.99)))
                emit(["bench": .string("filter"), "library": .string("vireo"), "index": .string(name), "filter": .string(filter ?? ""),
                      "recall@10": .double(recall), "qps": .double(qps), "p50_ms": .double(percentile(lat, 0.5)), "p99_ms": .double(percentile(lat, 0.99))], to: &lines)
            }
        }
        if let out { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }
}
