import VireoIndex
import VireoKernels

/// What the engine needs of a built index of one sealed segment's vector field.
protocol SegmentIndex: SerializableIndex {
    /// Offers up to `k` results per query of `queries[range]` to `heaps[i - range.lowerBound]`.
    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend)
    /// Whether this index was built with what `spec` asks for (otherwise it is rebuilt).
    func matches(_ spec: IndexSpec, rows: Int) -> Bool
    /// The metric this index ranks by; a search with another metric scans the segment exactly.
    var metric: Metric { get }
    /// Whether scanning the `allowed` rows of `rows` exactly is expected to cost less than an index
    /// search that must skip the others.
    func prefersExactScan(allowed: Int, rows: Int, k: Int, params: ResolvedSearchParameters, queries: Int) -> Bool
}

extension SegmentIndex {
    /// Default: scan when fewer than 2 % of the rows (or fewer than `4·max(ef, k)`) are allowed.
    func prefersExactScan(allowed: Int, rows: Int, k: Int, params: ResolvedSearchParameters, queries: Int) -> Bool {
        Double(allowed) < 0.02 * Double(rows) || allowed < 4 * max(params.ef, k)
    }
}

/// Search parameters with defaults applied.
struct ResolvedSearchParameters: Sendable {
    var ef: Int
    var nprobe: Int
    var refineK: Int
}

extension HNSWIndex: SegmentIndex {
    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend) {
        search(queries: queries, range: range, k: k, ef: params.ef, excluded: excluded, idBase: idBase, heaps: &heaps, refineK: params.refineK)
    }

    /// Cost model, in distance computations. A scan of the allowed rows costs `allowed` of them,
    /// sequential (and, for a batch of queries, blocked into GEMMs, several times cheaper each).
    /// A walk collects `ef` allowed candidates at about `2·M` distances per expansion, random
    /// accesses, each costing about twice a sequential one:
    ///
    /// - one query per call (fewer than ``SegmentSearch/gemmQueries``): with few rows allowed the
    ///   walk is the filtered one (distances for allowed nodes only, ``HNSWIndex/filteredWalkCap(_:)``),
    ///   whose cost does not grow with `1/s`: scan when `allowed < 2 · 2M · ef`;
    /// - a batch taking the filtered walk: the allowed rows (under a quarter) are gathered into GEMM
    ///   blocks (``ExactScanner/scan(queries:base:rows:metric:inverseNorms:idBase:heaps:)``), where a
    ///   row costs about 1/`batchWalkCost` of a walk's distance: scan when
    ///   `allowed < batchWalkCost · 2M · ef`;
    /// - a batch taking the plain walk, which expands about `ef / s` nodes for `ef` allowed
    ///   candidates, against a GEMM scan: scan when `allowed² / rows < 2·M·ef`.
    ///
    /// Measured on `../shared/data/dev` (bench/README.md, "Filtered search"): at 10 % allowed a
    /// batch scans at 14,000–17,600 QPS (recall 1) against 11,000 for the filtered walk at ef 10
    /// (recall 0.89); one query per call walks at 5,700 (ef 16) against 2,900 for the scan.
    func prefersExactScan(allowed: Int, rows: Int, k: Int, params: ResolvedSearchParameters, queries: Int) -> Bool {
        let ef = Double(max(params.ef, k))
        if allowed < 4 * Int(ef) { return true }
        guard allowed < rows else { return false }
        // The benchmark switch that forces one walk also forces walking (to measure the walks).
        if HNSWIndex.filteredWalkMode != .auto { return false }
        let filteredWalk = filteredWalkCap(fraction: Double(allowed) / Double(rows)) > 0
        if queries < SegmentSearch.gemmQueries, filteredWalk {
            return Double(allowed) < 4 * Double(configuration.M) * ef
        }
        if filteredWalk {
            return Double(allowed) < Self.batchWalkCost * 2 * Double(configuration.M) * ef
        }
        return Double(allowed) * Double(allowed) / Double(rows) < 2 * Double(configuration.M) * ef
    }

    /// A filtered walk's distance in gathered GEMM rows, batch path: 91 µs per query for the walk at
    /// ef 10 (2M·ef = 320 distances) against 59 µs for 5,000 gathered rows (dev, 10 % allowed, Zen 3).
    static let batchWalkCost = 24.0

    func matches(_ spec: IndexSpec, rows: Int) -> Bool {
        (spec.kind == .hnsw || spec.kind == .hnswSQ) && configuration.M == spec.hnsw.M && configuration.efConstruction == spec.hnsw.efConstruction
            && configuration.isQuantized == spec.hnsw.isQuantized && (configuration.refine == true) == (spec.hnsw.refine == true)
    }
}

