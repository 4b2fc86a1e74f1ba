import Foundation
import Testing
@testable import Vireo
@testable import VireoStorage
import VireoKernels
import VireoTestSupport

@Suite struct FilterTests {
    static let schema = CollectionSchema(name: "f", fields: [
        .int64PrimaryKey("id"),
        .floatVector("vec", dimension: 4, metric: .l2),
        FieldSchema(name: "age", dataType: .int32),
        FieldSchema(name: "score", dataType: .double, nullable: true),
        FieldSchema(name: "tag", dataType: .varChar, maxLength: 32),
        FieldSchema(name: "flag", dataType: .bool),
        FieldSchema(name: "meta", dataType: .json),
        FieldSchema(name: "tags", dataType: .array, maxLength: 16, elementType: .varChar, maxCapacity: 4),
    ], enableDynamicField: true)

    struct RowData {
        var id: Int64, age: Int64, score: Double?, tag: String, flag: Bool, color: String?, level: Int64, tags: [String], extra: Int64?
    }

    static let tagsPool = ["red", "green", "blue", "gold"]

    static func data(seed: UInt64) -> [RowData] {
        var g = SeededGenerator(seed: seed)
        return (0..<300).map { i in
            let tagCount = Int.random(in: 0...3, using: &g)
            return RowData(
                id: Int64(i), age: Int64.random(in: 0..<100, using: &g),
                score: Bool.random(using: &g) ? Double(Int.random(in: 0..<1000, using: &g)) / 10 : nil,
                tag: ["alpha", "beta", "gamma", "alphabet", "delta_x"][Int.random(in: 0..<5, using: &g)],
                flag: Bool.random(using: &g),
                color: Bool.random(using: &g) ? tagsPool[Int.random(in: 0..<4, using: &g)] : nil,
                level: Int64.random(in: 0..<5, using: &g),
                tags: (0..<tagCount).map { _ in tagsPool[Int.random(in: 0..<4, using: &g)] },
                extra: Bool.random(using: &g) ? Int64.random(in: 0..<10, using: &g) : nil)
        }
    }

    static func row(_ d: RowData) -> Row {
        var meta: [String: JSONValue] = ["level": .int(d.level), "nested": .object(["k": .int(d.level * 2)])]
        if let c = d.color { meta["color"] = .string(c) }
        var r: Row = ["id": .int(d.id), "vec": .floatVector([Float(d.age), 0, 0, 0]), "age": .int(d.age), "tag": .string(d.tag),
                      "flag": .bool(d.flag), "meta": .json(.object(meta)), "tags": .array(d.tags.map { .string($0) })]
        if let s = d.score { r["score"] = .double(s) }
        if let e = d.extra { r["extra"] = .int(e) }  // dynamic field
        return r
    }

