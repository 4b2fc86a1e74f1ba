import Foundation
import Testing
@testable import Vireo
import VireoKernels
import VireoTestSupport

/// End to end: single-query exact top-10 through `Collection.search` over one flushed (sealed)
/// segment of a FLOAT16 field vs a FLOAT_VECTOR field holding the same values, one search thread.
/// Prints QPS; asserts only that both return the same ids.
///
/// Run: `VIREO_COMPACT_BENCH=1 swift test -c release --filter CompactCollectionBenchmark`
@Suite(.enabled(if: ProcessInfo.processInfo.environment["VIREO_COMPACT_BENCH"] != nil))
struct CompactCollectionBenchmark {
    @Test("single-query exact top-10 through the collection: FLOAT16 sealed segment vs FLOAT_VECTOR")
    func collectionQPS() async throws {
        let env = ProcessInfo.processInfo.environment
        let n = env["VIREO_COMPACT_BENCH_ROWS"].flatMap(Int.init) ?? 100_000
        let dim = env["VIREO_COMPACT_BENCH_DIM"].flatMap(Int.init) ?? 384
        let nq = 200
        var g = SeededGenerator(seed: 6)
        let base = (0..<n).map { _ in (0..<dim).map { _ in Float(Float16(Float.random(in: -1...1, using: &g))) } }
        let queries = (0..<nq).map { _ in (0..<dim).map { _ in Float(Float16(Float.random(in: -1...1, using: &g))) } }
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.searchThreads = 1
        config.sealRows = n + 1
        let db = try Database.open(at: dir.path, configuration: config)
        var results: [DataType: (qps: Double, ids: [[PrimaryKey]], bytes: Int)] = [:]
        for type in [DataType.floatVector, .float16Vector] {
            let c = try db.createCollection(CollectionSchema(name: "b\(type.rawValue)", fields: [
                .int64PrimaryKey("id"), FieldSchema(name: "vec", dataType: type, dimension: dim),
            ]))
            for start in stride(from: 0, to: n, by: 5000) {
                try await c.insert((start..<min(n, start + 5000)).map { ["id": .int(Int64($0)), "vec": .floatVector(base[$0])] })
            }
            try await c.flush()
            var best = Double.infinity
            var ids: [[PrimaryKey]] = []
            for _ in 0..<3 {
                ids = []
                let start = DispatchTime.now().uptimeNanoseconds
                for q in queries { ids.append(try await c.search(SearchRequest(vectors: [q], limit: 10, metric: .l2))[0].map(\.id)) }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let bytes = c.segments().filter { $0.state == .sealed }.reduce(0) { $0 + $1.vectorBytes }
            results[type] = (Double(nq) / best, ids, bytes)
        }
        let f = results[.floatVector]!, h = results[.float16Vector]!
        #expect(f.ids == h.ids, "both fields return the same neighbours")
        func r1(_ x: Double) -> String { String((x * 10).rounded() / 10) }
        print("compact-collection L2 \(n) x \(dim), searchThreads 1, nq=\(nq) single queries: FLOAT_VECTOR \(r1(f.qps)) QPS (\(f.bytes >> 20) MiB sealed), "
              + "FLOAT16_VECTOR \(r1(h.qps)) QPS (\(h.bytes >> 20) MiB sealed), \(String((h.qps / f.qps * 100).rounded() / 100))x")
    }
}
