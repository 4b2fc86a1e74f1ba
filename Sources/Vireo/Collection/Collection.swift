import Foundation
import Synchronization
import VireoKernels
import VireoStorage

/// A collection: a schema, its shards, and the operations on its rows.
///
/// Obtained from ``Database/createCollection(_:)`` or ``Database/collection(_:)``. All methods are
/// safe to call concurrently. Writes return only after their LMDB transaction committed durably;
/// reads see every acknowledged write.
public final class Collection: Sendable {
    /// The schema (its name follows ``Database/renameCollection(_:to:)``).
    public var schema: CollectionSchema {
        var s = codec.schema
        s.name = catalog.name
        return s
    }
    public var name: String { catalog.name }
    /// The collection's id in the catalog: never reused, kept across renames.
    public var id: UInt64 { catalog.id }
    /// When the collection was created.
    public let createdAt: Date
    let shards: [Shard]
    /// The row codec of the current schema, shared with the shards: field properties may change
    /// (``alterField(_:set:delete:)``) and nullable fields may be added (``addField(_:)``), never
    /// in a way that changes how stored rows decode.
    let codecs: CodecBox
    var codec: RowCodec { codecs.current }
    let configuration: Configuration
    let indexRegistry: IndexRegistry
    let builder: IndexBuilder
    let reads: ReadExecutor
    let catalog: CatalogEntry
    private let lastAutoID: Mutex<Int64>
    /// Serialises index spec changes: the catalog record and the in-memory registry change together,
    /// so concurrent `createIndex` / `dropIndex` calls cannot leave them disagreeing (the running
    /// process building one spec while the catalog, and so the next open, holds another).
    private let indexChanges = Mutex(())
    /// Primary keys of inserts in flight (multi-shard collections only; see ``insert(_:)``).
    private let inflight = Mutex<Set<PrimaryKey>>([])
    /// Live partitions, in creation order.
    let partitionTable: Mutex<[PartitionRecord]>
    let nextPartitionID: Mutex<Int>
    /// The collection's properties (Milvus' `properties`: `collection.ttl.seconds`, `mmap.enabled`, …;
    /// see `Collection+Properties.swift`), as stored in the catalog.
    let propertyTable: Mutex<[String: String]>
    /// The TTL the shards expire rows by (from `collection.ttl.seconds`).
    let expiry: RowExpiry
    /// Serialises property changes (catalog record and in-memory table change together).
    let propertyChanges = Mutex(())

    init(record: Database.CollectionRecord, directory: String, configuration: Configuration, builder: IndexBuilder, reads: ReadExecutor,
         catalog: CatalogEntry) throws {
        self.reads = reads
        let schema = record.schema
        self.createdAt = record.createdAt
        self.catalog = catalog
        let codecs = CodecBox(RowCodec(schema: schema))
        self.codecs = codecs
        self.configuration = configuration
        self.indexRegistry = IndexRegistry(record.indexes ?? [])
        self.builder = builder
        let partitions = record.partitions ?? Database.CollectionRecord.initialPartitions(schema)
        partitionTable = Mutex(partitions)
        nextPartitionID = Mutex(record.nextPartitionID ?? (Int(partitions.map(\.id).max() ?? 0) + 1))
        let properties = record.properties ?? [:]
        propertyTable = Mutex(properties)
        let expiry = RowExpiry(seconds: CollectionProperties.ttlSeconds(properties), clock: configuration.clock)
        self.expiry = expiry
        var shards: [Shard] = []
        for i in 0..<schema.shardsNum {
            shards.append(try Shard(index: i, path: "\(directory)/shard-\(i)", codecs: codecs, configuration: configuration,
                                    indexes: indexRegistry, builder: builder, expiry: expiry))
        }
        self.shards = shards
        // Segments sealed before a crash (or before the index was created) get their builds now.
        if !configuration.readOnly { for s in shards { s.scheduleMissingIndexBuilds() } }
        var maxKey = Int64.min
        if schema.primaryKey.dataType == .int64 {
            for s in shards { if let m = try s.maxIntKey() { maxKey = max(maxKey, m) } }
        }
        lastAutoID = Mutex(maxKey)
        if !configuration.readOnly { try purgeDroppedPartitions() }
    }

    /// Marks the collection's storage for deletion once the last user lets go of it.
    func markDropped() {
        for s in shards { s.environment.removeDirectoryWhenClosed() }
    }

    // MARK: Writes

    /// The outcome of an insert or upsert.
    public struct WriteResult: Sendable, Hashable {
        /// Rows written.
        public var count: Int
        /// Primary keys of the written rows, in request order (generated ones for autoID).
        public var ids: [PrimaryKey]
    }

    /// Inserts `rows`. Fails if a primary key is already stored (use ``upsert(_:)`` to replace).
    /// A key given more than once in `rows` is stored once, with the last of its rows (Milvus
    /// accepts such an insert and serves the later row); the result still counts and lists every row.
    ///
    /// Validation happens before anything is written: wrong dimension, NaN/Inf, unknown or missing
    /// fields and wrong types fail the whole request with a message naming the row and
    /// field. With one shard (the default) a request is one atomic transaction. With several shards,
    /// each shard's part is atomic and key conflicts are checked on every shard before any writes.
    ///
    /// - Returns: the number of rows and their primary keys.
    /// - Throws: ``VireoError``.
    /// - Parameter partition: the partition the rows go to (default `_default`); must be nil when the
    ///   collection has a partition key, which routes each row by its value.
    @discardableResult
    public func insert(_ rows: [Row], partition: String? = nil) async throws -> WriteResult {
        try await write(rows, mode: .insert, partition: partition)
    }

    /// What an insert does with a primary key that is already stored.
    public enum ExistingKey: Sendable {
        /// Fail the request, nothing written (``insert(_:partition:)``).
        case refuse
        /// Replace the stored row, as an upsert would, while a key given twice in the request still
        /// keeps its later row. This is Milvus' insert as its readers see it: Milvus does not check
        /// keys on insert, and a query or search returns the newest row of a key.
        case replace
    }

    /// Inserts `rows`, deciding by `existing` what happens to a key that is already stored.
    @discardableResult
    public func insert(_ rows: [Row], partition: String? = nil, existing: ExistingKey) async throws -> WriteResult {
        try await write(rows, mode: existing == .refuse ? .insert : .insertReplacing, partition: partition)
    }

