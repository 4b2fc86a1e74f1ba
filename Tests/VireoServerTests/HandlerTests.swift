import Foundation
import Testing
import Vireo
@testable import VireoServer
import VireoTestSupport

/// The REST endpoints and handlers without sockets: JSON in, the Milvus envelope's `data` out.
@Suite struct HandlerTests {
    /// Calls an endpoint the way the HTTP adapter does, from JSON text.
    static func call(_ endpoints: RESTEndpoints, _ path: String, _ json: String, int64AsString: Bool = false) async -> Result<JSONValue, APIError> {
        guard let endpoint = endpoints.routes.first(where: { $0.0 == path })?.1 else { fatalError("no endpoint \(path)") }
        do {
            let body = try JSONBody(try JSONParser.parse(Array(json.utf8)))
            let reply = try await endpoint(RESTCall(body: body, int64AsString: int64AsString, dbHeader: nil))
            return .success(try JSONParser.parse(reply.data))
        } catch let e as APIError {
            return .failure(e)
        } catch {
            return .failure(APIError(.invalidJSON, "\(error)"))
        }
    }

    static func ok(_ e: RESTEndpoints, _ path: String, _ json: String) async throws -> JSONValue {
        switch await call(e, path, json) {
        case let .success(v): return v
        case let .failure(err): Issue.record("\(path): \(err)"); throw err
        }
    }

    static func code(_ e: RESTEndpoints, _ path: String, _ json: String) async -> Int {
        switch await call(e, path, json) {
        case .success: return 0
        case let .failure(err): return (err.restCode ?? err.code).rawValue  // what the REST envelope carries
        }
    }

