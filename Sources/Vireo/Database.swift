import Foundation
import Synchronization
import VireoKernels
import VireoStorage

/// A Vireo database: a directory of collections, opened in-process like SQLite.
///
/// ```swift
/// let db = try Database.open(at: "/var/lib/vireo")
/// let docs = try db.createCollection(CollectionSchema(name: "docs", fields: [
///     .int64PrimaryKey("id", autoID: true),
///     .floatVector("embedding", dimension: 384, metric: .cosine),  // an initial FLAT index with COSINE
///     FieldSchema(name: "text", dataType: .varChar, maxLength: 4096),
/// ]))
/// try await docs.insert([["embedding": .floatVector(v), "text": .string("hello")]])
/// let hits = try await docs.search(SearchRequest(vectors: [q], limit: 5, outputFields: ["text"]))
/// ```
///
/// ## Layout
/// `<dir>/catalog/` is an LMDB environment holding the schemas; each collection lives in
/// `<dir>/collections/<id>/shard-<n>/`, one LMDB environment per shard.
///
/// ## Databases and aliases
/// Collections live in databases (Milvus' namespaces); `default` always exists and holds every
/// collection of a directory written before databases existed. See `Database+Namespaces.swift`
/// for how the catalog keys them. Every collection method takes `in database:` (default
/// `default`); ``collection(_:in:)`` also accepts an alias.
///
/// ## Thread safety
/// A `Database` and its collections are `Sendable`; share one instance per directory in a process
/// (opening a directory twice in one process fails, as LMDB requires). One process owns a directory:
/// a second process that opens it gets an error naming the holder's pid (an exclusive `flock` on
/// `<dir>/LOCK`, released when the owner exits or is killed).
public final class Database: Sendable {
    public let path: String
    public let configuration: Configuration
    private let lock: DirectoryLock?
    let catalog: Environment
    let collectionsDB: VireoStorage.LMDBDatabase
    let metaDB: VireoStorage.LMDBDatabase
    let open = Mutex<[CollectionKey: (id: UInt64, collection: Collection)]>([:])
    /// Collections that failed to open, by key: their id and why. They are listed and can be
    /// dropped; every other operation on them fails with ``VireoError/Code/collectionUnavailable``.
    let unavailable = Mutex<[CollectionKey: (id: UInt64, reason: String)]>([:])
    /// The databases by name (`default` included, stored or not) with their aliases.
    let databases = Mutex<[String: DatabaseRecord]>([:])
    /// Serialises create, drop and rename of collections, databases and aliases: each is a catalog
    /// transaction followed by an update of ``open`` / ``databases``, and two of them on one name
    /// must not interleave (a drop's removal from `open` must never remove the collection a
    /// concurrent create just made). Catalog writes are rare.
    let catalogChanges = Mutex(())
    private let builder = IndexBuilder()
    /// Runs the blocking part of every collection's reads, off the cooperative pool, with a bound.
    private let reads: ReadExecutor
    /// The background compactor (nil when read-only or disabled); cancelled when the database closes.
    private let compactor = Mutex<Task<Void, Never>?>(nil)

    /// What the catalog stores per collection.
    struct CollectionRecord: Codable, Sendable {
        var id: UInt64
        var schema: CollectionSchema
        var createdAt: Date
        var indexes: [IndexSpec]?
        /// Partitions in creation order (nil in records written before partitions existed: `_default`).
        var partitions: [PartitionRecord]?
        /// The id the next partition gets; ids are never reused, so rows of a dropped partition can
        /// never reappear in a new one.
        var nextPartitionID: Int?
        /// The data model the record follows: nil (written by Vireo ≤ 0.2) kept the metric on the
        /// vector field and stored COSINE vectors normalised; 2 keeps the metric on the index and
        /// vectors as inserted. ``migrated()`` turns the first into the second.
        var modelVersion: Int?
        /// The database holding the collection; nil (every record written before databases
        /// existed, and records of `default`) is `default`.
        var database: String?
        /// Milvus' collection properties (`collection.ttl.seconds`, `mmap.enabled`, …); nil in records
        /// written before properties existed.
        var properties: [String: String]?

