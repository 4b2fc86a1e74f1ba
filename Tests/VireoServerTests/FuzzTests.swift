import Foundation
import SwiftProtobuf
import Testing
import Vireo
import VireoKernels
import VireoMilvusProto
@testable import VireoServer
import VireoTestSupport

/// Seeded mutation fuzzing of everything that parses network bytes: the JSON parser (generic and the
/// typed write path), the filter parser and evaluator, and protobuf request conversion. Each target
/// mutates a corpus of valid inputs (byte flips, cuts, duplications, hostile tokens) a bounded number
/// of times; the property is that every input is answered — a value or a thrown error — and never
/// crashes, traps or hangs the process. Inputs that once crashed are kept in `regressions` and run
/// first. Seeds are fixed, so a failure names an input that reproduces it.
@Suite struct FuzzTests {
    /// Byte-level mutations, with a dictionary of tokens that tend to reach edge cases.
    struct Mutator {
        var rng: SplitMix64
        let tokens: [[UInt8]]

        init(seed: UInt64, tokens: [String]) {
            rng = SplitMix64(seed: seed)
            self.tokens = tokens.map { Array($0.utf8) }
        }

        mutating func int(_ n: Int) -> Int { n <= 1 ? 0 : Int.random(in: 0..<n, using: &rng) }

        mutating func mutate(_ input: [UInt8]) -> [UInt8] {
            var b = input
            for _ in 0..<(1 + int(4)) {
                let at = int(b.count + 1)
                switch int(7) {
                case 0 where !b.isEmpty: b[min(at, b.count - 1)] ^= UInt8(1 << int(8))
                case 1: b.insert(UInt8(truncatingIfNeeded: int(256)), at: at)
                case 2 where !b.isEmpty:
                    let end = min(b.count, at + 1 + int(16))
                    b.removeSubrange(min(at, b.count)..<end)
                case 3 where !b.isEmpty:
                    let start = int(b.count)
                    let piece = Array(b[start..<min(b.count, start + 1 + int(32))])
                    b.insert(contentsOf: piece, at: at)
                case 4: b = Array(b.prefix(at))
                default: b.insert(contentsOf: tokens[int(tokens.count)], at: at)
                }
            }
            return b
        }
    }

    static let iterations = 4000

    // MARK: JSON

