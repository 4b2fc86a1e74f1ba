import Foundation
import Testing
@testable import Vireo
import VireoKernels
import VireoTestSupport

/// JSON path indexes (Milvus 2.6 `INVERTED` with `json_path` / `json_cast_type`): filters on an
/// indexed path answer from the index on sealed segments, with results identical to the row-by-row
/// evaluation, whatever mix of types, missing keys and nulls the documents hold.
@Suite struct JSONPathIndexTests {
    static let schema = CollectionSchema(name: "jp", fields: [
        .int64PrimaryKey("id"),
        .floatVector("vec", dimension: 2, metric: .l2),
        FieldSchema(name: "meta", dataType: .json, nullable: true),
    ])

    /// A value of a random JSON kind; small ranges so that comparisons hit equal values often.
    static func scalar(_ g: inout SeededGenerator) -> JSONValue {
        switch Int.random(in: 0..<10, using: &g) {
        case 0, 1, 2: return .int(Int64.random(in: -3...5, using: &g))
        case 3: return .double(Double(Int.random(in: -6...10, using: &g)) / 2)
        case 4: return .int(Bool.random(using: &g) ? (1 << 53) + 1 : -(1 << 60))  // beyond exact doubles
        case 5, 6: return .string(["x", "y", "z", "", "3", "xy"][Int.random(in: 0..<6, using: &g)])
        case 7: return .bool(Bool.random(using: &g))
        case 8: return .null
        default: return .object(["b": .int(1)])
        }
    }

    /// Documents with `a` (any kind, sometimes missing), `o.b` (nested), `tags` (an array of mixed
    /// elements, or a scalar, or missing); some rows have no document at all.
    static func documents(seed: UInt64, count: Int) -> [JSONValue?] {
        var g = SeededGenerator(seed: seed)
        return (0..<count).map { _ -> JSONValue? in
            if Int.random(in: 0..<12, using: &g) == 0 { return nil }
            var o: [String: JSONValue] = [:]
            if Int.random(in: 0..<5, using: &g) > 0 { o["a"] = scalar(&g) }
            if Bool.random(using: &g) { o["o"] = Int.random(in: 0..<4, using: &g) == 0 ? scalar(&g) : .object(["b": scalar(&g)]) }
            switch Int.random(in: 0..<5, using: &g) {
            case 0: break
            case 1: o["tags"] = scalar(&g)
            default: o["tags"] = .array((0..<Int.random(in: 0...4, using: &g)).map { _ in scalar(&g) })
            }
            return .object(o)
        }
    }

    static let indexes: [(name: String, path: String, cast: String)] = [
        ("a_double", "meta[\"a\"]", "double"), ("a_varchar", "meta['a']", "VARCHAR"), ("a_bool", "meta[\"a\"]", "Bool"),
        ("ob_double", "meta[\"o\"][\"b\"]", "DOUBLE"), ("ob_varchar", "meta[\"o\"][\"b\"]", "VARCHAR"),
        ("tags_double", "meta[\"tags\"]", "ARRAY_DOUBLE"), ("tags_varchar", "meta[\"tags\"]", "ARRAY_VARCHAR"),
        ("tags_bool", "meta[\"tags\"]", "ARRAY_BOOL"),
    ]

    /// Expressions over the indexed paths: every comparison operator with literals of each kind
    /// (integers beyond 2^53 included), flipped operands, `in` / `not in`, `json_contains*`, and
    /// `and` / `or` / `not` around them.
    static var expressions: [String] {
        var out: [String] = []
        let literals = ["0", "1", "-3", "2.5", "5", "9007199254740993", "-1152921504606846976", "\"x\"", "\"3\"", "\"\"", "true", "false"]
        for path in ["meta[\"a\"]", "meta[\"o\"][\"b\"]", "meta[\"tags\"]"] {
            for op in ["==", "!=", "<", "<=", ">", ">="] {
                for lit in literals { out.append("\(path) \(op) \(lit)") }
            }
            out.append("3 > \(path)")
            out.append("\"y\" <= \(path)")
            out += ["\(path) in [1, 2.5, -3]", "\(path) in [\"x\", \"y\"]", "\(path) in [1, \"x\", true]", "\(path) not in [1, 2]",
                    "\(path) in [9007199254740993]", "\(path) in []"]
        }
        for fn in ["json_contains", "array_contains"] {
            for lit in ["1", "2.5", "\"x\"", "true", "[1]", "9007199254740993"] { out.append("\(fn)(meta[\"tags\"], \(lit))") }
        }
        for fn in ["json_contains_any", "json_contains_all", "array_contains_any", "array_contains_all"] {
            for list in ["[1, 2]", "[\"x\", 1]", "[true, false]", "[]", "[[1]]", "[1, 1.0]"] { out.append("\(fn)(meta[\"tags\"], \(list))") }
        }
        out += ["meta[\"a\"] > 1 and meta[\"o\"][\"b\"] < 3", "not (meta[\"a\"] == \"x\")", "meta[\"a\"] >= 1 or id < 10",
                "1 <= meta[\"a\"] < 4", "json_contains(meta[\"tags\"], 1) and meta[\"a\"] != 0", "not json_contains_any(meta[\"tags\"], [1, \"y\"])"]
        return out
    }