        static let currentModelVersion = 2

        var key: CollectionKey { CollectionKey(database: database ?? Database.defaultDatabaseName, name: schema.name) }

        /// A new collection's record: the schema without field metrics, each given metric becoming
        /// the field's initial `FLAT` index (the metric belongs to the index).
        static func new(id: UInt64, schema: CollectionSchema, database: String, properties: [String: String] = [:]) -> CollectionRecord {
            var schema = schema
            var indexes: [IndexSpec] = []
            for i in schema.fields.indices where schema.fields[i].dataType.isVector {
                if let m = schema.fields[i].metric {
                    let kind: IndexSpec.Kind = schema.fields[i].dataType.isBinaryVector ? .binFlat : .flat
                    indexes.append(IndexSpec(field: schema.fields[i].name, kind: kind, metric: m))
                }
                schema.fields[i].metric = nil
            }
            return CollectionRecord(id: id, schema: schema, createdAt: Date(), indexes: indexes, partitions: initialPartitions(schema),
                                    nextPartitionID: nil, modelVersion: currentModelVersion,
                                    database: database == Database.defaultDatabaseName ? nil : database,
                                    properties: properties.isEmpty ? nil : properties)
        }

        /// The record in the current model, or nil when it already is. A record of the old model
        /// had each vector field's metric in the schema (COSINE when unset) and stored COSINE vectors
        /// normalised: the metric moves onto the field's index (a `FLAT` one when the field had an
        /// explicit metric and no index), and COSINE fields are marked as storing normalised vectors
        /// so that they keep answering as before (``FieldSchema/storesNormalizedVectors``).
        func migrated() -> CollectionRecord? {
            guard (modelVersion ?? 1) < CollectionRecord.currentModelVersion else { return nil }
            var r = self
            var indexes = r.indexes ?? []
            for i in r.schema.fields.indices where r.schema.fields[i].dataType.isVector {
                let field = r.schema.fields[i]
                let metric = field.metric ?? .cosine
                if metric == .cosine { r.schema.fields[i].storesNormalizedVectors = true }
                if let k = indexes.firstIndex(where: { $0.field == field.name }) {
                    indexes[k].metric = metric
                } else if field.metric != nil {
                    indexes.append(.flat(field: field.name, metric: metric))
                }
                r.schema.fields[i].metric = nil
            }
            r.indexes = indexes
            r.modelVersion = CollectionRecord.currentModelVersion
            return r
        }

        /// The partitions a new collection starts with: `_default`, or one per partition-key bucket
        /// (`_default_0` …, as Milvus names them).
        static func initialPartitions(_ schema: CollectionSchema) -> [PartitionRecord] {
            guard schema.partitionKey != nil else { return [PartitionRecord(id: 0, name: CollectionSchema.defaultPartitionName)] }
            return (0..<schema.numPartitions).map { PartitionRecord(id: UInt16($0), name: "\(CollectionSchema.defaultPartitionName)_\($0)") }
        }
    }

    private init(path: String, configuration: Configuration) throws {
        self.path = path
        var configuration = configuration
        reads = ReadExecutor(maxRunning: configuration.maxConcurrentReads, maxQueued: configuration.maxQueuedReads)
        do {
            // One process owns a data directory (see DirectoryLock); taken before anything is read.
            // A read-only open writes nothing and so may run beside the owner.
            lock = configuration.readOnly ? nil : try DirectoryLock(directory: path)
        } catch {
            throw VireoError.storage(error, "opening \(path)")
        }
        // The reserve that lets deletes and drops succeed on a full disk (see SpaceGuard); a
        // read-only view writes nothing and needs none.
        if !configuration.readOnly {
            configuration.space = SpaceGuard(directory: path, reserveBytes: configuration.diskReserveBytes,
                                             checkInterval: configuration.diskCheckInterval)
        }
        self.configuration = configuration
        do {
            catalog = try Environment(path: "\(path)/catalog", mapSize: configuration.catalogMapSize,
                                      initialMapSize: min(configuration.initialMapSize, 4 << 20), databases: ["collections", "meta"],
                                      readOnly: configuration.readOnly, space: configuration.space)
        } catch {
            throw VireoError.storage(error, "opening the catalog of \(path)")
        }
        collectionsDB = catalog.database("collections")
        metaDB = catalog.database("meta")
    }

