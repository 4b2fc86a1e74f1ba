import CVireoKernels
import Testing
import VireoKernels
import VireoTestSupport

@Suite struct DistanceKernelTests {
    @Test("SIMD kernels match the scalar reference", arguments: [1, 3, 16, 17, 128, 384, 1000])
    func kernelsMatchReference(dim: Int) {
        let v = Datasets.uniform(n: 2, dim: dim, seed: UInt64(dim))
        for metric in Metric.allCases {
            let fast = Double(Distances.distance(metric, v[0], v[1]))
            let slow = Distances.Reference.distance(metric, v[0], v[1])
            #expect(abs(fast - slow) <= 1e-4 * max(1, abs(slow)), "metric \(metric) dim \(dim): \(fast) vs \(slow)")
        }
    }

    @Test("bounded candidates hold every one of the p nearest, whatever the bounds", arguments: [1, 5, 16, 63, 200])
    func boundedCandidates(p: Int) {
        var g = SeededGenerator(seed: UInt64(900 + p))
        for trial in 0..<40 {
            let n = [1, 7, 64, 200, 894][trial % 5]
            // Exact values with ties, bounds of random widths (some zero) around them.
            let exact = (0..<n).map { _ in Float(Int.random(in: 0..<(n / 2 + 1), using: &g)) * 0.25 }
            let lo = exact.map { $0 - (Bool.random(using: &g) ? 0 : Float.random(in: 0..<2, using: &g)) }
            let hi = exact.map { $0 + (Bool.random(using: &g) ? 0 : Float.random(in: 0..<2, using: &g)) }
            var heap = [Float](repeating: 0, count: p)
            var out = [UInt32](repeating: 0, count: n)
            let count = vk_bounded_candidates(lo, hi, n, p, &heap, &out)
            let picked = Array(out[0..<count]).map(Int.init)
            #expect(count >= min(p, n))
            #expect(picked == picked.sorted() && Set(picked).count == count, "indices increase")
            // Every index whose exact value is at most the p-th smallest must be there (ties included).
            let pth = exact.sorted()[min(p, n) - 1]
            let needed = exact.indices.filter { exact[$0] < pth }
            #expect(Set(needed).isSubset(of: picked), "trial \(trial): missing \(Set(needed).subtracting(picked))")
            #expect(exact.indices.filter { exact[$0] == pth }.contains { picked.contains($0) })
            // And nothing the bounds rule out: lo above the p-th smallest hi.
            let tau = hi.sorted()[min(p, n) - 1]
            #expect(picked.allSatisfy { lo[$0] <= tau }, "trial \(trial)")
        }
    }

    @Test("16-bit by 8-bit integer dot products are exact up to the overflow limit", arguments: [1, 15, 16, 33, 384, 4096])
    func integerDots(dim: Int) {
        var g = SeededGenerator(seed: UInt64(dim))
        let limit = Int(Int32.max) / (255 * dim) - 1
        let q16 = Int16(clamping: min(limit, 32_767))
        let rows = 5
        var codes = (0..<(rows * dim)).map { _ in UInt8.random(in: 0...255, using: &g) }
        for t in 0..<dim { codes[t] = 255 }   // row 0: the largest sum the limit allows
        var q = (0..<dim).map { _ in Int16.random(in: -q16...q16, using: &g) }
        var out = [Int32](repeating: 0, count: rows)
        vk_u8_i16_dot_many(q, codes, rows, dim, &out)
        for r in 0..<rows {
            var s = 0
            for t in 0..<dim { s += Int(q[t]) * Int(codes[r * dim + t]) }
            #expect(Int(out[r]) == s, "row \(r)")
        }
        for t in 0..<dim { q[t] = q16 }
        vk_u8_i16_dot_many(q, codes, 1, dim, &out)
        #expect(Int(out[0]) == Int(q16) * 255 * dim)
    }

    @Test("CRC-32C hardware path equals the table path and the standard check value")
    func crc() {
        let check = Array("123456789".utf8)
        let c = check.withUnsafeBytes { Checksum.crc32c($0) }
        #expect(c == 0xE306_9283)
        var g = SeededGenerator(seed: 7)
        for len in [0, 1, 7, 8, 9, 63, 1000, 4099] {
            let bytes = (0..<len).map { _ in UInt8.random(in: 0...255, using: &g) }
            let hw = bytes.withUnsafeBytes { Checksum.crc32c($0) }
            let sw = bytes.withUnsafeBytes { vk_crc32c_portable(0, $0.baseAddress, $0.count) }
            #expect(hw == sw, "length \(len)")
        }
    }

