import Dispatch
import Synchronization
import VireoKernels
import VireoStorage
import VireoText

/// What one segment holds of a sparse vector field for searching: a sealed segment's posting lists
/// (``SparseInvertedIndex``, built from the stored rows the first time the segment is searched and
/// kept while the segment lives), or a growing block's rows, scored exhaustively with the same
/// arithmetic. Both count their documents for the BM25 statistics.
final class SparseSegmentData: Sendable {
    /// Sealed segments: the posting lists.
    let index: SparseInvertedIndex?
    /// Growing blocks: the rows (null rows as empty vectors, which score nothing).
    let rows: [SparseVector]
    /// Rows with a value (BM25: documents) and the sum of their values (BM25: Σ document length).
    let documents: Int64
    let totalLength: Int64
    /// Growing blocks: each term's document frequency (sealed segments ask their index).
    private let frequencies: [UInt32: Int64]

    /// A sealed segment's stored index (every row a document: BM25 output rows are never null).
    init(index: SparseInvertedIndex) {
        self.index = index
        rows = []
        documents = Int64(index.rowCount)
        totalLength = index.totalLength
        frequencies = [:]
    }

    static func buildIndex(rows: [SparseVector?], metric: SparseMetric) throws -> SparseInvertedIndex {
        do {
            return try SparseInvertedIndex(rows: rows.map { $0 ?? .empty }, metric: metric)
        } catch {
            throw VireoError(.corrupted, kind: .internal, "building the sparse index of a segment: \(error.message)")
        }
    }

    init(rows: [SparseVector?], metric: SparseMetric, indexed: Bool) throws {
        var documents: Int64 = 0
        var total: Int64 = 0
        for r in rows {
            guard let r else { continue }
            documents += 1
            total += Int64(r.sum.rounded())
        }
        self.documents = documents
        totalLength = total
        let dense = rows.map { $0 ?? .empty }
        if indexed {
            index = try Self.buildIndex(rows: rows, metric: metric)
            self.rows = []
            frequencies = [:]
        } else {
            index = nil
            self.rows = dense
            var df: [UInt32: Int64] = [:]
            if metric == .bm25 { for r in dense { for t in r.indices { df[t, default: 0] += 1 } } }
            frequencies = df
        }
    }

    func documentFrequency(_ term: UInt32) -> Int64 {
        if let index { return Int64(index.documentFrequency(of: term)) }
        return frequencies[term] ?? 0
    }

    /// The top `k` rows for `query` (rows in `excluded` never returned).
    func search(_ query: SparseVector, k: Int, metric: SparseMetric, statistics: BM25Statistics, options: SparseSearchOptions,
                excluded: Bitset?, firstRow: Int) -> [SparseHit] {
        let skip: ((UInt32) -> Bool)? = excluded.map { bits in { bits.contains(firstRow + Int($0)) } }
        if let index { return index.search(query, k: k, statistics: statistics, options: options, excluded: skip) }
        return SparseExhaustive.search(query, rows: rows, metric: metric, k: k, statistics: statistics, options: options, excluded: skip)
    }
}

extension ColumnCache {
    /// The sparse search data of a field (keyed by field and metric), built by `build` on first use.
    func sparseData(_ key: String, build: () throws -> SparseSegmentData) rethrows -> SparseSegmentData {
        if let d = sparse.withLock({ $0[key] }) { return d }
        let built = try build()
        sparse.withLock { $0[key] = built }
        return built
    }
}

extension Shard {
    /// The sparse rows of `field` in encoded scalar rows (nil for a null value).
    func sparseRows(_ encoded: [[UInt8]], field: String) -> [SparseVector?] {
        let codec = self.codec
        let wanted: Set<String> = [field]
        var row = Row()
        return encoded.map { bytes in
            row.removeAll(keepingCapacity: true)
            bytes.withUnsafeBytes { codec.decodeScalars($0, wanted: wanted, into: &row) }
            if case let .sparseVector(v)? = row[field] { return v }
            return nil
        }
    }