    /// Opens (creating if needed) the database in directory `path` and every collection in it.
    ///
    /// Sealed segments are mapped in place (no load phase); growing segments replay their batches.
    /// - Throws: ``VireoError`` if the directory cannot be opened or data fails its integrity checks.
    public static func open(at path: String, configuration: Configuration = Configuration()) throws -> Database {
        let db = try Database(path: URL(fileURLWithPath: path).standardizedFileURL.path, configuration: configuration)
        try db.loadDatabases()
        try db.loadCollections()
        // Recovery's temporaries (replayed batches, decoded manifests) are freed by now.
        Allocator.releaseFreePages()
        db.startCompactor()
        return db
    }

    deinit {
        compactor.withLock { $0?.cancel() }
    }

    /// Starts the background compaction passes (``Configuration/compactionInterval``). The task holds
    /// the database weakly, so closing it ends them.
    private func startCompactor() {
        guard !configuration.readOnly, let interval = configuration.compactionInterval else { return }
        let task = Task.detached(priority: .utility) { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                for c in self.open.withLock({ $0.values.map(\.collection) }) { c.compactInBackground() }
            }
        }
        compactor.withLock { $0 = task }
    }

    private func loadCollections() throws {
        var records: [CollectionRecord] = try catalog.read { txn in
            var out: [CollectionRecord] = []
            try txn.forEach(collectionsDB) { key, value in
                let name = String(decoding: key, as: UTF8.self)
                let payload = try Blob.decode(value, kind: .catalog, what: "catalog entry of '\(name)'")
                out.append(try JSONDecoder().decode(CollectionRecord.self, from: Data(payload)))
                return true
            }
            return out
        }
        // Records of the old data model are migrated in place, once (one catalog transaction).
        // A read-only open migrates in memory only.
        let migrations = records.enumerated().compactMap { i, r in r.migrated().map { (i, $0) } }
        if !configuration.readOnly && !migrations.isEmpty {
            do {
                try catalog.write { txn in
                    for (_, r) in migrations {
                        try Blob.write(txn, collectionsDB, key: r.key.catalogKey, kind: .catalog,
                                       payload: Array(JSONEncoder().encode(r)), compress: false)
                    }
                }
            } catch {
                throw VireoError.storage(error, "migrating the catalog of \(path) to the index-metric model")
            }
        }
        for (i, r) in migrations { records[i] = r }
        // A collection that fails to open (a checksum mismatch, an unreadable file, no address space)
        // is set aside with the reason; the others serve.
        var loaded: [CollectionKey: (UInt64, Collection)] = [:]
        var failed: [CollectionKey: (id: UInt64, reason: String)] = [:]
        for r in records {
            do {
                loaded[r.key] = (r.id, try makeCollection(r))
            } catch {
                failed[r.key] = (r.id, (error as? VireoError)?.message ?? "\(error)")
            }
        }
        open.withLock { $0 = loaded.mapValues { (id: $0.0, collection: $0.1) } }
        unavailable.withLock { $0 = failed }
        // Directories of collections whose drop committed but whose files were not yet removed.
        guard !configuration.readOnly else { return }
        let known = Set(records.map { String($0.id) })
        let dir = "\(path)/collections"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where !known.contains(entry) {
            try? FileManager.default.removeItem(atPath: "\(dir)/\(entry)")
        }
    }

    private func collectionDirectory(_ id: UInt64) -> String { "\(path)/collections/\(id)" }

    private func makeCollection(_ record: CollectionRecord) throws -> Collection {
        let catalog = self.catalog
        let collectionsDB = self.collectionsDB
        let entry = CatalogEntry(key: record.key, id: record.id, catalog: catalog, collections: collectionsDB, readOnly: configuration.readOnly)
        return try Collection(record: record, directory: collectionDirectory(record.id), configuration: configuration,
                              builder: builder, reads: reads, catalog: entry)
    }

    // MARK: Collections

    /// Creates a collection in `database` (`default` unless given).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidSchema`` for a bad schema,
    ///   ``VireoError/Code/databaseNotFound``, ``VireoError/Code/aliasConflict`` when an alias has
    ///   the name, or ``VireoError/Code/collectionAlreadyExists``.
    @discardableResult
    public func createCollection(_ schema: CollectionSchema, in database: String = Database.defaultDatabaseName,
                                 properties: [String: String] = [:]) throws -> Collection {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try schema.validate()
        try CollectionProperties.validate(properties, hasPartitionKey: schema.partitionKey != nil, collection: schema.name)
        return try catalogChanges.withLock { _ in
            let aliases = try databaseRecord(database).aliases
            if aliases[schema.name] != nil {
                throw VireoError(.aliasConflict, kind: .conflict, "collection name '\(schema.name)' is an alias in database '\(database)' (of '\(aliases[schema.name]!)'); drop the alias or choose another name")
            }
            return try create(schema, key: CollectionKey(database: database, name: schema.name), properties: properties)
        }
    }

    private func create(_ schema: CollectionSchema, key ck: CollectionKey, properties: [String: String]) throws -> Collection {
        // Catalog writes are rare; the LMDB writer lock serialises them. The name check and insert
        // happen under one write transaction with NOOVERWRITE, so concurrent creates cannot both win.
        let key = ck.catalogKey
        let id: UInt64
        do {
            id = try catalog.write { txn -> UInt64 in
                if try txn.get(collectionsDB, key: key) != nil {
                    throw VireoError(.collectionAlreadyExists, kind: .conflict, "collection '\(schema.name)' already exists; drop it first or choose another name")
                }
                let next: UInt64 = try txn.get(metaDB, key: Array("nextCollectionId".utf8))
                    .map { bytes -> UInt64 in
                        var r = ByteReader(bytes)
                        return r.u64()
                    } ?? 1
                try txn.put(metaDB, key: Array("nextCollectionId".utf8), value: withUnsafeBytes(of: (next + 1).littleEndian) { Array($0) })
                let record = CollectionRecord.new(id: next, schema: schema, database: ck.database, properties: properties)
                try Blob.write(txn, collectionsDB, key: key, kind: .catalog, payload: Array(JSONEncoder().encode(record)), compress: false)
                return next
            }
        } catch {
            throw VireoError.storage(error, "creating collection '\(schema.name)'")
        }
        let collection = try makeCollection(CollectionRecord.new(id: id, schema: schema, database: ck.database, properties: properties))
        open.withLock { $0[ck] = (id: id, collection: collection) }
        return collection
    }

    /// The collection named `name` in `database`; `name` may be an alias of it.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound`` or
    ///   ``VireoError/Code/databaseNotFound``.
    public func collection(_ name: String, in database: String = Database.defaultDatabaseName) throws -> Collection {
        let key = try resolve(name, in: database)
        guard let c = open.withLock({ $0[key]?.collection }) else {
            if let u = unavailable.withLock({ $0[key] }) { throw VireoError.collectionUnavailable(key.name, reason: u.reason) }
            throw VireoError.collectionNotFound(name)
        }
        return c
    }

    /// Collections that exist but failed to open, with the reason (each is also in
    /// ``listCollections(in:)``; ``collection(_:in:)`` reports the reason, ``dropCollection(_:in:)``
    /// removes it). Keys are names in `default` and `database.name` elsewhere.
    public var unavailableCollections: [String: String] {
        unavailable.withLock { Dictionary(uniqueKeysWithValues: $0.map { ($0.key.description, $0.value.reason) }) }
    }

    /// The stored catalog record of collection `name` (tests and tools).
    func catalogRecord(_ name: String, in database: String = Database.defaultDatabaseName) throws -> CollectionRecord {
        try catalog.read { txn in
            guard let stored = try txn.get(collectionsDB, key: CollectionKey(database: database, name: name).catalogKey) else { throw VireoError.collectionNotFound(name) }
            return try JSONDecoder().decode(CollectionRecord.self, from: Data(try Blob.decode(stored, kind: .catalog, what: "catalog entry of '\(name)'")))
        }
    }

    /// The open collection whose catalog id is `id` (backups and checks match catalog records by
    /// id, which a rename keeps).
    func openCollection(id: UInt64) -> Collection? {
        open.withLock { $0.values.first { $0.id == id }?.collection }
    }

    /// The state of the storage: whether the disk is full (writes that add data are refused, reads,
    /// deletes and drops work). Asking re-checks the free space (at most once per
    /// ``Configuration/diskCheckInterval``), so a database leaves the disk-full state once space is
    /// freed even when no write comes.
    public var storageStatus: StorageStatus {
        guard let space = configuration.space else { return StorageStatus(diskFull: false, availableBytes: nil, reserveBytes: 0, diskFullEpisodes: 0) }
        let full = space.isDiskFull
        return StorageStatus(diskFull: full, availableBytes: space.availableBytes(), reserveBytes: space.reserveBytes,
                             diskFullEpisodes: space.diskFullEpisodes)
    }

    /// Whether a collection (or an alias) named `name` exists in `database`.
    public func hasCollection(_ name: String, in database: String = Database.defaultDatabaseName) -> Bool {
        guard let key = try? resolve(name, in: database) else { return false }
        return open.withLock { $0[key] != nil } || unavailable.withLock { $0[key] != nil }
    }

    /// Names of the collections of `database`, sorted (unavailable ones included: see
    /// ``unavailableCollections``; aliases are not listed). An unknown database has none.
    public func listCollections(in database: String = Database.defaultDatabaseName) -> [String] {
        (open.withLock { $0.keys.filter { $0.database == database }.map(\.name) }
            + unavailable.withLock { $0.keys.filter { $0.database == database }.map(\.name) }).sorted()
    }

    /// Renames a collection (Milvus `rename_collection`), optionally moving it to another database;
    /// its data, indexes, partitions and aliases stay (aliases stay in the old database only when it
    /// does not move: a collection with aliases cannot move).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound``,
    ///   ``VireoError/Code/collectionAlreadyExists``, ``VireoError/Code/aliasConflict`` (`name` is an
    ///   alias, or `newName` is one) or ``VireoError/Code/invalidSchema`` for a bad name.
    public func renameCollection(_ name: String, to newName: String, in database: String = Database.defaultDatabaseName,
                                 newDatabase: String? = nil) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try CollectionSchema.validateName(newName, what: "collection name")
        try catalogChanges.withLock { _ in
            try rename(CollectionKey(database: database, name: name), to: CollectionKey(database: newDatabase ?? database, name: newName))
        }
    }

    private func rename(_ from: CollectionKey, to: CollectionKey) throws {
        let source = try databaseRecord(from.database)
        let target = try databaseRecord(to.database)
        if source.aliases[from.name] != nil {
            throw VireoError(.aliasConflict, kind: .invalidInput, "'\(from.name)' is an alias; rename the collection by its own name ('\(source.aliases[from.name]!)')")
        }
        guard let entry = open.withLock({ $0[from] }) else {
            if let u = unavailable.withLock({ $0[from] }) { throw VireoError.collectionUnavailable(from.name, reason: u.reason) }
            throw VireoError.collectionNotFound(from.name)
        }
        guard from != to else { return }
        if target.aliases[to.name] != nil {
            throw VireoError(.aliasConflict, kind: .conflict, "cannot rename '\(from.name)' to '\(to.name)': '\(to.name)' is an alias in database '\(to.database)'")
        }
        let aliases = source.aliases.filter { $0.value == from.name }.keys.sorted()
        if from.database != to.database && !aliases.isEmpty {
            throw VireoError(.collectionHasAliases, kind: .invalidInput, "collection '\(from.name)' has aliases \(aliases); drop them before moving it to database '\(to.database)'")
        }
        var updated = source
        for a in aliases { updated.aliases[a] = to.name }
        let rewritten = updated
        do {
            try catalog.write { txn in
                guard try txn.get(collectionsDB, key: to.catalogKey) == nil else {
                    throw VireoError(.collectionAlreadyExists, kind: .conflict, "cannot rename '\(from.name)' to '\(to.name)': a collection named '\(to.name)' exists in database '\(to.database)'")
                }
                try moveRecord(txn, from: from, to: to, id: entry.id)
                if !aliases.isEmpty { try writeDatabaseRecord(txn, rewritten) }
            }
        } catch {
            throw VireoError.storage(error, "renaming collection '\(from.name)'")
        }
        entry.collection.catalog.renamed(to: to)
        open.withLock {
            $0[from] = nil
            $0[to] = entry
        }
        if !aliases.isEmpty { databases.withLock { $0[rewritten.name] = rewritten } }
    }

    /// Moves a collection's catalog record from key `from` to key `to` (replacing what `to` held),
    /// renaming its schema, inside `txn`.
    private func moveRecord(_ txn: WriteTransaction, from: CollectionKey, to: CollectionKey, id: UInt64) throws {
        guard let stored = try txn.get(collectionsDB, key: from.catalogKey) else { throw VireoError.collectionNotFound(from.name) }
        var record = try JSONDecoder().decode(CollectionRecord.self, from: Data(try Blob.decode(stored, kind: .catalog, what: "catalog entry of '\(from)'")))
        guard record.id == id else { throw VireoError.collectionNotFound(from.name) }
        record.schema.name = to.name
        record.database = to.database == Database.defaultDatabaseName ? nil : to.database
        _ = try txn.delete(collectionsDB, key: from.catalogKey)
        try Blob.write(txn, collectionsDB, key: to.catalogKey, kind: .catalog, payload: Array(JSONEncoder().encode(record)), compress: false)
    }

    /// Drops a collection of `database` and its data. Searches already running on it finish; its
    /// files are removed when the last reference to it goes away (or at the next open).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound``,
    ///   ``VireoError/Code/aliasConflict`` when `name` is an alias (as Milvus, a collection is
    ///   dropped by its own name) or ``VireoError/Code/collectionHasAliases``.
    public func dropCollection(_ name: String, in database: String = Database.defaultDatabaseName) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try catalogChanges.withLock { _ in
            let aliases = try databaseRecord(database).aliases
            if let target = aliases[name] {
                throw VireoError(.aliasConflict, kind: .invalidInput, "cannot drop the collection via alias = \(name); drop '\(target)' by its own name, or drop the alias (drop_alias)")
            }
            let own = aliases.filter { $0.value == name }.keys.sorted()
            if !own.isEmpty {
                throw VireoError(.collectionHasAliases, kind: .invalidInput, "unable to drop the collection [\(name)] because it has aliases \(own), please remove all aliases before dropping the collection")
            }
            try drop(CollectionKey(database: database, name: name))
        }
    }

    private func drop(_ key: CollectionKey) throws {
        let name = key.name
        if let broken = unavailable.withLock({ $0[key] }) {
            // Nothing of it is open: the record goes, then its files.
            do {
                try catalog.write { txn in _ = try txn.delete(collectionsDB, key: key.catalogKey) }
            } catch {
                throw VireoError.storage(error, "dropping collection '\(name)'")
            }
            unavailable.withLock { _ = $0.removeValue(forKey: key) }
            try? FileManager.default.removeItem(atPath: collectionDirectory(broken.id))
            return
        }
        guard let entry = open.withLock({ $0[key] }) else { throw VireoError.collectionNotFound(name) }
        do {
            // Essential: a drop is what frees space on a full disk, so it runs on the reserve.
            try catalog.write(essential: true) { txn in
                // The record under this name must still be this collection's (addressed by id).
                guard let stored = try txn.get(collectionsDB, key: key.catalogKey),
                      try JSONDecoder().decode(CollectionRecord.self, from: Data(try Blob.decode(stored, kind: .catalog, what: "catalog entry of '\(name)'"))).id == entry.id
                else { throw VireoError.collectionNotFound(name) }
                _ = try txn.delete(collectionsDB, key: key.catalogKey)
            }
        } catch {
            throw VireoError.storage(error, "dropping collection '\(name)'")
        }
        open.withLock { _ = $0.removeValue(forKey: key) }
        entry.collection.markDropped()
    }
}

