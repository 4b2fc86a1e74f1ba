import CVireoKernels
import Dispatch
import Foundation
import Synchronization
import VireoKernels

/// Progress of an index build: rows indexed out of the total, readable while the build runs.
///
/// A build reports every few hundred rows (a few milliseconds of work per worker); `pace`, when
/// given, is called then, on the worker's thread, so a background build can pause there (compaction
/// throttles itself this way while foreground requests run).
public final class IndexBuildProgress: Sendable {
    public let total: Int
    private let doneCount = Atomic<Int>(0)
    private let pace: (@Sendable () -> Void)?

    public init(total: Int, pace: (@Sendable () -> Void)? = nil) {
        self.total = total
        self.pace = pace
    }

    public var done: Int { doneCount.load(ordering: .relaxed) }
    func add(_ n: Int) {
        doneCount.add(n, ordering: .relaxed)
        pace?()
    }
}

/// An HNSW graph over the rows of one immutable vector matrix (a sealed segment), after Malkov &
/// Yashunin, arXiv:1603.09320. The graph is built once (in parallel), then immutable: searches share
/// it without locks, each with its own scratch (visited tags and heaps) taken from a pool.
///
/// ## Stored form
/// The graph's memory is one buffer laid out exactly as stored, so a stored graph is used in place
/// from a memory map: a 64-byte header (magic `HNSW`, format version, n, dim, M, M0, metric, entry,
/// max level, number of upper lists, efConstruction), then `levels` (n bytes, padded to 64),
/// `upperOffset` (n × UInt32), level-0 lists (n × (2M+1) UInt32) and upper lists ((M+1) UInt32 each).
/// Vectors are not part of it: the segment's matrix is used, so vectors are stored once.
/// `HNSW_SQ` (header word 11 = 1; word 12 = 1 when it re-ranks, `refine`) appends, 64-byte aligned, the ``ScalarQuantizer8`` ranges
/// (`2 × dim` Float32) and the rows' SQ8 codes (`n × dim` bytes): the graph is built and searched
/// on the codes, a quarter of the bytes per distance; the float vectors are read only to encode
/// them and to re-rank (`refine`).
///
/// ## Invariants
/// List counts are at most `2M` (level 0) / `M` (above); no self links or duplicates; ids < n; a node
/// is linked at level l only from and to nodes whose level is ≥ l; the entry point has the top level.
/// ``checkInvariants()`` verifies them (tests call it).
///
/// ## Thread safety
/// Immutable after build; `search` is safe from any number of threads.
package final class HNSWIndex: @unchecked Sendable {
    // SAFETY: `graph` holds pointers into `memory` (owned by `storage`, or a mapped blob kept alive by
    // `storage`) and into `vectors` (kept alive by the view's owner). Nothing writes either after
    // build returns, so concurrent searches only read. The scratch pool is behind a Mutex.
    private let graph: vk_hnsw_graph
    private let storage: AnyObject
    private let memory: UnsafeRawBufferPointer
    let vectors: MatrixView
    public let configuration: HNSWConfiguration
    public let metric: Metric
    private let scratchPool = Mutex<[Scratch]>([])
    /// HNSW_SQ: the quantiser, and the graph view whose distances read the codes.
    private let quantizer: ScalarQuantizer8?
    private let sqGraph: vk_hnsw_graph?
    /// Re-rank distances divide by the row's norm: COSINE over vectors stored as inserted (a
    /// quantised index keeps no normalised float copy; its codes encode the normalised rows).
    package let refineNormalizes: Bool

    static let magic: UInt32 = 0x5753_4E48  // "HNSW"
    static let formatVersion: UInt32 = 1
    static let headerSize = 64

    public var count: Int { Int(graph.n) }
    /// Bytes of the graph (its stored size), excluding vectors.
    package var byteCount: Int { memory.count }

    private init(graph: vk_hnsw_graph, storage: AnyObject, memory: UnsafeRawBufferPointer, vectors: MatrixView,
                 configuration: HNSWConfiguration, metric: Metric, layout: Layout, refineNormalizes: Bool) {
        self.graph = graph
        self.storage = storage
        self.memory = memory
        self.vectors = vectors
        self.configuration = configuration
        self.metric = metric
        self.refineNormalizes = refineNormalizes
        if layout.sq {
            let base = UnsafeRawPointer(memory.baseAddress!)
            // SAFETY: the SQ section lies inside `memory` (Layout.total counts it).
            let q = ScalarQuantizer8(stored: (base + layout.sqRangesOffset).assumingMemoryBound(to: Float.self), dim: layout.dim)
            var g = graph
            g.codes = (base + layout.sqCodesOffset).assumingMemoryBound(to: UInt8.self)
            g.sq_scale = (base + layout.sqRangesOffset + 4 * layout.dim).assumingMemoryBound(to: Float.self)
            g.sq_vmin = (base + layout.sqRangesOffset).assumingMemoryBound(to: Float.self)
            quantizer = q
            sqGraph = g
        } else {
            quantizer = nil
            sqGraph = nil
        }
    }

    // MARK: Layout

    private struct Layout {
        var n: Int, M: Int, M0: Int, upperLists: Int
        /// HNSW_SQ: the SQ8 section follows the graph.
        var sq = false
        var dim = 0
        var levelsOffset: Int { HNSWIndex.headerSize }
        var upperOffsetOffset: Int { levelsOffset + (n + 63) / 64 * 64 }
        var links0Offset: Int { upperOffsetOffset + 4 * n }
        var upperOffset: Int { links0Offset + 4 * n * (M0 + 1) }
        var graphEnd: Int { upperOffset + 4 * upperLists * (M + 1) }
        var sqRangesOffset: Int { (graphEnd + 63) / 64 * 64 }
        var sqCodesOffset: Int { (sqRangesOffset + ScalarQuantizer8.storedSize(dim: dim) + 63) / 64 * 64 }
        var total: Int { sq ? sqCodesOffset + n * dim : graphEnd }
    }

    private static func graphView(_ base: UnsafeMutableRawPointer, _ l: Layout, dim: Int, metric: Metric, vectors: MatrixView) -> vk_hnsw_graph {
        // SAFETY: `base` holds `l.total` bytes laid out as `Layout` describes; each array offset is a
        // multiple of 4 from a base at least 16-byte aligned.
        vk_hnsw_graph(
            n: UInt32(l.n), dim: UInt32(dim), M: UInt32(l.M), M0: UInt32(l.M0),
            metric: metric.usesL2Kernel ? 0 : 1, entry: 0, max_level: -1,
            vectors: vectors.base,
            levels: (base + l.levelsOffset).assumingMemoryBound(to: UInt8.self),
            upper_offset: (base + l.upperOffsetOffset).assumingMemoryBound(to: UInt32.self),
            links0: (base + l.links0Offset).assumingMemoryBound(to: UInt32.self),
            upper: (base + l.upperOffset).assumingMemoryBound(to: UInt32.self),
            codes: nil, sq_scale: nil, sq_vmin: nil)
    }

    // MARK: Build

    /// Builds the graph over every row of `vectors` on `threads` threads.
    ///
    /// HNSW_SQ encodes the rows first (two passes, a block at a time, each block's pages given back
    /// after it is read) and builds the graph on the codes alone, as faiss' `IndexHNSWSQ` does: the
    /// build holds the codes and the graph, not the float rows, which only re-ranking reads later.
    ///
    /// - Parameters:
    ///   - vectors: the rows (unit-normalised for COSINE, unless `normalizingRows`).
    ///   - progress: updated as rows are inserted.
    ///   - normalizingRows: HNSW_SQ over COSINE vectors stored as inserted: the codes encode the
    ///     normalised rows (no normalised float copy is made or kept) and re-ranking divides by the
    ///     row's norm.
    /// - Throws: ``IndexError`` for invalid parameters.
    /// - Complexity: O(n · efConstruction · log n) distance computations.
    package static func build(
        vectors: MatrixView, metric: Metric, configuration: HNSWConfiguration, threads: Int,
        progress: IndexBuildProgress? = nil, normalizingRows: Bool = false
    ) throws(IndexError) -> HNSWIndex {
        try configuration.validate()
        precondition(!normalizingRows || configuration.isQuantized, "only a quantised graph is built on rows it normalises")
        let n = vectors.rows
        precondition(n < Int(UInt32.max), "too many rows for one HNSW graph")
        let M = configuration.M
        // Levels: ⌊−ln(U)·mL⌋ with mL = 1/ln(M), seeded.
        var rng = SplitMix64(seed: configuration.seed)
        let mL = 1.0 / log(Double(max(M, 2)))
        var levels = [UInt8](repeating: 0, count: n)
        var upperLists = 0
        for i in 0..<n {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let l = min(Int(-log(max(u, 1e-300)) * mL), 32)
            levels[i] = UInt8(l)
            upperLists += l
        }
        let layout = Layout(n: n, M: M, M0: 2 * M, upperLists: upperLists, sq: configuration.isQuantized, dim: vectors.dim)
        let owned = OwnedMemory(byteCount: layout.total)
        let base = owned.base
        var g = graphView(base, layout, dim: vectors.dim, metric: metric, vectors: vectors)
        // SAFETY: the arrays lie inside `owned` (layout.total bytes, zero-filled by OwnedMemory).
        levels.withUnsafeBufferPointer { src in g.levels.update(from: src.baseAddress!, count: n) }
        if layout.sq {
            let q = ScalarQuantizer8(training: vectors, normalizing: normalizingRows)
            let ranges = (base + layout.sqRangesOffset).assumingMemoryBound(to: Float.self)
            q.store(into: ranges)
            let codes = (base + layout.sqCodesOffset).assumingMemoryBound(to: UInt8.self)
            q.encode(vectors, normalizing: normalizingRows, into: codes)
            g.codes = UnsafePointer(codes)
            g.sq_vmin = UnsafePointer(ranges)
            g.sq_scale = UnsafePointer(ranges + layout.dim)
        }
        var running: UInt32 = 0
        for i in 0..<n where levels[i] > 0 {
            g.upper_offset[i] = running
            running += UInt32(levels[i])
        }
        if n > 0 {
            let box = GraphBox(graph: g)
            let scratchSize = UInt32(max(configuration.efConstruction, 2 * M) + 2)
            let workers = max(1, min(threads, n))
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let scratch = vk_hnsw_scratch_create(UInt32(n), scratchSize)
                defer { vk_hnsw_scratch_destroy(scratch) }
                var pending = 0
                while true {
                    let node = vk_hnsw_next_node(box.build)
                    if node >= UInt32(n) { break }
                    vk_hnsw_insert(box.pointer, box.build, node, UInt32(configuration.efConstruction), scratch)
                    pending += 1
                    if pending == 64 {
                        progress?.add(pending)
                        pending = 0
                    }
                }
                progress?.add(pending)
            }
            g = box.pointer.pointee
            box.release()
        }
        // The float view, as `open` makes it (init derives the codes' view from the layout).
        g.codes = nil
        g.sq_vmin = nil
        g.sq_scale = nil
        writeHeader(base, g, layout: layout, efConstruction: configuration.efConstruction, refine: configuration.refine == true)
        return HNSWIndex(graph: g, storage: owned, memory: UnsafeRawBufferPointer(start: base, count: layout.total),
                         vectors: vectors, configuration: configuration, metric: metric, layout: layout,
                         refineNormalizes: normalizingRows)
    }

    private static func writeHeader(_ base: UnsafeMutableRawPointer, _ g: vk_hnsw_graph, layout: Layout, efConstruction: Int, refine: Bool) {
        let words: [UInt32] = [
            magic, formatVersion, g.n, g.dim, g.M, g.M0, UInt32(bitPattern: g.metric), g.entry,
            UInt32(bitPattern: g.max_level), UInt32(layout.upperLists), UInt32(efConstruction), layout.sq ? 1 : 0, refine ? 1 : 0,
        ]
        // SAFETY: the header is the first 64 bytes of the buffer; 13 words fit.
        for (i, w) in words.enumerated() { base.storeBytes(of: w.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
    }

    // MARK: Stored form

    /// Writes the stored form into `destination` (``byteCount`` bytes).
    package func serialize(into destination: UnsafeMutableRawBufferPointer) {
        precondition(destination.count == memory.count)
        destination.copyMemory(from: memory)
    }

    package func withStoredParts<R>(_ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        try body([memory])
    }

    /// Opens a stored graph in place. `owner` must keep `bytes` alive and unchanged for the index's
    /// lifetime (a mapped LMDB blob); misaligned (small, inline) blobs are copied.
    ///
    /// - Throws: ``IndexError`` if the header does not match the vectors or is not an HNSW graph.
    package static func open(stored bytes: UnsafeRawBufferPointer, owner: AnyObject, vectors: MatrixView, metric: Metric,
                             refineNormalizes: Bool = false) throws(IndexError) -> HNSWIndex {
        func bad(_ m: String) -> IndexError { IndexError(parameter: "stored graph", message: "stored HNSW graph is invalid: \(m)") }
        guard bytes.count >= headerSize else { throw bad("too short") }
        func word(_ i: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        guard word(0) == magic else { throw bad("bad magic") }
        guard word(1) == formatVersion else { throw bad("format version \(word(1)), this build reads \(formatVersion)") }
        let n = Int(word(2)), dim = Int(word(3)), M = Int(word(4)), M0 = Int(word(5))
        guard n == vectors.rows, dim == vectors.dim else { throw bad("built for \(n) × \(dim), segment has \(vectors.rows) × \(vectors.dim)") }
        let storedMetric: Int32 = metric.usesL2Kernel ? 0 : 1
        guard Int32(bitPattern: word(6)) == storedMetric else { throw bad("built for another metric") }
        guard word(11) <= 1 else { throw bad("unknown quantisation \(word(11))") }
        let layout = Layout(n: n, M: M, M0: M0, upperLists: Int(word(9)), sq: word(11) == 1, dim: dim)
        guard layout.total == bytes.count, M0 == 2 * M, HNSWConfiguration.validM.contains(M) else { throw bad("size or parameters do not match") }
        let storage: AnyObject
        let base: UnsafeMutableRawPointer
        if let p = bytes.baseAddress, Int(bitPattern: p) % 4 == 0 {
            storage = owner
            // SAFETY: searches never write through the graph pointers (vk_hnsw_search takes the graph
            // as const); the mutable type is only what the C struct declares.
            base = UnsafeMutableRawPointer(mutating: p)
        } else {
            let copy = OwnedMemory(byteCount: bytes.count)
            copy.base.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            storage = copy
            base = copy.base
        }
        var g = graphView(base, layout, dim: dim, metric: metric, vectors: vectors)
        g.entry = word(7)
        g.max_level = Int32(bitPattern: word(8))
        var config = HNSWConfiguration(M: M, efConstruction: Int(word(10)))
        if layout.sq {
            config.sqType = "SQ8"
            config.refine = word(12) == 1
        }
        let index = HNSWIndex(graph: g, storage: storage, memory: UnsafeRawBufferPointer(start: base, count: bytes.count),
                              vectors: vectors, configuration: config, metric: metric, layout: layout, refineNormalizes: refineNormalizes)
        if n > 0, g.entry >= UInt32(n) { throw bad("entry point out of range") }
        return index
    }

    // MARK: Search

    /// Searches each query of `queries` (rows `range`) and offers up to `k` results per query to
    /// `heaps[i - range.lowerBound]` as `(distance, idBase + row)`.
    ///
    /// - Parameters:
    ///   - ef: candidate list size (≥ k is used).
    ///   - excluded: rows never returned (deleted or filtered out); they are still traversed, so the
    ///     graph stays connected and recall holds.
    ///   - refineK: HNSW_SQ built with `refine`: the best `k · max(refineK, 1)` candidates by the
    ///     codes are re-ranked with exact distances on the float vectors.
    package func search(queries: MatrixView, range: Range<Int>, k: Int, ef: Int, excluded: Bitset?, idBase: Int64, heaps: inout [TopK],
                        refineK: Int = 0) {
        precondition(queries.dim == vectors.dim)
        guard count > 0, k > 0 else { return }
        if let quantizer, let sqGraph {
            searchQuantized(quantizer, sqGraph, queries: queries, range: range, k: k, ef: ef, excluded: excluded, idBase: idBase,
                            heaps: &heaps, refineK: refineK)
            return
        }
        let scratch = takeScratch(ef: max(ef, k))
        defer { returnScratch(scratch) }
        var ids = [UInt32](repeating: 0, count: k)
        var dists = [Float](repeating: 0, count: k)
        var g = graph
        let cap = filteredWalkCap(excluded)
        for qi in range {
            let q = queries.row(qi)
            let found: Int
            if let ex = excluded {
                found = ex.words.withUnsafeBufferPointer { words in
                    ids.withUnsafeMutableBufferPointer { idp in
                        dists.withUnsafeMutableBufferPointer { dp in
                            // SAFETY: idp/dp hold k entries; q holds dim floats; words covers ex.capacity bits.
                            vk_hnsw_search(&g, q.baseAddress!, UInt32(k), UInt32(ef), words.baseAddress, ex.capacity, cap,
                                           scratch.pointer, idp.baseAddress!, dp.baseAddress!)
                        }
                    }
                }
            } else {
                found = ids.withUnsafeMutableBufferPointer { idp in
                    dists.withUnsafeMutableBufferPointer { dp in
                        // SAFETY: as above, with no exclusion bitset.
                        vk_hnsw_search(&g, q.baseAddress!, UInt32(k), UInt32(ef), nil, 0, 0, scratch.pointer, idp.baseAddress!, dp.baseAddress!)
                    }
                }
            }
            let h = qi - range.lowerBound
            for j in 0..<found { heaps[h].push(dists[j], id: idBase + Int64(ids[j])) }
        }
    }

    /// The filtered walk's per-expansion cap (`2·M`, the level-0 degree), or 0 for the plain walk.
    ///
    /// With a fraction `s` of the rows allowed, the plain walk computes about `1/s` distances per
    /// allowed candidate it finds; the filtered walk computes distances for allowed nodes only and
    /// pays for the excluded ones with a read of their neighbour lists (a few cache lines, against the
    /// 4·dim bytes of a vector). Below `filteredWalkFraction` allowed, that trade wins.
    func filteredWalkCap(_ excluded: Bitset?) -> UInt32 {
        guard let excluded, count > 0 else { return 0 }
        return filteredWalkCap(fraction: 1 - Double(excluded.count) / Double(count))
    }

    /// ``filteredWalkCap(_:)`` for a fraction of the rows allowed.
    package func filteredWalkCap(fraction allowed: Double) -> UInt32 {
        switch Self.filteredWalkMode {
        case .always: return UInt32(2 * configuration.M)
        case .never: return 0
        case .auto:
            // Two hops reach about (2M)² nodes, of which a fraction `allowed` is allowed; below
            // 1/(2M) that is fewer than one list's worth and the walk loses its way (recall 0.12 at
            // 1 % allowed, ef 400, in HNSWIndexTests), so the plain walk, which traverses excluded
            // nodes, is kept there (the engine scans such segments exactly anyway).
            let lowest = 1 / Double(2 * configuration.M)
            return allowed >= lowest && allowed < Self.filteredWalkFraction ? UInt32(2 * configuration.M) : 0
        }
    }

    /// Allowed fraction below which searches take the filtered walk. Measured on dev at equal ef:
    /// at 50 % allowed the plain walk is faster and finds more (the two-hop candidates are farther),
    /// at 10 % the filtered walk is 2.6–3× faster at a recall within 0.02 — the crossover lies
    /// between; a quarter is the middle of it.
    package static let filteredWalkFraction = 0.25

    package enum FilteredWalkMode: Sendable { case auto, always, never }
    /// `VIREO_HNSW_FILTERED_WALK=always|never` forces one walk, and walking rather than scanning
    /// the allowed rows (a benchmark switch, to measure the walks against each other on the same
    /// build); unset: by `filteredWalkFraction`, and scans where the cost model prefers them.
    package static let filteredWalkMode: FilteredWalkMode = {
        switch ProcessInfo.processInfo.environment["VIREO_HNSW_FILTERED_WALK"] {
        case "always": return .always
        case "never": return .never
        default: return .auto
        }
    }()

    /// HNSW_SQ: the walk on the codes, then exact re-ranking (`refine`) or the codes' distances.
    private func searchQuantized(_ sq: ScalarQuantizer8, _ graph: vk_hnsw_graph, queries: MatrixView, range: Range<Int>, k: Int, ef: Int,
                                 excluded: Bitset?, idBase: Int64, heaps: inout [TopK], refineK: Int) {
        let refine = configuration.refine == true
        // Never more candidates than rows (k and refine_k come from the request).
        let want = refine ? min(k * max(refineK, 1), max(count, k)) : k
        let efUsed = max(ef, want)
        let scratch = takeScratch(ef: efUsed)
        defer { returnScratch(scratch) }
        var ids = [UInt32](repeating: 0, count: want)
        var dists = [Float](repeating: 0, count: want)
        var prepared = [Float](repeating: 0, count: vectors.dim)
        var g = graph
        let cap = filteredWalkCap(excluded)
        let ip = !metric.usesL2Kernel
        for qi in range {
            let q = queries.row(qi)
            var bias: Float = 0
            if ip { bias = sq.prepareDot(q, into: &prepared) } else { sq.prepareL2(q, shift: nil, into: &prepared) }
            let found = prepared.withUnsafeBufferPointer { pq in
                ids.withUnsafeMutableBufferPointer { idp in
                    dists.withUnsafeMutableBufferPointer { dp in
                        // SAFETY: idp/dp hold `want` entries; pq holds dim floats; the words cover ex.capacity bits.
                        if let ex = excluded {
                            return ex.words.withUnsafeBufferPointer { words in
                                vk_hnsw_search(&g, pq.baseAddress!, UInt32(want), UInt32(efUsed), words.baseAddress, ex.capacity, cap,
                                               scratch.pointer, idp.baseAddress!, dp.baseAddress!)
                            }
                        }
                        return vk_hnsw_search(&g, pq.baseAddress!, UInt32(want), UInt32(efUsed), nil, 0, 0, scratch.pointer,
                                              idp.baseAddress!, dp.baseAddress!)
                    }
                }
            }
            let h = qi - range.lowerBound
            if refine {
                for j in 0..<found { heaps[h].push(Distances.refineDistance(metric, q, vectors.row(Int(ids[j])), normalizingRow: refineNormalizes),
                                              id: idBase + Int64(ids[j])) }
            } else {
                // IP: the walk's distances omit −⟨q, vmin⟩.
                for j in 0..<found { heaps[h].push(ip ? dists[j] - bias : dists[j], id: idBase + Int64(ids[j])) }
            }
        }
    }


    private final class Scratch: @unchecked Sendable {
        // SAFETY: a scratch is used by one search at a time (taken from and returned to the pool
        // under its mutex).
        let pointer: OpaquePointer
        let ef: Int
        init(n: Int, ef: Int) {
            pointer = vk_hnsw_scratch_create(UInt32(n), UInt32(ef))
            self.ef = ef
        }
        deinit { vk_hnsw_scratch_destroy(pointer) }
    }

    private func takeScratch(ef: Int) -> Scratch {
        let wanted = max(ef, 2 * configuration.M) + 2
        if let s = scratchPool.withLock({ pool -> Scratch? in
            guard let i = pool.lastIndex(where: { $0.ef >= wanted }) else { return nil }
            return pool.remove(at: i)
        }) { return s }
        return Scratch(n: count, ef: max(wanted, 256))
    }

    private func returnScratch(_ s: Scratch) {
        scratchPool.withLock { if $0.count < 64 { $0.append(s) } }
    }

    // MARK: Invariants

    /// Checks the graph invariants; returns nil when they hold, else a description.
    public func checkInvariants() -> String? {
        var g = graph
        var bad: UInt32 = 0
        let code = vk_hnsw_check(&g, &bad)
        guard code != 0 else { return nil }
        let what = [1: "list longer than its capacity", 2: "neighbour id out of range", 3: "self link",
                    4: "duplicate neighbour", 5: "link to a node below the level", 6: "entry point is not on the top level"][Int(code)] ?? "code \(code)"
        return "\(what) at node \(bad)"
    }

    /// Degree statistics (for tests and `describe`).
    public var level0Degrees: [Int] {
        (0..<count).map { i in Int(graph.links0[i * Int(graph.M0 + 1)]) }
    }
}

/// Zero-filled, 64-byte-aligned memory owned by an object.
final class OwnedMemory: @unchecked Sendable {
    // SAFETY: allocated in init, freed in deinit; written only during a build (single owner) before
    // the index is shared.
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 64), alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 64))
    }
    deinit { base.deallocate() }
}

/// The graph during a parallel build, shared by the worker threads.
private final class GraphBox: @unchecked Sendable {
    // SAFETY: workers mutate the graph only through vk_hnsw_insert, which synchronises with per-node
    // locks and the entry-point mutex; the box is released after concurrentPerform returns.
    let pointer: UnsafeMutablePointer<vk_hnsw_graph>
    let build: OpaquePointer
    init(graph: vk_hnsw_graph) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: graph)
        build = vk_hnsw_build_create(pointer)
    }
    func release() {
        vk_hnsw_build_destroy(build)
        pointer.deallocate()
    }
}
