import Foundation
import Vireo

/// Collection, field and index properties (`AlterCollection`, `AlterCollectionField`,
/// `AddCollectionField`, `AlterIndex`; REST `collections/alter_properties`, `collections/fields/*`,
/// `indexes/alter_properties`, `indexes/drop_properties`). `name` may be an alias.
extension MilvusHandlers {
    /// The most keys one call may set or delete (a request is bounded before it is applied).
    static let maxPropertyKeys = 64

    private static func checkCount(_ set: [String: String], _ delete: [String]) throws(APIError) {
        guard set.count <= maxPropertyKeys, delete.count <= maxPropertyKeys else {
            throw APIError.invalid("at most \(maxPropertyKeys) properties can be set or deleted in one call, got \(max(set.count, delete.count))")
        }
        // Milvus' proxy refuses a call that changes nothing (an empty property map or key list).
        guard !set.isEmpty || !delete.isEmpty else {
            throw APIError.invalid("no properties or delete keys provided: give at least one property to set or one key to delete")
        }
    }

    /// Sets `set` and deletes `delete` on collection `name` (one of them must be empty, as in Milvus).
    public func alterCollectionProperties(_ name: String, set: [String: String], delete: [String] = []) async throws(APIError) {
        try Self.checkCount(set, delete)
        try await mapped { try collection(name).alterProperties(set: set, delete: delete) }
    }

    /// Changes `max_length`, `max_capacity` or `mmap.enabled` of field `field`.
    public func alterCollectionField(_ name: String, field: String, set: [String: String], delete: [String] = []) async throws(APIError) {
        try Self.checkCount(set, delete)
        guard !field.isEmpty else { throw APIError.missing("fieldName") }
        try await mapped { try collection(name).alterField(field, set: set, delete: delete) }
    }

    /// Adds a nullable scalar field to collection `name`.
    public func addCollectionField(_ name: String, field: FieldSchema) async throws(APIError) {
        try await mapped { try collection(name).addField(field) }
    }

    /// Sets (or deletes) properties of index `indexName` of collection `name`.
    public func alterIndexProperties(_ name: String, indexName: String, set: [String: String], delete: [String] = []) async throws(APIError) {
        try Self.checkCount(set, delete)
        guard !indexName.isEmpty else { throw APIError.missing("indexName") }
        try await mapped {
            let c = try collection(name)
            guard c.indexes.contains(where: { $0.indexName == indexName }) else {
                throw APIError(.indexNotFound, "index not found[indexName=\(indexName)] in collection '\(name)'", kind: .notFound)
            }
            try c.alterIndex(indexName, set: set, delete: delete)
        }
    }
}
