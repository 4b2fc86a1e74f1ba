import Foundation
import Testing
import VireoIndex
import VireoKernels
import VireoTestSupport

/// Recall of `index` against the exact oracle: mean |top-k ∩ true top-k| / k.
func hnswRecall(_ index: HNSWIndex, base: [[Float]], queries: [[Float]], metric: Metric, k: Int, ef: Int, excluded: Set<Int> = [], bitset: Bitset? = nil) -> Double {
    let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: queries[0].count)
    var heaps = [TopK](repeating: TopK(k: k), count: queries.count)
    index.search(queries: q, range: 0..<queries.count, k: k, ef: ef, excluded: bitset, idBase: 0, heaps: &heaps)
    var found = 0
    var expected = 0
    for (i, query) in queries.enumerated() {
        let truth = Set(Oracle.nearest(query, in: base, k: k, metric: metric, excluded: excluded).map { Int64($0.index) })
        let got = heaps[i].sorted().map(\.id)
        for id in got { #expect(!excluded.contains(Int(id)), "excluded row \(id) returned") }
        found += got.filter { truth.contains($0) }.count
        expected += truth.count
    }
    return Double(found) / Double(max(expected, 1))
}

@Suite struct HNSWIndexTests {
    static let dim = 32

    static func data(metric: Metric, seed: UInt64) -> (base: [[Float]], queries: [[Float]]) {
        var base = Datasets.embeddingLike(n: 4000, dim: dim, seed: seed)
        var queries = Datasets.embeddingLike(n: 100, dim: dim, seed: seed + 1000)
        if metric == .cosine {
            base = base.map(Oracle.normalized)
            queries = queries.map(Oracle.normalized)
        }
        return (base, queries)
    }

    static func build(_ base: [[Float]], metric: Metric, threads: Int = 2, M: Int = 16) throws -> HNSWIndex {
        let m = FloatArena(copying: base.flatMap { $0 }).matrix(dim: base[0].count)
        return try HNSWIndex.build(vectors: m, metric: metric, configuration: HNSWConfiguration(M: M, efConstruction: 100), threads: threads)
    }

    @Test("recall@10 ≥ 0.95 against the exact oracle, invariants hold", arguments: Metric.dense)
    func recall(metric: Metric) throws {
        let seed: UInt64 = 21
        let (base, queries) = Self.data(metric: metric, seed: seed)
        let index = try Self.build(base, metric: metric)
        #expect(index.checkInvariants() == nil, "\(index.checkInvariants() ?? "")")
        #expect(index.level0Degrees.allSatisfy { $0 >= 1 && $0 <= 32 }, "every node has 1…2M level-0 links")
        let r = hnswRecall(index, base: base, queries: queries, metric: metric, k: 10, ef: 64)
        #expect(r >= 0.95, "metric \(metric) seed \(seed): recall@10 \(r)")
    }

    @Test("a single-threaded build gives the same quality")
    func singleThread() throws {
        let (base, queries) = Self.data(metric: .l2, seed: 5)
        let index = try Self.build(base, metric: .l2, threads: 1)
        #expect(index.checkInvariants() == nil)
        #expect(hnswRecall(index, base: base, queries: queries, metric: .l2, k: 10, ef: 64) >= 0.95)
    }

    @Test("30 % deleted rows never return and recall holds")
    func deleted() throws {
        let (base, queries) = Self.data(metric: .ip, seed: 7)
        let index = try Self.build(base, metric: .ip)
        var g = SeededGenerator(seed: 7)
        var excluded = Set<Int>()
        var bits = Bitset(capacity: base.count)
        for i in 0..<base.count where Double.random(in: 0..<1, using: &g) < 0.3 {
            excluded.insert(i)
            bits.insert(i)
        }
        let r = hnswRecall(index, base: base, queries: queries, metric: .ip, k: 10, ef: 64, excluded: excluded, bitset: bits)
        #expect(r >= 0.95, "recall with 30 % deleted: \(r)")
    }

    @Test("filtered search keeps recall ≥ 0.95 at 1 %, 10 % and 50 % selectivity", arguments: [0.01, 0.10, 0.50])
    func filtered(selectivity: Double) throws {
        let (base, queries) = Self.data(metric: .l2, seed: 11)
        let index = try Self.build(base, metric: .l2)
        var g = SeededGenerator(seed: 11)
        var excluded = Set<Int>()
        var bits = Bitset(capacity: base.count)
        for i in 0..<base.count where Double.random(in: 0..<1, using: &g) >= selectivity {
            excluded.insert(i)
            bits.insert(i)
        }
        // The index alone (the engine falls back to exact search for very selective filters; here
        // the graph must still find the allowed rows by traversing filtered-out ones).
        let ef = selectivity < 0.05 ? 400 : 64
        let r = hnswRecall(index, base: base, queries: queries, metric: .l2, k: 10, ef: ef, excluded: excluded, bitset: bits)
        #expect(r >= 0.95, "selectivity \(selectivity): recall@10 \(r)")
    }

    @Test("the stored form reopens in place and gives identical results")
    func storedRoundTrip() throws {
        let (base, queries) = Self.data(metric: .cosine, seed: 3)
        let vectors = FloatArena(copying: base.flatMap { $0 }).matrix(dim: Self.dim)
        let index = try HNSWIndex.build(vectors: vectors, metric: .cosine, configuration: HNSWConfiguration(), threads: 2)
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: index.byteCount, alignment: 64)
        defer { stored.deallocate() }
        index.serialize(into: stored)
        let reopened = try HNSWIndex.open(stored: UnsafeRawBufferPointer(stored), owner: vectors.owner!, vectors: vectors, metric: .cosine)
        #expect(reopened.checkInvariants() == nil)
        let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: Self.dim)
        var a = [TopK](repeating: TopK(k: 10), count: queries.count)
        var b = a
        index.search(queries: q, range: 0..<queries.count, k: 10, ef: 50, excluded: nil, idBase: 0, heaps: &a)
        reopened.search(queries: q, range: 0..<queries.count, k: 10, ef: 50, excluded: nil, idBase: 0, heaps: &b)
        for i in 0..<queries.count { #expect(a[i].sorted().map(\.id) == b[i].sorted().map(\.id)) }
        // A graph for other vectors is refused.
        let other = FloatArena(copying: Array(base.prefix(10)).flatMap { $0 }).matrix(dim: Self.dim)
        #expect(throws: IndexError.self) { () throws -> Void in _ = try HNSWIndex.open(stored: UnsafeRawBufferPointer(stored), owner: other.owner!, vectors: other, metric: .cosine) }
    }

    @Test("invalid parameters name the valid range", arguments: [(1, 200), (4096, 200), (16, 0)])
    func invalid(M: Int, efConstruction: Int) {
        do {
            try HNSWConfiguration(M: M, efConstruction: efConstruction).validate()
            Issue.record("accepted M=\(M) efConstruction=\(efConstruction)")
        } catch {
            #expect(error.message.contains("..."), "\(error.message)")
        }
    }

    @Test("empty and tiny graphs")
    func tiny() throws {
        for n in [1, 2, 5] {
            let base = Datasets.uniform(n: n, dim: 4, seed: UInt64(n))
            let index = try Self.build(base, metric: .l2)
            #expect(index.checkInvariants() == nil)
            let r = hnswRecall(index, base: base, queries: base, metric: .l2, k: 10, ef: 10)
            #expect(r == 1.0, "n=\(n): \(r)")
        }
    }
}
