import CVireoKernels
import Dispatch
import Foundation
import Synchronization
import VireoKernels

/// Build parameters of an inverted-file index, with Milvus' names (`IVF_FLAT`, `IVF_PQ`).
public struct IVFConfiguration: Sendable, Hashable, Codable {
    public enum Encoding: String, Sendable, Hashable, Codable {
        /// Full vectors in each list (`IVF_FLAT`).
        case flat
        /// Product-quantised residuals (`IVF_PQ`).
        case pq
        /// 8-bit scalar-quantised residuals (`IVF_SQ8`: one byte per coordinate).
        case sq8
    }

    /// Number of lists (coarse centroids), 1…65,536. A segment with fewer rows uses one list per row.
    public var nlist: Int
    public var encoding: Encoding
    /// IVF_PQ: sub-quantisers; must divide the dimension (each covers `dim/m` coordinates).
    public var m: Int
    /// IVF_PQ: bits per code; 8 (256 centroids per sub-quantiser).
    public var nbits: Int
    /// Seed of the training samples and k-means initialisation.
    public var seed: UInt64

    public init(nlist: Int = 128, encoding: Encoding = .flat, m: Int = 0, nbits: Int = 8, seed: UInt64 = 0x1f1f) {
        self.nlist = nlist
        self.encoding = encoding
        self.m = m
        self.nbits = nbits
        self.seed = seed
    }

    public static let validNlist = 1...65_536
    public static let validNprobe = 1...65_536

    /// Coarse k-means iterations, and training rows per coarse centroid (faiss' defaults).
    public static let coarseIterations = 10
    public static let trainingRowsPerCentroid = 256
    /// PQ codebook training: iterations and sample size (rows of residuals).
    public static let pqIterations = 10
    public static let pqTrainingRows = 32_768

    public func validate(dimension: Int) throws(IndexError) {
        guard Self.validNlist.contains(nlist) else { throw .outOfRange("nlist", nlist, Self.validNlist, "the number of lists") }
        if encoding == .pq {
            guard m >= 1, dimension % m == 0 else {
                throw IndexError(parameter: "m", message: "m = \(m) must divide the dimension \(dimension) (each sub-quantiser covers dim/m coordinates); try a divisor such as \(Self.divisors(dimension).suffix(4).map(String.init).joined(separator: ", "))")
            }
            guard nbits == 8 else { throw IndexError(parameter: "nbits", message: "nbits = \(nbits) is not supported; use 8") }
        }
    }

    static func divisors(_ n: Int) -> [Int] { (1...max(n, 1)).filter { n % $0 == 0 && $0 <= 256 } }
}

