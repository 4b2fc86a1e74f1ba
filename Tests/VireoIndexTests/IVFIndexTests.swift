import Foundation
import Testing
import VireoIndex
import VireoKernels
import VireoTestSupport

func ivfRecall(_ index: IVFIndex, base: [[Float]], queries: [[Float]], metric: Metric, nprobe: Int, refine: Int = 0, excluded: Set<Int> = [], bitset: Bitset? = nil) -> Double {
    let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: queries[0].count)
    var heaps = [TopK](repeating: TopK(k: 10), count: queries.count)
    index.search(queries: q, range: 0..<queries.count, k: 10, nprobe: nprobe, refine: refine, excluded: bitset, idBase: 0, heaps: &heaps, backend: OpenBLASBackend())
    var found = 0, expected = 0
    for (i, query) in queries.enumerated() {
        let truth = Set(Oracle.nearest(query, in: base, k: 10, metric: metric, excluded: excluded).map { Int64($0.index) })
        let got = heaps[i].sorted().map(\.id)
        for id in got { #expect(!excluded.contains(Int(id)), "excluded row \(id) returned") }
        found += got.filter { truth.contains($0) }.count
        expected += truth.count
    }
    return Double(found) / Double(max(expected, 1))
}

@Suite struct IVFIndexTests {
    static let dim = 32

    static func data(_ metric: Metric, seed: UInt64, n: Int = 4000) -> ([[Float]], [[Float]]) {
        var base = Datasets.embeddingLike(n: n, dim: dim, seed: seed)
        var queries = Datasets.embeddingLike(n: 60, dim: dim, seed: seed + 1000)
        if metric == .cosine {
            base = base.map(Oracle.normalized)
            queries = queries.map(Oracle.normalized)
        }
        return (base, queries)
    }

    static func build(_ base: [[Float]], _ metric: Metric, _ config: IVFConfiguration) throws -> IVFIndex {
        try IVFIndex.build(vectors: FloatArena(copying: base.flatMap { $0 }).matrix(dim: dim), metric: metric,
                           configuration: config, backend: OpenBLASBackend(), threads: 2)
    }

    /// IVF_PQ ranks by L2 (and HAMMING, which runs on the L2 kernel), IP and COSINE; JACCARD is a
    /// binary metric, served by the flat lists of BIN_IVF_FLAT only.
    static let pqMetrics = Metric.allCases.filter { $0 != .jaccard }

    @Test("IVF_FLAT with nprobe = nlist equals exact search", arguments: Metric.allCases)
    func flatExhaustive(metric: Metric) throws {
        let (base, queries) = Self.data(metric, seed: 51)
        let index = try Self.build(base, metric, IVFConfiguration(nlist: 40, encoding: .flat))
        #expect(ivfRecall(index, base: base, queries: queries, metric: metric, nprobe: 40) == 1.0)
    }

