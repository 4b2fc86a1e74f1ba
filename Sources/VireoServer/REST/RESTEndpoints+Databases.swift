import Foundation
import Vireo

/// Milvus RESTful API v2 `databases/*` and `aliases/*`.
extension RESTEndpoints {
    var databaseRoutes: [(String, Endpoint)] {
        [
            ("databases/create", createDatabase),
            ("databases/list", listDatabases),
            ("databases/describe", describeDatabase),
            ("databases/drop", dropDatabase),
            ("databases/alter", alterDatabase),
            ("databases/drop_properties", dropDatabaseProperties),
            ("aliases/create", createAlias),
            ("aliases/drop", dropAlias),
            ("aliases/alter", alterAlias),
            ("aliases/describe", describeAlias),
            ("aliases/list", listAliases),
        ]
    }

    /// `properties` as Milvus' REST API takes them: an object of strings, numbers or booleans
    /// (stored as their text, as Milvus' key/value properties are).
    static func properties(_ body: JSONBody) throws -> [String: String] {
        guard let o = try body.object("properties") else { return [:] }
        var out: [String: String] = [:]
        for (k, v) in o.object {
            switch v {
            case let .string(s): out[k] = s
            case let .int(i): out[k] = String(i)
            case let .double(d): out[k] = String(d)
            case let .bool(b): out[k] = String(b)
            default: throw APIError.wrongType("properties.\(k)", expected: "a string, number or boolean", got: v)
            }
        }
        return out
    }

    func createDatabase(_ c: RESTCall) async throws -> RESTReply {
        try handlers.createDatabase(try c.body.requiredString("dbName"), properties: try Self.properties(c.body))
        return .empty
    }

    func listDatabases(_ c: RESTCall) async throws -> RESTReply {
        var w = JSONWriter()
        w.json(.array(handlers.listDatabases().map { .string($0.name) }))
        return RESTReply(data: w.bytes)
    }

    func describeDatabase(_ c: RESTCall) async throws -> RESTReply {
        let d = try handlers.describeDatabase(try c.body.requiredString("dbName"))
        let props: [JSONValue] = d.properties.sorted { $0.key < $1.key }.map { .object(["key": .string($0.key), "value": .string($0.value)]) }
        var w = JSONWriter()
        w.json(.object(["dbName": .string(d.name), "dbID": .int(d.id), "properties": .array(props)]))
        return RESTReply(data: w.bytes)
    }

    func dropDatabase(_ c: RESTCall) async throws -> RESTReply {
        try handlers.dropDatabase(try c.body.requiredString("dbName"))
        return .empty
    }

    func alterDatabase(_ c: RESTCall) async throws -> RESTReply {
        try handlers.alterDatabase(try c.body.requiredString("dbName"), set: try Self.properties(c.body))
        return .empty
    }

    func dropDatabaseProperties(_ c: RESTCall) async throws -> RESTReply {
        try handlers.alterDatabase(try c.body.requiredString("dbName"), set: [:], delete: try c.body.stringArray("propertyKeys") ?? [])
        return .empty
    }

    func createAlias(_ c: RESTCall) async throws -> RESTReply {
        try handlers.createAlias(try c.body.requiredString("aliasName"), collection: try c.body.collectionName)
        return .empty
    }

    func dropAlias(_ c: RESTCall) async throws -> RESTReply {
        try handlers.dropAlias(try c.body.requiredString("aliasName"))
        return .empty
    }

    func alterAlias(_ c: RESTCall) async throws -> RESTReply {
        try handlers.alterAlias(try c.body.requiredString("aliasName"), collection: try c.body.collectionName)
        return .empty
    }

    func describeAlias(_ c: RESTCall) async throws -> RESTReply {
        let alias = try c.body.requiredString("aliasName")
        let collection = try handlers.describeAlias(alias)
        var w = JSONWriter()
        w.json(.object(["aliasName": .string(alias), "collectionName": .string(collection), "dbName": .string(handlers.requestDatabase)]))
        return RESTReply(data: w.bytes)
    }

    func listAliases(_ c: RESTCall) async throws -> RESTReply {
        let aliases = try handlers.listAliases(collection: try c.body.string("collectionName"))
        var w = JSONWriter()
        w.json(.array(aliases.map { .string($0) }))
        return RESTReply(data: w.bytes)
    }
}