/// An inverted-file index over the rows of one immutable matrix (Jégou, Douze & Schmid, TPAMI 2011):
/// a coarse quantiser of `nlist` centroids trained with k-means, each row stored in the list of its
/// nearest centroid, either as its full vector (IVF_FLAT) or as a product-quantised residual
/// (IVF_PQ, `m` bytes per row), or as an 8-bit scalar-quantised residual (IVF_SQ8, `dim` bytes per
/// row, ``ScalarQuantizer8`` over the residuals' ranges, as faiss' `IndexIVFScalarQuantizer`). A query probes its `nprobe` nearest lists. IVF_PQ scores with
/// per-query lookup tables: for IP/COSINE `⟨q, c⟩ + Σ_j ⟨q_j, r̂_j⟩` (one table per query, exact up to
/// quantisation of the residual), for L2 `Σ_j |(q − c)_j − r̂_j|²` (one table per probed list). An
/// optional refine step re-ranks the best `k·refine` candidates with the stored full vectors.
///
/// ## Stored form
/// A 64-byte header (magic `IVF_`, version, n, dim, nlist, encoding, m, metric, flags), then the
/// centroids (`nlist × dim` Float32), list offsets (`nlist + 1` UInt32), row ids in list order (`n`
/// UInt32), and either, for IVF_FLAT, nothing more — a list is scanned by gathering its rows from the
/// segment's vectors by number, so the vectors exist once (faiss and Milvus keep a second copy in
/// list order and scan it contiguously). A single query gathers a list's rows with the next two
/// prefetched; a batch gathers each list once and scores it against all the queries probing it
/// with one GEMM (``searchFlatByList``), which made the batch path 3.2× faster than gathering per
/// query (dev, nprobe 16) — except, over COSINE vectors stored as inserted,
/// each row's inverse norm (`n` Float32, flag bit 0); or the PQ codebooks (`m × dim/m × 256` Float32,
/// transposed so lookup tables are built with SIMD over codewords) and codes (`n × m` bytes), or the
/// SQ8 ranges (`2 × dim` Float32) and codes (`n × dim` bytes). Used in place from a memory map.
/// Version 1 IVF_FLAT blobs carried the list-order copy after the ids; they still open (the copy is
/// not read).
///
/// ## Thread safety
/// Immutable after build; searches share it freely.
package final class IVFIndex: @unchecked Sendable {
    // SAFETY: every pointer below points into `memory`, owned by `storage` (an OwnedMemory built
    // here, or a mapped blob) and never written after build; `vectors` is kept alive by its owner.
    private let storage: AnyObject
    private let memory: UnsafeRawBufferPointer
    let vectors: MatrixView
    package let configuration: IVFConfiguration
    package let metric: Metric
    private let n: Int, dim: Int, nlist: Int, m: Int
    private let centroids: MatrixView
    private let offsets: UnsafePointer<UInt32>
    private let ids: UnsafePointer<UInt32>
    /// IVF_FLAT over COSINE vectors stored as inserted: 1/|x| per row (row order).
    private let inverseNorms: UnsafePointer<Float>?
    private let codebooks: UnsafePointer<Float>?
    private let codes: UnsafePointer<UInt8>?
    /// IVF_SQ8: the residuals' quantiser and codes (list order).
    private let sq: ScalarQuantizer8?
    private let sqCodes: UnsafePointer<UInt8>?
    private let maxListLength: Int
    /// An 8-bit copy of the centroids for probing single queries (nil for few lists).
    private let coarseCodes: CoarseCodes?
    /// Re-rank distances divide by the row's norm (IVF_SQ8 over COSINE vectors stored as inserted:
    /// the codes encode the normalised rows and no float copy is kept).
    package let refineNormalizes: Bool

    static let magic: UInt32 = 0x5F46_5649  // "IVF_"
    static let formatVersion: UInt32 = 2
    static let headerSize = 64

    package var count: Int { n }
    package var byteCount: Int { memory.count }

    private struct Layout {
        var n: Int, dim: Int, nlist: Int, encoding: IVFConfiguration.Encoding, m: Int
        /// IVF_FLAT: inverse row norms follow the ids (flag bit 0).
        var rowNorms = false
        /// A version 1 IVF_FLAT blob: a list-order copy of the vectors follows the ids (never read).
        var legacyCopy = false
        var pq: Bool { encoding == .pq }
        var centroids: Int { IVFIndex.headerSize }
        var offsets: Int { centroids + 4 * nlist * dim }
        var ids: Int { offsets + 4 * (nlist + 1) }
        var payload: Int { (ids + 4 * n + 63) / 64 * 64 }
        /// IVF_SQ8: codes after the ranges, 64-byte aligned.
        var sqCodes: Int { (payload + ScalarQuantizer8.storedSize(dim: dim) + 63) / 64 * 64 }
        var total: Int {
            switch encoding {
            case .flat: return payload + (legacyCopy ? 4 * n * dim : 0) + (rowNorms ? 4 * n : 0)
            case .pq: return payload + 4 * m * 256 * (dim / m) + n * m
            case .sq8: return sqCodes + n * dim
            }
        }
        /// The header's encoding word.
        var encodingCode: UInt32 { switch encoding { case .flat: 0; case .pq: 1; case .sq8: 2 } }
        static func encoding(code: Int) -> IVFConfiguration.Encoding? { [0: .flat, 1: .pq, 2: .sq8][code] }
    }

    private init(storage: AnyObject, memory: UnsafeRawBufferPointer, layout l: Layout, vectors: MatrixView, configuration: IVFConfiguration, metric: Metric,
                 refineNormalizes: Bool = false) {
        self.refineNormalizes = refineNormalizes
        self.storage = storage
        self.memory = memory
        self.vectors = vectors
        self.configuration = configuration
        self.metric = metric
        n = l.n
        dim = l.dim
        nlist = l.nlist
        m = l.m
        let base = memory.baseAddress!
        // SAFETY: offsets come from `Layout` over a buffer of `l.total` bytes; every array offset is
        // a multiple of 4 from a base at least 4-byte aligned (checked by the callers).
        centroids = MatrixView(base: (base + l.centroids).assumingMemoryBound(to: Float.self), rows: l.nlist, dim: l.dim, owner: storage)
        offsets = (base + l.offsets).assumingMemoryBound(to: UInt32.self)
        ids = (base + l.ids).assumingMemoryBound(to: UInt32.self)
        var books: UnsafePointer<Float>?, pqCodes: UnsafePointer<UInt8>?, norms: UnsafePointer<Float>?
        var quantizer: ScalarQuantizer8?, sq8: UnsafePointer<UInt8>?
        switch l.encoding {
        case .pq:
            books = UnsafePointer((base + l.payload).assumingMemoryBound(to: Float.self))
            pqCodes = UnsafePointer((base + l.payload + 4 * l.m * 256 * (l.dim / l.m)).assumingMemoryBound(to: UInt8.self))
        case .flat:
            if l.rowNorms { norms = UnsafePointer((base + l.payload).assumingMemoryBound(to: Float.self)) }
        case .sq8:
            quantizer = ScalarQuantizer8(stored: (base + l.payload).assumingMemoryBound(to: Float.self), dim: l.dim)
            sq8 = UnsafePointer((base + l.sqCodes).assumingMemoryBound(to: UInt8.self))
        }
        codebooks = books
        codes = pqCodes
        inverseNorms = norms
        sq = quantizer
        sqCodes = sq8
        var longest = 0
        for i in 0..<l.nlist { longest = max(longest, Int(offsets[i + 1] - offsets[i])) }
        maxListLength = longest
        coarseCodes = l.nlist >= CoarseCodes.minimumLists ? CoarseCodes(centroids: centroids) : nil
    }

    // MARK: Build

    /// Trains the coarse quantiser (and PQ codebooks) and fills the lists.
    package static func build(
        vectors: MatrixView, metric: Metric, configuration: IVFConfiguration, backend: any ComputeBackend, threads: Int,
        progress: IndexBuildProgress? = nil, refineVectors: MatrixView? = nil
    ) throws(IndexError) -> IVFIndex {
        try configuration.validate(dimension: vectors.dim)
        let n = vectors.rows, dim = vectors.dim
        let nlist = max(1, min(configuration.nlist, n))
        let pq = configuration.encoding == .pq
        let m = pq ? configuration.m : 0
        var rng = SplitMix64(seed: configuration.seed)
        // 1. Coarse quantiser on a bounded sample.
        let sampleRows = sample(n: n, limit: nlist * IVFConfiguration.trainingRowsPerCentroid, rng: &rng)
        let coarseSeed = rng.next()
        let coarse: FloatArena = n == 0 ? FloatArena(count: 0) { _ in } : {
            // Every row is the sample when n ≤ nlist·256 (dev: 50,000 ≤ 228,864): train on the
            // vectors in place rather than on a copy of them (75 MB on dev, the build's peak).
            let trainSet = sampleRows.count == n ? vectors : gather(vectors, rows: sampleRows)
            return KMeans.train(data: trainSet, k: nlist, iterations: IVFConfiguration.coarseIterations, metric: coarseMetric(metric),
                                seed: coarseSeed, backend: backend, threads: threads)
        }()
        let coarseView = coarse.matrix(dim: dim)
        // 2. Assign every row; order rows by list.
        let labels = n == 0 ? [] : KMeans.assign(data: vectors, centroids: coarseView, metric: coarseMetric(metric), backend: backend, threads: threads).labels
        var listSizes = [Int](repeating: 0, count: nlist)
        for l in labels { listSizes[Int(l)] += 1 }
        var starts = [Int](repeating: 0, count: nlist + 1)
        for i in 0..<nlist { starts[i + 1] = starts[i] + listSizes[i] }
        var cursor = starts
        var order = [UInt32](repeating: 0, count: n)
        for (row, l) in labels.enumerated() {
            order[cursor[Int(l)]] = UInt32(row)
            cursor[Int(l)] += 1
        }
        progress?.add(n / 2)
        // IVF_FLAT over COSINE vectors stored as inserted scans those (the rows the lists are built from
        // are their normalised copy, which is not kept) and divides by each row's norm.
        let flatNormalizes = configuration.encoding == .flat && refineVectors != nil
        let layout = Layout(n: n, dim: dim, nlist: nlist, encoding: configuration.encoding, m: m, rowNorms: flatNormalizes)
        let owned = OwnedMemory(byteCount: layout.total)
        let base = owned.base
        // SAFETY: each write below stays inside its array of `layout` within `owned`.
        coarseView.copyRows(into: UnsafeMutableRawBufferPointer(start: base + layout.centroids, count: 4 * nlist * dim))
        let offsetsOut = (base + layout.offsets).assumingMemoryBound(to: UInt32.self)
        for i in 0...nlist { offsetsOut[i] = UInt32(starts[i]) }
        let idsOut = (base + layout.ids).assumingMemoryBound(to: UInt32.self)
        for i in 0..<n { idsOut[i] = order[i] }
        if configuration.encoding == .sq8 {
            // Residuals r = x − c(x) in list order, a block of rows at a time (never all of them at
            // once): their per-coordinate ranges in one pass, the codes in a second.
            var lo = [Float](repeating: .infinity, count: dim), hi = [Float](repeating: -.infinity, count: dim)
            Self.forEachResidualBlock(vectors, centroids: coarseView, labels: labels, order: order) { _, block in
                ScalarQuantizer8.widen(lower: &lo, upper: &hi, over: block)
            }
            let quantizer = ScalarQuantizer8(lower: lo, upper: hi)
            quantizer.store(into: (base + layout.payload).assumingMemoryBound(to: Float.self))
            let sqOut = (base + layout.sqCodes).assumingMemoryBound(to: UInt8.self)
            Self.forEachResidualBlock(vectors, centroids: coarseView, labels: labels, order: order) { first, block in
                quantizer.encode(block, into: sqOut + first * dim)
            }
        } else if !pq {
            if let stored = refineVectors {
                let out = (base + layout.payload).assumingMemoryBound(to: Float.self)
                for row in 0..<n {
                    let norm = vk_norm_sq(stored.row(row).baseAddress!, dim).squareRoot()
                    out[row] = norm > 0 ? 1 / norm : 1
                }
            }
        } else if n > 0 {
            // 3. Residuals r = x − c(x), in list order; PQ codebooks on a sample of them; codes.
            let dsub = dim / m
            let pqSample = sample(n: n, limit: IVFConfiguration.pqTrainingRows, rng: &rng)
            let cbOut = (base + layout.payload).assumingMemoryBound(to: Float.self)
            let codesOut = (base + layout.payload + 4 * m * 256 * dsub).assumingMemoryBound(to: UInt8.self)
            let out = PQOutput(codebooks: cbOut, codes: codesOut)
            let seeds = (0..<m).map { _ in rng.next() }
            let workers = max(1, min(threads, m))
            let order = order
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var j = w
                while j < m {
                    let sub = residualSubspace(vectors, centroids: coarseView, labels: labels, order: order, j: j, dsub: dsub, positions: pqSample)
                    let k = min(256, sub.rows)
                    let book = KMeans.train(data: sub, k: k, iterations: IVFConfiguration.pqIterations, metric: .l2,
                                            seed: seeds[j], backend: backend, threads: 1)
                    let bookView = book.matrix(dim: dsub)
                    // Stored transposed (dsub × 256 per sub-quantiser) for SIMD table building.
                    // SAFETY: codebook j occupies 256*dsub floats at j*256*dsub; unused entries stay 0.
                    for c in 0..<k {
                        let w = bookView.row(c)
                        for t in 0..<dsub { out.codebooks[(j * dsub + t) * 256 + c] = w[t] }
                    }
                    let all = residualSubspace(vectors, centroids: coarseView, labels: labels, order: order, j: j, dsub: dsub, positions: nil)
                    let labels = KMeans.assign(data: all, centroids: bookView, metric: .l2, backend: backend, threads: 1).labels
                    for i in 0..<n { out.codes[i * m + j] = UInt8(labels[i]) }
                    j += workers
                }
            }
        }
        progress?.add(n - n / 2)
        writeHeader(base, layout: layout, metric: metric)
        let config = IVFConfiguration(nlist: configuration.nlist, encoding: configuration.encoding, m: m, nbits: 8, seed: configuration.seed)
        return IVFIndex(storage: owned, memory: UnsafeRawBufferPointer(start: base, count: layout.total), layout: layout,
                        vectors: refineVectors ?? vectors, configuration: config, metric: metric, refineNormalizes: refineVectors != nil)
    }

    private struct PQOutput: @unchecked Sendable {
        // SAFETY: workers write disjoint codebooks (by j) and disjoint code columns (i*m + j).
        let codebooks: UnsafeMutablePointer<Float>
        let codes: UnsafeMutablePointer<UInt8>
    }

    /// The residuals `x − c(x)` of the rows in list order (`order`), `blockRows` at a time: `body`
    /// gets each block's first list position and the block (valid during the call only).
    private static func forEachResidualBlock(_ vectors: MatrixView, centroids: MatrixView, labels: [UInt32], order: [UInt32],
                                             blockRows: Int = 4096, _ body: (Int, MatrixView) -> Void) {
        let dim = vectors.dim
        var first = 0
        while first < order.count {
            let count = min(blockRows, order.count - first)
            let block = FloatArena(count: count * dim) { buf in
                for i in 0..<count {
                    let row = Int(order[first + i])
                    let x = vectors.row(row), c = centroids.row(Int(labels[row]))
                    for t in 0..<dim { buf[i * dim + t] = x[t] - c[t] }
                }
            }
            body(first, block.matrix(dim: dim))
            first += count
        }
    }

    /// Coordinates `j·dsub ..< (j+1)·dsub` of the residuals `x − c(x)` at list positions `positions`
    /// (all, in list order, when nil), as a contiguous matrix: one sub-quantiser's training or
    /// encoding input, without a copy of every residual.
    private static func residualSubspace(_ vectors: MatrixView, centroids: MatrixView, labels: [UInt32], order: [UInt32], j: Int, dsub: Int,
                                         positions: [Int]?) -> MatrixView {
        let count = positions?.count ?? order.count
        return FloatArena(count: count * dsub) { buf in
            for i in 0..<count {
                let row = Int(order[positions?[i] ?? i])
                let x = vectors.row(row), c = centroids.row(Int(labels[row]))
                for t in 0..<dsub { buf[i * dsub + t] = x[j * dsub + t] - c[j * dsub + t] }
            }
        }.matrix(dim: dsub)
    }

    /// Up to `limit` distinct row numbers, sorted, drawn with `rng` (all rows when n ≤ limit).
    private static func sample(n: Int, limit: Int, rng: inout SplitMix64) -> [Int] {
        guard n > limit else { return Array(0..<n) }
        var all = Array(0..<n)
        for i in 0..<limit { all.swapAt(i, i + Int(rng.next() % UInt64(n - i))) }
        return all[0..<limit].sorted()
    }

    private static func gather(_ v: MatrixView, rows: [Int]) -> MatrixView {
        FloatArena(count: rows.count * v.dim) { buf in
            for (i, r) in rows.enumerated() {
                let src = v.row(r)
                for t in 0..<v.dim { buf[i * v.dim + t] = src[t] }
            }
        }.matrix(dim: v.dim)
    }

    /// The metric of the coarse quantiser: the index's, except JACCARD (BIN_IVF_FLAT), whose lists are
    /// k-means cells of the 0/1-widened bits by L2 (a Jaccard "mean" is not defined); the lists are
    /// then scanned by JACCARD.
    package static func coarseMetric(_ metric: Metric) -> Metric { metric == .jaccard ? .l2 : metric }

    private static func writeHeader(_ base: UnsafeMutableRawPointer, layout l: Layout, metric: Metric) {
        let words: [UInt32] = [magic, formatVersion, UInt32(l.n), UInt32(l.dim), UInt32(l.nlist), l.encodingCode, UInt32(l.m), metric.usesL2Kernel ? 0 : 1,
                               l.rowNorms ? 1 : 0]
        // SAFETY: 9 words fit the 64-byte header.
        for (i, w) in words.enumerated() { base.storeBytes(of: w.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
    }

    // MARK: Stored form

    package func serialize(into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count == memory.count)
        destination.copyMemory(from: memory)
    }

    package func withStoredParts<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        try body([memory])
    }

    /// Opens a stored index in place (`owner` keeps the bytes alive); misaligned blobs are copied.
    package static func open(stored bytes: UnsafeRawBufferPointer, owner: AnyObject, vectors: MatrixView, metric: Metric,
                             configuration: IVFConfiguration, refineNormalizes: Bool = false) throws(IndexError) -> IVFIndex {
        func bad(_ s: String) -> IndexError { IndexError(parameter: "stored index", message: "stored IVF index is invalid: \(s)") }
        guard bytes.count >= headerSize else { throw bad("too short") }
        func word(_ i: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
        guard word(0) == Int(magic), (1...Int(formatVersion)).contains(word(1)) else { throw bad("bad magic or version") }
        guard let encoding = Layout.encoding(code: word(5)) else { throw bad("unknown encoding \(word(5))") }
        let version = word(1)
        let layout = Layout(n: word(2), dim: word(3), nlist: word(4), encoding: encoding, m: word(6),
                            rowNorms: version >= 2 && word(8) & 1 != 0, legacyCopy: version == 1 && encoding == .flat)
        guard !layout.legacyCopy || !refineNormalizes else { throw bad("a version 1 IVF_FLAT blob over COSINE keeps no row norms") }
        guard layout.rowNorms == (encoding == .flat && refineNormalizes) else { throw bad("built over other vectors") }
        guard layout.n == vectors.rows, layout.dim == vectors.dim else { throw bad("built for other vectors") }
        guard word(7) == (metric.usesL2Kernel ? 0 : 1) else { throw bad("built for another metric") }
        guard layout.total == bytes.count, !layout.pq || (layout.m > 0 && layout.dim % layout.m == 0) else { throw bad("size does not match") }
        guard layout.nlist == max(1, min(configuration.nlist, layout.n)), layout.encoding == configuration.encoding,
              !layout.pq || layout.m == configuration.m else { throw bad("built with other parameters") }
        // The lists index the vectors by number (IVF_FLAT gathers them): offsets must partition 0..<n
        // and every id name a row, or a damaged blob would read outside the vectors.
        func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        var previous = 0
        for i in 0...layout.nlist {
            let o = u32(layout.offsets + 4 * i)
            guard o >= previous, o <= layout.n, i > 0 || o == 0 else { throw bad("list offsets out of order") }
            previous = o
        }
        guard previous == layout.n else { throw bad("lists do not cover the rows") }
        for i in 0..<layout.n where u32(layout.ids + 4 * i) >= layout.n { throw bad("row id out of range") }
        let storage: AnyObject
        let memory: UnsafeRawBufferPointer
        if let p = bytes.baseAddress, Int(bitPattern: p) % 4 == 0 {
            storage = owner
            memory = bytes
        } else {
            let copy = OwnedMemory(byteCount: bytes.count)
            copy.base.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            storage = copy
            memory = UnsafeRawBufferPointer(start: copy.base, count: bytes.count)
        }
        return IVFIndex(storage: storage, memory: memory, layout: layout, vectors: vectors, configuration: configuration, metric: metric,
                        refineNormalizes: refineNormalizes)
    }

    /// The vector the index stores for `row` (IVF_FLAT: exact; IVF_PQ: centroid + decoded residual).
    package func reconstruct(row: Int) -> [Float] {
        guard let pos = (0..<n).first(where: { Int(ids[$0]) == row }) else { return [] }
        var list = 0
        while Int(offsets[list + 1]) <= pos { list += 1 }
        if configuration.encoding == .flat { return vectors.rowArray(row) }
        if let sq, let sqCodes {
            let r = sq.decode(sqCodes + pos * dim)
            return zip(centroids.rowArray(list), r).map { $0 + $1 }
        }
        let dsub = dim / m
        var out = centroids.rowArray(list)
        for j in 0..<m {
            let c = Int(codes![pos * m + j])
            for t in 0..<dsub { out[j * dsub + t] += codebooks![(j * dsub + t) * 256 + c] }
        }
        return out
    }

    /// The coarse centroid of the list holding `row`.
    package func centroid(ofRow row: Int) -> [Float] {
        guard let pos = (0..<n).first(where: { Int(ids[$0]) == row }) else { return [] }
        var list = 0
        while Int(offsets[list + 1]) <= pos { list += 1 }
        return centroids.rowArray(list)
    }

    // MARK: Search

    /// Searches queries `range` of `queries`, offering up to `k` results per query to
    /// `heaps[i - range.lowerBound]` as `(distance, idBase + row)`.
    ///
    /// - Parameters:
    ///   - nprobe: lists probed per query.
    ///   - refine: IVF_PQ and IVF_SQ8: when > 0, the best `k·refine` PQ candidates are re-ranked with exact
    ///     distances on the stored vectors (Milvus' refine); results then carry exact distances.
    ///   - excluded: rows never returned.
    package func search(
        queries: MatrixView, range: Range<Int>, k: Int, nprobe: Int, refine: Int, excluded: Bitset?,
        idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend
    ) {
        guard n > 0, k > 0, !range.isEmpty else { return }
        let probes = min(max(nprobe, 1), nlist)
        // Coarse assignment: one GEMM for a batch; a query on its own reads the 8-bit centroids and
        // re-scores only the lists that can still be among its nearest (`CoarseCodes`).
        var scanner = ExactScanner(backend: backend)
        var coarse = [TopK](repeating: TopK(k: probes), count: range.count)
        if let coarseCodes, range.count < scanner.gemmMinQueries {
            for (h, qi) in range.enumerated() {
                coarseCodes.probe(query: queries.row(qi), centroids: centroids, metric: Self.coarseMetric(metric), heap: &coarse[h])
            }
        } else {
            scanner.scan(queries: queries.slice(range.lowerBound, range.count), base: centroids, metric: Self.coarseMetric(metric),
                         excluded: nil, idBase: 0, heaps: &coarse)
        }
        if configuration.encoding == .flat, metric != .jaccard, range.count >= Self.listMajorMinQueries {
            searchFlatByList(queries: queries, range: range, coarse: coarse, excluded: excluded, idBase: idBase, heaps: &heaps, backend: backend)
            return
        }
        let maxList = maxListLength
        var dist = [Float](repeating: 0, count: max(maxList, 1))
        var sel = [UInt32](repeating: 0, count: max(maxList, 1))
        let dsub = m > 0 ? dim / m : 0
        var lut = [Float](repeating: 0, count: max(m * 256, 1))
        var residual = [Float](repeating: 0, count: dim)
        let quantized = codes != nil || sqCodes != nil
        // Never more candidates than rows (k and refine come from the request).
        let candidatesPerQuery = (quantized && refine > 0) ? min(k * refine, max(n, k)) : k
        var sqBias: Float = 0
        var refineRows = [UInt32](repeating: 0, count: quantized && refine > 0 ? candidatesPerQuery : 0)
        var refineDistances = [Float](repeating: 0, count: refineRows.count)
        for (h, qi) in range.enumerated() {
            let q = queries.row(qi)
            var cand = TopK(k: candidatesPerQuery)
            if codes != nil, !metric.usesL2Kernel {
                lut.withUnsafeMutableBufferPointer { vk_pq_lut_ip(q.baseAddress!, codebooks!, m, dsub, $0.baseAddress!) }
            }
            if let sq, !metric.usesL2Kernel { sqBias = sq.prepareDot(q, into: &residual) }
            let probed = coarse[h].sorted()
            for (p, probe) in probed.enumerated() {
                let list = Int(probe.id)
                let start = Int(offsets[list]), len = Int(offsets[list + 1]) - start
                guard len > 0 else { continue }
                if let codes, p + 1 < probed.count {
                    // The next list's codes (a few KB at an unrelated place) arrive while this one is scanned.
                    let next = Int(probed[p + 1].id), nextStart = Int(offsets[next])
                    // SAFETY: a list's codes lie inside the n·m code bytes.
                    vk_prefetch(codes + nextStart * m, (Int(offsets[next + 1]) - nextStart) * m)
                }
                dist.withUnsafeMutableBufferPointer { dp in
                    sel.withUnsafeMutableBufferPointer { sp in
                        let out = dp.baseAddress!, idx = sp.baseAddress!
                        // SAFETY: dp/sp hold maxList ≥ len entries; list rows [start, start+len) lie in
                        // the list arrays; codes hold n*m bytes; every id is < n = vectors.rows (built
                        // here, or checked by `open`), so gathered rows lie inside the vectors.
                        if configuration.encoding == .flat {
                            // The list's rows, gathered from the vectors by number.
                            let rows = ids + start
                            if metric == .jaccard {
                                // 0/1 rows: |x ∧ q| = x·q, |x ∨ q| = |x|² + |q|² − x·q.
                                vk_dot_gather(q.baseAddress!, vectors.base, rows, len, dim, out)
                                let qn = vk_norm_sq(q.baseAddress!, dim)
                                for i in 0..<len {
                                    let inter = out[i]
                                    let xn = vk_norm_sq(vectors.row(Int(rows[i])).baseAddress!, dim)
                                    out[i] = Distances.jaccard(intersection: inter, union: xn + qn - inter)
                                }
                            } else {
                                Distances.gathered(metric, q.baseAddress!, base: vectors.base, rows: rows, count: len, dim: dim,
                                                   inverseNorms: inverseNorms, into: out)
                            }
                        } else if let sq, let sqCodes {
                            let listCodes = sqCodes + start * dim
                            if metric.usesL2Kernel {
                                // |q − c − r̂|²: the query shifted by the list's centroid.
                                sq.prepareL2(q, shift: centroids.row(list), into: &residual)
                                residual.withUnsafeBufferPointer { r in
                                    sq.scale.withUnsafeBufferPointer { vk_sq8_l2sq_many(r.baseAddress!, $0.baseAddress!, listCodes, len, dim, out) }
                                }
                            } else {
                                // −(⟨q, c⟩ + ⟨q, vmin⟩ + Σ (q∘scale)·code); probe.distance is −⟨q, c⟩.
                                residual.withUnsafeBufferPointer { vk_sq8_dot_many($0.baseAddress!, listCodes, len, dim, out) }
                                let bias = sqBias - probe.distance
                                for i in 0..<len { out[i] = -(out[i] + bias) }
                            }
                        } else if metric.usesL2Kernel {
                            let c = centroids.row(list)
                            for t in 0..<dim { residual[t] = q[t] - c[t] }
                            residual.withUnsafeBufferPointer { r in
                                lut.withUnsafeMutableBufferPointer { vk_pq_lut_l2(r.baseAddress!, codebooks!, m, dsub, $0.baseAddress!) }
                            }
                            lut.withUnsafeBufferPointer { vk_pq_scan(codes! + start * m, len, m, $0.baseAddress!, 0, 1, out) }
                        } else {
                            // probe.distance is −⟨q, c⟩ for IP/COSINE.
                            lut.withUnsafeBufferPointer { vk_pq_scan(codes! + start * m, len, m, $0.baseAddress!, probe.distance, -1, out) }
                        }
                        cand.offer(out, count: len, rows: ids + start, scratch: idx, excluded: excluded, idBase: 0)
                    }
                }
            }
            if quantized && refine > 0 {
                refineCandidates(q, cand.unorderedIDs, idBase: idBase, heap: &heaps[h], rows: &refineRows, distances: &refineDistances)
            } else {
                for c in cand.sorted() { heaps[h].push(c.distance, id: idBase + c.id) }
            }
        }
    }

    /// Queries per call from which IVF_FLAT scans list by list (``searchFlatByList``).
    static let listMajorMinQueries = 16
    /// Lists probed by fewer queries than this are scored query by query (gathered rows, no GEMM).
    static let listGEMMMinQueries = 4

    /// IVF_FLAT for a batch, list by list: each list's rows are gathered once into a contiguous block
    /// and scored against every query that probes it with one GEMM (as faiss' GPU IVF does), instead
    /// of being gathered again for each of those queries. On dev (nlist 894, nprobe 16, 1,000
    /// queries) a list is probed by ~18 queries of a batch.
    private func searchFlatByList(queries: MatrixView, range: Range<Int>, coarse: [TopK], excluded: Bitset?, idBase: Int64,
                                  heaps: inout [TopK], backend: any ComputeBackend) {
        let nq = range.count
        // Queries per list (CSR over the probes).
        var starts = [Int](repeating: 0, count: nlist + 1)
        let probes = coarse.map { $0.unorderedIDs }
        for p in probes { for l in p { starts[Int(l) + 1] += 1 } }
        for l in 0..<nlist { starts[l + 1] += starts[l] }
        var fill = starts
        var byList = [Int32](repeating: 0, count: starts[nlist])
        for (h, p) in probes.enumerated() {
            for l in p {
                byList[fill[Int(l)]] = Int32(h)
                fill[Int(l)] += 1
            }
        }
        let l2 = metric.usesL2Kernel
        var queryNorms = [Float](repeating: 0, count: nq)
        if l2 { queryNorms.withUnsafeMutableBufferPointer { vk_norms_sq(queries.base + range.lowerBound * dim, nq, dim, $0.baseAddress!) } }
        let maxList = max(maxListLength, 1)
        var block = [Float](repeating: 0, count: maxList * dim)
        var rowNorms = [Float](repeating: 0, count: maxList)
        var qBlock = [Float](repeating: 0, count: nq * dim)
        var tile = [Float](repeating: 0, count: nq * maxList)
        var sel = [UInt32](repeating: 0, count: maxList)
        block.withUnsafeMutableBufferPointer { bp in
        rowNorms.withUnsafeMutableBufferPointer { np in
        qBlock.withUnsafeMutableBufferPointer { qp in
        tile.withUnsafeMutableBufferPointer { tp in
        sel.withUnsafeMutableBufferPointer { sp in
            // SAFETY: block holds maxList·dim floats and rowNorms/sel maxList entries (a list has at
            // most maxList rows); qBlock nq·dim floats and tile nq·maxList (a list is probed by at
            // most nq queries); every id is < n = vectors.rows (built here or checked by `open`).
            let x = bp.baseAddress!, xn = np.baseAddress!, qb = qp.baseAddress!, out = tp.baseAddress!, idx = sp.baseAddress!
            for list in 0..<nlist where starts[list + 1] > starts[list] {
                let start = Int(offsets[list]), len = Int(offsets[list + 1]) - start
                guard len > 0 else { continue }
                let rows = ids + start
                let who = byList[starts[list]..<starts[list + 1]]
                if who.count < Self.listGEMMMinQueries {
                    for h in who {
                        Distances.gathered(metric, queries.base + (range.lowerBound + Int(h)) * dim, base: vectors.base, rows: rows,
                                           count: len, dim: dim, inverseNorms: inverseNorms, into: out)
                        heaps[Int(h)].offer(out, count: len, rows: rows, scratch: idx, excluded: excluded, idBase: idBase)
                    }
                    continue
                }
                for i in 0..<len { (x + i * dim).update(from: vectors.base + Int(rows[i]) * dim, count: dim) }
                for (j, h) in who.enumerated() { (qb + j * dim).update(from: queries.base + (range.lowerBound + Int(h)) * dim, count: dim) }
                let nqL = who.count
                if l2 {
                    vk_norms_sq(x, len, dim, xn)
                    for j in 0..<nqL { (out + j * len).update(from: xn, count: len) }
                }
                backend.gemmNT(nq: nqL, n: len, d: dim, alpha: l2 ? -2 : -1, queries: qb, base: x, beta: l2 ? 1 : 0, out: out)
                for (j, h) in who.enumerated() {
                    let rowOut = out + j * len
                    if let inverseNorms, !l2 { for i in 0..<len { rowOut[i] *= inverseNorms[Int(rows[i])] } }
                    heaps[Int(h)].offer(rowOut, count: len, bias: l2 ? queryNorms[Int(h)] : 0, rows: rows, scratch: idx, excluded: excluded,
                                        idBase: idBase)
                }
            }
        }
        }
        }
        }
        }
    }

    /// Re-ranks a quantised search's candidates (`ids`, rows of the segment) with exact distances on
    /// the stored vectors, offering them to `heap`. The rows are scattered: the gather kernels fetch
    /// the next rows while scoring one, where a distance call per row waited on each row's misses.
    private func refineCandidates(_ q: UnsafeBufferPointer<Float>, _ ids: [Int64], idBase: Int64, heap: inout TopK,
                                  rows: inout [UInt32], distances: inout [Float]) {
        let count = ids.count
        guard count > 0 else { return }
        guard metric == .l2 || metric == .ip || metric == .cosine else {
            for id in ids {
                heap.push(Distances.refineDistance(metric, q, vectors.row(Int(id)), normalizingRow: refineNormalizes), id: idBase + id)
            }
            return
        }
        for i in 0..<count { rows[i] = UInt32(ids[i]) }
        rows.withUnsafeBufferPointer { rp in
            distances.withUnsafeMutableBufferPointer { dp in
                // SAFETY: rp and dp hold ≥ count entries (sized to the candidate limit); every id is a
                // row of `vectors` (it came from the lists, checked against n at open).
                let out = dp.baseAddress!, r = rp.baseAddress!
                Distances.gathered(metric, q.baseAddress!, base: vectors.base, rows: r, count: count, dim: dim, into: out)
                if refineNormalizes && metric != .l2 {
                    for i in 0..<count {
                        let norm = vk_norm_sq(vectors.base + Int(r[i]) * dim, dim).squareRoot()
                        if norm > 0 { out[i] /= norm }
                    }
                }
                for i in 0..<count { heap.push(out[i], id: idBase + Int64(r[i])) }
            }
        }
    }
}

