import ArgumentParser
import Foundation
import VireoBenchKit
import Vireo
import VireoIndex
import VireoKernels

/// Index-level HNSW measurement (no engine): build time and an ef sweep, one search thread.
struct HNSWIndexBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hnsw-index", abstract: "Build an HNSW graph on a dataset and sweep ef (index only, no storage).")
    @Option var data: String = "../shared/data/dev"
    @Option var M: Int = 16
    @Option var efConstruction: Int = 200
    @Option var threads: Int = System.coreCount
    @Option var ef: String = "10,16,32,64,128,256,512"
    @Option var metric: String = "IP"

    func run() async throws {
        let (base, queries, truth) = try BenchDataset.load(data).parts
        let dim = base[0].count
        let m = Metric(milvusName: metric)!
        let arena = FloatArena(copying: base.flatMap { $0 })
        let matrix = arena.matrix(dim: dim)
        let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: dim)
        let (index, buildSeconds) = try await timed { try HNSWIndex.build(vectors: matrix, metric: m, configuration: HNSWConfiguration(M: M, efConstruction: efConstruction), threads: threads) }
        print(String(format: "build %.2f s (%d threads), graph %.1f MB, invariants: %@", buildSeconds, threads, Double(index.byteCount) / 1e6, index.checkInvariants() ?? "ok"))
        for e in ef.split(separator: ",").compactMap({ Int($0) }) {
            var heaps = [TopK](repeating: TopK(k: 10), count: queries.count)
            var lat: [Double] = []
            var total = 0.0
            // Warm once, then measure.
            for pass in 0..<2 {
                lat.removeAll()
                heaps = [TopK](repeating: TopK(k: 10), count: queries.count)
                let start = DispatchTime.now().uptimeNanoseconds
                for i in 0..<queries.count {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    var one = [TopK(k: 10)]
                    index.search(queries: q, range: i..<(i + 1), k: 10, ef: e, excluded: nil, idBase: 0, heaps: &one)
                    heaps[i] = one[0]
                    lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
                if pass == 1 { total = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
            }
            var found = 0
            for i in 0..<queries.count {
                let want = Set(truth[i].prefix(10).map { Int64($0) })
                found += heaps[i].sorted().filter { want.contains($0.id) }.count
            }
            print(String(format: "ef %4d  recall@10 %.4f  qps %8.0f  p50 %.3f ms  p99 %.3f ms", e, Double(found) / Double(10 * queries.count),
                         Double(queries.count) / total, percentile(lat, 0.5), percentile(lat, 0.99)))
        }
    }
}
