import Dispatch
import Synchronization
import VireoKernels

/// A k-nearest-neighbour search over one vector field.
public struct SearchRequest: Sendable {
    /// The query vectors (`nq` of them, each of the field's dimension).
    public var vectors: [[Float]]
    /// The vector field to search; may be omitted when the collection has exactly one.
    public var annsField: String?
    /// Results per query (Milvus `limit`/`topK`), 1…16,384.
    public var limit: Int
    /// The metric; must match the field's metric when given (as in Milvus).
    public var metric: Metric?
    /// Fields returned with each hit (`["*"]` for all); the primary key is always returned.
    public var outputFields: [String]

    public init(vectors: [[Float]], annsField: String? = nil, limit: Int = 10, metric: Metric? = nil, outputFields: [String] = []) {
        self.vectors = vectors
        self.annsField = annsField
        self.limit = limit
        self.metric = metric
        self.outputFields = outputFields
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
}

/// Where a candidate came from, packed into the 64-bit id the top-k heaps carry:
/// shard (16 bits) · segment ordinal within the shard snapshot (16 bits) · row (32 bits).
struct HitAddress {
    var shard: Int
    var ordinal: Int
    var row: Int

    static func pack(shard: Int, ordinal: Int, row: Int) -> Int64 {
        Int64(shard) << 48 | Int64(ordinal) << 32 | Int64(row)
    }

    init(_ packed: Int64) {
        shard = Int(packed >> 48)
        ordinal = Int((packed >> 32) & 0xFFFF)
        row = Int(packed & 0xFFFF_FFFF)
    }
}

/// Exact search over shard snapshots: every sealed segment and growing block is scanned with the
/// blocked GEMM path (query batches) or the SIMD path (single queries); queries are split across
/// threads, each with its own scanner and heaps, so no locks are taken while scanning.
enum ExactSearch {
    static func run(
        queries: MatrixView, field: Int, metric: Metric, k: Int, snapshots: [ShardSnapshot],
        backend: any ComputeBackend, threads: Int
    ) -> [[(distance: Float, id: Int64)]] {
        let nq = queries.rows
        // Enough queries per chunk to keep GEMM efficient; at most one chunk per thread.
        let chunks = max(1, min(threads, nq / 32))
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
                    scanner.scan(queries: slice, base: seg.vectors[field], metric: metric,
                                 excluded: snap.tombstones[seg.id], idBase: HitAddress.pack(shard: s, ordinal: ord, row: 0),
                                 heaps: &heaps)
                }
                let ord = snap.sealed.count
                let tomb = snap.growing.rowCount > 0 ? snap.tombstones[snap.growing.id] : nil
                for block in snap.growing.blocks {
                    scanner.scan(queries: slice, base: block.vectors[field], metric: metric,
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