    @Test("TopK keeps the k smallest, closest first")
    func topK() {
        var g = SeededGenerator(seed: 11)
        let values = (0..<500).map { _ in Float.random(in: 0..<1, using: &g) }
        var heap = TopK(k: 7)
        for (i, v) in values.enumerated() { heap.push(v, id: Int64(i)) }
        let expected = values.enumerated().sorted { $0.element < $1.element }.prefix(7).map { Int64($0.offset) }
        #expect(heap.sorted().map(\.id) == expected)
    }

    /// A selective filter's survivors: gathered into GEMM blocks for a batch, one distance per
    /// (query, row) otherwise; both must give the oracle's top-k over the listed rows, COSINE over
    /// rows as inserted through their inverse norms.
    @Test("exact scanner over listed rows: gathered GEMM blocks and single queries agree with the oracle",
          arguments: Metric.allCases.filter { $0 != .jaccard })
    func listedRowsMatchOracle(metric: Metric) {
        let dim = 40
        let base = Datasets.uniform(n: 900, dim: dim, seed: 13).map { $0.map { $0 * 3 - 1 } }
        var queries = Datasets.uniform(n: 11, dim: dim, seed: 14)
        if metric == .cosine { queries = queries.map(Oracle.normalized) }
        let baseView = FloatArena(copying: base.flatMap { $0 }).matrix(dim: dim)
        let queryView = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: dim)
        let norms: MatrixView? = metric == .cosine ? baseView.inverseNorms() : nil
        let oracleBase = metric == .cosine ? base.map(Oracle.normalized) : base
        var g = SeededGenerator(seed: 15)
        let listed = (0..<900).filter { _ in Int.random(in: 0..<10, using: &g) == 0 }
        let excluded = Set(0..<900).subtracting(listed)
        for (minGEMM, block) in [(1, 1024), (1, 17), (1000, 1024)] {
            var scanner = ExactScanner(backend: OpenBLASBackend())
            scanner.gemmMinQueries = minGEMM
            scanner.gatherRows = block
            var heaps = [TopK](repeating: TopK(k: 10), count: queries.count)
            scanner.scan(queries: queryView, base: baseView, rows: listed, metric: metric, inverseNorms: norms, idBase: 5, heaps: &heaps)
            for (qi, q) in queries.enumerated() {
                let truth = Oracle.nearest(q, in: oracleBase, k: 10, metric: metric, excluded: excluded)
                let got = heaps[qi].sorted()
                #expect(got.map { Int($0.id) - 5 } == truth.map(\.index), "metric \(metric) gemmMin \(minGEMM) block \(block) query \(qi)")
                for (a, t) in zip(got, truth) {
                    #expect(abs(Double(a.distance) - t.distance) <= 1e-3 * max(1, abs(t.distance)), "metric \(metric) query \(qi)")
                }
            }
        }
    }

    @Test("exact scanner: GEMM and per-query paths agree with the oracle", arguments: Metric.allCases)
    func scannerMatchesOracle(metric: Metric) {
        let dim = 24
        var base = Datasets.uniform(n: 700, dim: dim, seed: 3)
        var queries = Datasets.uniform(n: 9, dim: dim, seed: 4)
        if metric == .cosine {
            base = base.map(Oracle.normalized)
            queries = queries.map(Oracle.normalized)
        }
        let baseView = FloatArena(copying: base.flatMap { $0 }).matrix(dim: dim)
        let queryView = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: dim)
        var excluded = Bitset()
        for i in stride(from: 0, to: 700, by: 5) { excluded.insert(i) }
        let excludedSet = Set(stride(from: 0, to: 700, by: 5))
        for minGEMM in [1, 1000] {
            var scanner = ExactScanner(backend: OpenBLASBackend())
            scanner.gemmMinQueries = minGEMM
            scanner.rowBlock = 128
            var heaps = [TopK](repeating: TopK(k: 10), count: queries.count)
            scanner.scan(queries: queryView, base: baseView, metric: metric, excluded: excluded, idBase: 0, heaps: &heaps)
            for (qi, q) in queries.enumerated() {
                let truth = Oracle.nearest(q, in: base, k: 10, metric: metric, excluded: excludedSet)
                let got = heaps[qi].sorted()
                #expect(got.map { Int($0.id) } == truth.map(\.index), "metric \(metric) gemmMin \(minGEMM) query \(qi)")
                for (g, t) in zip(got, truth) {
                    #expect(abs(Double(g.distance) - t.distance) <= 1e-3 * max(1, abs(t.distance)))
                }
            }
        }
    }
}