    @Test("the index structure answers each served expression exactly as the row-by-row evaluator", arguments: [UInt64(11), 12, 13])
    func columnarMatchesEvaluator(seed: UInt64) throws {
        let docs = Self.documents(seed: seed, count: 400)
        let specs = try Self.indexes.map { try JSONPathIndex(field: "meta", schema: Self.schema, path: $0.path, castType: $0.cast, castFunction: nil) }
        var built: [String: JSONPathValues] = [:]
        let columnar = ColumnarFilter(rows: docs.count, column: { _ in .unsupported }, jsonPath: { name, steps in
            specs.filter { name == "meta" && $0.steps == steps }.map { spec in
                let key = spec.pointer + spec.castType.rawValue
                if let v = built[key] { return v }
                let v = JSONPathValues(cast: spec.castType, rows: docs.count) { r in
                    docs[r].flatMap { FilterEvaluator(fields: ["meta": $0]).value(.field("meta", steps)) }
                }
                built[key] = v
                return v
            }
        })
        var served = 0
        for e in Self.expressions {
            let f = try Filter(e, schema: Self.schema)
            let truth = docs.enumerated().map { i, d in
                f.matches(values: ["id": .int(Int64(i))].merging(d.map { ["meta": $0] } ?? [:]) { a, _ in a })
            }
            guard let bits = try columnar.evaluate(f.root) else { continue }
            served += 1
            for (i, t) in truth.enumerated() where bits.contains(i) != t {
                Issue.record("seed \(seed): '\(e)' row \(i) (\(docs[i]?.jsonText ?? "no document")): index says \(!t), evaluator \(t)")
            }
        }
        // The index must actually serve the common shapes, not fall back for everything.
        #expect(served >= 120, "only \(served) of \(Self.expressions.count) expressions used the index")
    }

