import Dispatch
import Synchronization
import VireoKernels

/// A k-nearest-neighbour search over one vector field.
public struct SearchRequest: Sendable {
    /// The query vectors (`nq` of them, each of the field's dimension) of a dense vector field.
    public var vectors: [[Float]]
    /// The queries of a sparse vector field with metric IP (user-given sparse vectors).
    public var sparseVectors: [SparseVector] = []
    /// The queries of a BM25 function's output field: raw text, analysed with the input field's
    /// analyzer (Milvus' full-text search).
    public var texts: [String] = []
    /// The vector field to search; may be omitted when the collection has exactly one.
    public var annsField: String?
    /// Results per query (Milvus `limit`/`topK`), 1…16,384.
    public var limit: Int
    /// Results skipped first (Milvus `offset`); `offset + limit` ≤ 16,384.
    public var offset: Int
    /// The metric: must match the metric of the field's index when it has one (as in Milvus); ranks
    /// an exact search of a field without an index (COSINE when nil).
    public var metric: Metric?
    /// Fields returned with each hit (`["*"]` for all); the primary key is always returned.
    public var outputFields: [String]
    /// Index parameters for this call (`ef` for HNSW).
    public var params: SearchParameters
    /// A Milvus filter expression; only rows satisfying it are returned.
    public var filter: String?
    /// Only rows of these partitions (all when nil).
    public var partitions: [String]?
    /// When the work stops: checked between segments (and blocks of a growing segment); a search
    /// past it throws ``VireoError/Code/deadlineExceeded`` instead of running on. Cancelling the
    /// calling task stops it the same way (``VireoError/Code/cancelled``).
    public var deadline: ContinuousClock.Instant?
    /// A bound on the bytes of the returned hits with their output fields (about: keys and values);
    /// a search whose result would pass it fails with ``VireoError/Code/resultTooLarge`` instead of
    /// holding it. Nil: no bound.
    public var maxResultBytes: Int?
    /// Range search: only hits whose score lies in the range (Milvus' `radius` / `range_filter`).
    public var range: ScoreRange?
    /// Grouping search: `limit` groups of hits sharing a field value (Milvus' `group_by_field`).
    public var grouping: SearchGrouping?
    /// Range and grouping searches look at more candidates per query until the range or the groups
    /// are complete: at most this many (at least `limit + offset`, times `group_size`; at most
    /// ``maxLimit``, the default). A server bounds it by its hit budget over all queries.
    public var maxCandidates: Int?
    /// Only hits strictly worse than this score (larger L2 distances, smaller IP / COSINE
    /// similarities): the next page of a search iterator whose last page ended at this score.
    public var scoreBeyond: Float?

    public init(vectors: [[Float]], annsField: String? = nil, limit: Int = 10, metric: Metric? = nil, outputFields: [String] = [],
                params: SearchParameters = SearchParameters(), filter: String? = nil, partitions: [String]? = nil, offset: Int = 0,
                deadline: ContinuousClock.Instant? = nil) {
        self.deadline = deadline
        self.offset = offset
        self.filter = filter
        self.partitions = partitions
        self.vectors = vectors
        self.annsField = annsField
        self.limit = limit
        self.metric = metric
        self.outputFields = outputFields
        self.params = params
    }

    public static let maxLimit = 16_384
}

/// One result of a search.
public struct SearchHit: Sendable, Hashable {
    public var id: PrimaryKey
    /// Milvus' score for the metric: squared L2 distance (smaller is closer), or inner product /
    /// cosine similarity (larger is closer).
    public var score: Float
    /// The requested output fields.
    public var fields: Row
    /// In a grouping search, the value of the group this hit belongs to.
    public var groupValue: FieldValue?

    public init(id: PrimaryKey, score: Float, fields: Row, groupValue: FieldValue? = nil) {
        self.id = id
        self.score = score
        self.fields = fields
        self.groupValue = groupValue
    }
}

/// Where a candidate came from, packed into the 64-bit id the top-k heaps carry:
/// shard (7 bits, ``CollectionSchema/maxShards`` ≤ 127) · segment ordinal within the shard snapshot
/// (24 bits: 16.7 million segments per shard) · row (32 bits). The sign bit stays clear.
struct HitAddress {
    var shard: Int
    var ordinal: Int
    var row: Int

    static let maxOrdinal = 1 << 24 - 1

    static func pack(shard: Int, ordinal: Int, row: Int) -> Int64 {
        precondition(shard < 128 && ordinal <= maxOrdinal && row <= Int(UInt32.max), "hit address out of range")
        return Int64(shard) << 56 | Int64(ordinal) << 32 | Int64(row)
    }

    init(_ packed: Int64) {
        shard = Int(packed >> 56)
        ordinal = Int((packed >> 32) & 0xFF_FFFF)
        row = Int(packed & 0xFFFF_FFFF)
    }
}

/// Search over shard snapshots. Each sealed segment with a ready index on the field is searched
/// through it (HNSW, `ef`); other segments and growing blocks are scanned exactly (blocked GEMM for
/// query batches, SIMD for single queries). Queries are split across threads, each with its own
/// scanner and heaps, so nothing is locked while searching.
///
/// **Exact fallback.** A segment is scanned exactly instead of through its index when the index
/// says a scan of the allowed rows is cheaper (``SegmentIndex/prefersExactScan(allowed:rows:k:params:)``):
/// with most rows deleted or filtered out, a graph walk visits mostly excluded nodes, and a scan of
/// the allowed rows is both faster and exact.
enum SegmentSearch {
    /// Queries per chunk from which exact scans are blocked GEMMs rather than one SIMD pass per query.
    static let gemmQueries = 32