    func sparseData(_ seg: SealedSegment, field: String, metric: SparseMetric) throws -> SparseSegmentData {
        try seg.columns.sparseData("\(field)/\(metric.rawValue)") {
            // The index stored at seal, else (a segment sealed before Vireo stored it) built from the rows.
            if let ordinal = codec.schema.fields.firstIndex(where: { $0.name == field }) {
                let what = "segment \(seg.id) sparse index of field '\(field)'"
                let stored = try environment.read { txn -> [UInt8]? in
                    guard let bytes = try txn.get(blobs, key: SegmentKeys.sparseIndex(seg.id, field: ordinal)) else { return nil }
                    return try Blob.decode(bytes, kind: .sparseIndex, what: what)
                }
                if let stored {
                    let index: SparseInvertedIndex
                    do {
                        index = try SparseInvertedIndex(serialized: stored)
                    } catch let e as TextError {
                        throw StorageError.corrupted(what: what, reason: e.message)
                    }
                    guard index.rowCount == seg.rowCount, index.metric == metric else {
                        throw StorageError.corrupted(what: what, reason: "\(index.rowCount) rows of \(index.metric.rawValue), expected \(seg.rowCount) of \(metric.rawValue)")
                    }
                    return SparseSegmentData(index: index)
                }
            }
            var rows: [SparseVector?] = []
            rows.reserveCapacity(seg.rowCount)
            let chunks = (seg.rowCount + SealedSegment.scalarChunkRows - 1) / SealedSegment.scalarChunkRows
            for c in 0..<chunks { rows += sparseRows(try seg.scalarChunk(c), field: field) }
            return try SparseSegmentData(rows: rows, metric: metric, indexed: true)
        }
    }

    func sparseData(_ block: GrowingBlock, field: String, metric: SparseMetric) throws -> SparseSegmentData {
        try block.columns.sparseData("\(field)/\(metric.rawValue)") {
            try SparseSegmentData(rows: sparseRows(block.scalars, field: field), metric: metric, indexed: false)
        }
    }
}

extension Collection {
    /// The sparse vector field a search is for, if it is one: the named field, or the collection's
    /// only sparse field when the request names none and either has no dense field or passes
    /// sparse or text queries.
    func sparseSearchField(_ request: SearchRequest) -> FieldSchema? {
        // Every search asks: one read of the codec, and no array built when there are no sparse fields.
        let schema = codec.schema
        guard schema.fields.contains(where: { $0.dataType.isSparseVector }) else { return nil }
        let sparse = schema.sparseFields
        if let name = request.annsField { return sparse.first { $0.name == name } }
        guard sparse.count == 1 else { return nil }
        if schema.vectorFields.isEmpty || (request.vectors.isEmpty && (!request.texts.isEmpty || !request.sparseVectors.isEmpty)) {
            return sparse[0]
        }
        return nil
    }

    /// The metric a search ranks by: its dense field's (the index's, or the one it names), or for a
    /// sparse field BM25 (a function's output) or IP (user-given sparse vectors).
    func rankingMetric(of request: SearchRequest) throws -> Metric {
        if let sparse = sparseSearchField(request) { return schema.isFunctionOutput(sparse.name) ? .bm25 : .ip }
        let (_, field) = try resolveVectorField(request.annsField)
        return try searchMetric(field: field, requested: request.metric)
    }