    @Test("a collection filters identically with and without path indexes, across seal, compaction and reopen")
    func collectionResultsIdentical() async throws {
        let docs = Self.documents(seed: 21, count: 400)
        let dir = TemporaryDirectory()
        let rows: [Row] = docs.enumerated().map { i, d in
            var r: Row = ["id": .int(Int64(i)), "vec": .floatVector([Float(i), 1])]
            if let d { r["meta"] = .json(d) }
            return r
        }
        // Every other expression (the structure test above runs them all), to keep the suite quick.
        let expressions = Self.expressions.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        func results(_ c: Collection) throws -> [[FieldValue?]] {
            try expressions.map { e in try c.query(filter: e, outputFields: ["id"]).map { $0["id"] } }
        }
        let expectedAfter: [[FieldValue?]]
        do {
            let db = try Database.open(at: dir.path)
            let c = try db.createCollection(Self.schema)
            try await c.insert(Array(rows[0..<200]))
            try await c.flush()
            try await c.insert(Array(rows[200...]))  // half sealed, half growing
            try await c.delete(ids: [.int(7), .int(350)])
            let plain = try results(c)
            #expect(plain.contains { !$0.isEmpty })
            for ix in Self.indexes {
                var spec = IndexSpec(field: "meta", kind: .inverted, name: ix.name)
                spec.jsonPath = try JSONPathIndex(field: "meta", schema: Self.schema, path: ix.path, castType: ix.cast, castFunction: nil)
                try await c.createIndex(spec)
            }
            #expect(c.indexes.filter { $0.jsonPath != nil }.count == Self.indexes.count)
            let indexedGrowing = try results(c)
            try await c.flush()
            let indexed = try results(c)
            // The sealed segments answered from path structures (built on first use), not row by row.
            let sealed = c.shards.flatMap { $0.snapshot.sealed }
            #expect(!sealed.isEmpty && sealed.allSatisfy { $0.columns.jsonPathStructures >= 5 })
            for (k, e) in expressions.enumerated() where plain[k] != indexed[k] || plain[k] != indexedGrowing[k] {
                Issue.record("'\(e)': \(plain[k].count) rows without the index, \(indexed[k].count) with it")
            }
            try await c.delete(ids: (0..<150).map { .int(Int64($0)) })
            _ = try await c.compact()
            expectedAfter = plain.map { ids in ids.filter { if case let .int(i)? = $0 { return i >= 150 } else { return false } } }
            #expect(try results(c) == expectedAfter)
        }
        // The specs survive a reopen and still answer the same.
        let db = try Database.open(at: dir.path)
        let c = try db.collection("jp")
        #expect(c.indexes.compactMap(\.jsonPath).map(\.castType.rawValue).sorted()
                == Self.indexes.map { $0.cast.uppercased() }.sorted())
        #expect(try results(c) == expectedAfter)
        try await c.dropIndex(named: "a_double")
        #expect(!c.indexes.contains { $0.indexName == "a_double" })
        #expect(try results(c) == expectedAfter)
    }

    @Test("invalid cast types, cast functions and paths are refused with Milvus' messages")
    func invalidParameters() throws {
        func message(_ path: String?, _ cast: String?, _ fn: String? = nil) -> String {
            do {
                _ = try JSONPathIndex(field: "meta", schema: Self.schema, path: path, castType: cast, castFunction: fn)
                return "accepted"
            } catch let e as VireoError {
                #expect(e.code == .invalidArgument)
                return e.message
            } catch {
                return "\(error)"
            }
        }
        #expect(message("meta[\"a\"]", nil).contains("json index must specify cast type"))
        #expect(message("meta[\"a\"]", "INT64").contains("json_cast_type INT64 is not supported"))
        #expect(message("meta[\"a\"]", "JSON").contains("is not supported"))
        #expect(message("meta[\"a\"]", "VARCHAR", "STRING_TO_DOUBLE").contains("json_cast_function STRING_TO_DOUBLE is not supported for json_cast_type VARCHAR"))
        #expect(message("meta[\"a\"]", "DOUBLE", "TO_INT").contains("json_cast_function TO_INT is not supported"))
        #expect(message("other[\"a\"]", "DOUBLE").contains("is not a valid path into JSON field 'meta'"))
        #expect(message("meta[\"a\"", "DOUBLE").contains("is not a valid path"))
        #expect(message("meta[\"a\"] > 1", "DOUBLE").contains("is not a path into JSON field 'meta'"))
        #expect(message("meta[\"a\"]", "DOUBLE", "string_to_double") == "accepted")
        let whole = try JSONPathIndex(field: "meta", schema: Self.schema, path: nil, castType: "double", castFunction: nil)
        #expect(whole.path == "meta" && whole.steps.isEmpty && whole.castType == .double)
    }

    @Test("several path indexes on one field: distinct names; the same path and cast under a second name is refused")
    func severalIndexes() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.schema)
        func spec(_ name: String?, _ path: String, _ cast: String) throws -> IndexSpec {
            var s = IndexSpec(field: "meta", kind: .inverted, name: name)
            s.jsonPath = try JSONPathIndex(field: "meta", schema: Self.schema, path: path, castType: cast, castFunction: nil)
            return s
        }
        try await c.createIndex(spec(nil, "meta[\"a\"]", "DOUBLE"))
        try await c.createIndex(spec("b_index", "meta[\"b\"]", "VARCHAR"))
        try await c.createIndex(spec("a_text", "meta[\"a\"]", "VARCHAR"))
        func pathIndexes() -> Set<String> { Set(c.indexes.filter { $0.field == "meta" }.map(\.indexName)) }
        #expect(pathIndexes() == ["meta", "b_index", "a_text"])
        await #expect(throws: VireoError.self) { try await c.createIndex(spec("again", "meta['a']", "double")) }
        // A whole-field index kind on JSON is refused with a pointer to path indexes.
        await #expect(throws: VireoError.self) { try await c.createIndex(IndexSpec(field: "meta", kind: .inverted)) }
        try await c.dropIndex(named: "meta")
        #expect(pathIndexes() == ["b_index", "a_text"])
        let status = try c.indexStatus(field: "meta")
        #expect(status.kind == .inverted && status.isFinished)
    }
}
