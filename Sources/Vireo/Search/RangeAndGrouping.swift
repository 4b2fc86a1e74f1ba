import VireoKernels

/// Range search: only hits whose score lies between two bounds (Milvus' `radius` and `range_filter`),
/// in the metric's public score units.
///
/// Milvus' direction rules: for L2 (smaller is closer) a hit is in range when
/// `rangeFilter ≤ score < radius`, so `radius` is the outer bound and `rangeFilter` must be smaller;
/// for IP and COSINE (larger is closer) when `radius < score ≤ rangeFilter`, so `rangeFilter` must
/// be larger. Without `rangeFilter` only the radius bounds the hits.
public struct ScoreRange: Sendable, Hashable {
    public var radius: Float
    public var rangeFilter: Float?

    public init(radius: Float, rangeFilter: Float? = nil) {
        self.radius = radius
        self.rangeFilter = rangeFilter
    }

    /// Whether a hit with `score` is returned.
    public func contains(_ score: Float, metric: Metric) -> Bool {
        if metric.largerIsCloser {
            return score > radius && rangeFilter.map { score <= $0 } ?? true
        }
        return score < radius && rangeFilter.map { score >= $0 } ?? true
    }

    /// Whether `score` lies at or beyond the radius: hits are sorted closest first, so every later
    /// hit does too and the search need not look further.
    func beyondRadius(_ score: Float, metric: Metric) -> Bool {
        metric.largerIsCloser ? score <= radius : score >= radius
    }

    func validate(metric: Metric) throws {
        guard radius.isFinite, rangeFilter?.isFinite ?? true else {
            throw VireoError.invalid(.invalidSearch, "radius and range_filter must be finite numbers")
        }
        guard let rangeFilter else { return }
        if metric.largerIsCloser, rangeFilter <= radius {
            throw VireoError.invalid(.invalidSearch, "range_filter (\(rangeFilter)) must be greater than radius (\(radius)) for metric \(metric): \(metric) ranks larger scores closer, and a hit is returned when radius < score ≤ range_filter")
        }
        if !metric.largerIsCloser, rangeFilter >= radius {
            throw VireoError.invalid(.invalidSearch, "range_filter (\(rangeFilter)) must be less than radius (\(radius)) for metric \(metric): a hit is returned when range_filter ≤ distance < radius")
        }
    }
}

/// Grouping search (Milvus' `group_by_field`): the best `limit` groups of rows sharing a value of a
/// scalar field, each with up to `size` hits, groups ordered by their best hit.
public struct SearchGrouping: Sendable, Hashable {
    /// The field whose value forms the groups: Bool, Int8…Int64 or VarChar.
    public var field: String
    /// Hits per group (Milvus' `group_size`), 1…``maxSize``.
    public var size: Int
    /// Keep searching until each of the best `limit` groups has `size` hits (or no more rows
    /// qualify); otherwise stop once `limit` groups are found (Milvus' `strict_group_size`).
    public var strictSize: Bool

    public static let maxSize = 1_024

    public init(field: String, size: Int = 1, strictSize: Bool = false) {
        self.field = field
        self.size = size
        self.strictSize = strictSize
    }
}