    /// Each expression with the reference predicate it must equal, written directly in Swift.
    static let cases: [(String, @Sendable (RowData) -> Bool)] = [
        ("age > 30", { $0.age > 30 }),
        ("age >= 30 and age < 60", { $0.age >= 30 && $0.age < 60 }),
        ("10 <= age < 20", { 10 <= $0.age && $0.age < 20 }),
        ("50 > age >= 40", { $0.age < 50 && $0.age >= 40 }),
        ("age == 7 or age != 7 and flag", { $0.age == 7 || ($0.age != 7 && $0.flag) }),
        ("not (age > 50)", { !($0.age > 50) }),
        ("!(age > 50) && flag == true", { !($0.age > 50) && $0.flag }),
        ("age in [1, 2, 3, 50]", { [1, 2, 3, 50].contains($0.age) }),
        ("age not in [1, 2, 3]", { ![1, 2, 3].contains($0.age) }),
        ("tag in [\"alpha\", 'beta']", { ["alpha", "beta"].contains($0.tag) }),
        ("tag like \"alp%\"", { $0.tag.hasPrefix("alp") }),
        ("tag like \"%ta\"", { $0.tag.hasSuffix("ta") }),
        ("tag like \"%ph%\"", { $0.tag.contains("ph") }),
        ("tag like \"b_ta\"", { $0.tag == "beta" }),
        ("tag like \"delta\\_x\" or tag == \"delta_x\"", { $0.tag == "delta_x" }),
        ("age % 7 == 0", { $0.age % 7 == 0 }),
        ("age * 2 + 1 > 101", { $0.age * 2 + 1 > 101 }),
        ("-age < -90", { -$0.age < -90 }),
        ("age ** 2 >= 2500", { Double($0.age) * Double($0.age) >= 2500 }),
        ("score > 50.5", { ($0.score ?? -1) > 50.5 }),
        ("score is null", { $0.score == nil }),
        ("score is not null and score <= 10", { $0.score != nil && $0.score! <= 10 }),
        ("meta[\"level\"] >= 3", { $0.level >= 3 }),
        ("meta[\"nested\"][\"k\"] == 4", { $0.level * 2 == 4 }),
        ("meta[\"color\"] == \"red\"", { $0.color == "red" }),
        ("meta[\"color\"] in [\"red\", \"blue\"]", { $0.color == "red" || $0.color == "blue" }),
        ("meta[\"color\"] is null", { $0.color == nil }),
        ("exists meta[\"color\"]", { $0.color != nil }),
        ("meta[\"missing\"] > 1", { _ in false }),
        ("array_contains(tags, \"red\")", { $0.tags.contains("red") }),
        ("array_contains_all(tags, [\"red\", \"blue\"])", { $0.tags.contains("red") && $0.tags.contains("blue") }),
        ("array_contains_any(tags, [\"gold\", \"green\"])", { $0.tags.contains("gold") || $0.tags.contains("green") }),
        ("array_length(tags) == 2", { $0.tags.count == 2 }),
        ("tags[0] == \"red\"", { $0.tags.first == "red" }),
        ("extra > 5", { ($0.extra ?? -1) > 5 }),
        ("$meta[\"extra\"] == 3", { $0.extra == 3 }),
        ("extra is null", { $0.extra == nil }),
        ("id in [0, 5, 299]", { [0, 5, 299].contains($0.id) }),
        ("(age > 10 or tag == \"beta\") and not flag", { ($0.age > 10 || $0.tag == "beta") && !$0.flag }),
        ("flag", { $0.flag }),
        ("age > 0x20", { $0.age > 32 }),
    ]

    @Test("every construct matches the reference predicate, on growing and sealed segments, with and without scalar indexes",
          arguments: cases.indices, [false, true])
    func matchesReference(_ i: Int, indexed: Bool) async throws {
        let (expression, reference) = Self.cases[i]
        let data = Self.data(seed: 5)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 120  // sealed segments and a growing one
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(Self.schema)
        if indexed {
            for (field, type) in [("age", "STL_SORT"), ("score", "INVERTED"), ("tag", "TRIE"), ("flag", "BITMAP")] {
                try await c.createIndex(IndexSpec(field: field, milvusIndexType: type))
            }
        }
        for start in stride(from: 0, to: data.count, by: 50) {
            try await c.insert(data[start..<min(data.count, start + 50)].map(Self.row))
        }
        try await c.delete(ids: [.int(4), .int(150), .int(299)])
        let live = data.filter { ![4, 150, 299].contains($0.id) }
        let expected = live.filter(reference).map { PrimaryKey.int($0.id) }
        let got = try c.query(filter: expression, outputFields: ["id"]).map { row -> PrimaryKey in
            if case let .int(v)? = row["id"] { return .int(v) }
            return .int(-1)
        }
        #expect(got == expected, "\(expression): got \(got.count) rows, expected \(expected.count)")
        #expect(try c.count(filter: expression) == expected.count)
        // The parsed filter evaluated directly on the rows agrees too.
        let f = try Filter(expression, schema: Self.schema)
        #expect(live.filter { f.matches(Self.row($0)) }.map { PrimaryKey.int($0.id) } == expected)
    }