extension IVFIndex: SegmentIndex {
    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend) {
        search(queries: queries, range: range, k: k, nprobe: params.nprobe, refine: params.refineK, excluded: excluded,
               idBase: idBase, heaps: &heaps, backend: backend)
    }

    func matches(_ spec: IndexSpec, rows: Int) -> Bool {
        guard [.ivfFlat, .ivfPQ, .ivfSQ8, .binIvfFlat].contains(spec.kind) else { return false }
        let c = spec.ivf
        return configuration.encoding == c.encoding && configuration.nlist == c.nlist && (c.encoding == .flat || configuration.m == c.m)
    }
}

/// Every index a segment holds is an ``IndexEnvelope``: the inner graph or lists, the metric, and
/// (COSINE over vectors stored as inserted) the normalised copy the inner index reads.
extension IndexEnvelope: SegmentIndex where Inner: SegmentIndex {
    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend) {
        inner.search(queries: queries, range: range, k: k, params: params, excluded: excluded, idBase: idBase, heaps: &heaps, backend: backend)
    }

    func matches(_ spec: IndexSpec, rows: Int) -> Bool { spec.resolvedMetric == metric && inner.matches(spec, rows: rows) }

    func prefersExactScan(allowed: Int, rows: Int, k: Int, params: ResolvedSearchParameters, queries: Int) -> Bool {
        inner.prefersExactScan(allowed: allowed, rows: rows, k: k, params: params, queries: queries)
    }
}

/// An index over only the rows of a segment that have a vector for the field (a nullable vector field
/// with null rows): the inner index is built on a gathered copy of those rows, so a row without a vector
/// is never a graph node or list member, and its hits are mapped back to segment rows. The stored
/// form is the inner index's; the mapping is derived again from the segment's null bitmap (immutable,
/// like the segment) when the index is opened.
final class ValidRowsIndex: SegmentIndex, ForwardingSerializableIndex {
    let inner: any SegmentIndex
    /// Segment row of each inner row, ascending.
    let rows: [Int]

    init(inner: any SegmentIndex, rows: [Int]) {
        self.inner = inner
        self.rows = rows
    }

    var storedIndex: any SerializableIndex { inner }
    var metric: Metric { inner.metric }
    func matches(_ spec: IndexSpec, rows: Int) -> Bool { inner.matches(spec, rows: self.rows.count) }

    func prefersExactScan(allowed: Int, rows: Int, k: Int, params: ResolvedSearchParameters, queries: Int) -> Bool {
        inner.prefersExactScan(allowed: allowed, rows: self.rows.count, k: k, params: params, queries: queries)
    }

    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend) {
        // The excluded rows (tombstones, filter, the null rows themselves) in the inner index's row space.
        var innerExcluded: Bitset?
        if let excluded {
            var bits = Bitset(capacity: rows.count)
            for (j, r) in rows.enumerated() where excluded.contains(r) { bits.insert(j) }
            innerExcluded = bits
        }
        var local = [TopK](repeating: TopK(k: k), count: range.count)
        inner.search(queries: queries, range: range, k: k, params: params, excluded: innerExcluded, idBase: 0, heaps: &local, backend: backend)
        for i in local.indices {
            for hit in local[i].sorted() { heaps[i].push(hit.distance, id: idBase + Int64(rows[Int(hit.id)])) }
        }
    }
}

extension IndexSpec {
    /// ``build(vectors:storedNormalized:configuration:progress:)`` over the rows not in `nulls` (all
    /// rows when nil); nil when no row has a vector.
    func build(vectors: MatrixView, nulls: Bitset?, storedNormalized: Bool, configuration: Configuration,
               progress: IndexBuildProgress) throws(IndexError) -> (any SegmentIndex)? {
        guard let nulls, !nulls.isEmpty else {
            return try build(vectors: vectors, storedNormalized: storedNormalized, configuration: configuration, progress: progress)
        }
        let valid = nulls.complementIndices(universe: vectors.rows)
        guard !valid.isEmpty else { return nil }
        let gathered = MatrixView.gather([(view: vectors, rows: valid)], dim: vectors.dim)
        guard let inner = try build(vectors: gathered, storedNormalized: storedNormalized, configuration: configuration, progress: progress) else {
            return nil
        }
        return ValidRowsIndex(inner: inner, rows: valid)
    }

    /// ``open(stored:owner:vectors:storedNormalized:)`` of an index built by
    /// ``build(vectors:nulls:storedNormalized:configuration:progress:)``.
    func open(stored: UnsafeRawBufferPointer, owner: AnyObject, vectors: MatrixView, nulls: Bitset?,
              storedNormalized: Bool) throws(IndexError) -> (any SegmentIndex)? {
        guard let nulls, !nulls.isEmpty else { return try open(stored: stored, owner: owner, vectors: vectors, storedNormalized: storedNormalized) }
        let valid = nulls.complementIndices(universe: vectors.rows)
        guard !valid.isEmpty else { return nil }
        let gathered = MatrixView.gather([(view: vectors, rows: valid)], dim: vectors.dim)
        guard let inner = try open(stored: stored, owner: owner, vectors: gathered, storedNormalized: storedNormalized) else { return nil }
        return ValidRowsIndex(inner: inner, rows: valid)
    }