    /// Inserts `rows`, replacing stored rows with the same primary keys (delete + insert in one
    /// transaction per shard). A key given more than once in `rows` fails the request (as Milvus 2.6
    /// refuses it), with nothing written.
    /// A row replaced this way moves to `partition` if it was stored in another one.
    @discardableResult
    public func upsert(_ rows: [Row], partition: String? = nil) async throws -> WriteResult {
        try await write(rows, mode: .upsert, partition: partition)
    }

    /// Deletes the rows with these primary keys; returns how many existed.
    @discardableResult
    public func delete(ids: [PrimaryKey]) async throws -> Int {
        ForegroundActivity.mark()
        guard !ids.isEmpty else { return 0 }
        try checkKeyTypes(ids)
        var byShard = [[PrimaryKey]](repeating: [], count: shards.count)
        for id in Set(ids) { byShard[StableHash.shard(of: id, shardCount: shards.count)].append(id) }
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for (i, keys) in byShard.enumerated() where !keys.isEmpty {
                let shard = shards[i]
                group.addTask { try await shard.submit(.delete(keys)) }
            }
            return try await group.reduce(0, +)
        }
    }

    /// Seals every shard's growing segment now (Milvus `flush`), so its rows are stored as an
    /// immutable segment used in place after reopen.
    public func flush() async throws {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for shard in shards { group.addTask { try await shard.submit(.seal) } }
            try await group.waitForAll()
        }
    }

    /// Compacts every shard now (Milvus `compact`): sealed segments with at least
    /// ``Configuration/compactionDeletedFraction`` of their rows deleted are rewritten without them,
    /// small sealed segments are merged (up to ``Configuration/sealRows`` / ``Configuration/sealBytes``),
    /// their indexes are rebuilt, and the replaced segments' storage is freed for reuse once no search
    /// still reads it. A growing segment holding that many deleted rows is sealed first.
    ///
    /// Searches and writes go on meanwhile and answer the same before and after (up to the recall of
    /// an ANN index): a row deleted or replaced while a segment is rewritten stays deleted. A
    /// background compactor does the same every ``Configuration/compactionInterval``.
    ///
    /// - Returns: what was rewritten.
    @discardableResult
    public func compact() async throws -> CompactionReport {
        guard !configuration.readOnly else { throw VireoError.readOnlyDatabase }
        var report = CompactionReport()
        for shard in shards {
            let r: CompactionReport = try await withCheckedThrowingContinuation { cont in
                shard.compacting.withLock { $0 = true }
                builder.schedule(rows: 0) { _ in
                    let outcome = Result { try Shard.atLowPriority { try shard.runCompaction(sealGrowing: true) } }
                    shard.compacting.withLock { $0 = false }
                    cont.resume(with: outcome)
                }
            }
            report.add(r)
            _ = try await shard.submit(.sweep)
        }
        return report
    }

    /// Plans a ``compact()`` would run now: groups of sealed segments to rewrite, plus one per
    /// growing segment it would seal first.
    public func compactionPlanCount() -> Int {
        shards.reduce(0) { n, shard in
            let snap = shard.snapshot
            let expired = expiry.cutoff().map { shard.hasUntombstonedExpiredRows(snap, cutoff: $0) } ?? false
            return n + shard.compactionPlan(snap).count + (shard.growingNeedsCompaction(snap) || expired ? 1 : 0)
        }
    }

    /// One background compaction pass: queues a compaction of each shard that has something to
    /// rewrite (without sealing growing segments) and frees retired blobs nothing reads any more.
    func compactInBackground() {
        guard !configuration.readOnly else { return }
        for shard in shards {
            if shard.retired.withLock({ $0.contains(where: \.isFree) }) { shard.enqueue(.sweep) { _ in } }
            // `collection.autocompaction.enabled = false` stops background passes (compact() still runs).
            guard autoCompactionEnabled else { continue }
            let expired = expiry.cutoff().map { shard.hasUntombstonedExpiredRows(shard.snapshot, cutoff: $0) } ?? false
            guard expired || !shard.compactionPlan(shard.snapshot).isEmpty else { continue }
            let start = shard.compacting.withLock { busy -> Bool in
                if busy { return false }
                busy = true
                return true
            }
            guard start else { continue }
            builder.schedule(rows: 0) { _ in
                _ = try? Shard.atLowPriority { try shard.runCompaction(sealGrowing: false) }
                shard.compacting.withLock { $0 = false }
                shard.enqueue(.sweep) { _ in }
            }
        }
    }

    private enum WriteMode { case insert, insertReplacing, upsert }

    private func write(_ rows: [Row], mode: WriteMode, partition: String?) async throws -> WriteResult {
        // Stored keys: refused by a plain insert, replaced otherwise.
        let replacing = mode != .insert
        ForegroundActivity.mark()
        let target = try writePartition(partition)
        guard !rows.isEmpty else { return WriteResult(count: 0, ids: []) }
        let schema = self.schema
        let auto = schema.primaryKey.autoID
        let firstID: Int64 = auto ? allocateIDs(rows.count) : 0
        var prepared: [PreparedRow] = []
        prepared.reserveCapacity(rows.count)
        var requestIDs: [PrimaryKey] = []
        requestIDs.reserveCapacity(rows.count)
        // Position in `prepared` of each key seen so far.
        var seen = [PrimaryKey: Int](minimumCapacity: rows.count)
        let codec = self.codec
        for (i, row) in rows.enumerated() {
            var p = try codec.prepare(row, index: i, autoID: auto ? firstID + Int64(i) : nil)
            p.partition = try target ?? partitionKeyBucket(of: row, index: i)
            requestIDs.append(p.pk)
            if let earlier = seen[p.pk] {
                // Milvus refuses a key twice in one upsert, but accepts it in one insert and then
                // serves the later row; Vireo stores only that later row (keys stay unique).
                guard mode != .upsert else {
                    throw VireoError.invalid(.duplicatePrimaryKey, "row \(i): primary key \(p.pk) appears more than once in this upsert; primary keys in one upsert must be unique. Nothing was written")
                }
                prepared[earlier] = p
                continue
            }
            seen[p.pk] = prepared.count
            prepared.append(p)
        }
        let ids = prepared.map(\.pk)
        var byShard = [[PreparedRow]](repeating: [], count: shards.count)
        for p in prepared { byShard[StableHash.shard(of: p.pk, shardCount: shards.count)].append(p) }

        let multiShard = byShard.filter { !$0.isEmpty }.count > 1
        if multiShard && !replacing {
            try reserveForInsert(ids)
        }
        defer { if multiShard && !replacing { inflight.withLock { $0.subtract(ids) } } }

        let count = try await withThrowingTaskGroup(of: Int.self) { group in
            for (i, part) in byShard.enumerated() where !part.isEmpty {
                let shard = shards[i]
                let op: WriteOp = replacing ? .upsert(part) : .insert(part)
                group.addTask { try await shard.submit(op) }
            }
            return try await group.reduce(0, +)
        }
        // Rows superseded by a later row with the same key in this insert count as accepted, as in
        // Milvus' insert count; `ids` lists every row's key in request order.
        return WriteResult(count: count + (requestIDs.count - ids.count), ids: requestIDs)
    }

    /// For a multi-shard insert: registers the keys as in flight and checks that none is stored, so a
    /// key conflict fails the request before any shard writes.
    private func reserveForInsert(_ ids: [PrimaryKey]) throws {
        try inflight.withLock { set in
            if let busy = ids.first(where: { set.contains($0) }) {
                throw VireoError(.primaryKeyExists, kind: .conflict, "primary key \(busy) is being inserted by another request; retry, or use upsert")
            }
            set.formUnion(ids)
        }
        do {
            var byShard = [[PrimaryKey]](repeating: [], count: shards.count)
            for id in ids { byShard[StableHash.shard(of: id, shardCount: shards.count)].append(id) }
            for (s, keys) in byShard.enumerated() where !keys.isEmpty {
                if let i = try shards[s].locateAll(keys).1.firstIndex(where: { $0 != nil }) {
                    throw VireoError(.primaryKeyExists, kind: .conflict, "primary key \(keys[i]) already exists in collection '\(name)'; use upsert to replace it. Nothing from this request was written")
                }
            }
        } catch {
            inflight.withLock { $0.subtract(ids) }
            throw error
        }
    }

    /// Reserves `n` consecutive auto ids: increasing, and above every stored key, so ids stay unique
    /// across restarts. Ids start from the clock (milliseconds since 2024 shifted left 20 bits) so a
    /// fresh collection's ids are time-ordered like Milvus'.
    private func allocateIDs(_ n: Int) -> Int64 {
        let clock = (Int64(Date().timeIntervalSince1970 * 1000) - 1_704_067_200_000) << 20
        return lastAutoID.withLock { last in
            let first = max(last == .min ? clock : last + 1, clock)
            last = first + Int64(n) - 1
            return first
        }
    }

    private func checkKeyTypes(_ ids: [PrimaryKey]) throws {
        let isInt = schema.primaryKey.dataType == .int64
        for id in ids {
            switch (id, isInt) {
            case (.int, true), (.string, false): continue
            default:
                throw VireoError.invalid(.typeMismatch, "primary key \(id) has the wrong type; collection '\(name)' has a \(schema.primaryKey.dataType.rawValue) primary key")
            }
        }
    }

    // MARK: Indexes

    /// Creates (or replaces) the index of a field. A field has at most one index; a vector index
    /// carries the metric searches of the field rank by (``IndexSpec/metric``; nil keeps the field's
    /// current metric, COSINE when it has none). Existing rows are sealed so they are indexed too;
    /// builds run in the background from the stored vectors (``waitForIndexBuilds()``,
    /// ``indexStatus(field:)``). Writes go on meanwhile, and every row stays searchable: a segment is
    /// scanned exactly, with the new metric, until its index is ready.
    ///
    /// - Throws: ``VireoError`` for an unknown field, a kind that cannot index it, invalid
    ///   parameters, or a name another field's index has.
    public func createIndex(_ spec: IndexSpec) async throws {
        var spec = spec
        if let path = spec.jsonPath, schema.field(named: spec.field) == nil, schema.enableDynamicField,
           spec.field != CollectionSchema.dynamicFieldName {
            // A key of the dynamic field, indexed by path (filters read it as `key["a"]`).
            try createJSONPathIndex(spec, path: path, field: FieldSchema(name: spec.field, dataType: .json))
            return
        }
        guard let field = schema.field(named: spec.field), !field.isPrimaryKey else {
            throw VireoError.invalid(.unknownField, "cannot index '\(spec.field)': collection '\(name)' has no such field other than the primary key (fields: \(schema.fields.map(\.name).joined(separator: ", ")))")
        }
        if let path = spec.jsonPath {
            try createJSONPathIndex(spec, path: path, field: field)
            return
        }
        spec = spec.resolved(for: field.dataType)
        guard spec.kind.supports(field.dataType) else {
            if field.dataType.isVector { try spec.validate(for: field) }
            if field.dataType == .json {
                throw VireoError.invalid(.invalidArgument, "index type \(spec.kind.rawValue) cannot index JSON field '\(spec.field)' as a whole; create an INVERTED index with json_path (e.g. \(spec.field)[\"key\"]) and json_cast_type (BOOL, DOUBLE, VARCHAR, ARRAY_BOOL, ARRAY_DOUBLE or ARRAY_VARCHAR)")
            }
            let valid = IndexSpec.Kind.allCases.filter { $0.supports(field.dataType) }.map(\.rawValue)
            throw VireoError.invalid(.invalidArgument, "index type \(spec.kind.rawValue) cannot index field '\(spec.field)' of type \(field.dataType.rawValue); use \(valid.isEmpty ? "no index (JSON and Array fields are filtered row by row)" : valid.joined(separator: ", "))")
        }
        spec.name = spec.name.flatMap { $0.isEmpty || $0 == spec.field ? nil : $0 }
        if spec.kind.isScalar {
            spec.metric = nil
            try indexChanges.withLock { _ in
                try checkIndexNameFree(spec)
                let all = indexRegistry.all.filter { $0.registryKey != spec.registryKey } + [spec]
                try catalog.update("saving the index") { $0.indexes = all }
                indexRegistry.set(spec)
            }
            return
        }
        if spec.kind.isSparse {
            // Sparse indexes are registered only: each sealed segment builds its posting lists the
            // first time it is searched (see `SparseSearch`), whatever the parameters.
            try indexChanges.withLock { _ in
                try checkIndexNameFree(spec)
                let wanted: Metric = schema.isFunctionOutput(field.name) ? .bm25 : .ip
                if spec.metric == nil { spec.metric = wanted }
                try spec.validate(for: field)
                guard spec.metric == wanted else {
                    throw VireoError.invalid(.invalidArgument, schema.isFunctionOutput(field.name)
                        ? "metric type not match: field '\(field.name)' is the output of a BM25 function; index it with metric_type BM25"
                        : "metric type not match: BM25 ranks the output of a BM25 function; '\(field.name)' holds user-given sparse vectors, index it with metric_type IP")
                }
                try spec.validate(dimension: 0)
                let all = indexRegistry.all.filter { $0.registryKey != spec.registryKey } + [spec]
                try catalog.update("saving the index") { $0.indexes = all }
                indexRegistry.set(spec)
            }
            return
        }
        guard let f = codec.vectorFields.firstIndex(where: { $0.name == spec.field }) else {
            throw VireoError.invalid(.unknownField, "cannot index '\(spec.field)': it is not a vector field of collection '\(name)' (vector fields: \(codec.vectorFields.map(\.name).joined(separator: ", ")))")
        }
        let rebuild = try indexChanges.withLock { _ -> Bool in
            try checkIndexNameFree(spec)
            let previous = indexRegistry.spec(for: spec.field)
            if spec.metric == nil { spec.metric = previous?.metric ?? field.dataType.defaultMetric }
            try spec.validate(for: field)
            try spec.validate(dimension: codec.vectorFields[f].dimension!)
            var all = indexRegistry.all.filter { $0.registryKey != spec.registryKey }
            all.append(spec)
            try catalog.update("saving the index") { $0.indexes = all }
            var unnamed = spec
            unnamed.name = previous?.name
            unnamed.properties = previous?.properties
            unnamed.requestParams = previous?.requestParams
            // The spec is published before the old indexes are detached: a search in between sees an
            // index whose metric or parameters differ and scans that segment exactly (never a stale
            // ranking); attach refuses builds of the old spec.
            indexRegistry.set(spec)
            return previous != nil && previous != unnamed
        }
        if rebuild {
            for s in shards { _ = try await s.submit(.detachIndexes(field: f)) }
        }
        try await flush()  // seals (and so schedules builds for) the rows that exist now
        for s in shards { s.scheduleMissingIndexBuilds() }
    }

    /// Drops the index of a field; searches on it become exact.
    public func dropIndex(field: String) async throws {
        try indexChanges.withLock { _ in
            guard indexRegistry.spec(for: field) != nil else {
                throw VireoError(.invalidArgument, kind: .notFound, "field '\(field)' of collection '\(name)' has no index")
            }
            let remaining = indexRegistry.all.filter { $0.registryKey != field }
            try catalog.update("dropping the index") { $0.indexes = remaining }
            indexRegistry.remove(field)
        }
        if let f = codec.vectorFields.firstIndex(where: { $0.name == field }) {
            for s in shards { _ = try await s.submit(.detachIndexes(field: f)) }
        }
    }

    /// The index specs of this collection.
    public var indexes: [IndexSpec] { indexRegistry.all }

    /// Creates (or replaces, under the same index name) a JSON path index: nothing is built ahead,
    /// each sealed segment sorts the path's values the first time a filter on that path needs them.
    private func createJSONPathIndex(_ spec: IndexSpec, path: JSONPathIndex, field: FieldSchema) throws {
        var spec = spec
        guard field.dataType == .json, [.inverted, .stlSort, .bitmap].contains(spec.kind) else {
            throw VireoError.invalid(.invalidArgument, "json_path and json_cast_type are parameters of an INVERTED, STL_SORT or BITMAP (or AUTOINDEX) index on a JSON field; '\(spec.field)' is \(field.dataType.rawValue) and the index type is \(spec.kind.rawValue)")
        }
        spec.metric = nil
        try indexChanges.withLock { _ in
            try checkIndexNameFree(spec)
            if let same = indexRegistry.jsonPathSpecs(field: spec.field).first(where: {
                $0.registryKey != spec.registryKey && $0.jsonPath?.steps == path.steps && $0.jsonPath?.castType == path.castType
            }) {
                throw VireoError(.invalidArgument, kind: .conflict, "JSON field '\(spec.field)' already has index '\(same.indexName)' on path \(path.path) with json_cast_type \(path.castType.rawValue); use it, or drop it before indexing the path under another name")
            }
            let all = indexRegistry.all.filter { $0.registryKey != spec.registryKey } + [spec]
            try catalog.update("saving the index") { $0.indexes = all }
            indexRegistry.set(spec)
        }
    }

    /// Drops the index named `indexName` (any kind, JSON path indexes included).
    ///
    /// - Throws: ``VireoError`` when the collection has no index of that name.
    public func dropIndex(named indexName: String) async throws {
        guard let spec = indexRegistry.all.first(where: { $0.indexName == indexName }) else {
            throw VireoError(.invalidArgument, kind: .notFound, "collection '\(name)' has no index named '\(indexName)'")
        }
        guard spec.jsonPath != nil else { return try await dropIndex(field: spec.field) }
        try indexChanges.withLock { _ in
            let remaining = indexRegistry.all.filter { $0.registryKey != spec.registryKey }
            try catalog.update("dropping the index") { $0.indexes = remaining }
            indexRegistry.remove(key: spec.registryKey)
        }
    }

    /// Renames the index of `field` (nil: the field's name); nothing is rebuilt.
    ///
    /// - Throws: ``VireoError`` when the field has no index or another index has that name.
    public func renameIndex(field: String, to newName: String?) throws {
        guard var spec = indexRegistry.spec(for: field) else {
            throw VireoError(.invalidArgument, kind: .notFound, "field '\(field)' of collection '\(name)' has no index")
        }
        spec.name = newName.flatMap { $0.isEmpty || $0 == field ? nil : $0 }
        try checkIndexNameFree(spec)
        let all = indexRegistry.all.filter { $0.registryKey != field } + [spec]
        try catalog.update("renaming the index") { $0.indexes = all }
        indexRegistry.set(spec)
    }

    /// Applies `change` to the properties of the index named `indexName` (its field's name when it
    /// has none), durably; nothing is rebuilt.
    ///
    /// - Throws: ``VireoError`` (not found) when no index has that name.
    func updateIndexProperties(named indexName: String, _ change: (inout [String: String]) throws -> Void) throws {
        try indexChanges.withLock { _ in
            guard var spec = indexRegistry.all.first(where: { $0.indexName == indexName }) else {
                throw VireoError(.invalidArgument, kind: .notFound, "index not found[indexName=\(indexName)]: collection '\(name)' has indexes \(indexRegistry.all.map(\.indexName))")
            }
            var props = spec.properties ?? [:]
            try change(&props)
            spec.properties = props.isEmpty ? nil : props
            let all = indexRegistry.all.filter { $0.field != spec.field } + [spec]
            try catalog.update("altering the index properties") { $0.indexes = all }
            indexRegistry.set(spec)
        }
    }

    /// Throws when another field's index already has `spec`'s name (index names are unique per
    /// collection, as in Milvus).
    private func checkIndexNameFree(_ spec: IndexSpec) throws {
        if let clash = indexRegistry.all.first(where: { $0.registryKey != spec.registryKey && $0.indexName == spec.indexName }) {
            throw VireoError(.invalidArgument, kind: .conflict, "an index named '\(spec.indexName)' already exists on field '\(clash.field)' of collection '\(name)'; choose another index name")
        }
    }

    /// The metric searches of vector field `field` rank by: its index's metric, nil when the field
    /// has no index (a search then names one, or gets COSINE).
    public func metric(of field: String) -> Metric? {
        indexRegistry.spec(for: field)?.metric
    }

    /// The metric a search of `field` uses: the index's; a request that names another is refused
    /// with Milvus' message.
    func searchMetric(field: FieldSchema, requested: Metric?) throws -> Metric {
        guard let indexed = metric(of: field.name) else {
            let m = requested ?? field.dataType.defaultMetric
            guard field.dataType.metrics.contains(m) else {
                throw VireoError.invalid(.invalidSearch, "metric type \(m.rawValue) not found or not supported, supported: [\(field.dataType.metrics.map(\.rawValue).joined(separator: " "))]: field '\(field.name)' is \(field.dataType.rawValue)")
            }
            return m
        }
        if let requested, requested != indexed {
            throw VireoError.invalid(.invalidSearch, "metric type not match: invalid parameter[expected=\(indexed)][actual=\(requested)]: the index on '\(field.name)' ranks by \(indexed); search with \(indexed) (or omit the metric), or drop the index and create one with \(requested)")
        }
        return indexed
    }

    /// How far the index of `field` is built.
    public func indexStatus(field: String) throws -> IndexStatus {
        let scalarKind = indexRegistry.spec(for: field).flatMap { $0.kind.isScalar || $0.kind.isSparse ? $0.kind : nil }
            ?? (indexRegistry.jsonPathSpecs(field: field).isEmpty ? nil : .inverted)
        if let scalarKind {
            // Scalar indexes are ready for every sealed segment (built on first use).
            var status = IndexStatus(field: field, kind: scalarKind, totalRows: 0, indexedRows: 0, growingRows: 0, buildingRowsDone: 0)
            for s in shards {
                let snap = s.snapshot
                status.growingRows += snap.growing.rowCount
                status.totalRows += snap.sealed.reduce(0) { $0 + $1.rowCount }
            }
            status.indexedRows = status.totalRows
            return status
        }
        guard let f = codec.vectorFields.firstIndex(where: { $0.name == field }) else {
            throw VireoError.invalid(.unknownField, "'\(field)' is not a vector field of collection '\(name)'")
        }
        let kind = indexRegistry.spec(for: field)?.kind ?? .flat
        var status = IndexStatus(field: field, kind: kind, totalRows: 0, indexedRows: 0, growingRows: 0, buildingRowsDone: builder.currentProgress)
        for s in shards {
            let snap = s.snapshot
            status.growingRows += snap.growing.rowCount
            for seg in snap.sealed {
                status.totalRows += seg.rowCount
                // A segment whose rows all lack a vector has nothing to index: it counts as done.
                if kind == .flat || kind == .binFlat || seg.indexes[f] != nil || seg.nullVectors[f]?.count == seg.rowCount {
                    status.indexedRows += seg.rowCount
                }
            }
        }
        return status
    }

    /// Returns once no index build is queued or running.
    public func waitForIndexBuilds() async {
        await builder.waitUntilIdle()
    }

    // MARK: Reads

    /// Number of live rows (exact: inserted minus deleted, over all shards).
    public func count() -> Int {
        shards.reduce(0) { $0 + $1.readSnapshot.liveCount }
    }

    /// Number of live rows that satisfy a Milvus filter expression (`count(*)` with a filter).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidFilter`` for a malformed expression.
    public func count(filter: String, partitions: [String]? = nil) throws -> Int {
        try count(filter: filter, partitions: partitions, budget: nil)
    }

    func count(filter: String?, partitions: [String]?, budget: WorkBudget?, includeGrowing: Bool = true) throws -> Int {
        let f = try filter.map { try codecs.filter($0, name: name) }
        let allowed = try readPartitions(partitions, filter: f)
        return try shards.reduce(0) { total, shard in
            try total + shard.select(f, partitions: allowed, in: shard.readSnapshot, budget: budget, includeGrowing: includeGrowing)
                .values.reduce(0) { $0 + $1.count }
        }
    }

    /// The live rows that satisfy `filter` (all rows when nil), ordered by primary key.
    ///
    /// - Parameters:
    ///   - outputFields: fields to return (`nil` or `["*"]` for all).
    ///   - limit: at most this many rows after `offset` (no cap of its own: Milvus' 16,384 window
    ///     limit does not apply).
    /// - Throws: ``VireoError`` (``VireoError/Code/invalidFilter`` for a malformed expression).
    ///   - after: only rows whose primary key is greater (a cursor: pass the last key of the previous
    ///     page to walk any number of rows in key order).
    ///   - partitions: only rows of these partitions (all when nil).
    public func query(filter: String? = nil, outputFields: [String]? = nil, limit: Int? = nil, offset: Int = 0, after: PrimaryKey? = nil,
                      partitions: [String]? = nil) throws -> [Row] {
        try query(filter: filter, outputFields: outputFields, limit: limit, offset: offset, after: after, partitions: partitions, budget: nil)
    }

    /// ``query(filter:outputFields:limit:offset:after:partitions:)`` for servers and other async
    /// callers: runs on the database's read threads, off the cooperative pool, and stops (throwing
    /// ``VireoError/Code/deadlineExceeded`` or ``VireoError/Code/cancelled``) between segments and
    /// rows once `deadline` passes or the calling task is cancelled; refused with
    /// ``VireoError/Code/overloaded`` when too many reads wait already.
    public func query(_ request: QueryRequest) async throws -> [Row] {
        ForegroundActivity.mark()
        let budget = WorkBudget(deadline: request.deadline)
        return try await reads.run(budget, "the query") { [self] in
            try self.query(filter: request.filter, outputFields: request.outputFields, limit: request.limit, offset: request.offset,
                           after: request.after, partitions: request.partitions, budget: budget, maxResultBytes: request.maxResultBytes,
                           includeGrowing: !request.ignoreGrowing)
        }
    }

    /// The number of live rows matching `request.filter` (all rows when nil), off the cooperative
    /// pool with the same deadline, cancellation and admission as ``query(_:)``.
    public func count(_ request: QueryRequest) async throws -> Int {
        let budget = WorkBudget(deadline: request.deadline)
        return try await reads.run(budget, "the count") { [self] in
            if request.filter == nil, !request.ignoreGrowing { return try self.count(partitions: request.partitions) }
            return try self.count(filter: request.filter, partitions: request.partitions, budget: budget, includeGrowing: !request.ignoreGrowing)
        }
    }

    func query(filter: String?, outputFields: [String]?, limit: Int?, offset: Int, after: PrimaryKey?, partitions: [String]?,
               budget: WorkBudget?, maxResultBytes: Int? = nil, includeGrowing: Bool = true) throws -> [Row] {
        guard offset >= 0, (limit ?? 0) >= 0 else {
            throw VireoError.invalid(.invalidArgument, "limit and offset must not be negative")
        }
        let selection = try fieldSelection(outputFields ?? ["*"])
        let f = try filter.map { try codecs.filter($0, name: name) }
        let allowed = try readPartitions(partitions, filter: f)
        var found: [(PrimaryKey, Int, RowLocation)] = []
        var snaps: [ShardSnapshot] = []
        for (s, shard) in shards.enumerated() {
            let snap = shard.readSnapshot
            snaps.append(snap)
            let sets = try shard.select(f, partitions: allowed, in: snap, budget: budget, includeGrowing: includeGrowing)
            for (segment, bits) in sets {
                for row in 0..<bits.capacity where bits.contains(row) {
                    let loc = RowLocation(segment: segment, row: UInt32(row))
                    let ord = snap.sealed.firstIndex { $0.id == segment } ?? snap.sealed.count
                    found.append((snap.primaryKey(ordinal: ord, row: row), s, loc))
                }
            }
        }
        if let after { found.removeAll { !(after < $0.0) } }
        found.sort { $0.0 < $1.0 }
        let end = limit.map { min(found.count, offset + $0) } ?? found.count
        guard offset < end else { return [] }
        var rows: [Row] = []
        rows.reserveCapacity(end - offset)
        var bytes = 0
        for (i, (_, s, loc)) in found[offset..<end].enumerated() {
            if i % 256 == 0 { try budget?.check("the query") }
            let row = try shards[s].materialize(loc, in: snaps[s], fields: selection).1
            if let maxResultBytes {
                bytes += approximateBytes(of: row)
                if bytes > maxResultBytes { throw VireoError.resultTooLarge(maxResultBytes, "query") }
            }
            rows.append(row)
        }
        return rows
    }

    /// Walks every row matching `filter` in primary-key order, `batchSize` rows at a time, with no
    /// window limit.
    public func queryIterator(filter: String? = nil, outputFields: [String]? = nil, batchSize: Int = 1000, partitions: [String]? = nil) -> QueryIterator {
        QueryIterator(collection: self, filter: filter, outputFields: outputFields, batchSize: max(1, batchSize), partitions: partitions)
    }

    /// Deletes the live rows that satisfy `filter`; returns how many.
    @discardableResult
    public func delete(filter: String, partition: String? = nil) async throws -> Int {
        let ids = try query(filter: filter, outputFields: [schema.primaryKey.name], partitions: partition.map { [$0] }).compactMap { row -> PrimaryKey? in
            switch row[schema.primaryKey.name] {
            case let .int(i)?: return .int(i)
            case let .string(s)?: return .string(s)
            default: return nil
            }
        }
        return try await delete(ids: ids)
    }

    /// The rows with these primary keys, in request order; missing keys are skipped.
    ///
    /// - Parameter outputFields: fields to return (`nil` or `["*"]` for all).
    /// - Parameter partitions: only rows of these partitions (all when nil).
    public func get(ids: [PrimaryKey], outputFields: [String]? = nil, partitions: [String]? = nil) throws -> [Row] {
        ForegroundActivity.mark()
        try checkKeyTypes(ids)
        let selection = try fieldSelection(outputFields ?? ["*"])
        let allowed = try readPartitions(partitions, filter: nil)
        // One snapshot per shard holds every row returned (see Shard.locateAll).
        var byShard = [[Int]](repeating: [], count: shards.count)
        for (i, id) in ids.enumerated() { byShard[StableHash.shard(of: id, shardCount: shards.count)].append(i) }
        var found = [(ShardSnapshot, RowLocation)?](repeating: nil, count: ids.count)
        do {
            for (s, members) in byShard.enumerated() where !members.isEmpty {
                let (snap, locs) = try shards[s].locateAll(members.map { ids[$0] })
                for (m, loc) in zip(members, locs) {
                    if let loc, allowed.contains(snap.partition(of: loc)) { found[m] = (snap, loc) }
                }
            }
        } catch {
            throw VireoError.storage(error, "reading primary keys of collection '\(name)'")
        }
        var out: [Row] = []
        for (i, id) in ids.enumerated() {
            guard let (snap, loc) = found[i] else { continue }
            do {
                let s = StableHash.shard(of: id, shardCount: shards.count)
                out.append(try shards[s].materialize(loc, in: snap, fields: selection).1)
            } catch {
                throw VireoError.storage(error, "reading primary key \(id) of collection '\(name)'")
            }
        }
        return out
    }

    /// Finds the `limit` nearest rows of each query vector.
    ///
    /// Exact (brute force) over every segment; a batch of queries runs as blocked matrix
    /// multiplication on the configured ``ComputeBackend`` across all cores, a single query as one
    /// SIMD pass.
    ///
    /// With ``SearchRequest/range`` only hits in the range are returned (up to `limit`); with
    /// ``SearchRequest/grouping``, `limit` groups (see ``SearchGrouping``), their hits group by group.
    ///
    /// - Returns: one list of hits per query, closest first (group by group when grouping).
    /// - Throws: ``VireoError`` for a bad dimension, non-finite values, unknown field, metric mismatch,
    ///   limit out of range, or a bad range or grouping.
    /// - Complexity: O(nq · n · d) for n stored rows.
    public func search(_ request: SearchRequest) async throws -> [[SearchHit]] {
        if request.range != nil || request.grouping != nil || request.scoreBeyond != nil { return try await searchExpanding(request) }
        return try await plainSearch(request)
    }

    /// ``search(_:)`` without range or grouping.
    func plainSearch(_ request: SearchRequest) async throws -> [[SearchHit]] {
        ForegroundActivity.mark()
        if let sparse = sparseSearchField(request) { return try await sparseSearch(request, field: sparse) }
        let (fieldIndex, field) = try resolveVectorField(request.annsField)
        let metric = try searchMetric(field: field, requested: request.metric)
        guard (1...SearchRequest.maxLimit).contains(request.limit) else {
            throw VireoError.invalid(.invalidSearch, "limit must be in 1...\(SearchRequest.maxLimit), got \(request.limit)")
        }
        guard request.offset >= 0, request.offset <= SearchRequest.maxLimit - request.limit else {
            throw VireoError.invalid(.invalidSearch, "offset \(request.offset) is invalid: it must be ≥ 0 and limit + offset ≤ \(SearchRequest.maxLimit)")
        }
        let k = request.limit + request.offset
        guard !request.vectors.isEmpty else {
            throw VireoError.invalid(.invalidSearch, "a search needs at least one query vector")
        }
        let selection = try fieldSelection(request.outputFields)
        let dim = field.dimension!
        var flat: [Float] = []
        flat.reserveCapacity(request.vectors.count * dim)
        var queryField = field
        queryField.storesNormalizedVectors = false
        for (i, v) in request.vectors.enumerated() {
            // Stored rows are as inserted (COSINE scans scale by their inverse norms); a COSINE
            // query is normalised once here.
            var q = try RowCodec.vector(.floatVector(v), field: queryField, what: "query \(i)")
            if metric == .cosine { try RowCodec.normalize(&q, field: field, what: "query \(i)") }
            flat.append(contentsOf: q)
        }
        let queries = FloatArena(copying: flat).matrix(dim: dim)
        let f = try request.filter.map { try codecs.filter($0, name: name) }
        try checkPartitionKeyIsolation(f)
        let allowed = try readPartitions(request.partitions, filter: f)
        let params = try request.params.resolved(limit: k)
        // The blocking part runs on the read executor (a single query on this thread): it stops
        // between segments once the deadline passes or the caller is cancelled.
        let budget = WorkBudget(deadline: request.deadline)
        return try await reads.run(budget, "the search", inline: request.vectors.count == 1) { [self] in
            try self.searchSegments(request, queries: queries, field: fieldIndex, metric: metric, k: k, params: params, filter: f,
                                    allowed: allowed, selection: selection, budget: budget)
        }
    }

    /// The blocking part of ``search(_:)``: filter passes, segment scans and graph walks, hits.
    private func searchSegments(_ request: SearchRequest, queries: MatrixView, field fieldIndex: Int, metric: Metric, k: Int,
                                params: ResolvedSearchParameters, filter f: Filter?, allowed: Set<UInt16>, selection: FieldSelection,
                                budget: WorkBudget) throws -> [[SearchHit]] {
        let snaps = try searchSnapshots(filter: f, allowed: allowed, budget: budget)
        let found = SegmentSearch.run(queries: queries, field: fieldIndex, metric: metric, k: k, params: params,
                                      exact: request.params.exact, snapshots: snaps, backend: configuration.computeBackend,
                                      threads: configuration.searchThreads, budget: budget, includeGrowing: !request.params.ignoreGrowing)
        try budget.check("the search")
        return try hits(found, metric: metric, snaps: snaps, request: request, selection: selection)
    }

    /// The shards' read snapshots for one search, with the rows that fail `filter` or lie outside the
    /// `allowed` partitions added to the tombstones: indexes traverse but never return them, and
    /// mostly-excluded segments are scanned exactly.
    func searchSnapshots(filter f: Filter?, allowed: Set<UInt16>, budget: WorkBudget) throws -> [ShardSnapshot] {
        var snaps = shards.map(\.readSnapshot)
        if f != nil || snaps.contains(where: { !$0.partitionsPresent.isSubset(of: allowed) }) {
            for (i, shard) in shards.enumerated() {
                let matches = try shard.select(f, partitions: allowed, in: snaps[i], budget: budget)
                for (segment, bits) in matches { snaps[i].tombstones[segment] = bits.inverted() }
            }
        }
        return snaps
    }

    /// Search results (internal distances and packed hit addresses, best first per query) as hits
    /// with Milvus' scores and the requested output fields, `offset` hits skipped.
    func hits(_ found: [[(distance: Float, id: Int64)]], metric: Metric, snaps: [ShardSnapshot], request: SearchRequest,
              selection: FieldSelection) throws -> [[SearchHit]] {
        let raw = request.offset == 0 ? found : found.map { Array($0.dropFirst(request.offset)) }
        let wantsFields = !request.outputFields.isEmpty
        var bytes = 0
        return try raw.map { hits in
            try hits.map { hit in
                let a = HitAddress(hit.id)
                let snap = snaps[a.shard]
                let segID = a.ordinal < snap.sealed.count ? snap.sealed[a.ordinal].id : snap.growing.id
                let loc = RowLocation(segment: segID, row: UInt32(a.row))
                let score = metric.usesL2Kernel ? max(0, hit.distance) : metric.score(fromDistance: hit.distance)
                if wantsFields {
                    let (pk, row) = try shards[a.shard].materialize(loc, in: snap, fields: selection)
                    if let limit = request.maxResultBytes {
                        bytes += approximateBytes(of: row)
                        if bytes > limit { throw VireoError.resultTooLarge(limit, "search") }
                    }
                    return SearchHit(id: pk, score: score, fields: row)
                }
                return SearchHit(id: snap.primaryKey(ordinal: a.ordinal, row: a.row), score: score, fields: [:])
            }
        }
    }

    func resolveVectorField(_ name: String?) throws -> (Int, FieldSchema) {
        let vectors = codec.vectorFields
        if let name {
            guard let i = vectors.firstIndex(where: { $0.name == name }) else {
                throw VireoError.invalid(.unknownField, "'\(name)' is not a vector field of collection '\(self.name)'; vector fields: \(vectors.map(\.name).joined(separator: ", "))")
            }
            return (i, vectors[i])
        }
        guard vectors.count == 1 else {
            let all = schema.fields.filter(\.dataType.isAnyVector).map(\.name)
            throw VireoError.invalid(.invalidSearch, "collection '\(self.name)' has \(all.count) vector fields; name one with annsField (\(all.joined(separator: ", ")))")
        }
        return (0, vectors[0])
    }

    func fieldSelection(_ names: [String]) throws -> FieldSelection {
        let schema = self.schema  // one copy of the codec's schema, not one per use below
        if names.isEmpty { return FieldSelection(all: false, names: [], schema: schema) }
        // A function's output (BM25 term counts) is not returned, as in Milvus: `*` leaves it out
        // and naming it is an error.
        let outputs = Set(schema.functions.flatMap(\.outputFields))
        if names.contains("*") { return FieldSelection(all: true, names: [], schema: schema, hidden: outputs) }
        for n in names where schema.field(named: n) == nil && !schema.enableDynamicField {
            throw VireoError.invalid(.unknownField, "output field '\(n)' is not in collection '\(name)' (fields: \(schema.fields.map(\.name).joined(separator: ", ")))")
        }
        for n in names where outputs.contains(n) {
            throw VireoError.invalid(.invalidArgument, "not allowed to retrieve raw data of field \(n): it is the output of function \(schema.function(producing: n)!.name) (BM25 term counts); request the input field '\(schema.function(producing: n)!.inputFields[0])' instead")
        }
        return FieldSelection(all: false, names: Set(names), schema: schema)
    }

    // MARK: Description

    /// Storage statistics of one shard.
    public struct ShardStatistics: Sendable, Hashable {
        public var shard: Int
        public var sealedSegments: Int
        public var sealedRows: Int
        public var growingRows: Int
        public var deletedRows: Int
        /// Bytes of live data in the shard's LMDB file (vectors, graphs, keys, scalars, batches).
        public var storageBytes: Int
        /// Bytes of the data file up to its last used page (live data plus free pages kept for reuse).
        public var fileBytes: Int
    }

    /// Per-shard statistics.
    public func statistics() -> [ShardStatistics] {
        shards.map { s in
            let snap = s.snapshot
            return ShardStatistics(shard: s.index, sealedSegments: snap.sealed.count,
                                   sealedRows: snap.sealed.reduce(0) { $0 + $1.rowCount },
                                   growingRows: snap.growing.rowCount, deletedRows: snap.deletedCount,
                                   storageBytes: s.environment.liveBytes(), fileBytes: s.environment.usedBytes())
        }
    }
}

