import Foundation
import Testing
import VireoKernels
import VireoTestSupport

/// Single-query exact top-10 over compact rows vs their float32 widening (the path sealed compact
/// segments took before they stayed compact), one thread. Prints QPS; asserts nothing about speed.
///
/// Run: `VIREO_COMPACT_BENCH=1 swift test -c release --filter CompactScanBenchmark`
/// (`VIREO_COMPACT_BENCH_ROWS`, `VIREO_COMPACT_BENCH_DIM` change the size; 100,000 × 384 by default).
@Suite(.enabled(if: ProcessInfo.processInfo.environment["VIREO_COMPACT_BENCH"] != nil))
struct CompactScanBenchmark {
    @Test("exact top-10, one query at a time: compact kernels vs the float32 widening")
    func singleQueryQPS() {
        let env = ProcessInfo.processInfo.environment
        let n = env["VIREO_COMPACT_BENCH_ROWS"].flatMap(Int.init) ?? 100_000
        let dim = env["VIREO_COMPACT_BENCH_DIM"].flatMap(Int.init) ?? 384
        let nq = 200
        var g = SeededGenerator(seed: 5)
        let raw = (0..<(n * dim)).map { _ in Float.random(in: -1...1, using: &g) }
        let rawQueries = (0..<(nq * dim)).map { _ in Float.random(in: -1...1, using: &g) }
        for element in [VectorElement.float16, .bfloat16, .int8, .binary] {
            let values: [Float]
            switch element {
            case .int8: values = raw.map { ($0 * 127).rounded() }
            case .binary: values = raw.map { $0 > 0 ? 1 : 0 }
            default: values = raw.map(element.rounded)
            }
            let floats = FloatArena(copying: values).matrix(dim: dim)
            let compact = CompactMatrix.encoding((0..<n).map { Array(values[($0 * dim)..<(($0 + 1) * dim)]) }, element: element, dim: dim)
            let norms = floats.inverseNorms()
            // Binary queries are 0/1 (as a binary field's queries widen).
            let queries = FloatArena(copying: element == .binary ? rawQueries.map { $0 > 0 ? 1 : 0 } : rawQueries).matrix(dim: dim)
            for metric in element == .binary ? [Metric.hamming, .jaccard] : [Metric.l2, .ip] {
                func run(_ scan: (inout ExactScanner, MatrixView, inout [TopK]) -> Void) -> (qps: Double, ids: [[Int64]]) {
                    var scanner = ExactScanner(backend: OpenBLASBackend())
                    var ids: [[Int64]] = []
                    var best = Double.infinity
                    for _ in 0..<3 {
                        ids = []
                        let start = DispatchTime.now().uptimeNanoseconds
                        for q in 0..<nq {
                            var heaps = [TopK(k: 10)]
                            scan(&scanner, queries.slice(q, 1), &heaps)
                            ids.append(heaps[0].sorted().map(\.id))
                        }
                        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                    }
                    return (Double(nq) / best, ids)
                }
                let f = run { s, q, h in s.scan(queries: q, base: floats, metric: metric, inverseNorms: norms, excluded: nil, idBase: 0, heaps: &h) }
                let c = run { s, q, h in s.scan(queries: q, compact: compact, metric: metric, inverseNorms: norms, excluded: nil, idBase: 0, heaps: &h) }
                let same = zip(f.ids, c.ids).filter { $0 == $1 }.count
                func r1(_ x: Double) -> String { String((x * 10).rounded() / 10) }
                print("compact-scan \(element.typeName) \(metric.rawValue) \(n) x \(dim), 1 thread, nq=\(nq): float32 \(r1(f.qps)) QPS, "
                      + "compact \(r1(c.qps)) QPS (\(String((c.qps / f.qps * 100).rounded() / 100))x); "
                      + "memory \((n * dim * 4) >> 20) vs \(compact.byteCount >> 20) MiB; identical top-10 \(same)/\(nq)")
            }
        }
    }
}
