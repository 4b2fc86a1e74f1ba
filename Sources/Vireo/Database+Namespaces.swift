import Foundation
import Synchronization
import VireoStorage

// Databases (Milvus' namespaces of collections) and aliases (second names of collections).
//
// ## How the catalog keys them
// - A collection record of database `default` is keyed by the collection's name, exactly as every
//   record was keyed before databases existed: an old data directory opens with all its
//   collections in `default`, and nothing is rewritten.
// - A record of any other database is keyed `<database>/<name>` and carries `database` in its JSON.
//   Database and collection names are ASCII letters, digits and underscores, so `/` cannot occur in
//   either and the two forms never collide.
// - A database is a `DatabaseRecord` in the catalog's `meta` table under `database/<name>`, holding
//   its id, creation time, properties and aliases (alias → collection name). `default` has a record
//   only once something of it (properties, aliases) was changed; until then it is implied (id 1).
//   Collection directories stay `collections/<id>/`: a collection's files never depend on its name
//   or database.

/// A collection's place in the catalog: its database and its own name (never an alias).
struct CollectionKey: Hashable, Sendable, CustomStringConvertible {
    var database: String
    var name: String

    /// The catalog key: the bare name in `default` (as before databases existed), else `database/name`.
    var catalogKey: [UInt8] {
        database == Database.defaultDatabaseName ? Array(name.utf8) : Array("\(database)/\(name)".utf8)
    }

    var description: String { database == Database.defaultDatabaseName ? name : "\(database).\(name)" }
}

/// What the catalog stores per database.
struct DatabaseRecord: Codable, Sendable, Equatable {
    var id: Int64
    var name: String
    /// nil for `default` in directories written before databases existed.
    var createdAt: Date?
    var properties: [String: String]
    /// Alias → the name of the collection (in this database) it stands for.
    var aliases: [String: String]

    static func implicitDefault() -> DatabaseRecord {
        DatabaseRecord(id: 1, name: Database.defaultDatabaseName, createdAt: nil, properties: [:], aliases: [:])
    }
}

/// A database as ``Database/listDatabases()`` and ``Database/describeDatabase(_:)`` report it.
public struct DatabaseInfo: Sendable, Equatable {
    public var name: String
    /// Milvus' `dbID`: 1 for `default`, then 2, 3, … in creation order (never reused).
    public var id: Int64
    /// When it was created (nil for `default` in a directory written before databases existed).
    public var createdAt: Date?
    public var properties: [String: String]
}

extension Database {
    /// The database every collection belongs to unless told otherwise; it always exists.
    public static let defaultDatabaseName = "default"
    /// Milvus' `rootCoord.maxDatabaseNum` default.
    public static let maxDatabases = 64
    /// Bounds on what a client can store per database.
    static let maxAliasesPerDatabase = 4096
    static let maxProperties = 64
    static let maxPropertyBytes = 65_536

    private static let recordPrefix = "database/"
    private static let nextDatabaseIdKey = Array("nextDatabaseId".utf8)

    // MARK: Loading and storing

    func loadDatabases() throws {
        var found: [String: DatabaseRecord] = [:]
        do {
            try catalog.read { txn in
                try txn.forEach(metaDB) { key, value in
                    let k = String(decoding: key, as: UTF8.self)
                    guard k.hasPrefix(Self.recordPrefix) else { return true }
                    let payload = try Blob.decode(value, kind: .catalog, what: "catalog entry of database '\(k.dropFirst(Self.recordPrefix.count))'")
                    let r = try JSONDecoder().decode(DatabaseRecord.self, from: Data(payload))
                    found[r.name] = r
                    return true
                }
            }
        } catch {
            throw VireoError.storage(error, "reading the databases of \(path)")
        }
        if found[Self.defaultDatabaseName] == nil { found[Self.defaultDatabaseName] = .implicitDefault() }
        databases.withLock { $0 = found }
    }

    func writeDatabaseRecord(_ txn: WriteTransaction, _ r: DatabaseRecord) throws {
        try Blob.write(txn, metaDB, key: Array((Self.recordPrefix + r.name).utf8), kind: .catalog,
                       payload: Array(JSONEncoder().encode(r)), compress: false)
    }

    /// The record of database `name`.
    /// - Throws: ``VireoError/Code/databaseNotFound``.
    func databaseRecord(_ name: String) throws -> DatabaseRecord {
        guard let r = databases.withLock({ $0[name] }) else { throw VireoError.databaseNotFound(name) }
        return r
    }

    /// The key of the collection `name` names in `database`: its own name, or what the alias `name`
    /// stands for.
    func resolve(_ name: String, in database: String) throws -> CollectionKey {
        let r = try databaseRecord(database)
        return CollectionKey(database: database, name: r.aliases[name] ?? name)
    }