/// A collection's record in the catalog: updates are read-modify-write in one catalog transaction,
/// keyed by the collection's current name.
final class CatalogEntry: Sendable {
    private let current: Mutex<CollectionKey>
    private let catalog: Environment
    private let collections: VireoStorage.LMDBDatabase

    private let readOnly: Bool
    /// The collection's id: the record under ``name`` must carry it, so a handle kept past a drop
    /// (and a re-create under the same name) can never change the new collection's record.
    let id: UInt64

    init(key: CollectionKey, id: UInt64, catalog: Environment, collections: VireoStorage.LMDBDatabase, readOnly: Bool = false) {
        self.id = id
        self.readOnly = readOnly
        current = Mutex(key)
        self.catalog = catalog
        self.collections = collections
    }

    var name: String { current.withLock { $0.name } }
    var database: String { current.withLock { $0.database } }

    func renamed(to key: CollectionKey) { current.withLock { $0 = key } }

    /// Applies `change` to the stored record durably.
    func update(_ doing: String, _ change: (inout Database.CollectionRecord) throws -> Void) throws {
        guard !readOnly else { throw VireoError.readOnlyDatabase }
        let ck = current.withLock { $0 }
        let name = ck.name
        do {
            try catalog.write { txn in
                let key = ck.catalogKey
                guard let stored = try txn.get(collections, key: key) else { throw VireoError.collectionNotFound(name) }
                var record = try JSONDecoder().decode(Database.CollectionRecord.self,
                                                      from: Data(try Blob.decode(stored, kind: .catalog, what: "catalog entry of '\(name)'")))
                guard record.id == id else { throw VireoError.collectionNotFound(name) }
                try change(&record)
                try Blob.write(txn, collections, key: key, kind: .catalog, payload: Array(JSONEncoder().encode(record)), compress: false)
            }
        } catch {
            throw VireoError.storage(error, "\(doing) of collection '\(name)'")
        }
    }
}