    @Test("stored columns round-trip every typed field with nulls, compress where it pays, and reject corruption")
    func storedColumns() throws {
        var g = SeededGenerator(seed: 77)
        let rows = 5000
        var valid = Bitset(capacity: rows)
        for i in 0..<rows where Int.random(in: 0..<10, using: &g) != 0 { _ = valid.insert(i) }
        let columns: [ScalarColumn] = [
            .int((0..<rows).map { _ in Int64.random(in: 0..<8, using: &g) }, valid: valid),
            .double((0..<rows).map { _ in Double.random(in: -1...1, using: &g) }, valid: valid),
            .bool((0..<rows).map { _ in Bool.random(using: &g) }, valid: valid),
            .string((0..<rows).map { i in ["", "é", "naïve", "tag-\(i % 13)", "🙂x"][i % 5] }, valid: valid),
        ]
        for column in columns {
            let payload = try #require(ColumnCodec.encode(column, rows: rows))
            let back = try ColumnCodec.decode(payload, rows: rows, what: "test column")
            switch (column, back) {
            case let (.int(a, va), .int(b, vb)): #expect(a == b && va == vb)
            case let (.double(a, va), .double(b, vb)): #expect(a == b && va == vb)
            case let (.bool(a, va), .bool(b, vb)): #expect(a == b && va == vb)
            case let (.string(a, va), .string(b, vb)): #expect(a == b && va == vb)
            default: Issue.record("column changed type: \(column) → \(back)")
            }
            #expect(throws: (any Error).self) { try ColumnCodec.decode(Array(payload.dropLast(9)), rows: rows, what: "truncated") }
            #expect(throws: (any Error).self) { try ColumnCodec.decode(payload, rows: rows + 1, what: "wrong row count") }
        }
        // A small-range integer column is worth compressing: at least 4x.
        let ints = try #require(ColumnCodec.encode(columns[0], rows: rows))
        let compressed = try #require(Compression.compress(ints))
        #expect(compressed.count * 4 < ints.count, "\(ints.count) bytes compressed to \(compressed.count)")
    }

