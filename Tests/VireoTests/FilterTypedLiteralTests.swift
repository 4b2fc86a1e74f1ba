import Foundation
import Testing
@testable import Vireo
import VireoTestSupport

/// Two places where a filter must compare as Milvus does, each against a reference predicate written
/// directly in Swift over seeded data, on sealed and growing segments, with and without a scalar
/// index:
/// - a literal compared with a FLOAT field (or a FLOAT array element) is converted to float32 first,
///   so `f == 0.1` matches the stored float32 0.1 (a double 0.1 is a different number);
/// - `json_contains*` compare list and object elements by value (`[[2,3],[2,4]]` contains `[2,3]`).
@Suite struct FilterTypedLiteralTests {
    static let schema = CollectionSchema(name: "t", fields: [
        .int64PrimaryKey("id"),
        .floatVector("vec", dimension: 2, metric: .l2),
        FieldSchema(name: "f", dataType: .float),
        FieldSchema(name: "d", dataType: .double),
        FieldSchema(name: "fa", dataType: .array, elementType: .float, maxCapacity: 4),
        FieldSchema(name: "j", dataType: .json),
    ])

    /// Decimal literals, most of which have no exact float32 (or double) form.
    static let pool: [Double] = [0.1, 1.7, -3.3, 2.5, 100.01, 0.3, -0.7, 16777217, 3]

    /// A list element of the JSON field: a pair, a number or an object.
    enum Elem: Equatable {
        case pair(Int64, Int64), number(Int64), object(Int64)

        var json: JSONValue {
            switch self {
            case let .pair(a, b): return .array([.int(a), .int(b)])
            case let .number(n): return .int(n)
            case let .object(k): return .object(["k": .int(k)])
            }
        }
    }

    struct RowData {
        var id: Int64, f: Double, d: Double, fa: [Double], list: [Elem]
    }

    static func data(seed: UInt64) -> [RowData] {
        var g = SeededGenerator(seed: seed)
        func pick() -> Double { pool[Int.random(in: 0..<pool.count, using: &g)] }
        return (0..<240).map { i in
            let list: [Elem] = (0..<Int.random(in: 0...3, using: &g)).map { _ in
                switch Int.random(in: 0..<3, using: &g) {
                case 0: return .pair(Int64.random(in: 1...4, using: &g), Int64.random(in: 1...4, using: &g))
                case 1: return .number(Int64.random(in: 1...4, using: &g))
                default: return .object(Int64.random(in: 1...2, using: &g))
                }
            }
            return RowData(id: Int64(i), f: pick(), d: pick(), fa: (0..<Int.random(in: 1...3, using: &g)).map { _ in pick() }, list: list)
        }
    }

    static func row(_ r: RowData) -> Row {
        ["id": .int(r.id), "vec": .floatVector([Float(r.id), 0]), "f": .float(Float(r.f)), "d": .double(r.d),
         "fa": .array(r.fa.map { .float(Float($0)) }), "j": .json(.object(["list": .array(r.list.map(\.json))]))]
    }

    /// float32 of a literal: what Milvus compares a FLOAT field with.
    static func f32(_ x: Double) -> Float { Float(x) }

    static let cases: [(String, @Sendable (RowData) -> Bool)] = [
        ("f in [0.1, 1.7, -3.3]", { [f32(0.1), f32(1.7), f32(-3.3)].contains(Float($0.f)) }),
        ("f not in [0.1, 1.7, -3.3]", { ![f32(0.1), f32(1.7), f32(-3.3)].contains(Float($0.f)) }),
        ("f == 0.1", { Float($0.f) == f32(0.1) }),
        ("f != 1.7", { Float($0.f) != f32(1.7) }),
        ("f == -3.3", { Float($0.f) == f32(-3.3) }),
        ("-3.3 == f", { Float($0.f) == f32(-3.3) }),
        ("f <= 0.3", { Float($0.f) <= f32(0.3) }),
        ("f > 0.1", { Float($0.f) > f32(0.1) }),
        ("0.1 <= f < 100.01", { f32(0.1) <= Float($0.f) && Float($0.f) < f32(100.01) }),
        ("f == 16777216", { Float($0.f) == 16_777_216 }),  // 16777217 stored as float32 is 16777216
        ("f == 3", { Float($0.f) == 3 }),
        ("fa[0] == 1.7", { Float($0.fa[0]) == f32(1.7) }),
        ("array_contains(fa, 0.1)", { $0.fa.contains { Float($0) == f32(0.1) } }),
        ("array_contains_any(fa, [1.7, -0.7])", { $0.fa.contains { [f32(1.7), f32(-0.7)].contains(Float($0)) } }),
        ("array_contains_all(fa, [0.3, 2.5])", { r in [f32(0.3), f32(2.5)].allSatisfy { w in r.fa.contains { Float($0) == w } } }),
        // DOUBLE fields keep double semantics.
        ("d == 0.1", { $0.d == 0.1 }),
        ("d in [1.7, -3.3]", { [1.7, -3.3].contains($0.d) }),
        // json_contains*: elements that are lists or objects compare by value.
        ("json_contains(j['list'], [2, 3])", { $0.list.contains(.pair(2, 3)) }),
        ("json_contains(j['list'], 2)", { $0.list.contains(.number(2)) }),
        ("json_contains_any(j['list'], [[2, 3]])", { $0.list.contains(.pair(2, 3)) }),
        ("json_contains_any(j['list'], [[2, 3], [4, 1], 3])", { r in [Elem.pair(2, 3), .pair(4, 1), .number(3)].contains { r.list.contains($0) } }),
        ("json_contains_all(j['list'], [[1, 1], 1])", { $0.list.contains(.pair(1, 1)) && $0.list.contains(.number(1)) }),
        ("not json_contains(j['list'], [3, 2])", { !$0.list.contains(.pair(3, 2)) }),
        ("json_contains(j['list'], [2])", { _ in false }),  // a pair never equals a one-element list
    ]

    @Test("each expression matches its reference predicate, on sealed and growing segments, with and without an index on f",
          arguments: cases.indices, [false, true])
    func matchesReference(_ i: Int, indexed: Bool) async throws {
        let (expression, reference) = Self.cases[i]
        let data = Self.data(seed: 23)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 100  // sealed segments and a growing one
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(Self.schema)
        if indexed {
            try await c.createIndex(IndexSpec(field: "f", milvusIndexType: "STL_SORT"))
            try await c.createIndex(IndexSpec(field: "d", milvusIndexType: "INVERTED"))
        }
        for start in stride(from: 0, to: data.count, by: 40) {
            try await c.insert(data[start..<min(data.count, start + 40)].map(Self.row))
        }
        let expected = data.filter(reference).map { PrimaryKey.int($0.id) }
        // The reference must split the data, or the expression tests nothing.
        #expect(!expected.isEmpty || expression.hasSuffix("[2])"), "\(expression): the reference matches no row")
        #expect(expected.count < data.count || expression.hasPrefix("not") || expression.contains("not in") || expression.contains("!="),
                "\(expression): the reference matches every row")
        let got = try c.query(filter: expression, outputFields: ["id"]).map { row -> PrimaryKey in
            if case let .int(v)? = row["id"] { return .int(v) }
            return .int(-1)
        }
        #expect(got == expected, "\(expression): got \(got.count) rows, expected \(expected.count)")
        #expect(try c.count(filter: expression) == expected.count, "\(expression): count")
        let f = try Filter(expression, schema: Self.schema)
        #expect(data.filter { f.matches(Self.row($0)) }.map { PrimaryKey.int($0.id) } == expected, "\(expression): row evaluation")
    }
}