    /// A search of a sparse vector field: BM25 full-text search of a BM25 function's output (query
    /// text), or inner product of user-given sparse vectors.
    ///
    /// **BM25 statistics** (N, average document length, each query term's document frequency) are
    /// the collection's, summed over every shard and segment (growing rows included), so scores do not
    /// depend on how rows are spread. As in Milvus, deleted rows stay counted until compaction rewrites
    /// their segment; filters and partitions choose the rows returned, never the statistics.
    func sparseSearch(_ request: SearchRequest, field: FieldSchema) async throws -> [[SearchHit]] {
        guard (1...SearchRequest.maxLimit).contains(request.limit) else {
            throw VireoError.invalid(.invalidSearch, "limit must be in 1...\(SearchRequest.maxLimit), got \(request.limit)")
        }
        guard request.offset >= 0, request.offset <= SearchRequest.maxLimit - request.limit else {
            throw VireoError.invalid(.invalidSearch, "offset \(request.offset) is invalid: it must be ≥ 0 and limit + offset ≤ \(SearchRequest.maxLimit)")
        }
        let k = request.limit + request.offset
        let function = schema.function(producing: field.name)
        let metric: Metric = function == nil ? .ip : .bm25
        if let requested = request.metric, requested != metric {
            throw VireoError.invalid(.invalidSearch, "metric type not match: invalid parameter[expected=\(metric)][actual=\(requested)]: '\(field.name)' \(function == nil ? "holds sparse vectors, searched by IP" : "is the output of BM25 function '\(function!.name)', searched by BM25")")
        }
        let config = indexRegistry.spec(for: field.name)?.sparse ?? SparseIndexConfiguration()
        let options: SparseSearchOptions
        do {
            options = try SparseSearchOptions(algorithm: InvertedIndexAlgorithm.named(config.algorithm), dropRatio: request.params.dropRatio ?? 0,
                                              bm25: BM25Parameters.validated(k1: config.bm25K1, b: config.bm25B)).validated()
        } catch {
            throw VireoError.invalid(.invalidSearch, error.message)
        }
        let queries: [SparseVector]
        if let function {
            guard request.vectors.isEmpty, request.sparseVectors.isEmpty else {
                throw VireoError.invalid(.invalidSearch, "'\(field.name)' is the output of BM25 function '\(function.name)': search it with query text (the raw text, analysed like '\(function.inputFields[0])'), not vectors")
            }
            let analyzer = codec.functionInputs[field.name]!.analyzer
            let session = analyzer.makeSession()
            queries = request.texts.map { TermHash.termCounts(session.analyze($0).map(\.text)) }
        } else {
            guard request.vectors.isEmpty, request.texts.isEmpty else {
                throw VireoError.invalid(.invalidSearch, "'\(field.name)' holds sparse vectors: search it with sparse vectors ({index: weight}); text queries need a field filled by a BM25 function")
            }
            queries = request.sparseVectors
        }
        guard !queries.isEmpty else { throw VireoError.invalid(.invalidSearch, "a search needs at least one query") }
        let selection = try fieldSelection(request.outputFields)
        let f = try request.filter.map { try codecs.filter($0, name: name) }
        try checkPartitionKeyIsolation(f)
        let allowed = try readPartitions(request.partitions, filter: f)
        let budget = WorkBudget(deadline: request.deadline)
        return try await reads.run(budget, "the search", inline: queries.count == 1) { [self] in
            let snaps = try searchSnapshots(filter: f, allowed: allowed, budget: budget)
            let found = try SparseSearch.run(queries: queries, field: field.name, metric: metric == .bm25 ? .bm25 : .ip, k: k, options: options,
                                             snapshots: snaps, shards: shards, includeGrowing: !request.params.ignoreGrowing,
                                             threads: configuration.searchThreads, budget: budget)
            try budget.check("the search")
            return try hits(found, metric: metric, snaps: snaps, request: request, selection: selection)
        }
    }
}

/// Sparse search over shard snapshots: per segment, its index (sealed) or an exhaustive pass (growing
/// blocks), with the collection's BM25 statistics; per-segment top-k merged by score, ties to the
/// smaller hit address. Queries are spread over threads.
enum SparseSearch {
    struct Part {
        var shard: Int
        var ordinal: Int
        var firstRow: Int
        var data: SparseSegmentData
        var excluded: Bitset?
        var growing: Bool
    }

