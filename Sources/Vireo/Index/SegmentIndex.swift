import VireoIndex
import VireoKernels

/// What the engine needs of a built index of one sealed segment's vector field.
protocol SegmentIndex: SerializableIndex {
    /// Offers up to `k` results per query of `queries[range]` to `heaps[i - range.lowerBound]`.
    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend)
    /// Whether this index was built with what `spec` asks for (otherwise it is rebuilt).
    func matches(_ spec: IndexSpec, rows: Int) -> Bool
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
        search(queries: queries, range: range, k: k, ef: params.ef, excluded: excluded, idBase: idBase, heaps: &heaps)
    }

    func matches(_ spec: IndexSpec, rows: Int) -> Bool {
        spec.kind == .hnsw && configuration.M == spec.hnsw.M && configuration.efConstruction == spec.hnsw.efConstruction
    }
}

extension IVFIndex: SegmentIndex {
    func search(queries: MatrixView, range: Range<Int>, k: Int, params: ResolvedSearchParameters, excluded: Bitset?,
                idBase: Int64, heaps: inout [TopK], backend: any ComputeBackend) {
        search(queries: queries, range: range, k: k, nprobe: params.nprobe, refine: params.refineK, excluded: excluded,
               idBase: idBase, heaps: &heaps, backend: backend)
    }

    func matches(_ spec: IndexSpec, rows: Int) -> Bool {
        guard spec.kind == .ivfFlat || spec.kind == .ivfPQ else { return false }
        let c = spec.ivf
        return configuration.encoding == c.encoding && configuration.nlist == c.nlist && (c.encoding == .flat || configuration.m == c.m)
    }
}

extension IndexSpec {
    /// Builds this index over `vectors`.
    func build(vectors: MatrixView, metric: Metric, configuration: Configuration, progress: IndexBuildProgress) throws(IndexError) -> (any SegmentIndex)? {
        switch kind {
        case .flat, .inverted, .stlSort, .trie, .bitmap: return nil
        case .hnsw:
            return try HNSWIndex.build(vectors: vectors, metric: metric, configuration: hnsw, threads: configuration.indexBuildThreads, progress: progress)
        case .ivfFlat, .ivfPQ:
            return try IVFIndex.build(vectors: vectors, metric: metric, configuration: ivf, backend: configuration.computeBackend,
                                      threads: configuration.indexBuildThreads, progress: progress)
        }
    }

    /// Opens a stored index of this kind in place.
    func open(stored: UnsafeRawBufferPointer, owner: AnyObject, vectors: MatrixView, metric: Metric) throws(IndexError) -> (any SegmentIndex)? {
        switch kind {
        case .flat, .inverted, .stlSort, .trie, .bitmap: return nil
        case .hnsw: return try HNSWIndex.open(stored: stored, owner: owner, vectors: vectors, metric: metric)
        case .ivfFlat, .ivfPQ: return try IVFIndex.open(stored: stored, owner: owner, vectors: vectors, metric: metric, configuration: ivf)
        }
    }

    /// Whether sealed segments of a vector field get a stored index of this kind.
    var isBuilt: Bool { kind != .flat && !kind.isScalar }
}