    /// The metric of a vector index (COSINE, Milvus' default, when none was resolved).
    var resolvedMetric: Metric { metric ?? .cosine }

    /// Builds this index over `vectors` (the segment's vectors as stored). COSINE over vectors that
    /// are not stored normalised builds on a normalised copy, which HNSW keeps; HNSW_SQ normalises
    /// block by block as it encodes and keeps no copy.
    func build(vectors: MatrixView, storedNormalized: Bool, configuration: Configuration,
               progress: IndexBuildProgress) throws(IndexError) -> (any SegmentIndex)? {
        let metric = resolvedMetric
        let normalizes = metric == .cosine && !storedNormalized
        switch kind {
        case .flat, .binFlat, .inverted, .stlSort, .trie, .bitmap, .sparseInvertedIndex, .sparseWAND: return nil
        case .hnswSQ:
            // Encodes the rows a block at a time and builds on the codes: the build holds the codes
            // rather than the rows.
            let inner = try HNSWIndex.build(vectors: vectors, metric: metric, configuration: hnsw, threads: configuration.indexBuildThreads,
                                            progress: progress, normalizingRows: normalizes)
            return IndexEnvelope(inner: inner, metric: metric, normalized: nil)
        case .hnsw:
            let copy = normalizes ? vectors.normalizedCopy() : nil
            let inner = try HNSWIndex.build(vectors: copy ?? vectors, metric: metric, configuration: hnsw, threads: configuration.indexBuildThreads,
                                            progress: progress)
            return IndexEnvelope(inner: inner, metric: metric, normalized: copy)
        case .ivfFlat, .ivfPQ, .ivfSQ8, .binIvfFlat:
            let copy = normalizes ? vectors.normalizedCopy() : nil
            let source = copy ?? vectors
            // A quantised index encodes the normalised copy but does not keep it (its point is to hold a
            // quarter of the bytes): re-ranking reads the vectors as stored and divides by their norms.
            // IVF_FLAT scans the vectors as stored the same way (one copy of the vectors).
            let kept = kind.keepsNormalizedCopy ? copy : nil
            let refineVectors = !kind.keepsNormalizedCopy && copy != nil ? vectors : nil
            let inner = try IVFIndex.build(vectors: source, metric: metric, configuration: ivf, backend: configuration.computeBackend,
                                           threads: configuration.indexBuildThreads, progress: progress, refineVectors: refineVectors)
            return IndexEnvelope(inner: inner, metric: metric, normalized: kept)
        }
    }

    /// Opens a stored index of this kind in place; nil when it was built for another metric (it is
    /// then rebuilt). A legacy blob (no envelope, written when COSINE vectors were stored normalised)
    /// serves L2/IP, or COSINE over a field that still stores normalised vectors.
    func open(stored: UnsafeRawBufferPointer, owner: AnyObject, vectors: MatrixView, storedNormalized: Bool) throws(IndexError) -> (any SegmentIndex)? {
        let metric = resolvedMetric
        let source: MatrixView
        let copy: MatrixView?
        let bytes: UnsafeRawBufferPointer
        let normalizesOnRefine = !kind.keepsNormalizedCopy && metric == .cosine && !storedNormalized
        if let envelope = try IndexEnvelope<HNSWIndex>.parse(stored, owner: owner) {
            guard envelope.metric == metric else { return nil }
            guard (envelope.normalized != nil) == (metric == .cosine && !storedNormalized && kind.keepsNormalizedCopy) else { return nil }
            copy = envelope.normalized
            source = copy ?? vectors
            bytes = envelope.inner
        } else {
            guard metric != .cosine || storedNormalized else { return nil }
            copy = nil
            source = vectors
            bytes = stored
        }
        switch kind {
        case .flat, .binFlat, .inverted, .stlSort, .trie, .bitmap, .sparseInvertedIndex, .sparseWAND: return nil
        case .hnsw, .hnswSQ:
            let inner = try HNSWIndex.open(stored: bytes, owner: owner, vectors: source, metric: metric, refineNormalizes: normalizesOnRefine)
            return IndexEnvelope(inner: inner, metric: metric, normalized: copy)
        case .ivfFlat, .ivfPQ, .ivfSQ8, .binIvfFlat:
            let inner = try IVFIndex.open(stored: bytes, owner: owner, vectors: source, metric: metric, configuration: ivf,
                                          refineNormalizes: normalizesOnRefine)
            return IndexEnvelope(inner: inner, metric: metric, normalized: copy)
        }
    }

    /// Whether sealed segments of a vector field get a stored index of this kind.
    var isBuilt: Bool { kind != .flat && kind != .binFlat && !kind.isScalar && !kind.isSparse }
}
