import ArgumentParser
import Foundation
import VireoBenchKit
import Vireo
import VireoIndex
import VireoKernels

/// Index-level IVF measurement (no engine): train + add time and an nprobe sweep, one search thread.
struct IVFIndexBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ivf-index", abstract: "Build an IVF_FLAT / IVF_PQ index on a dataset and sweep nprobe (index only).")
    @Option var data: String = "../shared/data/dev"
    @Option(help: "flat or pq") var encoding: String = "pq"
    @Option var nlist: Int = 0
    @Option var m: Int = 48
    @Option var threads: Int = System.coreCount
    @Option var nprobe: String = "1,4,8,16,32,64,128,256"
    @Option var refine: Int = 0
    @Option var metric: String = "IP"

    func run() async throws {
        let (base, queries, truth) = try BenchDataset.load(data).parts
        let dim = base[0].count
        let met = Metric(milvusName: metric)!
        let matrix = FloatArena(copying: base.flatMap { $0 }).matrix(dim: dim)
        let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: dim)
        let lists = nlist > 0 ? nlist : Int((4 * Double(base.count).squareRoot()).rounded())
        let config = IVFConfiguration(nlist: lists, encoding: encoding == "pq" ? .pq : .flat, m: m)
        let (index, seconds) = try await timed {
            try IVFIndex.build(vectors: matrix, metric: met, configuration: config, backend: OpenBLASBackend(), threads: threads)
        }
        print(String(format: "train+add %.2f s (%d threads), nlist %d, %@, index %.1f MB", seconds, threads, lists, encoding, Double(index.byteCount) / 1e6))
        let backend = OpenBLASBackend()
        for p in nprobe.split(separator: ",").compactMap({ Int($0) }) {
            var lat: [Double] = []
            var found = 0
            for pass in 0..<2 {
                lat.removeAll()
                found = 0
                for i in 0..<queries.count {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    var one = [TopK(k: 10)]
                    index.search(queries: q, range: i..<(i + 1), k: 10, nprobe: p, refine: refine, excluded: nil, idBase: 0, heaps: &one, backend: backend)
                    lat.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                    if pass == 1 {
                        let want = Set(truth[i].prefix(10).map { Int64($0) })
                        found += one[0].sorted().filter { want.contains($0.id) }.count
                    }
                }
            }
            let total = lat.reduce(0, +)
            print(String(format: "nprobe %4d  recall@10 %.4f  qps %8.0f  p50 %.3f ms  p99 %.3f ms", p, Double(found) / Double(10 * queries.count),
                         Double(queries.count) / total, percentile(lat, 0.5), percentile(lat, 0.99)))
        }
    }
}