/// The coarse centroids as 8-bit codes (``ScalarQuantizer8``, a quarter of the bytes) with, per
/// centroid, what bounds the error of a distance taken against its code: a single query reads the
/// codes, keeps the lists whose distance can still be among its `nprobe` nearest, and re-scores only
/// those on the float centroids. The probed lists and their distances are the exact ones — the same
/// as the batch path's GEMM — for a quarter of the memory traffic: the float centroids of a 100k-row
/// segment (894 × 384) are 1.4 MB, more than a core's L2 on the machines measured, and reading them
/// was a third of an IVF_PQ query (perf, dev set, nprobe 16).
///
/// A query is scored against the codes in integers (`vk_u8_i16_dot_many`): with x̂ = vmin + scale∘code,
/// both ⟨q, x̂⟩ = ⟨q, vmin⟩ + Σ w_t·code_t (w = q∘scale) and |q − x̂|² = |r|² − 2 Σ w_t·code_t + |scale∘code|²
/// (r = q − vmin, w = r∘scale) need Σ w_t·code_t, taken as W·Σ w̃_t·code_t with w̃ = round(w/W) in 16 bits.
///
/// Bounds, with ĉ the decoded centroid, e = |c − ĉ| and δ = w/W − w̃ (|δ_t| ≤ ½):
/// - the query's rounding moves Σ w_t·code_t by at most W·|δ|·|code| (Cauchy–Schwarz);
/// - for inner products, |⟨q, c⟩ − ⟨q, ĉ⟩| ≤ |q|·e; for L2, |q − c| lies within e of |q − ĉ|;
/// - float rounding of `dim`-term sums is allowed for on top.
struct CoarseCodes: Sendable {
    /// Fewer lists than this are scanned as floats: there is little to save.
    static let minimumLists = 64

