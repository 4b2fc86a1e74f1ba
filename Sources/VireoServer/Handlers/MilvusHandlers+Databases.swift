import Foundation
import Vireo

/// Databases (`databases/*`, `CreateDatabase` …), aliases (`aliases/*`, `CreateAlias` …) and the
/// read-only answers tools poll (segment infos). Aliases act in the request's database
/// (``RequestScope``); database calls name their database explicitly.
extension MilvusHandlers {
    private func sync<T>(_ body: () throws -> T) throws(APIError) -> T {
        do { return try body() } catch { throw ErrorTable.apiError(error) }
    }

    private static func required(_ value: String, _ parameter: String) throws(APIError) -> String {
        guard !value.isEmpty else { throw APIError.missing(parameter) }
        // Names are at most 255 characters (validated on create); a longer one is never echoed whole.
        guard value.utf8.count <= 255 else { throw APIError.invalid("invalid \(parameter) '\(value.prefix(32))…': names have at most 255 characters") }
        return value
    }

    // MARK: Databases

    public func createDatabase(_ name: String, properties: [String: String] = [:]) throws(APIError) {
        let name = try Self.required(name, "dbName")
        try sync { try database.createDatabase(name, properties: properties) }
    }

    public func listDatabases() -> [DatabaseInfo] { database.listDatabases() }

    public func describeDatabase(_ name: String) throws(APIError) -> DatabaseInfo {
        let name = try Self.required(name, "dbName")
        return try sync { try database.describeDatabase(name) }
    }

    public func dropDatabase(_ name: String) throws(APIError) {
        let name = try Self.required(name, "dbName")
        try sync {
            try CollectionSchema.validateName(name, what: "database name")  // Milvus checks the name first
            try database.dropDatabase(name)
        }
    }

    public func alterDatabase(_ name: String, set: [String: String], delete: [String] = []) throws(APIError) {
        let name = try Self.required(name, "dbName")
        try sync { try database.alterDatabase(name, set: set, delete: delete) }
    }

    // MARK: Aliases

    public func createAlias(_ alias: String, collection: String) throws(APIError) {
        let alias = try Self.required(alias, "aliasName")
        let collection = try Self.required(collection, "collectionName")
        try sync { try database.createAlias(alias, for: collection, in: currentDatabase) }
    }

    public func alterAlias(_ alias: String, collection: String) throws(APIError) {
        let alias = try Self.required(alias, "aliasName")
        let collection = try Self.required(collection, "collectionName")
        try sync { try database.alterAlias(alias, to: collection, in: currentDatabase) }
    }

    public func dropAlias(_ alias: String) throws(APIError) {
        let alias = try Self.required(alias, "aliasName")
        try sync {
            do {
                try database.dropAlias(alias, in: currentDatabase)
            } catch let e as VireoError where e.code == .aliasNotFound {
                return  // an alias that does not exist is already dropped: success, as in Milvus
            }
        }
    }

    /// The collection `alias` stands for.
    public func describeAlias(_ alias: String) throws(APIError) -> String {
        let alias = try Self.required(alias, "aliasName")
        return try sync { try database.describeAlias(alias, in: currentDatabase) }
    }

    /// The aliases of the request's database, or of `collection` there.
    public func listAliases(collection: String?) throws(APIError) -> [String] {
        try sync { try database.listAliases(in: currentDatabase, collection: collection) }
    }

    /// The database of the request being served (the adapters echo it in replies).
    public var requestDatabase: String { currentDatabase }

    /// Deletes every row of a collection (`name` may be an alias); schema, indexes and aliases stay.
    public func truncateCollection(_ name: String) async throws(APIError) {
        try await mapped { try await collection(name).truncate() }
    }

    // MARK: What tools poll

    /// A collection's segments, from the shards' snapshots (`name` may be an alias).
    public func segments(_ name: String) async throws(APIError) -> (collection: Collection, segments: [Collection.SegmentInfo]) {
        try await mapped {
            let c = try collection(name)
            return (c, c.segments())
        }
    }

    /// Whether `name` is loaded (an alias resolves), for `GetLoadingProgress` and `GetReplicas`.
    public func loadedCollectionID(_ name: String) async throws(APIError) -> (id: UInt64, loaded: Bool, partitions: [String]) {
        try await mapped {
            let c = try collection(name)
            return (c.id, loads.isLoaded(c), c.listPartitions())
        }
    }
}