    /// `query` without its lightest terms: those whose weight is below the weight at position
    /// ⌊ratio·n⌋ of the n weights in increasing order (ties at the cut-off are kept, as knowhere keeps them).
    static func pruned(_ query: SparseVector, ratio: Double, metric: SparseMetric, statistics: BM25Statistics) -> SparseVector {
        guard ratio > 0, query.count > 1 else { return query }
        let weights = zip(query.indices, query.values).map { t, v in metric == .bm25 ? v * statistics.idf(t) : v }
        let threshold = weights.sorted()[min(weights.count - 1, Int(Double(weights.count) * ratio))]
        var indices: [UInt32] = []
        var values: [Float] = []
        for (i, w) in weights.enumerated() where w >= threshold {
            indices.append(query.indices[i])
            values.append(query.values[i])
        }
        return SparseVector(storedIndices: indices, values: values)
    }

    /// - Returns: per query, (internal distance = −score, packed hit address), best first.
    static func run(queries: [SparseVector], field: String, metric: SparseMetric, k: Int, options: SparseSearchOptions, snapshots: [ShardSnapshot],
                    shards: [Shard], includeGrowing: Bool, threads: Int, budget: WorkBudget) throws -> [[(distance: Float, id: Int64)]] {
        var parts: [Part] = []
        for (s, snap) in snapshots.enumerated() {
            for (ord, seg) in snap.sealed.enumerated() {
                try budget.check("the search")
                parts.append(Part(shard: s, ordinal: ord, firstRow: 0, data: try shards[s].sparseData(seg, field: field, metric: metric),
                                  excluded: snap.tombstones[seg.id], growing: false))
            }
            let tomb = snap.growing.rowCount > 0 ? snap.tombstones[snap.growing.id] : nil
            for block in snap.growing.blocks {
                parts.append(Part(shard: s, ordinal: snap.sealed.count, firstRow: block.firstRow,
                                  data: try shards[s].sparseData(block, field: field, metric: metric), excluded: tomb, growing: true))
            }
        }
        // The collection's statistics for the queries' terms (every part counts, searched or not).
        var statistics = BM25Statistics()
        if metric == .bm25 {
            var terms = Set<UInt32>()
            for q in queries { terms.formUnion(q.indices) }
            var df: [UInt32: Int64] = [:]
            var documents: Int64 = 0, total: Int64 = 0
            for p in parts {
                documents += p.data.documents
                total += p.data.totalLength
                for t in terms {
                    let n = p.data.documentFrequency(t)
                    if n > 0 { df[t, default: 0] += n }
                }
            }
            statistics = BM25Statistics(documentCount: documents, totalLength: total, documentFrequency: df)
        }
        let searched = parts.filter { includeGrowing || !$0.growing }
        let stats = statistics
        // drop_ratio_search is applied once per query with the collection's weights (Milvus: query
        // count × IDF for BM25, the query value for IP, every term counted), so which terms are
        // dropped never depends on how rows are spread over segments; segments then search exactly.
        let queries = queries.map { pruned($0, ratio: options.dropRatio, metric: metric, statistics: stats) }
        var exact = options
        exact.dropRatio = 0
        let segmentOptions = exact
        let results = Mutex<[[(distance: Float, id: Int64)]]>(Array(repeating: [], count: queries.count))
        let chunks = max(1, min(threads, queries.count))
        let perChunk = (queries.count + chunks - 1) / chunks
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            for qi in (c * perChunk)..<min(queries.count, (c + 1) * perChunk) {
                if budget.isExpired { return }  // the caller reports why
                var all: [(distance: Float, id: Int64)] = []
                for p in searched {
                    for h in p.data.search(queries[qi], k: k, metric: metric, statistics: stats, options: segmentOptions,
                                           excluded: p.excluded, firstRow: p.firstRow) {
                        all.append((-h.score, HitAddress.pack(shard: p.shard, ordinal: p.ordinal, row: p.firstRow + Int(h.row))))
                    }
                }
                all.sort { $0.distance < $1.distance || ($0.distance == $1.distance && $0.id < $1.id) }
                let top = Array(all.prefix(k))
                results.withLock { $0[qi] = top }
            }
        }
        return results.withLock { $0 }
    }
}
