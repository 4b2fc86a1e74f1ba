import ArgumentParser
import Foundation
import VireoBenchKit
import Vireo

@main
struct VireoBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vireo-bench",
        abstract: "Vireo benchmarks on .fvecs/.ivecs/.bvecs datasets (ann-benchmarks style), side by side with peers run in the same session.",
        discussion: "Start with `vireo-bench --dataset DIR --index hnsw` (the `run` subcommand, the default) or `vireo-bench compare DIR`; the other subcommands are the per-issue benchmarks bench/README.md cites.",
        subcommands: [RunCommand.self, CompareCommand.self, PlotCommand.self, Exact.self, HNSWBench.self, IVFBench.self, FilterBench.self, HNSWIndexBench.self, IVFIndexBench.self, CompactionBench.self],
        defaultSubcommand: RunCommand.self
    )
}

/// Latency percentiles of a list of seconds, in milliseconds.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let s = values.sorted()
    return s[min(s.count - 1, Int((Double(s.count) * p).rounded(.down)))] * 1000
}

/// Mean recall@k of `results` against the first `k` ids of `truth`.
func recall(_ results: [[SearchHit]], truth: [[Int32]], k: Int) -> Double {
    var found = 0
    for (q, hits) in results.enumerated() {
        let want = Set(truth[q].prefix(k).map { PrimaryKey.int(Int64($0)) })
        found += hits.prefix(k).filter { want.contains($0.id) }.count
    }
    return Double(found) / Double(k * results.count)
}

func emit(_ o: [String: JSONValue], to lines: inout [String]) {
    let line = JSONValue.object(o).jsonText
    print(line)
    lines.append(line)
}

func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Double) {
    let start = DispatchTime.now().uptimeNanoseconds
    let r = try await body()
    return (r, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}
