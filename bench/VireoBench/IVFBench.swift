import ArgumentParser
import Foundation
import VireoBenchKit
import Vireo

/// Issue #4's benchmark: IVF_FLAT and IVF_PQ (with and without refine) through the engine, nprobe
/// sweeps on one search thread, next to faiss run in the same invocation.
struct IVFBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ivf", abstract: "IVF_FLAT / IVF_PQ train+add and nprobe sweeps through the engine, vs faiss in the same run.")

    @Option(help: "Dataset directory.") var data: String = "../shared/data/dev"
    @Option(help: "Lists (default round(4·√N), the peers' choice).") var nlist: Int = 0
    @Option var m: Int = 48
    @Option(help: "Re-rank factor for the refine sweep (faiss k_factor).") var refine: Int = 4
    @Option(help: "Comma-separated nprobe values.") var nprobe: String = "1,2,4,8,16,32,64,128,256"
    @Option(help: "Build threads.") var buildThreads: Int = 2
    @Option(help: "Python with faiss (empty to skip the peer).") var peerPython: String = "/tmp/peers/bin/python"
    @Option(help: "The peers' benchmark script.") var peersScript: String = "../shared/peers/bench_peers.py"
    @Option(help: "Scratch directory for the database.") var scratch: String = NSTemporaryDirectory() + "vireo-bench-ivf"
    @Option(help: "Write JSON lines here too.") var out: String?

    func run() async throws {
        var lines: [String] = []
        emit(["bench": .string("env"), "environment": RunInfo.environment()], to: &lines)
        let (base, queries, truth) = try BenchDataset.load(data).parts
        let lists = nlist > 0 ? nlist : Int((4 * Double(base.count).squareRoot()).rounded())
        var config = Configuration()
        config.indexBuildThreads = buildThreads
        config.searchThreads = 1
        try? FileManager.default.removeItem(atPath: scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let db = try Database.open(at: scratch, configuration: config)
        let probes = nprobe.split(separator: ",").compactMap { Int($0) }

        var curves: [String: [CurvePoint]] = [:]
        var builds: [String: Double] = [:]
        for (name, spec) in [("IVF_FLAT", IndexSpec.ivfFlat(field: "vec", nlist: lists)), ("IVF_PQ", IndexSpec.ivfPQ(field: "vec", nlist: lists, m: m))] {
            let c = try db.createCollection(CollectionSchema(name: name.lowercased(), fields: [
                .int64PrimaryKey("id"), .floatVector("vec", dimension: base[0].count, metric: .ip),
            ]))
            for start in stride(from: 0, to: base.count, by: 1000) {
                try await c.insert((start..<min(base.count, start + 1000)).map { ["id": .int(Int64($0)), "vec": .floatVector(base[$0])] })
            }
            // Seal first (Milvus' flush; timed apart), then train + add: train the coarse quantiser
            // (and PQ codebooks), fill the lists, store the index durably and attach it.
            let ts = DispatchTime.now().uptimeNanoseconds
            try await c.flush()
            let sealSeconds = Double(DispatchTime.now().uptimeNanoseconds - ts) / 1e9
            emit(["bench": .string("seal"), "library": .string("vireo"), "rows": .int(Int64(base.count)), "seconds": .double(sealSeconds)], to: &lines)
            let t0 = DispatchTime.now().uptimeNanoseconds
            try await c.createIndex(spec)
            await c.waitForIndexBuilds()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            builds[name] = seconds
            var variants: [(String, Int)] = [(name, 0)]
            if spec.kind == .ivfPQ { variants.append(("\(name)+refine", refine)) }
            for (label, r) in variants {
                let curve = try await sweep(c, queries: queries, truth: truth,
                                            points: probes.map { ("nprobe=\($0)", SearchParameters(nprobe: $0, refineK: r)) })
                curves[label] = curve
                for p in curve {
                    emit(["bench": .string("ivf"), "library": .string("vireo"), "index": .string(label),
                          "params": .string("nlist=\(lists)\(spec.kind == .ivfPQ ? " m=\(m) nbits=8" : "")\(r > 0 ? " refine=\(r)" : "") \(p.params)"),
                          "recall@10": .double(p.recall), "qps": .double(p.qps), "p50_ms": .double(p.p50), "p99_ms": .double(p.p99),
                          "train_add_s": .double(seconds), "build_threads": .int(Int64(buildThreads)),
                          "index_mb": .double(Double(c.statistics().reduce(0) { $0 + $1.storageBytes }) / 1e6)], to: &lines)
                }
            }
        }

        let peers = PeerRunner.run(python: peerPython, script: peersScript, dataset: data, only: "faiss_ivfpq,faiss_ivfpq_refine,faiss_ivfflat")
        var peerCurves: [String: [CurvePoint]] = [:]
        var peerBuild: [String: Double] = [:]
        for p in peers {
            let label = p.index == "IVFPQ" ? "IVF_PQ" : p.index == "IVFPQ+RefineFlat" ? "IVF_PQ+refine" : p.index == "IVFFlat" ? "IVF_FLAT" : p.index
            var point = p.point
            point.params = p.params.split(separator: " ").last.map(String.init) ?? p.params
            peerCurves[label, default: []].append(point)
            peerBuild[label] = p.buildSeconds
            emit(["bench": .string("ivf"), "library": .string(p.library), "index": .string(label), "params": .string(p.params),
                  "recall@10": .double(p.point.recall), "qps": .double(p.point.qps), "p50_ms": .double(p.point.p50), "p99_ms": .double(p.point.p99),
                  "train_add_s": .double(p.buildSeconds), "serialized_mb": .double(p.serializedMB)], to: &lines)
        }

        print("\n| index | nprobe | Vireo recall@10 | faiss recall@10 | Δ | Vireo QPS | faiss QPS |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label in ["IVF_FLAT", "IVF_PQ", "IVF_PQ+refine"] {
            for p in curves[label] ?? [] {
                let f = peerCurves[label]?.first { $0.params == p.params }
                print(String(format: "| %@ | %@ | %.4f | %@ | %@ | %.0f | %@ |", label, String(p.params.dropFirst(7)), p.recall,
                             f.map { String(format: "%.4f", $0.recall) } ?? "-", f.map { String(format: "%+.4f", p.recall - $0.recall) } ?? "-",
                             p.qps, f.map { String(format: "%.0f", $0.qps) } ?? "-"))
            }
        }
        print("\n| | Vireo | faiss | ratio |")
        print("|---|---:|---:|---:|")
        for label in ["IVF_FLAT", "IVF_PQ+refine"] {
            let v = qps(at: 0.90, on: curves[label] ?? []), f = qps(at: 0.90, on: peerCurves[label] ?? [])
            print(String(format: "| %@ QPS at recall@10 = 0.90 | %@ | %@ | %@ |", label, v.map { String(format: "%.0f", $0) } ?? "not reached",
                         f.map { String(format: "%.0f", $0) } ?? "-", (v != nil && f != nil) ? String(format: "%.2f×", v! / f!) : "-"))
        }
        for label in ["IVF_FLAT", "IVF_PQ"] {
            if let v = builds[label], let f = peerBuild[label] {
                print(String(format: "| %@ train + add, %d threads (s) | %.2f | %.2f | %.2f× |", label, buildThreads, v, f, v / f))
            }
        }
        if let out { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) }
    }
}
