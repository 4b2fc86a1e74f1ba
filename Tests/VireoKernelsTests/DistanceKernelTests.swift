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