    @Test("quick create, insert, exact search against brute force, query, get, release → 101")
    func roundTrip() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let e = RESTEndpoints(handlers: MilvusHandlers(database: db, stateDirectory: nil))
        _ = try await Self.ok(e, "collections/create", #"{"collectionName": "c", "dimension": 8, "metricType": "L2"}"#)
        let vectors = Datasets.uniform(n: 300, dim: 8, seed: 11)
        let rows = vectors.enumerated().map { i, v in
            JSONValue.object(["id": .int(Int64(i)), "vector": .array(v.map { .double(Double($0)) }), "tag": .int(Int64(i % 3))])
        }
        let inserted = try await Self.ok(e, "entities/insert", JSONValue.object(["collectionName": .string("c"), "data": .array(rows)]).jsonText)
        guard case let .object(ins) = inserted else { Issue.record("insert returned \(inserted)"); return }
        #expect(ins["insertCount"] == .int(300))

        let q = Datasets.uniform(n: 1, dim: 8, seed: 99)[0]
        let body = JSONValue.object(["collectionName": .string("c"), "data": .array([.array(q.map { .double(Double($0)) })]),
                                     "limit": .int(5), "filter": .string("tag == 1"), "outputFields": .array([.string("tag")])])
        let hits = try await Self.ok(e, "entities/search", body.jsonText)
        let allowed = Set((0..<300).filter { $0 % 3 != 1 })
        let want = Oracle.nearest(q, in: vectors, k: 5, metric: .l2, excluded: allowed).map(\.index)
        guard case let .array(list) = hits else { Issue.record("search returned \(hits)"); return }
        #expect(list.count == 5)
        let ids = list.compactMap { h -> Int? in if case let .object(o) = h, case let .int(i)? = o["id"] { return Int(i) } else { return nil } }
        #expect(ids == want)
        for h in list { if case let .object(o) = h { #expect(o["tag"] == .int(1)) } }

        let count = try await Self.ok(e, "entities/query", #"{"collectionName": "c", "filter": "tag == 2", "outputFields": ["count(*)"]}"#)
        #expect(count == .array([.object(["count(*)": .int(100)])]))
        let got = try await Self.ok(e, "entities/get", #"{"collectionName": "c", "id": [4, 1000], "outputFields": ["tag"]}"#)
        #expect(got == .array([.object(["id": .int(4), "tag": .int(1)])]))

        _ = try await Self.ok(e, "collections/release", #"{"collectionName": "c"}"#)
        #expect(await Self.code(e, "entities/search", body.jsonText) == 101)
        #expect(await Self.code(e, "entities/query", #"{"collectionName": "c"}"#) == 101)
        _ = try await Self.ok(e, "collections/load", #"{"collectionName": "c"}"#)
        #expect(await Self.code(e, "entities/search", body.jsonText) == 0)
    }

    @Test("client mistakes map to Milvus codes, and nothing is written")
    func errors() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let e = RESTEndpoints(handlers: MilvusHandlers(database: db, stateDirectory: nil))
        _ = try await Self.ok(e, "collections/create", #"{"collectionName": "c", "dimension": 2, "params": {"enableDynamicField": false}}"#)
        #expect(await Self.code(e, "entities/insert", #"{"collectionName": "c", "data": [{"id": 1, "vector": [1, 2, 3]}]}"#) == 1804)
        #expect(await Self.code(e, "entities/insert", #"{"collectionName": "c", "data": [{"id": 1, "vector": [1, 2], "x": 1}]}"#) == 1804)
        #expect(await Self.code(e, "entities/insert", #"{"collectionName": "c", "data": [{"id": "a", "vector": [1, 2]}]}"#) == 1804)
        #expect(await Self.code(e, "entities/insert", #"{"collectionName": "c", "data": "rows"}"#) == 1801)
        #expect(await Self.code(e, "entities/insert", #"{"collectionName": "c"}"#) == 1802)
        #expect(await Self.code(e, "entities/insert", #"{"collectionName": "nope", "data": []}"#) == 100)
        #expect(await Self.code(e, "entities/search", #"{"collectionName": "c", "data": [[1, 2, 3]]}"#) == 1100)
        #expect(await Self.code(e, "entities/search", #"{"collectionName": "c", "data": [[1, 2]], "limit": 16385}"#) == 1100)
        #expect(await Self.code(e, "entities/query", #"{"collectionName": "c", "filter": "id >"}"#) == 1100)
        #expect(await Self.code(e, "entities/get", #"{"collectionName": "c", "id": [true]}"#) == 1806)
        #expect(await Self.code(e, "collections/list", #"{"dbName": "other"}"#) == 800)
        #expect(await Self.code(e, "indexes/describe", #"{"collectionName": "c", "indexName": "missing"}"#) == 700)
        #expect(try db.collection("c").count() == 0)
    }

    @Test("credentials compare over their whole length: a password followed by 256 NUL bytes is refused")
    func constantTimeEqualLength() {
        let auth = Authenticator(credentials: ["root:Milvus"])
        let padded = "root:Milvus" + String(repeating: "\u{0}", count: 256)
        #expect(!Authenticator.constantTimeEqual("root:Milvus", padded))
        #expect(!auth.accepts(authorization: "Bearer " + padded))
        #expect(!auth.accepts(authorization: "Basic " + Data(padded.utf8).base64EncodedString()))
        #expect(!Authenticator.constantTimeEqual("root:Milvus", "root:Milvu"))
        #expect(Authenticator.constantTimeEqual("root:Milvus", "root:Milvus"))
        #expect(auth.accepts(authorization: "Basic " + Data("root:Milvus".utf8).base64EncodedString()))
    }

    @Test("limit and offset anywhere in Int64 are refused (query 65535; search 1100 over REST, as Milvus), never an overflow trap")
    func windowOverflow() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let e = RESTEndpoints(handlers: MilvusHandlers(database: db, stateDirectory: nil))
        _ = try await Self.ok(e, "collections/create", #"{"collectionName": "c", "dimension": 2}"#)
        _ = try await Self.ok(e, "entities/insert", #"{"collectionName": "c", "data": [{"id": 1, "vector": [1, 2]}]}"#)
        let max = Int64.max, min = Int64.min
        for (limit, offset) in [(max, 1), (1, max), (max, max), (min, 0), (5, min), (16_384, 1)] {
            #expect(await Self.code(e, "entities/query", #"{"collectionName": "c", "filter": "id > 0", "limit": \#(limit), "offset": \#(offset)}"#) == 65535)
            #expect(await Self.code(e, "entities/search", #"{"collectionName": "c", "data": [[1, 2]], "limit": \#(limit), "offset": \#(offset)}"#) == 1100)
            #expect(await Self.code(e, "entities/hybrid_search", #"{"collectionName": "c", "search": [{"data": [[1, 2]], "annsField": "vector"}], "rerank": {"strategy": "rrf", "params": {"k": 60}}, "limit": \#(limit), "offset": \#(offset)}"#) == 1100)
        }
        #expect(await Self.code(e, "entities/query", #"{"collectionName": "c", "filter": "(id - 9223372036854775807 - 1) % -1 == 0", "limit": 10}"#) == 0)
    }

    @Test("index names and metrics live in the catalog; a legacy index-names.json is moved into it once")
    func indexNamesInCatalog() async throws {
        let dir = TemporaryDirectory()
        do {
            let db = try Database.open(at: dir.path)
            let e = RESTEndpoints(handlers: MilvusHandlers(database: db, stateDirectory: nil))
            _ = try await Self.ok(e, "collections/create", #"{"collectionName": "c", "schema": {"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": true}, {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}}, {"fieldName": "t", "dataType": "Int64"}]}}"#)
            _ = try await Self.ok(e, "indexes/create", #"{"collectionName": "c", "indexParams": [{"fieldName": "v", "indexName": "dense", "metricType": "IP", "indexType": "HNSW"}]}"#)
            _ = try await Self.ok(e, "indexes/create", #"{"collectionName": "c", "indexParams": [{"fieldName": "t", "indexType": "STL_SORT"}]}"#)
            // The same index again is a no-op; another one on the field is refused until it is dropped.
            _ = try await Self.ok(e, "indexes/create", #"{"collectionName": "c", "indexParams": [{"fieldName": "v", "indexName": "dense", "metricType": "IP", "indexType": "HNSW"}]}"#)
            #expect(await Self.code(e, "indexes/create", #"{"collectionName": "c", "indexParams": [{"fieldName": "v", "metricType": "L2", "indexType": "HNSW"}]}"#) == 1100)
            #expect(await Self.code(e, "indexes/create", #"{"collectionName": "c", "indexParams": [{"fieldName": "t", "indexName": "dense", "indexType": "INVERTED"}]}"#) != 0)
            // A server before 0.3 named the scalar index in a side file.
            try FileManager.default.createDirectory(atPath: dir.path + "/server", withIntermediateDirectories: true)
            try Data(#"{"c": {"t": "by_t"}}"#.utf8).write(to: URL(fileURLWithPath: dir.path + "/server/index-names.json"))
        }
        let db = try Database.open(at: dir.path)
        let e = RESTEndpoints(handlers: MilvusHandlers(database: db))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/server/index-names.json"))
        let names = try await Self.ok(e, "indexes/list", #"{"collectionName": "c"}"#)
        #expect(names == .array([.string("by_t"), .string("dense")]) || names == .array([.string("dense"), .string("by_t")]))
        let d = try await Self.ok(e, "indexes/describe", #"{"collectionName": "c", "indexName": "dense"}"#)
        guard case let .array(list) = d, case let .object(o)? = list.first else { Issue.record("describe returned \(d)"); return }
        #expect(o["metricType"] == .string("IP") && o["fieldName"] == .string("v"))
        _ = try await Self.ok(e, "indexes/drop", #"{"collectionName": "c", "indexName": "dense"}"#)
        #expect(try db.collection("c").metric(of: "v") == nil)
    }

    @Test("the error table: engine codes by operation")
    func errorTable() {
        let dim = VireoError(.dimensionMismatch, kind: .invalidInput, "dim")
        #expect(ErrorTable.apiError(dim, during: .write).code == .invalidInsertData)
        #expect(ErrorTable.apiError(dim, during: .other).code == .invalidParameter)
        #expect(ErrorTable.apiError(VireoError(.typeMismatch, kind: .invalidInput, "t"), during: .byPrimaryKey).code == .invalidPrimaryKey)
        #expect(ErrorTable.apiError(VireoError(.collectionNotFound, kind: .notFound, "c")).code == .collectionNotFound)
        let internalError = ErrorTable.apiError(VireoError(.storageFailure, kind: .internal, "io"))
        #expect(internalError.code == .unexpected && internalError.httpStatus == 200)
        #expect(APIError.unauthenticated.httpStatus == 401 && APIError.unauthenticated.code.rawValue == 1800)
    }

    @Test("JSON parser: values, positioned errors, bounded depth")
    func parser() throws {
        #expect(try JSONParser.parse(Array(#" {"a": [1, -2.5e1, "x\u00e9\ud83d\ude00", true, null]} "#.utf8))
                == .object(["a": .array([.int(1), .double(-25), .string("xé😀"), .bool(true), .null])]))
        #expect(try JSONParser.parse(Array("-9223372036854775808".utf8)) == .int(.min))
        #expect(try JSONParser.parse(Array("9223372036854775808".utf8)) == .double(9223372036854775808))
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "NaN", "1e999", "\"\\x\"", "[1] 2", String(repeating: "[", count: 500)] {
            #expect(throws: JSONParser.Failure.self, "\(bad.prefix(10))") { try JSONParser.parse(Array(bad.utf8)) }
        }
    }

    @Test("JSON parser: numbers on the fast path equal the exact conversion, bit for bit")
    func numbers() throws {
        var g = SeededGenerator(seed: 31)
        var texts: [String] = ["0.1", "-0.0", "1e-7", "123.456e3", "9007199254740993.5", "0.30000000000000004", "1.7976931348623157e308",
                               "4.9e-324", "2.2250738585072014e-308", "12345678901234567890.5", "1E22", "1e23", "-3.4028235e38"]
        for _ in 0..<5000 {
            let f = Float.random(in: -1...1, using: &g)
            texts.append("\(f)")
            texts.append(String(format: "%.9g", Double(f)))
            let d = Double.random(in: -1e6...1e6, using: &g) * pow(10, Double(Int.random(in: -30...30, using: &g)))
            texts.append("\(d)")
            texts.append(String(format: "%.17e", d))
        }
        for t in texts {
            let parsed = try JSONParser.parse(Array(t.utf8))
            guard case let .double(v) = parsed else {
                Issue.record("\(t) parsed as \(parsed)")
                continue
            }
            #expect(v.bitPattern == Double(t)!.bitPattern, "\(t)")
        }
    }

    @Test("insert bodies decoded against the schema while parsing equal the generic path, vectors bit for bit")
    func typedRows() throws {
        let schema = CollectionSchema(name: "c", fields: [
            .int64PrimaryKey(), .floatVector("v", dimension: 6),
            FieldSchema(name: "t", dataType: .varChar, maxLength: 64),
            FieldSchema(name: "n", dataType: .int64),
            FieldSchema(name: "j", dataType: .json),
            FieldSchema(name: "a", dataType: .array, elementType: .int64, maxCapacity: 8),
        ], enableDynamicField: true)
        var g = SeededGenerator(seed: 7)
        let odd = ["0", "-0", "-0.0", "1e-7", "123.456E3", "9007199254740993.5", "12345678901234567890.5", "1E22", "1e23",
                   "4.9e-324", "-3.4028235e38", "0.30000000000000004", "7", "-12", "1e+2", "25e-1", "3.0e0000"]
        func number() -> String {
            switch Int.random(in: 0..<4, using: &g) {
            case 0: return odd.randomElement(using: &g)!
            case 1: return "\(Float.random(in: -1...1, using: &g))"
            case 2: return String(format: "%.9g", Double(Float.random(in: -1...1, using: &g)))
            default: return String(format: "%.17e", Double.random(in: -10...10, using: &g))
            }
        }
        var rows: [String] = []
        for id in 0..<300 {
            let vector = (0..<6).map { _ in number() }.joined(separator: Bool.random(using: &g) ? "," : " , ")
            var members = ["\"id\": \(id % 3 == 0 ? "\"\(id)\"" : "\(id)")", "\"v\": [\(vector)]", "\"t\": \"x\\u00e9\\n\(id)\""]
            if id % 2 == 0 { members.append("\"n\": \"\(id * 7)\"") }
            if id % 5 == 0 { members.append("\"j\": {\"k\": [1, 2.5, null], \"s\": \"\(id)\"}") }
            if id % 7 == 0 { members.append("\"a\": [1, 2, 3]") }
            if id % 11 == 0 { members.append("\"extra\": {\"deep\": [\(number())]}") }
            if id % 13 == 0 { members.append("\"v\": [1, \"two\", 3, 4, 5, 6]") }  // not numbers: left to validation
            rows.append("{" + members.shuffled(using: &g).joined(separator: ", ") + "}")
        }
        let text = "{\"collectionName\": \"c\", \"partitionName\": \"p\", \"data\": [\n" + rows.joined(separator: ",\n") + "\n]}"
        let (body, typed) = try JSONParser.parseWrite(Array(text.utf8)) { $0 == "c" ? schema : nil }
        let generic = try RESTEndpoints.rows(JSONBody(try JSONParser.parse(Array(text.utf8))), schema, maxRows: 1000)
        #expect(body == .object(["collectionName": .string("c"), "partitionName": .string("p")]))
        let rowsTyped = try #require(typed)
        #expect(rowsTyped.count == generic.count)
        for (a, b) in zip(rowsTyped, generic) {
            #expect(a == b)
            if case let .floatVector(x)? = a["v"], case let .floatVector(y)? = b["v"] {
                #expect(x.map(\.bitPattern) == y.map(\.bitPattern))
            }
        }
        // `data` before `collectionName`, an unknown collection, or rows that are not objects: left for the
        // generic path, which reports them.
        for fallback in ["{\"data\": [{\"id\": 1}], \"collectionName\": \"c\"}", "{\"collectionName\": \"zz\", \"data\": [{\"id\": 1}]}",
                         "{\"collectionName\": \"c\", \"data\": [{\"id\": 1}, 2]}", "{\"collectionName\": \"c\", \"data\": 5}"] {
            let (b, r) = try JSONParser.parseWrite(Array(fallback.utf8)) { $0 == "c" ? schema : nil }
            #expect(r == nil, "\(fallback)")
            #expect(b == (try JSONParser.parse(Array(fallback.utf8))), "\(fallback)")
        }
        // Malformed JSON inside the rows is still an error with a position.
        for bad in ["{\"collectionName\": \"c\", \"data\": [{\"v\": [1, 2,]}]}", "{\"collectionName\": \"c\", \"data\": [{\"v\": [01]}]}",
                    "{\"collectionName\": \"c\", \"data\": [{\"v\": [1e]}]}", "{\"collectionName\": \"c\", \"data\": [{\"id\": 1}"] {
            #expect(throws: JSONParser.Failure.self, "\(bad)") { try JSONParser.parseWrite(Array(bad.utf8)) { _ in schema } }
        }
    }

    @Test("long row lists are parsed in two halves; a guessed boundary inside a string changes nothing",
          arguments: [false, true])
    func typedRowsSplit(trapInStrings: Bool) throws {
        let schema = CollectionSchema(name: "c", fields: [.int64PrimaryKey(), .floatVector("v", dimension: 64),
                                                          FieldSchema(name: "t", dataType: .varChar, maxLength: 4096)])
        var g = SeededGenerator(seed: trapInStrings ? 5 : 6)
        var rows: [String] = []
        var size = 0
        var id = 0
        while size < JSONParser.splitBytes + 200_000 {
            let v = (0..<64).map { _ in "\(Float.random(in: -1...1, using: &g))" }.joined(separator: ",")
            // Text that looks like a row boundary, so the second thread's guess may land inside a string.
            let text = trapInStrings ? String(repeating: "}, {\\\"x\\\": [1]}, {", count: 40) : "passage \(id)"
            let row = "{\"id\": \(id), \"t\": \"\(text)\", \"v\": [\(v)]}"
            rows.append(row)
            size += row.utf8.count + 2
            id += 1
        }
        let text = "{\"collectionName\": \"c\", \"data\": [" + rows.joined(separator: ", ") + "]}"
        let (_, typed) = try JSONParser.parseWrite(Array(text.utf8)) { _ in schema }
        let generic = try RESTEndpoints.rows(JSONBody(try JSONParser.parse(Array(text.utf8))), schema, maxRows: 100_000)
        let split = try #require(typed)
        #expect(split.count == rows.count)
        #expect(split == generic)
        // A malformed row in the second half is still reported, from whichever thread meets it.
        var broken = rows
        broken[rows.count * 3 / 4] = "{\"id\": 1, \"v\": [1,,2]}"
        let bad = "{\"collectionName\": \"c\", \"data\": [" + broken.joined(separator: ", ") + "]}"
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parseWrite(Array(bad.utf8)) { _ in schema } }
    }

    @Test("auth: bearer tokens, API keys and basic")
    func auth() {
        let a = Authenticator(credentials: ["root:Milvus", "key1"])
        #expect(a.accepts(authorization: "Bearer root:Milvus"))
        #expect(a.accepts(authorization: "Bearer key1"))
        #expect(a.accepts(authorization: "Basic " + Data("root:Milvus".utf8).base64EncodedString()))
        #expect(!a.accepts(authorization: nil))
        #expect(!a.accepts(authorization: "Bearer root:milvus"))
        #expect(!a.accepts(authorization: "key1"))
        #expect(Authenticator(credentials: []).accepts(authorization: nil))
        var c = ServerConfiguration()
        c.host = "0.0.0.0"
        #expect(throws: ServerSetupError.self) { try c.validate() }
        c.allowUnauthenticated = true
        #expect(throws: Never.self) { try c.validate() }
    }
}
