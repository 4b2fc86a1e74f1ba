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
        case let .failure(err): return err.code.rawValue
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