extension Collection {
    /// A range and/or grouping search: searches for more candidates (×4 each round, up to
    /// ``SearchRequest/maxCandidates``) until the range or the groups are complete, then cuts offset and
    /// limit (counted in groups when grouping).
    func searchExpanding(_ request: SearchRequest) async throws -> [[SearchHit]] {
        let metric = try rankingMetric(of: request)
        guard (1...SearchRequest.maxLimit).contains(request.limit), request.offset >= 0,
              request.offset <= SearchRequest.maxLimit - request.limit else {
            throw VireoError.invalid(.invalidSearch, "limit must be in 1...\(SearchRequest.maxLimit) and offset ≥ 0 with limit + offset ≤ \(SearchRequest.maxLimit), got limit \(request.limit), offset \(request.offset)")
        }
        var request = request
        if let b = request.scoreBeyond {
            guard b.isFinite, request.range == nil else {
                throw VireoError.invalid(.invalidSearch, "an iterator bound must be finite and cannot be combined with a range search")
            }
            request.range = metric.largerIsCloser ? ScoreRange(radius: -.greatestFiniteMagnitude, rangeFilter: b.nextDown)
                                                  : ScoreRange(radius: .greatestFiniteMagnitude, rangeFilter: b.nextUp)
        }
        try request.range?.validate(metric: metric)
        let wanted = request.limit + request.offset
        var needed = wanted
        var inner = request
        inner.offset = 0
        inner.range = nil
        inner.grouping = nil
        var groupField: FieldSchema?
        if let g = request.grouping {
            guard let f = schema.field(named: g.field) else {
                throw VireoError.invalid(.unknownField, "group_by_field '\(g.field)' is not a field of collection '\(name)'")
            }
            switch f.dataType {
            case .bool, .int8, .int16, .int32, .int64, .varChar: break
            default:
                throw VireoError.invalid(.invalidSearch, "group_by_field '\(g.field)' is \(f.dataType.rawValue); grouping needs a Bool, Int8…Int64 or VarChar field")
            }
            guard (1...SearchGrouping.maxSize).contains(g.size) else {
                throw VireoError.invalid(.invalidSearch, "group_size must be in 1...\(SearchGrouping.maxSize), got \(g.size)")
            }
            guard wanted <= SearchRequest.maxLimit / g.size else {
                throw VireoError.invalid(.invalidSearch, "(limit + offset) × group_size must be ≤ \(SearchRequest.maxLimit), got \(wanted) × \(g.size)")
            }
            needed = wanted * g.size
            groupField = f
            if !inner.outputFields.contains("*") && !inner.outputFields.contains(f.name) { inner.outputFields.append(f.name) }
        }
        let cap = min(SearchRequest.maxLimit, max(needed, request.maxCandidates ?? SearchRequest.maxLimit))
        let keepGroupField = request.outputFields.contains("*") || groupField.map { request.outputFields.contains($0.name) } ?? true
        var k = min(cap, max(needed * 2, 16))
        while true {
            inner.limit = k
            let rounds = try await plainSearch(inner)
            var complete = true
            var out: [[SearchHit]] = []
            out.reserveCapacity(rounds.count)
            for hits in rounds {
                var exhausted = hits.count < k || k == cap
                var kept = hits
                if let r = request.range {
                    if let last = hits.last, r.beyondRadius(last.score, metric: metric) { exhausted = true }
                    kept = hits.filter { r.contains($0.score, metric: metric) }
                }
                guard let g = request.grouping, let groupField else {
                    if !exhausted && kept.count < wanted { complete = false }
                    out.append(Array(kept.dropFirst(request.offset).prefix(request.limit)))
                    continue
                }
                let groups = Self.group(kept, by: groupField.name, size: g.size)
                let full = groups.count >= wanted && (!g.strictSize || groups.prefix(wanted).allSatisfy { $0.count == g.size })
                if !exhausted && !full { complete = false }
                out.append(groups.dropFirst(request.offset).prefix(request.limit).flatMap { group in
                    group.map { hit in
                        var h = hit
                        if !keepGroupField { h.fields[groupField.name] = nil }
                        return h
                    }
                })
            }
            if complete { return out }
            k = min(cap, k * 4)
        }
    }

    /// Hits (closest first) in groups of equal `field` values, each group up to `size` hits and
    /// ordered by its best hit; every hit carries its group's value.
    static func group(_ hits: [SearchHit], by field: String, size: Int) -> [[SearchHit]] {
        var groups: [[SearchHit]] = []
        var slot: [FieldValue: Int] = [:]
        for var hit in hits {
            let value = hit.fields[field] ?? .null
            hit.groupValue = value
            if let i = slot[value] {
                if groups[i].count < size { groups[i].append(hit) }
            } else {
                slot[value] = groups.count
                groups.append([hit])
            }
        }
        return groups
    }
}