    static func run(
        queries: MatrixView, field: Int, metric: Metric, k: Int, params: ResolvedSearchParameters, exact: Bool, snapshots: [ShardSnapshot],
        backend: any ComputeBackend, threads: Int, budget: WorkBudget? = nil, includeGrowing: Bool = true
    ) -> [[(distance: Float, id: Int64)]] {
        let nq = queries.rows
        // Rows without a vector for this field join the excluded rows: no scan or index returns them.
        let snapshots = snapshots.map { $0.excludingNullVectors(field: field) }
        let indexed = !exact && snapshots.contains { $0.sealed.contains { $0.indexes[field] != nil } }
        // Graph search parallelises per query; GEMM wants enough queries per chunk to stay efficient.
        let chunks = max(1, min(threads, indexed ? nq : nq / gemmQueries))
        let perChunk = (nq + chunks - 1) / chunks
        let results = Mutex<[[(distance: Float, id: Int64)]]>(Array(repeating: [], count: nq))
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * perChunk
            let count = min(perChunk, nq - start)
            guard count > 0 else { return }
            let slice = queries.slice(start, count)
            var scanner = ExactScanner(backend: backend)
            var heaps = [TopK](repeating: TopK(k: k), count: count)
            for (s, snap) in snapshots.enumerated() {
                for (ord, seg) in snap.sealed.enumerated() {
                    if budget?.isExpired == true { break }  // the caller reports why
                    let tomb = snap.tombstones[seg.id]
                    let idBase = HitAddress.pack(shard: s, ordinal: ord, row: 0)
                    let allowed = seg.rowCount - (tomb?.count ?? 0)
                    if !exact, let index = seg.indexes[field], index.metric == metric,
                       !index.prefersExactScan(allowed: allowed, rows: seg.rowCount, k: k, params: params, queries: count) {
                        // IVF: with a fraction f of rows allowed, each probed list holds f as many
                        // candidates, so probe nprobe / f lists to keep the candidate count (and recall).
                        var p = params
                        if allowed < seg.rowCount {
                            let f = Double(allowed) / Double(seg.rowCount)
                            p.nprobe = min(IVFConfiguration.validNprobe.upperBound, Int((Double(params.nprobe) / f).rounded(.up)))
                        }
                        index.search(queries: slice, range: 0..<count, k: k, params: p, excluded: tomb, idBase: idBase,
                                     heaps: &heaps, backend: backend)
                    } else if let tomb, allowed * 4 < seg.rowCount {
                        // Few rows left (a selective filter): distances for those rows only.
                        let rows = tomb.complementIndices(universe: seg.rowCount)
                        scanner.scan(queries: slice, base: seg.vectors[field], rows: rows, metric: metric, inverseNorms: seg.inverseNorms[field],
                                     idBase: idBase, heaps: &heaps)
                    } else {
                        scanner.scan(queries: slice, base: seg.vectors[field], metric: metric, inverseNorms: seg.inverseNorms[field],
                                     excluded: tomb, idBase: idBase, heaps: &heaps)
                    }
                }
                guard includeGrowing else { continue }
                let ord = snap.sealed.count
                let tomb = snap.growing.rowCount > 0 ? snap.tombstones[snap.growing.id] : nil
                for block in snap.growing.blocks {
                    if budget?.isExpired == true { break }
                    scanner.scan(queries: slice, base: block.vectors[field], metric: metric, inverseNorms: block.inverseNorms[field],
                                 excluded: tomb, excludedOffset: block.firstRow,
                                 idBase: HitAddress.pack(shard: s, ordinal: ord, row: block.firstRow),
                                 heaps: &heaps)
                }
            }
            let sorted = heaps.map { $0.sorted() }
            results.withLock { r in
                for i in 0..<count { r[start + i] = sorted[i] }
            }
        }
        return results.withLock { $0 }
    }
}

extension SearchParameters {
    /// Validates the parameters and applies the defaults.
    func resolved(limit: Int) throws -> ResolvedSearchParameters {
        do {
            if let ef { try HNSWConfiguration.validateEf(ef) }
        } catch {
            throw VireoError.invalid(.invalidSearch, error.message)
        }
        if let nprobe, !IVFConfiguration.validNprobe.contains(nprobe) {
            throw VireoError.invalid(.invalidSearch, "nprobe = \(nprobe) is out of range; the number of lists probed must be in \(IVFConfiguration.validNprobe.lowerBound)...\(IVFConfiguration.validNprobe.upperBound)")
        }
        if let refineK, !(0...1024).contains(refineK) {
            throw VireoError.invalid(.invalidSearch, "refine_k = \(refineK) is out of range; use 0...1024 (candidates re-ranked = limit × refine_k)")
        }
        return ResolvedSearchParameters(ef: max(ef ?? max(64, limit), limit), nprobe: nprobe ?? 8, refineK: refineK ?? 0)
    }
}

extension ShardSnapshot {
    /// This snapshot with the rows that have no vector for vector field `field` added to the
    /// tombstones (for one search of that field; nothing changes when the field has no null row).
    func excludingNullVectors(field: Int) -> ShardSnapshot {
        var out = self
        for seg in sealed {
            guard let nulls = seg.nullVectors[field] else { continue }
            out.tombstones[seg.id] = out.tombstones[seg.id].map { $0.union(nulls) } ?? nulls
        }
        let blocks = growing.blocks.filter { $0.nullVectors[field] != nil }
        if !blocks.isEmpty {
            var bits = out.tombstones[growing.id] ?? Bitset(capacity: growing.rowCount)
            bits.reserve(growing.rowCount)
            for block in blocks {
                let nulls = block.nullVectors[field]!
                for i in 0..<block.count where nulls.contains(i) { bits.insert(block.firstRow + i) }
            }
            out.tombstones[growing.id] = bits
        }
        return out
    }
}
