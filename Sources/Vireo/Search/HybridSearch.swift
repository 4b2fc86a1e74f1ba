import Foundation

/// How a hybrid search fuses the result lists of its searches (Milvus' rankers).
public enum HybridRanker: Sendable, Hashable {
    /// Reciprocal rank fusion: score = Σ 1 / (k + rank), ranks from 1 (Milvus' `RRFRanker`, k in (0, 16384)).
    case rrf(k: Double)
    /// Weighted sum of normalised scores, one weight in [0, 1] per search (Milvus' `WeightedRanker`:
    /// arctan normalisation for IP and L2, (1 + cos) / 2 for COSINE, so larger is better for all).
    case weighted([Double])

    /// Milvus' WeightedRanker normalisation of a score of `metric` into [0, 1], larger is better.
    public static func normalized(_ score: Double, _ metric: Metric) -> Double {
        switch metric {
        case .ip: return 0.5 + atan(score) / .pi
        case .cosine: return (1 + score) / 2
        case .l2, .hamming: return 1 - 2 * atan(score) / .pi
        case .jaccard: return 1 - score
        case .bm25: return 2 * atan(score) / .pi
        }
    }
}

/// Several searches of one collection (usually of different vector fields) fused into one ranking
/// (Milvus `hybrid_search`).
public struct HybridSearchRequest: Sendable {
    /// The searches; each has the same number of query vectors. Their own `outputFields` are ignored.
    public var searches: [SearchRequest]
    public var ranker: HybridRanker
    /// Fused results per query, after `offset`; `limit + offset` ≤ 16,384.
    public var limit: Int
    public var offset: Int
    /// Fields returned with each fused hit.
    public var outputFields: [String]

    public init(searches: [SearchRequest], ranker: HybridRanker, limit: Int = 10, offset: Int = 0, outputFields: [String] = []) {
        self.searches = searches
        self.ranker = ranker
        self.limit = limit
        self.offset = offset
        self.outputFields = outputFields
    }

    /// Most searches in one hybrid search (Milvus' bound).
    public static let maxSearches = 1024
}

extension Collection {
    /// Runs each search of `request`, then fuses their hits per query with the request's ranker.
    ///
    /// Each search ranks by its field's metric (``metric(of:)``); the weighted ranker normalises each
    /// score by that metric. Ties break by primary key, so results are deterministic.
    ///
    /// - Returns: one fused list per query, best first, with the fused score.
    /// - Throws: ``VireoError`` for an invalid search, a ranker whose weights do not match the
    ///   searches, or a window out of range.
    public func hybridSearch(_ request: HybridSearchRequest) async throws -> [[SearchHit]] {
        func bad(_ m: String) -> VireoError { .invalid(.invalidSearch, m) }
        guard !request.searches.isEmpty else { throw bad("a hybrid search needs at least one search") }
        guard request.searches.count <= HybridSearchRequest.maxSearches else {
            throw bad("maximum of ann search requests is \(HybridSearchRequest.maxSearches): \(request.searches.count) searches in one hybrid search; send at most \(HybridSearchRequest.maxSearches)")
        }
        guard (1...SearchRequest.maxLimit).contains(request.limit), request.offset >= 0, request.offset <= SearchRequest.maxLimit - request.limit else {
            throw bad("limit \(request.limit) with offset \(request.offset) is invalid: limit must be in [1, \(SearchRequest.maxLimit)] and limit + offset ≤ \(SearchRequest.maxLimit)")
        }
        switch request.ranker {
        case let .weighted(w):
            guard w.count == request.searches.count else {
                throw bad("the weighted ranker has \(w.count) weights for \(request.searches.count) searches; give one weight per search")
            }
            guard w.allSatisfy({ $0.isFinite && (0...1).contains($0) }) else { throw bad("ranker weights must be in [0, 1]") }
        case let .rrf(k):
            guard k > 0 && k < 16_384 else { throw bad("rrf parameter k must be in (0, 16384), got \(k)") }
        }
        func queries(_ s: SearchRequest) -> Int { s.vectors.count + s.sparseVectors.count + s.texts.count }
        let nq = queries(request.searches[0])
        var lists: [[[SearchHit]]] = []
        var metrics: [Metric] = []
        for var s in request.searches {
            guard queries(s) == nq else {
                throw bad("every search of a hybrid search needs the same number of query vectors (\(nq)); one has \(queries(s))")
            }
            s.outputFields = []
            metrics.append(try rankingMetric(of: s))
            lists.append(try await search(s))
        }
        let pkName = schema.primaryKey.name
        var fused: [[SearchHit]] = []
        fused.reserveCapacity(nq)
        for q in 0..<nq {
            var scores: [PrimaryKey: Double] = [:]
            for (i, list) in lists.enumerated() {
                for (rank, hit) in list[q].enumerated() {
                    switch request.ranker {
                    case let .rrf(k): scores[hit.id, default: 0] += 1 / (k + Double(rank + 1))
                    case let .weighted(w): scores[hit.id, default: 0] += w[i] * HybridRanker.normalized(Double(hit.score), metrics[i])
                    }
                }
            }
            let ranked = scores.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .dropFirst(request.offset).prefix(request.limit)
            var hits = ranked.map { SearchHit(id: $0.key, score: Float($0.value), fields: [:]) }
            if !request.outputFields.isEmpty {
                var wanted = request.outputFields
                if !wanted.contains("*") && !wanted.contains(pkName) { wanted.append(pkName) }
                var byKey: [PrimaryKey: Row] = [:]
                for r in try get(ids: hits.map(\.id), outputFields: wanted) {
                    switch r[pkName] {
                    case let .int(i)?: byKey[.int(i)] = r
                    case let .string(s)?: byKey[.string(s)] = r
                    default: continue
                    }
                }
                for i in hits.indices { hits[i].fields = byKey[hits[i].id] ?? [:] }
            }
            fused.append(hits)
        }
        return fused
    }
}