    @Test("scalar index types are checked against the field type")
    func scalarIndexTypes() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.schema)
        for (field, type) in [("meta", "INVERTED"), ("tag", "STL_SORT"), ("age", "TRIE"), ("score", "BITMAP"), ("tags", "INVERTED"), ("age", "HNSW"), ("vec", "INVERTED"), ("nope", "INVERTED")] {
            await #expect(throws: VireoError.self, "\(type) on \(field)") { try await c.createIndex(IndexSpec(field: field, milvusIndexType: type)) }
        }
        try await c.createIndex(IndexSpec(field: "tag", milvusIndexType: "INVERTED"))
        #expect(c.indexes.filter(\.kind.isScalar).map(\.kind) == [.inverted])
        #expect(try c.indexStatus(field: "tag").isFinished)
        try await c.dropIndex(field: "tag")
        #expect(!c.indexes.contains { $0.kind.isScalar })
    }

    static let bad: [(String, String)] = [
        ("age >", "ends too early"),
        ("age > 'x'", "cannot compare"),
        ("vec > 1", "vector field"),
        ("tag like 5", "string pattern"),
        ("age in 5", "literal list"),
        ("1 < age < 5 < 9", "at most two"),
        ("age + \"a\" > 1", "numbers"),
        ("(age > 1", "')'"),
        ("age > 1)", "unexpected"),
        ("unknown_fn(tags, 1)", "unknown function"),
        ("age @ 1", "unexpected character"),
        ("\"abc", "unterminated"),
        ("", "empty"),
        ("age", "not a condition"),
        ("tags > 1", "Array"),
        ("10 < score", ""),
        ("age == 1.2", "float value 1.2"),
        ("age in [1.0, 2.0]", "float value 1.0"),
        ("age != -2.5", "float value -2.5"),
        ("age > 1.5", ""),  // a range may take a float bound
        ("age / 0 > 1", "divide by zero"),
        ("age % 0 == 1", "modulus by zero"),
    ]

    @Test("malformed or ill-typed filters fail with the position and the reason", arguments: bad.indices)
    func errors(_ i: Int) throws {
        let (expression, reason) = Self.bad[i]
        if reason.isEmpty {
            _ = try Filter(expression, schema: Self.schema)  // valid: the reverse comparison is allowed
            return
        }
        do {
            _ = try Filter(expression, schema: Self.schema)
            Issue.record("accepted '\(expression)'")
        } catch let e as VireoError {
            #expect(e.code == .invalidFilter)
            #expect(e.message.contains(reason), "'\(expression)': \(e.message)")
            #expect(e.message.contains("position"), "'\(expression)': \(e.message)")
        }
    }

    @Test("a syntax error in a long filter quotes only the text around it, with the pointer under the error")
    func longFilterErrorExcerpt() throws {
        let long = "tag in [\"" + String(repeating: "k", count: 200_000) + "\"] and ) score > 1"
        do {
            _ = try Filter(long, schema: Self.schema)
            Issue.record("accepted a malformed filter")
        } catch let e as VireoError {
            #expect(e.message.count < 400, "message of \(e.message.count) characters")
            let lines = e.message.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == 3)
            if lines.count == 3, let caret = lines[2].firstIndex(of: "^") {
                let column = lines[2].distance(from: lines[2].startIndex, to: caret)
                let quoted = Array(lines[1])
                #expect(column < quoted.count && quoted[column] == ")", "the pointer marks the stray ')': \(e.message)")
            }
        }
    }

    @Test("unknown fields are errors without the dynamic field; deep nesting is rejected, not a crash")
    func limits() throws {
        var strict = Self.schema
        strict.enableDynamicField = false
        #expect(throws: VireoError.self) { _ = try Filter("nope > 1", schema: strict) }
        let deep = String(repeating: "(", count: 5000) + "age > 1" + String(repeating: ")", count: 5000)
        do {
            _ = try Filter(deep, schema: Self.schema)
            Issue.record("accepted a 5000-deep expression")
        } catch let e as VireoError {
            #expect(e.message.contains("deeper"))
        }
        let huge = (0..<20_000).map { "age == \($0)" }.joined(separator: " or ")
        #expect(throws: VireoError.self) { _ = try Filter(huge, schema: Self.schema) }
    }

    @Test("filtered search returns only matching rows, with exact and indexed segments; delete by filter")
    func filteredSearchAndDelete() async throws {
        let dim = 16
        let base = Datasets.embeddingLike(n: 2000, dim: dim, seed: 201)
        let queries = Datasets.embeddingLike(n: 20, dim: dim, seed: 202)
        let dir = TemporaryDirectory()
        var config = Configuration()
        config.sealRows = 800
        let db = try Database.open(at: dir.path, configuration: config)
        let c = try db.createCollection(CollectionSchema(name: "fs", fields: [
            .int64PrimaryKey("id"), .floatVector("vec", dimension: dim, metric: .l2), FieldSchema(name: "bucket", dataType: .int64),
        ]))
        try await c.insert(base.enumerated().map { ["id": .int(Int64($0.offset)), "vec": .floatVector($0.element), "bucket": .int(Int64($0.offset % 10))] })
        try await c.createIndex(.hnsw(field: "vec", M: 16, efConstruction: 100))
        await c.waitForIndexBuilds()
        for (filter, allowed) in [("bucket < 5", Set((0..<2000).filter { $0 % 10 < 5 })), ("bucket == 3", Set((0..<2000).filter { $0 % 10 == 3 }))] {
            let hits = try await c.search(SearchRequest(vectors: queries, limit: 10, params: SearchParameters(ef: 100), filter: filter))
            var found = 0
            for (qi, q) in queries.enumerated() {
                let excluded = Set(0..<2000).subtracting(allowed)
                let truth = Set(Oracle.nearest(q, in: base, k: 10, metric: .l2, excluded: excluded).map { PrimaryKey.int(Int64($0.index)) })
                for h in hits[qi] {
                    if case let .int(i) = h.id { #expect(allowed.contains(Int(i)), "\(filter): row \(i) does not match") }
                }
                found += hits[qi].filter { truth.contains($0.id) }.count
            }
            let recall = Double(found) / Double(10 * queries.count)
            #expect(recall >= 0.95, "\(filter): filtered recall@10 \(recall)")
        }
        let removed = try await c.delete(filter: "bucket == 9")
        #expect(removed == 200)
        #expect(c.count() == 1800)
        #expect(try c.count(filter: "bucket == 9") == 0)
        #expect(try c.query(filter: "bucket == 1", limit: 5, offset: 10).count == 5)
    }
}