    /// Single queries pick their lists from 8-bit centroids with error bounds and re-score the
    /// survivors; a batch takes every distance from one GEMM. Both must probe the same lists, so the
    /// results are the same rows with the same distances.
    @Test("one query at a time probes the lists a batch probes", arguments: [Metric.l2, .ip, .cosine])
    func singleQueryProbes(metric: Metric) throws {
        let (base, queries) = Self.data(metric, seed: 71, n: 6000)
        for encoding in [IVFConfiguration.Encoding.flat, .pq] {
            let index = try Self.build(base, metric, IVFConfiguration(nlist: 150, encoding: encoding, m: 8))
            let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: Self.dim)
            for nprobe in [1, 5, 24] {
                var batch = [TopK](repeating: TopK(k: 10), count: queries.count)
                index.search(queries: q, range: 0..<queries.count, k: 10, nprobe: nprobe, refine: 0, excluded: nil, idBase: 0,
                             heaps: &batch, backend: OpenBLASBackend())
                for i in queries.indices {
                    var single = [TopK(k: 10)]
                    index.search(queries: q, range: i..<(i + 1), k: 10, nprobe: nprobe, refine: 0, excluded: nil, idBase: 0,
                                 heaps: &single, backend: OpenBLASBackend())
                    let a = batch[i].sorted(), b = single[0].sorted()
                    #expect(a.map(\.id) == b.map(\.id), "\(metric) \(encoding) nprobe \(nprobe) query \(i)")
                    for (x, y) in zip(a, b) {
                        #expect(abs(x.distance - y.distance) <= 1e-4 * max(1, abs(x.distance)), "\(metric) \(encoding) query \(i)")
                    }
                }
            }
        }
    }

    @Test("IVF_PQ recall@10 with refine ≥ 0.9", arguments: pqMetrics)
    func pqRefine(metric: Metric) throws {
        let (base, queries) = Self.data(metric, seed: 61)
        let index = try Self.build(base, metric, IVFConfiguration(nlist: 40, encoding: .pq, m: 8))
        let r = ivfRecall(index, base: base, queries: queries, metric: metric, nprobe: 16, refine: 4)
        #expect(r >= 0.9, "metric \(metric): recall@10 with refine \(r)")
    }

    /// Derivation: PQ codebooks come from Lloyd iterations whose last step sets every codeword to the
    /// mean of the residual sub-vectors assigned to it. At such a point the distortion equals the
    /// within-cluster sum of squares, which by the law of total variance is at most the total sum of
    /// squares of the residual sub-vectors around their mean; encoding then picks the nearest
    /// codeword, which can only lower the error. So, when every row is in the training sample
    /// (n ≤ 32,768), mean |r − r̂|² ≤ mean |r − r̄|² (summed over sub-spaces).
    @Test("the PQ reconstruction error is below the variance bound")
    func pqErrorBound() throws {
        let (base, _) = Self.data(.l2, seed: 71, n: 3000)
        let nlist = 20
        let index = try Self.build(base, .l2, IVFConfiguration(nlist: nlist, encoding: .pq, m: 8))
        let flat = try Self.build(base, .l2, IVFConfiguration(nlist: nlist, encoding: .flat))
        var error = 0.0
        var residuals: [[Double]] = []
        for row in 0..<base.count {
            let x = base[row].map(Double.init)
            let xh = index.reconstruct(row: row).map(Double.init)
            error += zip(x, xh).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            // The residual to the row's list centroid: IVF_FLAT shares the seed, hence the same lists.
            let c = flat.centroid(ofRow: row).map(Double.init)
            residuals.append(zip(x, c).map { $0 - $1 })
        }
        error /= Double(base.count)
        let mean = (0..<Self.dim).map { t in residuals.reduce(0) { $0 + $1[t] } / Double(residuals.count) }
        let variance = residuals.reduce(0) { acc, r in acc + zip(r, mean).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } } / Double(residuals.count)
        #expect(error <= variance, "PQ error \(error) exceeds the variance bound \(variance)")
        #expect(error > 0, "a PQ code of 8 bytes for 32 floats cannot be lossless")
    }

    @Test("deleted and filtered rows are never returned; recall holds", arguments: [0.1, 0.5])
    func filtered(selectivity: Double) throws {
        let (base, queries) = Self.data(.ip, seed: 81)
        var g = SeededGenerator(seed: 81)
        var excluded = Set<Int>()
        var bits = Bitset(capacity: base.count)
        for i in 0..<base.count where Double.random(in: 0..<1, using: &g) >= selectivity {
            excluded.insert(i)
            bits.insert(i)
        }
        let flat = try Self.build(base, .ip, IVFConfiguration(nlist: 40, encoding: .flat))
        #expect(ivfRecall(flat, base: base, queries: queries, metric: .ip, nprobe: 40, excluded: excluded, bitset: bits) == 1.0)
        let pq = try Self.build(base, .ip, IVFConfiguration(nlist: 40, encoding: .pq, m: 8))
        let r = ivfRecall(pq, base: base, queries: queries, metric: .ip, nprobe: 40, refine: 8, excluded: excluded, bitset: bits)
        #expect(r >= 0.9, "selectivity \(selectivity): \(r)")
    }

    @Test("the stored form reopens in place with identical results", arguments: [IVFConfiguration.Encoding.flat, .pq])
    func stored(encoding: IVFConfiguration.Encoding) throws {
        let (base, queries) = Self.data(.cosine, seed: 91)
        let vectors = FloatArena(copying: base.flatMap { $0 }).matrix(dim: Self.dim)
        let config = IVFConfiguration(nlist: 30, encoding: encoding, m: encoding == .pq ? 8 : 0)
        let index = try IVFIndex.build(vectors: vectors, metric: .cosine, configuration: config, backend: OpenBLASBackend(), threads: 2)
        let stored = UnsafeMutableRawBufferPointer.allocate(byteCount: index.byteCount, alignment: 64)
        defer { stored.deallocate() }
        index.serialize(into: stored)
        let reopened = try IVFIndex.open(stored: UnsafeRawBufferPointer(stored), owner: vectors.owner!, vectors: vectors, metric: .cosine, configuration: config)
        let q = FloatArena(copying: queries.flatMap { $0 }).matrix(dim: Self.dim)
        var a = [TopK](repeating: TopK(k: 10), count: queries.count)
        var b = a
        index.search(queries: q, range: 0..<queries.count, k: 10, nprobe: 5, refine: 0, excluded: nil, idBase: 0, heaps: &a, backend: OpenBLASBackend())
        reopened.search(queries: q, range: 0..<queries.count, k: 10, nprobe: 5, refine: 0, excluded: nil, idBase: 0, heaps: &b, backend: OpenBLASBackend())
        for i in 0..<queries.count { #expect(a[i].sorted().map(\.id) == b[i].sorted().map(\.id)) }
        var other = config
        other.nlist = 31
        #expect(throws: IndexError.self) { () throws -> Void in
            _ = try IVFIndex.open(stored: UnsafeRawBufferPointer(stored), owner: vectors.owner!, vectors: vectors, metric: .cosine, configuration: other)
        }
    }

    /// IVF_FLAT keeps no copy of the vectors: its bytes are the header, centroids, list offsets and
    /// row ids (64-byte aligned), and a scan gathers the rows from the vectors it was built over.
    @Test("IVF_FLAT stores lists of row numbers, not a second copy of the vectors")
    func flatHoldsOneCopy() throws {
        let (base, queries) = Self.data(.l2, seed: 93)
        let nlist = 25
        let index = try Self.build(base, .l2, IVFConfiguration(nlist: nlist, encoding: .flat))
        let listBytes = 64 + 4 * nlist * Self.dim + 4 * (nlist + 1) + 4 * base.count
        #expect(index.byteCount == (listBytes + 63) / 64 * 64)
        #expect(index.byteCount < base.count * Self.dim * 4 / 4)
        #expect(ivfRecall(index, base: base, queries: queries, metric: .l2, nprobe: nlist) == 1.0)
    }

    /// COSINE over vectors stored as inserted (not unit length): the lists are trained on the
    /// normalised copy, which is not kept; the scan reads the vectors as stored and divides by each
    /// row's norm, so nprobe = nlist is still exact cosine.
    @Test("IVF_FLAT over unnormalised COSINE vectors scans them with stored row norms")
    func flatCosineAsStored() throws {
        let (raw, rawQueries) = Self.data(.l2, seed: 95)
        var g = SeededGenerator(seed: 95)
        let base = raw.map { row in row.map { $0 * Float.random(in: 0.2...5, using: &g) } }
        let queries = rawQueries.map(Oracle.normalized)
        let stored = FloatArena(copying: base.flatMap { $0 }).matrix(dim: Self.dim)
        let normalized = FloatArena(copying: base.map(Oracle.normalized).flatMap { $0 }).matrix(dim: Self.dim)
        let config = IVFConfiguration(nlist: 20, encoding: .flat)
        let index = try IVFIndex.build(vectors: normalized, metric: .cosine, configuration: config, backend: OpenBLASBackend(), threads: 2,
                                       refineVectors: stored)
        #expect(index.refineNormalizes)
        #expect(ivfRecall(index, base: base, queries: queries, metric: .cosine, nprobe: 20) == 1.0)
        // Its stored form needs the row norms: opened as if the vectors were unit length, it is refused.
        let blob = UnsafeMutableRawBufferPointer.allocate(byteCount: index.byteCount, alignment: 64)
        defer { blob.deallocate() }
        index.serialize(into: blob)
        let reopened = try IVFIndex.open(stored: UnsafeRawBufferPointer(blob), owner: stored.owner!, vectors: stored, metric: .cosine,
                                         configuration: config, refineNormalizes: true)
        #expect(ivfRecall(reopened, base: base, queries: queries, metric: .cosine, nprobe: 20) == 1.0)
        #expect(throws: IndexError.self) { () throws -> Void in
            _ = try IVFIndex.open(stored: UnsafeRawBufferPointer(blob), owner: stored.owner!, vectors: stored, metric: .cosine, configuration: config)
        }
    }

    /// A version 1 IVF_FLAT blob (written before the lists referenced rows by number) carried a
    /// list-order copy of the vectors after the ids; it still opens, and searches the same.
    /// A blob whose row ids point outside the vectors is refused rather than read.
    @Test("version 1 IVF_FLAT blobs open; damaged list ids are refused")
    func flatLegacyAndDamaged() throws {
        let (base, queries) = Self.data(.ip, seed: 97)
        let vectors = FloatArena(copying: base.flatMap { $0 }).matrix(dim: Self.dim)
        let config = IVFConfiguration(nlist: 16, encoding: .flat)
        let index = try IVFIndex.build(vectors: vectors, metric: .ip, configuration: config, backend: OpenBLASBackend(), threads: 2)
        let legacyCount = index.byteCount + 4 * base.count * Self.dim
        let legacy = UnsafeMutableRawBufferPointer.allocate(byteCount: legacyCount, alignment: 64)
        defer { legacy.deallocate() }
        legacy.initializeMemory(as: UInt8.self, repeating: 0xFF)  // the old copy's bytes are never read
        index.serialize(into: UnsafeMutableRawBufferPointer(rebasing: legacy[0..<index.byteCount]))
        legacy.storeBytes(of: UInt32(1).littleEndian, toByteOffset: 4, as: UInt32.self)
        legacy.storeBytes(of: UInt32(0).littleEndian, toByteOffset: 32, as: UInt32.self)
        let reopened = try IVFIndex.open(stored: UnsafeRawBufferPointer(legacy), owner: vectors.owner!, vectors: vectors, metric: .ip, configuration: config)
        #expect(ivfRecall(reopened, base: base, queries: queries, metric: .ip, nprobe: 16) == 1.0)

        let damaged = UnsafeMutableRawBufferPointer.allocate(byteCount: index.byteCount, alignment: 64)
        defer { damaged.deallocate() }
        index.serialize(into: damaged)
        let idsOffset = 64 + 4 * 16 * Self.dim + 4 * 17
        damaged.storeBytes(of: UInt32(base.count).littleEndian, toByteOffset: idsOffset + 4 * 7, as: UInt32.self)
        #expect(throws: IndexError.self) { () throws -> Void in
            _ = try IVFIndex.open(stored: UnsafeRawBufferPointer(damaged), owner: vectors.owner!, vectors: vectors, metric: .ip, configuration: config)
        }
    }

    @Test("invalid parameters name the valid values")
    func invalid() {
        #expect(throws: IndexError.self) { try IVFConfiguration(nlist: 0).validate(dimension: 32) }
        #expect(throws: IndexError.self) { try IVFConfiguration(nlist: 8, encoding: .pq, m: 5).validate(dimension: 32) }
        #expect(throws: IndexError.self) { try IVFConfiguration(nlist: 8, encoding: .pq, m: 8, nbits: 4).validate(dimension: 32) }
    }
}