    /// Applies `change` to database `name`'s record durably, then publishes it. Call with
    /// ``catalogChanges`` held.
    private func updateDatabase(_ name: String, _ doing: String, _ change: (inout DatabaseRecord) throws -> Void) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        var r = try databaseRecord(name)
        try change(&r)
        let updated = r
        do {
            try catalog.write { txn in try writeDatabaseRecord(txn, updated) }
        } catch {
            throw VireoError.storage(error, "\(doing) in database '\(name)'")
        }
        databases.withLock { $0[name] = updated }
    }

    private static func checkProperties(_ p: [String: String]) throws {
        guard p.count <= maxProperties else {
            throw VireoError.invalid(.invalidArgument, "a database takes at most \(maxProperties) properties, got \(p.count)")
        }
        for (k, v) in p where k.isEmpty || k.utf8.count > 255 || v.utf8.count > maxPropertyBytes {
            throw VireoError.invalid(.invalidArgument, "database property '\(k.prefix(64))': keys are 1-255 bytes, values at most \(maxPropertyBytes) bytes")
        }
    }

    // MARK: Databases

    /// Creates database `name` with `properties` (Milvus' `create_database`).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidSchema`` for a bad name,
    ///   ``VireoError/Code/databaseAlreadyExists``, or ``VireoError/Code/invalidArgument`` past
    ///   ``maxDatabases`` or the bounds on properties.
    public func createDatabase(_ name: String, properties: [String: String] = [:]) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try CollectionSchema.validateName(name, what: "database name")
        try Self.checkProperties(properties)
        try catalogChanges.withLock { _ in
            let existing = databases.withLock { $0 }
            if existing[name] != nil {
                throw VireoError(.databaseAlreadyExists, kind: .conflict, "database already exist: \(name); use it, or drop it first")
            }
            guard existing.count < Self.maxDatabases else {
                throw VireoError.invalid(.invalidArgument, "database number (\(existing.count)) exceeds max configuration (\(Self.maxDatabases)); drop a database first")
            }
            let record: DatabaseRecord
            do {
                record = try catalog.write { txn -> DatabaseRecord in
                    let next: Int64 = try txn.get(metaDB, key: Self.nextDatabaseIdKey).map { bytes -> Int64 in
                        var r = ByteReader(bytes)
                        return Int64(bitPattern: r.u64())
                    } ?? 2
                    try txn.put(metaDB, key: Self.nextDatabaseIdKey, value: withUnsafeBytes(of: UInt64(next + 1).littleEndian) { Array($0) })
                    let r = DatabaseRecord(id: next, name: name, createdAt: Date(), properties: properties, aliases: [:])
                    try writeDatabaseRecord(txn, r)
                    return r
                }
            } catch {
                throw VireoError.storage(error, "creating database '\(name)'")
            }
            databases.withLock { $0[name] = record }
        }
    }

    /// Every database, `default` first, then in creation order.
    public func listDatabases() -> [DatabaseInfo] {
        databases.withLock { $0.values.sorted { $0.id < $1.id }.map(Self.info) }
    }

    /// Whether database `name` exists.
    public func hasDatabase(_ name: String) -> Bool { databases.withLock { $0[name] != nil } }

    /// Database `name`'s id, creation time and properties.
    /// - Throws: ``VireoError/Code/databaseNotFound``.
    public func describeDatabase(_ name: String) throws -> DatabaseInfo { Self.info(try databaseRecord(name)) }

    private static func info(_ r: DatabaseRecord) -> DatabaseInfo {
        DatabaseInfo(name: r.name, id: r.id, createdAt: r.createdAt, properties: r.properties)
    }

    /// Sets the properties in `set` and removes those in `delete` (Milvus' `alter_database`).
    /// - Throws: ``VireoError/Code/databaseNotFound`` or ``VireoError/Code/invalidArgument``.
    public func alterDatabase(_ name: String, set: [String: String], delete: [String] = []) throws {
        try catalogChanges.withLock { _ in
            try updateDatabase(name, "altering properties") { r in
                for k in delete { r.properties[k] = nil }
                r.properties.merge(set) { _, new in new }
                try Self.checkProperties(r.properties)
            }
        }
    }

    /// Drops database `name`, which must hold no collections. Dropping a database that does not
    /// exist succeeds, as in Milvus.
    ///
    /// - Throws: ``VireoError/Code/databaseNotEmpty`` for `default` or a database with collections.
    public func dropDatabase(_ name: String) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        guard name != Self.defaultDatabaseName else {
            throw VireoError(.databaseNotEmpty, kind: .invalidInput, "can not drop default database")
        }
        try catalogChanges.withLock { _ in
            guard databases.withLock({ $0[name] != nil }) else { return }
            let left = listCollections(in: name)
            guard left.isEmpty else {
                throw VireoError(.databaseNotEmpty, kind: .invalidInput,
                                 "database:\(name) not empty, must drop all collections before drop database (it holds \(left.count): \(left.prefix(10).joined(separator: ", ")))")
            }
            do {
                try catalog.write { txn in _ = try txn.delete(metaDB, key: Array((Self.recordPrefix + name).utf8)) }
            } catch {
                throw VireoError.storage(error, "dropping database '\(name)'")
            }
            databases.withLock { _ = $0.removeValue(forKey: name) }
        }
    }

    // MARK: Aliases

    /// Makes `alias` a second name of collection `collection` in `database` (Milvus' `create_alias`).
    /// Creating an alias that already stands for that collection succeeds.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound``,
    ///   ``VireoError/Code/aliasConflict`` (a collection is named `alias`, or `collection` is itself an
    ///   alias), ``VireoError/Code/aliasAlreadyExists`` (it stands for another collection), or
    ///   ``VireoError/Code/invalidSchema`` for a bad name.
    public func createAlias(_ alias: String, for collection: String, in database: String = Database.defaultDatabaseName) throws {
        try CollectionSchema.validateName(alias, what: "alias")
        try catalogChanges.withLock { _ in
            try updateDatabase(database, "creating alias '\(alias)'") { r in
                try checkAliasTarget(collection, alias: alias, in: r)
                if let current = r.aliases[alias] {
                    guard current == collection else {
                        throw VireoError(.aliasAlreadyExists, kind: .conflict,
                                         "alias exists and already aliased to another collection, alias: \(alias), collection: \(collection), other collection: \(current); use alter_alias to move it")
                    }
                    return
                }
                guard r.aliases.count < Self.maxAliasesPerDatabase else {
                    throw VireoError.invalid(.invalidArgument, "database '\(database)' has \(r.aliases.count) aliases, the most it may hold; drop some first")
                }
                r.aliases[alias] = collection
            }
        }
    }

    /// Points the existing `alias` at collection `collection` (Milvus' `alter_alias`): reads and
    /// writes through the alias go to `collection` from then on.
    /// - Throws: ``VireoError/Code/aliasNotFound``, ``VireoError/Code/collectionNotFound`` or
    ///   ``VireoError/Code/aliasConflict``.
    public func alterAlias(_ alias: String, to collection: String, in database: String = Database.defaultDatabaseName) throws {
        try catalogChanges.withLock { _ in
            try updateDatabase(database, "altering alias '\(alias)'") { r in
                guard r.aliases[alias] != nil else { throw VireoError.aliasNotFound(alias, database: database) }
                try checkAliasTarget(collection, alias: alias, in: r)
                r.aliases[alias] = collection
            }
        }
    }

    /// Removes `alias` (the collection stays).
    /// - Throws: ``VireoError/Code/aliasNotFound``.
    public func dropAlias(_ alias: String, in database: String = Database.defaultDatabaseName) throws {
        try catalogChanges.withLock { _ in
            try updateDatabase(database, "dropping alias '\(alias)'") { r in
                guard r.aliases.removeValue(forKey: alias) != nil else { throw VireoError.aliasNotFound(alias, database: database) }
            }
        }
    }

    /// The name of the collection `alias` stands for.
    /// - Throws: ``VireoError/Code/aliasNotFound`` or ``VireoError/Code/databaseNotFound``.
    public func describeAlias(_ alias: String, in database: String = Database.defaultDatabaseName) throws -> String {
        guard let c = try databaseRecord(database).aliases[alias] else { throw VireoError.aliasNotFound(alias, database: database) }
        return c
    }

    /// The aliases of `database`, sorted; only those of `collection` when given (which may itself be
    /// an alias: its collection's aliases are listed).
    /// - Throws: ``VireoError/Code/databaseNotFound`` or ``VireoError/Code/collectionNotFound``.
    public func listAliases(in database: String = Database.defaultDatabaseName, collection: String? = nil) throws -> [String] {
        let r = try databaseRecord(database)
        guard let collection, !collection.isEmpty else { return r.aliases.keys.sorted() }
        let target = r.aliases[collection] ?? collection
        guard hasCollection(target, in: database) else { throw VireoError.collectionNotFound(collection) }
        return r.aliases.filter { $0.value == target }.keys.sorted()
    }

    /// Checks that `collection` is a collection's own name in `r` and that no collection is named `alias`.
    private func checkAliasTarget(_ collection: String, alias: String, in r: DatabaseRecord) throws {
        if r.aliases[collection] != nil {
            throw VireoError(.aliasConflict, kind: .invalidInput, "'\(collection)' is an alias (of '\(r.aliases[collection]!)'); an alias must name a collection by its own name")
        }
        let key = CollectionKey(database: r.name, name: collection)
        guard open.withLock({ $0[key] != nil }) || unavailable.withLock({ $0[key] != nil }) else {
            throw VireoError.collectionNotFound(collection)
        }
        let aliasKey = CollectionKey(database: r.name, name: alias)
        if open.withLock({ $0[aliasKey] != nil }) || unavailable.withLock({ $0[aliasKey] != nil }) {
            throw VireoError(.aliasConflict, kind: .conflict, "aliased collection name [\(alias)] conflicts with an existing collection name in database '\(r.name)'; choose another alias")
        }
    }
}

extension Collection {
    /// The database holding this collection.
    public var databaseName: String { catalog.database }
}