/// What ``Database/storageStatus`` reports.
public struct StorageStatus: Sendable, Equatable {
    /// The disk holding the data directory filled up: inserts, upserts, index builds and new
    /// collections fail with ``VireoError/Code/diskFull`` until space is freed.
    public var diskFull: Bool
    /// Bytes available on the data directory's file system (nil if unknown or read-only).
    public var availableBytes: Int?
    /// Size of the reserve file (``Configuration/diskReserveBytes``).
    public var reserveBytes: Int
    /// How many times the disk filled up since the database opened.
    public var diskFullEpisodes: Int
}

/// A partition: a name and the id its rows carry.
struct PartitionRecord: Codable, Sendable, Hashable {
    var id: UInt16
    var name: String
}

extension Database {
    /// Tunes the process' allocator (glibc malloc) for a database server: buffers of 1 MiB or more
    /// get their own mappings, given back to the system when freed, and the heaps give back what is
    /// free at their top past 1 MiB, instead of glibc's thresholds that grow to 32 MiB once a large
    /// buffer is freed and then keep such buffers' memory in the heaps (dev, HNSW, `vireo-bench run`:
    /// 21 MiB of free heap resident, the process' peak 217 → 205 MiB). Process-wide, so the library
    /// never calls it on its own: `vireo serve` and `vireo-bench` call it at startup; a process that
    /// embeds Vireo may.
    ///
    /// - Returns: whether it took effect (false with a C library other than glibc).
    @discardableResult
    public static func tuneProcessAllocator() -> Bool {
        Allocator.useFixedThresholds()
    }
}