/// A query for async callers (``Collection/query(_:)``, ``Collection/count(_:)``).
public struct QueryRequest: Sendable {
    /// A Milvus filter expression (all rows when nil).
    public var filter: String?
    /// Fields to return (`nil` or `["*"]` for all).
    public var outputFields: [String]?
    /// At most this many rows after `offset` (nil: all).
    public var limit: Int?
    public var offset: Int
    /// Only rows whose primary key is greater (a cursor).
    public var after: PrimaryKey?
    /// Only rows of these partitions (all when nil).
    public var partitions: [String]?
    /// When the work stops (see ``SearchRequest/deadline``).
    public var deadline: ContinuousClock.Instant?
    /// A bound on the bytes of the returned rows (see ``SearchRequest/maxResultBytes``).
    public var maxResultBytes: Int?
    /// Read sealed segments only, skipping each shard's growing segment (Milvus' `ignore_growing`,
    /// as ``SearchParameters/ignoreGrowing`` for searches): rows written since the last seal are
    /// not returned or counted.
    public var ignoreGrowing: Bool

    public init(filter: String? = nil, outputFields: [String]? = nil, limit: Int? = nil, offset: Int = 0, after: PrimaryKey? = nil,
                partitions: [String]? = nil, deadline: ContinuousClock.Instant? = nil, maxResultBytes: Int? = nil, ignoreGrowing: Bool = false) {
        self.ignoreGrowing = ignoreGrowing
        self.maxResultBytes = maxResultBytes
        self.filter = filter
        self.outputFields = outputFields
        self.limit = limit
        self.offset = offset
        self.after = after
        self.partitions = partitions
        self.deadline = deadline
    }
}