    static let jsonCorpus = [
        #"{"collectionName": "c", "data": [{"id": 1, "vector": [0.5, -1e-3, 2, 3], "tag": "a\u00e9\ud83d\ude00", "meta": {"k": [1, {"x": null}]}}]}"#,
        #"{"collectionName": "c", "data": [[1.5, 2, 3, 4]], "limit": 10, "offset": 0, "filter": "id > 1", "searchParams": {"params": {"ef": 64}}}"#,
        #"[1, -0, 0.0e+0, 1E400, -1e-400, 9223372036854775807, -9223372036854775808, 18446744073709551616, "\\\"\/\b\f\n\r\t"]"#,
        #"{"a": {"b": {"c": {"d": [[[[[]]]]]}}}, "e": true, "f": false, "g": null}"#,
    ]
    static let jsonTokens = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "1e999", "-", "0", ".", "e", "null",
                             "true", "9223372036854775808", "NaN", "[[[[[[[[", "\u{0}", "\u{FF}", "\"data\": [", "\"id\": "]

    static let schema = CollectionSchema(name: "c", fields: [
        .int64PrimaryKey("id"), .floatVector("vector", dimension: 4),
        FieldSchema(name: "tag", dataType: .varChar, maxLength: 16),
        FieldSchema(name: "meta", dataType: .json, nullable: true),
    ])

    @Test("the JSON parser answers every mutated input, and what it accepts round-trips")
    func json() throws {
        var m = Mutator(seed: 0x5EED_0001, tokens: Self.jsonTokens)
        for (c, text) in Self.jsonCorpus.enumerated() {
            let base = Array(text.utf8)
            for i in 0..<Self.iterations {
                let input = i == 0 ? base : m.mutate(base)
                guard let value = try? JSONParser.parse(input) else { continue }
                // Accepted input re-encodes to JSON that parses to the same value (numbers compared by
                // value: an integral double is written without a fraction and reads back as an integer).
                let again = try JSONParser.parse(Array(value.jsonText.utf8))
                #expect(Self.sameJSON(again, value), "corpus \(c) iteration \(i): \(String(decoding: input, as: UTF8.self))")
            }
        }
        // Deep nesting is refused at the bound, not by the stack.
        for depth in [127, 129, 100_000] {
            let deep = Array(String(repeating: "[", count: depth).utf8) + Array(String(repeating: "]", count: depth).utf8)
            #expect((try? JSONParser.parse(deep)) == nil || depth < 128)
        }
    }

    static func sameJSON(_ a: JSONValue, _ b: JSONValue) -> Bool {
        func number(_ v: JSONValue) -> Double? {
            switch v {
            case let .int(i): return Double(i)
            case let .double(d): return d
            default: return nil
            }
        }
        switch (a, b) {
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { sameJSON($0, $1) }
        case let (.object(x), .object(y)): return x.keys == y.keys && x.allSatisfy { k, v in sameJSON(v, y[k]!) }
        default:
            if let x = number(a), let y = number(b) { return x == y }
            return a == b
        }
    }

    @Test("the typed write path answers every mutated insert body like the generic one")
    func jsonWrite() throws {
        var m = Mutator(seed: 0x5EED_0002, tokens: Self.jsonTokens)
        let base = Array(Self.jsonCorpus[0].utf8)
        for i in 0..<Self.iterations {
            let input = i == 0 ? base : m.mutate(base)
            // Either outcome is fine; the process must answer. When both paths accept, the body agrees.
            let typed = try? JSONParser.parseWrite(input) { $0 == "c" ? Self.schema : nil }
            let generic = try? JSONParser.parse(input)
            if let typed, let generic, typed.rows == nil {
                #expect(typed.body == generic, "iteration \(i)")
            }
        }
    }

    // MARK: Filters

    static let filterCorpus = [
        #"id > 5 and tag like "a%" or not (id in [1, 2, 3])"#,
        #"(id + 3) * 2 % 7 == 1 and id - 9223372036854775807 < 0"#,
        #"meta["k"][0] == 1 or json_contains(meta["k"], 1) or array_length(meta["k"]) > 0"#,
        #"tag is not null and id ** 2 / 3 >= 0.5 and exists meta["k"]"#,
    ]
    static let filterTokens = ["(", ")", "[", "]", "and ", " or ", "not ", "%", "-1", "0", "**", "/", "*", "+", "-",
                               "-9223372036854775808", "9223372036854775807", "1e308", "\"", "'", "\\", "like ", "in ",
                               "json_contains_all(", "array_contains_any(", "meta[\"", "]]", "==", "!=", "<=", "is null", "{", "$meta"]

    @Test("the filter parser and evaluator answer every mutated expression")
    func filters() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let c = try db.createCollection(Self.schema)
        let extremes: [Int64] = [0, 1, -1, .max, .min, .max - 1, .min + 1, 7]
        try await c.insert(extremes.enumerated().map { i, v in
            ["id": .int(v), "vector": .floatVector([1, Float(i), 0, -1]), "tag": .string("a\(i)"),
             "meta": i % 2 == 0 ? .json(.object(["k": .array([.int(v), .double(1.5)])])) : .null]
        })
        try await c.flush()
        try await c.insert([["id": .int(42), "vector": .floatVector([0, 0, 0, 1]), "tag": .string("g"), "meta": .json(.object(["k": .array([])]))]])
        var m = Mutator(seed: 0x5EED_0003, tokens: Self.filterTokens)
        let regressions = ["(id - 9223372036854775807 - 1) % -1 == 0", "id * 9223372036854775807 > 0", "-9223372036854775808 % -1 == id"]
        var inputs = regressions
        for text in Self.filterCorpus {
            let base = Array(text.utf8)
            for i in 0..<(Self.iterations / 4) { inputs.append(String(decoding: i == 0 ? base : m.mutate(base), as: UTF8.self)) }
        }
        var parsed = 0
        for expr in inputs {
            guard (try? Filter(expr, schema: Self.schema)) != nil else { continue }
            parsed += 1
            _ = try? c.count(filter: expr)
            _ = try? c.query(filter: expr, outputFields: ["id"], limit: 3)
        }
        #expect(parsed > 100, "the mutations should keep some expressions valid: \(parsed)")
        // The regression cases evaluate (they used to trap).
        #expect(try c.count(filter: regressions[0]) == 9)
    }

    // MARK: Protobuf requests

    @Test("protobuf request conversion answers every mutated Insert and Search request")
    func proto() throws {
        var rows: [Row] = []
        for i in 0..<4 {
            rows.append(["id": .int(Int64(i)), "vector": .floatVector([1, 2, 3, Float(i)]), "tag": .string("t\(i)"),
                         "meta": .json(.object(["k": .int(Int64(i))]))])
        }
        var insert = Milvus_Proto_Milvus_InsertRequest()
        insert.collectionName = "c"
        insert.numRows = 4
        insert.fieldsData = ProtoConversions.columns(rows, ProtoConversions.outputColumns(["*"], schema: Self.schema, includePrimaryKey: true),
                                                     schema: Self.schema)
        var group = Milvus_Proto_Common_PlaceholderGroup()
        var holder = Milvus_Proto_Common_PlaceholderValue()
        holder.tag = "$0"
        holder.type = .floatVector
        holder.values = [Data([0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64])]
        group.placeholders = [holder]
        let bases: [[UInt8]] = [try insert.serializedBytes(), try group.serializedBytes()]
        #expect(try ProtoConversions.rows(insert.fieldsData, count: 4, schema: Self.schema).count == 4)
        var m = Mutator(seed: 0x5EED_0004, tokens: ["\u{FF}\u{FF}\u{FF}\u{FF}\u{0F}", "\u{0}", "\u{8}\u{80}\u{80}\u{80}\u{80}\u{10}"])
        for i in 0..<Self.iterations {
            let insertBytes = m.mutate(bases[0])
            if let req = try? Milvus_Proto_Milvus_InsertRequest(serializedBytes: insertBytes), req.numRows <= 100_000 {
                _ = try? ProtoConversions.rows(req.fieldsData, count: Int(req.numRows), schema: Self.schema)
            }
            let groupBytes = m.mutate(bases[1])
            _ = try? ProtoConversions.vectors(Data(groupBytes), field: i % 2 == 0 ? FieldSchema(name: "v", dataType: .floatVector, dimension: 4) : nil)
        }
    }
}
