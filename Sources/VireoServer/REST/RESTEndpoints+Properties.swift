import Foundation
import Vireo

/// Milvus RESTful API v2 collection, field and index properties:
/// `collections/alter_properties`, `collections/drop_properties`, `collections/fields/add`,
/// `collections/fields/alter_properties`, `collections/fields/drop_properties`,
/// `indexes/alter_properties`, `indexes/drop_properties`.
extension RESTEndpoints {
    var propertyRoutes: [(String, Endpoint)] {
        [
            ("collections/alter_properties", alterCollectionProperties),
            ("collections/drop_properties", dropCollectionProperties),
            ("collections/fields/add", addCollectionField),
            ("collections/fields/alter_properties", alterFieldProperties),
            ("collections/fields/drop_properties", dropFieldProperties),
            ("indexes/alter_properties", alterIndexProperties),
            ("indexes/drop_properties", dropIndexProperties),
        ]
    }

    /// An object of strings, numbers or booleans under `key` (Milvus stores each as its text).
    private static func stringMap(_ body: JSONBody, _ key: String) throws -> [String: String] {
        guard let o = try body.object(key) else { throw APIError.missing(key) }
        var out: [String: String] = [:]
        for (k, v) in o.object {
            switch v {
            case let .string(s): out[k] = s
            case let .int(i): out[k] = String(i)
            case let .double(d): out[k] = d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case let .bool(b): out[k] = String(b)
            default: throw APIError.wrongType("\(key).\(k)", expected: "a string, number or boolean", got: v)
            }
        }
        return out
    }

    private static func keys(_ body: JSONBody) throws -> [String] {
        guard let keys = try body.stringArray("propertyKeys") else { throw APIError.missing("propertyKeys") }
        return keys
    }

    func alterCollectionProperties(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.alterCollectionProperties(try c.body.collectionName, set: try Self.stringMap(c.body, "properties"))
        return .empty
    }

    func dropCollectionProperties(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.alterCollectionProperties(try c.body.collectionName, set: [:], delete: try Self.keys(c.body))
        return .empty
    }

    /// `schema`: one field as `collections/create` takes it (`fieldName`, `dataType`, `nullable`,
    /// `defaultValue`, `elementTypeParams`, …).
    func addCollectionField(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        guard let schema = try c.body.object("schema") else { throw APIError.missing("schema", "give the field to add as schema: {fieldName, dataType, nullable: true, …}") }
        let field = try SchemaDecoding.field(schema, index: 0, autoID: false)
        try await handlers.addCollectionField(name, field: field)
        return .empty
    }

    func alterFieldProperties(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.alterCollectionField(try c.body.collectionName, field: try c.body.requiredString("fieldName"),
                                                set: try Self.stringMap(c.body, "fieldParams"))
        return .empty
    }

    func dropFieldProperties(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.alterCollectionField(try c.body.collectionName, field: try c.body.requiredString("fieldName"),
                                                set: [:], delete: try Self.keys(c.body))
        return .empty
    }

    func alterIndexProperties(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.alterIndexProperties(try c.body.collectionName, indexName: try c.body.requiredString("indexName"),
                                                set: try Self.stringMap(c.body, "properties"))
        return .empty
    }

    func dropIndexProperties(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.alterIndexProperties(try c.body.collectionName, indexName: try c.body.requiredString("indexName"),
                                                set: [:], delete: try Self.keys(c.body))
        return .empty
    }
}
