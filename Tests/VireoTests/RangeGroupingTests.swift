import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// Range search (radius / range_filter) and grouping search (group_by_field) against the exact oracle.
@Suite struct RangeGroupingTests {
    static let dim = 16
    static let n = 1_500
    static let groups = 37

    /// `id`, `vec`, `tag` and `doc` (id mod 37: the grouping field), 1,500 seeded rows over sealed and
    /// growing segments, every 11th row deleted.
    static func collection(metric: Metric, in dir: TemporaryDirectory) async throws -> (Collection, [[Float]], Set<Int>) {
        var config = Configuration()
        config.sealRows = 600
        let db = try Database.open(at: dir.path, configuration: config)
        var schema = simpleSchema("x", dim: dim, metric: metric)
        schema.fields.append(FieldSchema(name: "doc", dataType: .int64))
        let c = try db.createCollection(schema)
        let data = Datasets.clustered(n: n, dim: dim, clusters: 12, seed: 7)
        for start in stride(from: 0, to: n, by: 500) {
            var rows = makeRows(Array(data[start..<min(n, start + 500)]), firstID: Int64(start))
            for i in rows.indices { rows[i]["doc"] = .int(Int64(start + i) % Int64(groups)) }
            try await c.insert(rows)
        }
        let deleted = Set(stride(from: 3, to: n, by: 11))
        try await c.delete(ids: deleted.map { .int(Int64($0)) })
        return (c, data, deleted)
    }

    @Test("range search returns exactly the oracle's rows between range_filter and radius, for every metric", arguments: Metric.dense)
    func rangeMatchesOracle(_ metric: Metric) async throws {
        let dir = TemporaryDirectory()
        let (c, data, deleted) = try await Self.collection(metric: metric, in: dir)
        let queries = Datasets.clustered(n: 5, dim: Self.dim, clusters: 12, seed: 8)
        for (qi, q) in queries.enumerated() {
            let all = Oracle.nearest(q, in: data, k: Self.n, metric: metric, excluded: deleted)
            let scores = all.map { Oracle.score($0.distance, metric: metric) }
            // Bounds halfway between neighbouring ranks: the 60th best hit is the first inside the
            // inner bound (range_filter drops the 59 closest) and the 300th the last inside the radius.
            let inner = Float((scores[58] + scores[59]) / 2), outer = Float((scores[299] + scores[300]) / 2)
            let range = ScoreRange(radius: outer, rangeFilter: inner)
            for (limit, offset) in [(10, 0), (25, 5), (500, 0)] {
                var r = SearchRequest(vectors: [q], limit: limit, offset: offset)
                r.range = range
                let got = try await c.search(r)[0]
                let expected = all[59..<300].dropFirst(offset).prefix(limit).map { PrimaryKey.int(Int64($0.index)) }
                #expect(got.map(\.id) == Array(expected), "\(metric) query \(qi) limit \(limit) offset \(offset)")
                #expect(got.allSatisfy { range.contains($0.score, metric: metric) })
            }
            // Radius only: everything closer than the radius, up to the limit.
            var r = SearchRequest(vectors: [q], limit: 1_000)
            r.range = ScoreRange(radius: outer)
            let got = try await c.search(r)[0]
            #expect(got.map(\.id) == all.prefix(300).map { .int(Int64($0.index)) }, "\(metric) query \(qi) radius only")
        }
    }

    @Test("range bounds in the wrong direction for the metric are refused with a message")
    func rangeDirection() async throws {
        for metric in Metric.dense {
            let dir = TemporaryDirectory()
            let (c, _, _) = try await Self.collection(metric: metric, in: dir)
            var r = SearchRequest(vectors: [[Float](repeating: 0.1, count: Self.dim)], limit: 5)
            r.range = metric.largerIsCloser ? ScoreRange(radius: 0.5, rangeFilter: 0.2) : ScoreRange(radius: 0.2, rangeFilter: 0.5)
            await #expect(throws: VireoError.self) { try await c.search(r) }
            r.range = ScoreRange(radius: .nan)
            await #expect(throws: VireoError.self) { try await c.search(r) }
        }
    }

    /// The oracle's grouping: walk all live rows closest first, keep up to `size` per `doc` value,
    /// groups in order of their best row.
    static func oracleGroups(_ ordered: [(index: Int, distance: Double)], size: Int) -> [[Int]] {
        var groups: [[Int]] = []
        var slot: [Int: Int] = [:]
        for (i, _) in ordered {
            let g = i % Self.groups
            if let s = slot[g] {
                if groups[s].count < size { groups[s].append(i) }
            } else {
                slot[g] = groups.count
                groups.append([i])
            }
        }
        return groups
    }