    let quantizer: ScalarQuantizer8
    let codes: [UInt8]
    /// Per centroid: e = |c − ĉ| widened for rounding, |code| and |scale∘code|².
    let errors: [Float], codeNorms: [Float], decodedSquares: [Float]
    let nlist: Int, dim: Int
    /// Largest |w̃_t|: keeps Σ w̃_t·code_t (|code_t| ≤ 255) inside 32 bits for this dimension.
    let queryLimit: Float

    init(centroids: MatrixView) {
        let sq = ScalarQuantizer8(training: centroids)
        let nlist = centroids.rows, dim = centroids.dim
        var out = [UInt8](repeating: 0, count: nlist * dim)
        out.withUnsafeMutableBufferPointer { sq.encode(centroids, into: $0.baseAddress!) }
        // Rounding: a float sum of dim products is within dim·2⁻²³ of Σ|terms|; allow 4×.
        let rounding = Float(4 * max(dim, 1)) * Float.ulpOfOne
        var errs = [Float](repeating: 0, count: nlist)
        var norms = errs, squares = errs
        for c in 0..<nlist {
            let row = centroids.row(c)
            var err: Float = 0, norm: Float = 0, code: Float = 0, square: Float = 0
            for t in 0..<dim {
                let k = Float(out[c * dim + t])
                let e = row[t] - (sq.vmin[t] + sq.scale[t] * k)
                err += e * e
                norm += row[t] * row[t]
                code += k * k
                square += (sq.scale[t] * k) * (sq.scale[t] * k)
            }
            errs[c] = err.squareRoot() * 1.001 + rounding * (norm.squareRoot() + 1)
            norms[c] = code.squareRoot()
            squares[c] = square
        }
        quantizer = sq
        codes = out
        errors = errs
        codeNorms = norms
        decodedSquares = squares
        self.nlist = nlist
        self.dim = dim
        queryLimit = Float(min(32_767, (Int(Int32.max) / (255 * max(dim, 1))) - 1))
    }

