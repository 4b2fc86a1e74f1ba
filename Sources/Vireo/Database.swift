import Foundation
import Synchronization
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
    private let metaDB: VireoStorage.LMDBDatabase
    private let open = Mutex<[String: (id: UInt64, collection: Collection)]>([:])
    /// Collections that failed to open, by name: their id and why. They are listed and can be
    /// dropped; every other operation on them fails with ``VireoError/Code/collectionUnavailable``.
    private let unavailable = Mutex<[String: (id: UInt64, reason: String)]>([:])
    /// Serialises create, drop and rename: each is a catalog transaction followed by an update of
    /// ``open``, and two of them on one name must not interleave (a drop's removal from `open` must
    /// never remove the collection a concurrent create just made). Catalog writes are rare.
    private let catalogChanges = Mutex(())
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

        static let currentModelVersion = 2

        /// A new collection's record: the schema without field metrics, each given metric becoming
        /// the field's initial `FLAT` index (the metric belongs to the index).
        static func new(id: UInt64, schema: CollectionSchema) -> CollectionRecord {
            var schema = schema
            var indexes: [IndexSpec] = []
            for i in schema.fields.indices where schema.fields[i].dataType.isVector {
                if let m = schema.fields[i].metric { indexes.append(.flat(field: schema.fields[i].name, metric: m)) }
                schema.fields[i].metric = nil
            }
            return CollectionRecord(id: id, schema: schema, createdAt: Date(), indexes: indexes, partitions: initialPartitions(schema),
                                    nextPartitionID: nil, modelVersion: currentModelVersion)
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
        try db.loadCollections()
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
                        try Blob.write(txn, collectionsDB, key: Array(r.schema.name.utf8), kind: .catalog,
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
        var loaded: [String: (UInt64, Collection)] = [:]
        var failed: [String: (id: UInt64, reason: String)] = [:]
        for r in records {
            do {
                loaded[r.schema.name] = (r.id, try makeCollection(r))
            } catch {
                failed[r.schema.name] = (r.id, (error as? VireoError)?.message ?? "\(error)")
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
        let entry = CatalogEntry(name: record.schema.name, id: record.id, catalog: catalog, collections: collectionsDB, readOnly: configuration.readOnly)
        return try Collection(record: record, directory: collectionDirectory(record.id), configuration: configuration,
                              builder: builder, reads: reads, catalog: entry)
    }

    // MARK: Collections

    /// Creates a collection.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidSchema`` for a bad schema, or
    ///   ``VireoError/Code/collectionAlreadyExists``.
    @discardableResult
    public func createCollection(_ schema: CollectionSchema) throws -> Collection {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try schema.validate()
        return try catalogChanges.withLock { _ in try create(schema) }
    }

    private func create(_ schema: CollectionSchema) throws -> Collection {
        // Catalog writes are rare; the LMDB writer lock serialises them. The name check and insert
        // happen under one write transaction with NOOVERWRITE, so concurrent creates cannot both win.
        let key = Array(schema.name.utf8)
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
                let record = CollectionRecord.new(id: next, schema: schema)
                try Blob.write(txn, collectionsDB, key: key, kind: .catalog, payload: Array(JSONEncoder().encode(record)), compress: false)
                return next
            }
        } catch {
            throw VireoError.storage(error, "creating collection '\(schema.name)'")
        }
        let collection = try makeCollection(CollectionRecord.new(id: id, schema: schema))
        open.withLock { $0[schema.name] = (id: id, collection: collection) }
        return collection
    }

    /// The collection named `name`.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound``.
    public func collection(_ name: String) throws -> Collection {
        guard let c = open.withLock({ $0[name]?.collection }) else {
            if let u = unavailable.withLock({ $0[name] }) { throw VireoError.collectionUnavailable(name, reason: u.reason) }
            throw VireoError.collectionNotFound(name)
        }
        return c
    }

    /// Collections that exist but failed to open, with the reason (each is also in
    /// ``listCollections()``; ``collection(_:)`` reports the reason, ``dropCollection(_:)`` removes it).
    public var unavailableCollections: [String: String] { unavailable.withLock { $0.mapValues(\.reason) } }

    /// The stored catalog record of collection `name` (tests and tools).
    func catalogRecord(_ name: String) throws -> CollectionRecord {
        try catalog.read { txn in
            guard let stored = try txn.get(collectionsDB, key: Array(name.utf8)) else { throw VireoError.collectionNotFound(name) }
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

    /// Whether a collection named `name` exists.
    public func hasCollection(_ name: String) -> Bool { open.withLock { $0[name] != nil } || unavailable.withLock { $0[name] != nil } }

    /// Names of all collections, sorted (unavailable ones included: see ``unavailableCollections``).
    public func listCollections() -> [String] {
        (open.withLock { Array($0.keys) } + unavailable.withLock { Array($0.keys) }).sorted()
    }

    /// Renames a collection (Milvus `rename_collection`); its data, indexes and partitions stay.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound``,
    ///   ``VireoError/Code/collectionAlreadyExists`` or ``VireoError/Code/invalidSchema`` for a bad name.
    public func renameCollection(_ name: String, to newName: String) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try CollectionSchema.validateName(newName, what: "collection name")
        try catalogChanges.withLock { _ in try rename(name, to: newName) }
    }

    private func rename(_ name: String, to newName: String) throws {
        guard let entry = open.withLock({ $0[name] }) else {
            if let u = unavailable.withLock({ $0[name] }) { throw VireoError.collectionUnavailable(name, reason: u.reason) }
            throw VireoError.collectionNotFound(name)
        }
        guard name != newName else { return }
        do {
            try catalog.write { txn in
                guard try txn.get(collectionsDB, key: Array(newName.utf8)) == nil else {
                    throw VireoError(.collectionAlreadyExists, kind: .conflict, "cannot rename '\(name)' to '\(newName)': a collection named '\(newName)' exists")
                }
                try moveRecord(txn, from: name, to: newName, id: entry.id)
            }
        } catch {
            throw VireoError.storage(error, "renaming collection '\(name)'")
        }
        entry.collection.catalog.renamed(to: newName)
        open.withLock {
            $0[name] = nil
            $0[newName] = entry
        }
    }

    /// Moves a collection's catalog record from key `from` to key `to` (replacing what `to` held),
    /// renaming its schema, inside `txn`.
    private func moveRecord(_ txn: WriteTransaction, from: String, to: String, id: UInt64) throws {
        guard let stored = try txn.get(collectionsDB, key: Array(from.utf8)) else { throw VireoError.collectionNotFound(from) }
        var record = try JSONDecoder().decode(CollectionRecord.self, from: Data(try Blob.decode(stored, kind: .catalog, what: "catalog entry of '\(from)'")))
        guard record.id == id else { throw VireoError.collectionNotFound(from) }
        record.schema.name = to
        _ = try txn.delete(collectionsDB, key: Array(from.utf8))
        try Blob.write(txn, collectionsDB, key: Array(to.utf8), kind: .catalog, payload: Array(JSONEncoder().encode(record)), compress: false)
    }

    /// Drops a collection and its data. Searches already running on it finish; its files are removed
    /// when the last reference to it goes away (or at the next open).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/collectionNotFound``.
    public func dropCollection(_ name: String) throws {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        try catalogChanges.withLock { _ in try drop(name) }
    }

    private func drop(_ name: String) throws {
        if let broken = unavailable.withLock({ $0[name] }) {
            // Nothing of it is open: the record goes, then its files.
            do {
                try catalog.write { txn in _ = try txn.delete(collectionsDB, key: Array(name.utf8)) }
            } catch {
                throw VireoError.storage(error, "dropping collection '\(name)'")
            }
            unavailable.withLock { _ = $0.removeValue(forKey: name) }
            try? FileManager.default.removeItem(atPath: collectionDirectory(broken.id))
            return
        }
        guard let entry = open.withLock({ $0[name] }) else { throw VireoError.collectionNotFound(name) }
        do {
            // Essential: a drop is what frees space on a full disk, so it runs on the reserve.
            try catalog.write(essential: true) { txn in
                // The record under this name must still be this collection's (addressed by id).
                guard let stored = try txn.get(collectionsDB, key: Array(name.utf8)),
                      try JSONDecoder().decode(CollectionRecord.self, from: Data(try Blob.decode(stored, kind: .catalog, what: "catalog entry of '\(name)'"))).id == entry.id
                else { throw VireoError.collectionNotFound(name) }
                _ = try txn.delete(collectionsDB, key: Array(name.utf8))
            }
        } catch {
            throw VireoError.storage(error, "dropping collection '\(name)'")
        }
        open.withLock { _ = $0.removeValue(forKey: name) }
        entry.collection.markDropped()
    }
}

/// A collection's record in the catalog: updates are read-modify-write in one catalog transaction,
/// keyed by the collection's current name.
final class CatalogEntry: Sendable {
    private let current: Mutex<String>
    private let catalog: Environment
    private let collections: VireoStorage.LMDBDatabase

    private let readOnly: Bool
    /// The collection's id: the record under ``name`` must carry it, so a handle kept past a drop
    /// (and a re-create under the same name) can never change the new collection's record.
    let id: UInt64

    init(name: String, id: UInt64, catalog: Environment, collections: VireoStorage.LMDBDatabase, readOnly: Bool = false) {
        self.id = id
        self.readOnly = readOnly
        current = Mutex(name)
        self.catalog = catalog
        self.collections = collections
    }

    var name: String { current.withLock { $0 } }

    func renamed(to name: String) { current.withLock { $0 = name } }

    /// Applies `change` to the stored record durably.
    func update(_ doing: String, _ change: (inout Database.CollectionRecord) throws -> Void) throws {
        guard !readOnly else { throw VireoError.readOnlyDatabase }
        let name = self.name
        do {
            try catalog.write { txn in
                let key = Array(name.utf8)
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