/// Pages through a query in primary-key order (``Collection/queryIterator(filter:outputFields:batchSize:)``).
/// Each page reads a fresh snapshot and resumes after the last key returned, so rows inserted behind
/// the cursor are not revisited and the walk never repeats a row.
public struct QueryIterator: Sendable {
    let collection: Collection
    let filter: String?
    let outputFields: [String]?
    let batchSize: Int
    let partitions: [String]?
    private var last: PrimaryKey?
    private var done = false

    init(collection: Collection, filter: String?, outputFields: [String]?, batchSize: Int, partitions: [String]?) {
        self.partitions = partitions
        self.collection = collection
        self.filter = filter
        self.outputFields = outputFields
        self.batchSize = batchSize
    }

    /// The next page, or nil when the walk is complete.
    public mutating func next() throws -> [Row]? {
        guard !done else { return nil }
        var fields = outputFields
        let pk = collection.schema.primaryKey.name
        if let f = fields, !f.contains("*"), !f.contains(pk) { fields = f + [pk] }
        let page = try collection.query(filter: filter, outputFields: fields, limit: batchSize, after: last, partitions: partitions)
        guard let tail = page.last else {
            done = true
            return nil
        }
        switch tail[pk] {
        case let .int(i)?: last = .int(i)
        case let .string(s)?: last = .string(s)
        default: done = true
        }
        if page.count < batchSize { done = true }
        return page
    }
}