    @Test("strict grouping returns the oracle's best groups, each filled to group_size", arguments: [Metric.l2, .cosine])
    func strictGrouping(_ metric: Metric) async throws {
        let dir = TemporaryDirectory()
        let (c, data, deleted) = try await Self.collection(metric: metric, in: dir)
        let queries = Datasets.clustered(n: 4, dim: Self.dim, clusters: 12, seed: 9)
        for (qi, q) in queries.enumerated() {
            let expected = Self.oracleGroups(Oracle.nearest(q, in: data, k: Self.n, metric: metric, excluded: deleted), size: 3)
            for (limit, offset) in [(5, 0), (10, 2)] {
                var r = SearchRequest(vectors: [q], limit: limit, outputFields: ["tag"], offset: offset)
                r.grouping = SearchGrouping(field: "doc", size: 3, strictSize: true)
                let got = try await c.search(r)[0]
                let want = expected.dropFirst(offset).prefix(limit).flatMap { $0 }
                #expect(got.map(\.id) == want.map { .int(Int64($0)) }, "\(metric) query \(qi) limit \(limit) offset \(offset)")
                #expect(got.allSatisfy { h in
                    guard case let .int(id) = h.id else { return false }
                    return h.groupValue == .int(id % Int64(Self.groups)) && h.fields["doc"] == nil && h.fields["tag"] == .string("t\(id)")
                }, "hits carry their group value; doc is not an output field unless asked for")
            }
        }
    }

    @Test("non-strict grouping finds the oracle's first groups, each hit a prefix of its group")
    func looseGrouping() async throws {
        let dir = TemporaryDirectory()
        let (c, data, deleted) = try await Self.collection(metric: .ip, in: dir)
        let q = Datasets.clustered(n: 1, dim: Self.dim, clusters: 12, seed: 10)[0]
        let expected = Self.oracleGroups(Oracle.nearest(q, in: data, k: Self.n, metric: .ip, excluded: deleted), size: 40)
        var r = SearchRequest(vectors: [q], limit: 8, outputFields: ["doc"])
        r.grouping = SearchGrouping(field: "doc", size: 4)
        let got = try await c.search(r)[0]
        var order: [FieldValue] = []
        var members: [FieldValue: [Int]] = [:]
        for h in got {
            guard case let .int(id) = h.id, let g = h.groupValue else { Issue.record("hit without id or group"); return }
            #expect(h.fields["doc"] == g, "doc was asked for and is returned")
            if members[g] == nil { order.append(g) }
            members[g, default: []].append(Int(id))
        }
        #expect(order == expected.prefix(8).map { .int(Int64($0[0] % Self.groups)) })
        for (g, ids) in members {
            guard case let .int(v) = g, let oracle = expected.first(where: { $0[0] % Self.groups == Int(v) }) else { continue }
            #expect(ids.count <= 4 && ids == Array(oracle.prefix(ids.count)), "group \(v)")
        }
    }

    @Test("grouping refuses a vector, float or unknown field and a group_size out of range")
    func groupingValidation() async throws {
        let dir = TemporaryDirectory()
        let (c, _, _) = try await Self.collection(metric: .l2, in: dir)
        let q = [[Float](repeating: 0.1, count: Self.dim)]
        for g in [SearchGrouping(field: "vec"), SearchGrouping(field: "nope"), SearchGrouping(field: "doc", size: 0),
                  SearchGrouping(field: "doc", size: SearchGrouping.maxSize + 1)] {
            var r = SearchRequest(vectors: q, limit: 5)
            r.grouping = g
            await #expect(throws: VireoError.self) { try await c.search(r) }
        }
        var r = SearchRequest(vectors: q, limit: 10_000)
        r.grouping = SearchGrouping(field: "doc", size: 2)
        await #expect(throws: VireoError.self, "limit × group_size past 16,384") { try await c.search(r) }
    }

    @Test("paging with scoreBeyond (a search iterator) walks the oracle's order without repeats", arguments: [Metric.l2, .ip])
    func iteratorPages(_ metric: Metric) async throws {
        let dir = TemporaryDirectory()
        let (c, data, deleted) = try await Self.collection(metric: metric, in: dir)
        let q = Datasets.clustered(n: 1, dim: Self.dim, clusters: 12, seed: 11)[0]
        let oracle = Oracle.nearest(q, in: data, k: 700, metric: metric, excluded: deleted).map { PrimaryKey.int(Int64($0.index)) }
        var seen: [PrimaryKey] = []
        var bound: Float?
        while seen.count < 700 {
            var r = SearchRequest(vectors: [q], limit: 64)
            r.scoreBeyond = bound
            let page = try await c.search(r)[0]
            guard let last = page.last else { break }
            seen += page.map(\.id)
            bound = last.score
        }
        #expect(Array(seen.prefix(700)) == oracle, "\(metric): pages of 64 in the oracle's order")
        #expect(Set(seen).count == seen.count, "no row twice")
    }
}