    /// Offers the `heap.k` nearest centroids of `q` under `metric` (L2, or an inner product for
    /// IP/COSINE) to `heap` with their exact distances.
    func probe(query q: UnsafeBufferPointer<Float>, centroids: MatrixView, metric: Metric, heap: inout TopK) {
        let l2 = metric.usesL2Kernel
        // w = q∘scale (IP) or (q − vmin)∘scale (L2), rounded to 16 bits with step W.
        var w = [Float](repeating: 0, count: dim)
        var offset: Float = 0   // ⟨q, vmin⟩ for IP, |q − vmin|² for L2
        for t in 0..<dim {
            let x = l2 ? q[t] - quantizer.vmin[t] : q[t]
            offset += l2 ? x * x : q[t] * quantizer.vmin[t]
            w[t] = x * quantizer.scale[t]
        }
        var rounded = [Int16](repeating: 0, count: dim)
        var deltaNorm: Float = 0
        // SAFETY: w and rounded hold dim elements.
        let step = vk_quantize_i16(w, dim, queryLimit, &rounded, &deltaNorm)
        let qNorm = vk_norm_sq(q.baseAddress!, dim).squareRoot()
        var sums = [Int32](repeating: 0, count: nlist)
        var lo = [Float](repeating: 0, count: nlist), hi = lo
        rounded.withUnsafeBufferPointer { rp in
            codes.withUnsafeBufferPointer { cp in
                sums.withUnsafeMutableBufferPointer { sp in
                    // SAFETY: codes hold nlist·dim bytes, rp dim values, sp nlist slots.
                    vk_u8_i16_dot_many(rp.baseAddress!, cp.baseAddress!, nlist, dim, sp.baseAddress!)
                }
            }
        }
        // SAFETY: sums, the per-centroid arrays, lo and hi hold nlist elements.
        vk_coarse_bounds(sums, nlist, l2 ? 1 : 0, step, offset, step * deltaNorm, qNorm, codeNorms, errors, decodedSquares, &lo, &hi)
        var picked = [UInt32](repeating: 0, count: nlist)
        var scratch = [Float](repeating: 0, count: heap.k)
        // SAFETY: lo, hi and picked hold nlist elements, scratch heap.k.
        let count = vk_bounded_candidates(lo, hi, nlist, heap.k, &scratch, &picked)
        var exact = [Float](repeating: 0, count: count)
        picked.withUnsafeBufferPointer { pp in
            exact.withUnsafeMutableBufferPointer { ep in
                // SAFETY: picked holds count ≤ nlist centroid numbers; ep count floats.
                Distances.gathered(metric, q.baseAddress!, base: centroids.base, rows: pp.baseAddress!, count: count, dim: dim,
                                   into: ep.baseAddress!)
            }
        }
        for i in 0..<count { heap.push(exact[i], id: Int64(picked[i])) }
    }
}
