import Foundation
import Testing
import Vireo
@testable import VireoServer
import VireoTestSupport

/// `databases/*`, `aliases/*` and `dbName` scoping through the REST endpoints and handlers, without sockets.
@Suite struct DatabaseHandlerTests {
    @Test("dbName scopes every collection call; aliases resolve per database; codes are Milvus'")
    func scoping() async throws {
        let dir = TemporaryDirectory()
        let db = try Database.open(at: dir.path)
        let e = RESTEndpoints(handlers: MilvusHandlers(database: db, stateDirectory: nil))
        _ = try await HandlerTests.ok(e, "databases/create", #"{"dbName": "shop", "properties": {"k": 1}}"#)
        #expect(try await HandlerTests.ok(e, "databases/list", "{}") == .array([.string("default"), .string("shop")]))
        _ = try await HandlerTests.ok(e, "collections/create", #"{"collectionName": "c", "dimension": 2}"#)
        _ = try await HandlerTests.ok(e, "collections/create", #"{"dbName": "shop", "collectionName": "c", "dimension": 2}"#)
        _ = try await HandlerTests.ok(e, "entities/insert", #"{"dbName": "shop", "collectionName": "c", "data": [{"id": 1, "vector": [1, 0]}, {"id": 2, "vector": [0, 1]}]}"#)
        #expect(try db.collection("c", in: "shop").count() == 2)
        #expect(try db.collection("c").count() == 0)
        _ = try await HandlerTests.ok(e, "aliases/create", #"{"dbName": "shop", "aliasName": "live", "collectionName": "c"}"#)
        let stats = try await HandlerTests.ok(e, "collections/get_stats", #"{"dbName": "shop", "collectionName": "live"}"#)
        #expect(stats == .object(["rowCount": .int(2)]))
        #expect(await HandlerTests.code(e, "collections/get_stats", #"{"collectionName": "live"}"#) == 100)
        #expect(await HandlerTests.code(e, "collections/list", #"{"dbName": "nope"}"#) == 800)
        #expect(await HandlerTests.code(e, "databases/drop", #"{"dbName": "shop"}"#) == 1100)
        #expect(await HandlerTests.code(e, "collections/drop", #"{"dbName": "shop", "collectionName": "c"}"#) == 1100)
        #expect(await HandlerTests.code(e, "aliases/describe", #"{"aliasName": "live"}"#) == 1600)
        let described = try await HandlerTests.ok(e, "aliases/describe", #"{"dbName": "shop", "aliasName": "live"}"#)
        #expect(described == .object(["aliasName": .string("live"), "collectionName": .string("c"), "dbName": .string("shop")]))
        // Release through the alias: the collection itself is released (load state follows the collection).
        _ = try await HandlerTests.ok(e, "collections/release", #"{"dbName": "shop", "collectionName": "live"}"#)
        #expect(await HandlerTests.code(e, "entities/query", #"{"dbName": "shop", "collectionName": "c", "filter": "id > 0"}"#) == 101)
        #expect(await HandlerTests.code(e, "entities/query", #"{"collectionName": "c", "filter": "id > 0"}"#) == 0)
        _ = try await HandlerTests.ok(e, "aliases/drop", #"{"dbName": "shop", "aliasName": "live"}"#)
        _ = try await HandlerTests.ok(e, "collections/drop", #"{"dbName": "shop", "collectionName": "c"}"#)
        _ = try await HandlerTests.ok(e, "databases/drop", #"{"dbName": "shop"}"#)
        #expect(await HandlerTests.code(e, "databases/describe", #"{"dbName": "shop"}"#) == 800)
    }
}
