import Dispatch
import Synchronization
import VireoKernels

/// Partitions, as in Milvus: a named tag on rows. Every collection has `_default`; more are created
/// with ``Collection/createPartition(_:)``. A collection with a partition-key field instead has
/// ``CollectionSchema/numPartitions`` partitions (`_default_0` …) that rows are routed to by a stable
/// hash of the key, and a filter that pins the key reads only the partitions its values hash to.
///
/// Rows carry their partition id (a column per segment, with the set of ids present so a segment
/// without a requested partition is skipped whole). Ids are never reused: dropping a partition
/// removes it from the catalog first (its rows become invisible at once, since reads only admit live
/// ids) and then deletes the rows; rows left behind by a crash in between are deleted at the next open.
extension Collection {
    // MARK: Managing partitions

    /// Creates an empty partition.
    ///
    /// - Throws: ``VireoError`` ``VireoError/Code/partitionAlreadyExists``; ``VireoError/Code/invalidArgument``
    ///   for a bad name, too many partitions, or a collection with a partition key (its partitions are fixed).
    public func createPartition(_ name: String) async throws {
        if let key = schema.partitionKey {
            throw VireoError.invalid(.invalidArgument, "collection '\(self.name)' has partition key '\(key.name)', which manages its partitions; create partitions only in collections without one")
        }
        do {
            try CollectionSchema.validateName(name, what: "partition name")
        } catch let e as VireoError {
            throw VireoError.invalid(.invalidArgument, e.message)
        }
        try partitionTable.withLock { table in
            guard !table.contains(where: { $0.name == name }) else {
                throw VireoError(.partitionAlreadyExists, kind: .conflict, "partition '\(name)' already exists in collection '\(self.name)'")
            }
            guard table.count < CollectionSchema.maxPartitions else {
                throw VireoError.invalid(.invalidArgument, "collection '\(self.name)' has \(table.count) partitions, the most allowed; drop one first")
            }
            let id = nextPartitionID.withLock { $0 }
            guard id <= Int(UInt16.max) else {
                throw VireoError.invalid(.invalidArgument, "collection '\(self.name)' has used all 65,536 partition ids; create a new collection")
            }
            var updated = table
            updated.append(PartitionRecord(id: UInt16(id), name: name))
            let persisted = updated
            try catalog.update("creating partition '\(name)'") {
                $0.partitions = persisted
                $0.nextPartitionID = id + 1
            }
            nextPartitionID.withLock { $0 = id + 1 }
            table = updated
        }
    }

    /// Drops a partition and deletes its rows. `_default` cannot be dropped.
    ///
    /// - Throws: ``VireoError`` ``VireoError/Code/partitionNotFound``, or ``VireoError/Code/invalidArgument``.
    public func dropPartition(_ name: String) async throws {
        if let key = schema.partitionKey {
            throw VireoError.invalid(.invalidArgument, "collection '\(self.name)' has partition key '\(key.name)', which manages its partitions; they cannot be dropped")
        }
        guard name != CollectionSchema.defaultPartitionName else {
            throw VireoError.invalid(.invalidArgument, "the '\(CollectionSchema.defaultPartitionName)' partition cannot be dropped")
        }
        let id = try partitionTable.withLock { table -> UInt16? in
            guard let p = table.first(where: { $0.name == name }) else { return nil }
            let remaining = table.filter { $0.id != p.id }
            try catalog.update("dropping partition '\(name)'") { $0.partitions = remaining }
            table = remaining
            return p.id
        }
        guard let id else { throw partitionNotFound(name) }
        try await deleteRows(inPartitions: [id])
    }

    /// Deletes every row of every partition (Milvus' `truncate_collection`); the schema, indexes,
    /// partitions and aliases stay. Each shard deletes its rows in one transaction; rows written
    /// while the truncation runs may survive it. A compaction follows at once, so the emptied
    /// segments are gone when this returns (as Milvus drops a truncated collection's segments) and
    /// their space is reusable.
    ///
    /// - Throws: ``VireoError`` (read-only database, storage failure).
    public func truncate() async throws {
        let ids = Set(partitionTable.withLock { $0.map(\.id) })
        try await deleteRows(inPartitions: ids)
        _ = try await compact()
    }

    /// Whether a partition named `name` exists.
    public func hasPartition(_ name: String) -> Bool {
        partitionTable.withLock { $0.contains { $0.name == name } }
    }

    /// Partition names in creation order (`_default` first).
    public func listPartitions() -> [String] {
        partitionTable.withLock { $0.map(\.name) }
    }

    /// Each partition's id (never reused within the collection; ``SegmentInfo/partitionRows`` is keyed
    /// by it), in creation order.
    public func partitionIDs() -> [(name: String, id: UInt16)] {
        partitionTable.withLock { $0.map { (name: $0.name, id: $0.id) } }
    }

    /// Live rows in the given partitions (all when nil).
    public func count(partitions: [String]?) throws -> Int {
        guard let partitions else { return count() }
        let allowed = try readPartitions(partitions, filter: nil)
        return try shards.reduce(0) { total, shard in
            try total + shard.select(nil, partitions: allowed, in: shard.readSnapshot).values.reduce(0) { $0 + $1.count }
        }
    }

    // MARK: Internals

    func partitionNotFound(_ name: String) -> VireoError {
        VireoError(.partitionNotFound, kind: .notFound, "partition not found[partition=\(name)]: partition '\(name)' does not exist in collection '\(self.name)' (partitions: \(listPartitions().joined(separator: ", ")))")
    }

    /// The partition id rows of a write go to; nil when the partition key routes each row.
    func writePartition(_ name: String?) throws -> UInt16? {
        if let key = schema.partitionKey {
            guard name == nil else {
                throw VireoError.invalid(.invalidArgument, "collection '\(self.name)' routes rows by partition key '\(key.name)'; do not name a partition when writing")
            }
            return nil
        }
        let name = name ?? CollectionSchema.defaultPartitionName
        guard let p = partitionTable.withLock({ $0.first { $0.name == name } }) else { throw partitionNotFound(name) }
        return p.id
    }

    /// The partition-key bucket of `row` (validated already by the row codec).
    func partitionKeyBucket(of row: Row, index: Int) throws -> UInt16 {
        let schema = self.schema
        guard let key = schema.partitionKey else { return 0 }
        // A missing or null value takes the field's default (Milvus applies defaults before routing).
        var value = row[key.name]?.jsonValue
        if value == nil || value == .null { value = key.defaultValue }
        guard let bucket = Self.bucket(of: value, key: key, partitions: schema.numPartitions) else {
            throw VireoError.invalid(.missingField, "row \(index): partition key '\(key.name)' needs a \(key.dataType.rawValue) value")
        }
        return bucket
    }

    static func bucket(of value: JSONValue?, key: FieldSchema, partitions: Int) -> UInt16? {
        let hashed: PrimaryKey
        switch (value, key.dataType) {
        case let (.int(i)?, .int64): hashed = .int(i)
        case let (.string(s)?, .varChar): hashed = .string(s)
        default: return nil
        }
        return UInt16(StableHash.hash(hashed) % UInt64(partitions))
    }

    /// The partition ids a read may see: the named ones (all live ones when nil), narrowed by the
    /// partition key when `filter` pins it.
    func readPartitions(_ names: [String]?, filter: Filter?) throws -> Set<UInt16> {
        let table = partitionTable.withLock { $0 }
        var allowed: Set<UInt16>
        if let names, !names.isEmpty {
            allowed = []
            for n in names {
                guard let p = table.first(where: { $0.name == n }) else { throw partitionNotFound(n) }
                allowed.insert(p.id)
            }
        } else {
            allowed = Set(table.map(\.id))
        }
        if let filter, case let schema = codec.schema, let key = schema.partitionKey,
           let values = Self.pinnedValues(of: key.name, in: filter.root) {
            let n = schema.numPartitions
            allowed.formIntersection(values.compactMap { Self.bucket(of: $0, key: key, partitions: n) })
        }
        return allowed
    }

    /// Milvus' partition-key isolation (`partitionkey.isolation`): a search names exactly one
    /// tenant, `key == value` at the top level of its filter (and-ed with anything else), as Milvus'
    /// proxy requires, with its messages.
    func checkPartitionKeyIsolation(_ filter: Filter?) throws {
        guard let key = codec.schema.partitionKey,
              properties[CollectionProperties.partitionKeyIsolation]?.lowercased() == "true" else { return }
        func refuse(_ what: String) -> VireoError {
            VireoError.invalid(.invalidFilter, "\(what) (collection '\(name)' has partitionkey.isolation: search one tenant at a time, e.g. \(key.name) == \(key.dataType == .varChar ? "\"a\"" : "1") and …)")
        }
        var equalities = 0
        func walk(_ e: FilterExpr) throws {
            if case let .logical(true, a, b) = e { try walk(a); try walk(b); return }
            guard e.fieldNames.contains(key.name) else { return }
            switch e {
            case let .compare("==", .field(f, []), .literal) where f == key.name: equalities += 1
            case let .compare("==", .literal, .field(f, [])) where f == key.name: equalities += 1
            case .member: throw refuse("partition key isolation does not support IN")
            case .logical(false, _, _): throw refuse("partition key isolation does not support OR")
            case .not: throw refuse("partition key isolation does not support NOT")
            default: throw refuse("partition key isolation only supports == on the partition key '\(key.name)'")
            }
        }
        if let filter { try walk(filter.root) }
        guard equalities > 0 else {
            throw refuse("partition key not found in expr or the expr is invalid when validating partition key isolation")
        }
        guard equalities == 1 else { throw refuse("partition key isolation does not support multiple partition key values in one search") }
    }

    /// The values `expr` restricts field `name` to, when it does so by `==` / `in` in every branch
    /// that matters (`and` keeps the narrower side, `or` needs both sides pinned); nil otherwise.
    static func pinnedValues(of name: String, in expr: FilterExpr) -> [JSONValue]? {
        switch expr {
        case let .compare("==", .field(f, []), .literal(v)) where f == name, let .compare("==", .literal(v), .field(f, [])) where f == name:
            return [v]
        case let .member(.field(f, []), .list(items), negated: false) where f == name:
            var out: [JSONValue] = []
            for item in items {
                guard case let .literal(v) = item else { return nil }
                out.append(v)
            }
            return out
        case let .logical(true, a, b):
            switch (pinnedValues(of: name, in: a), pinnedValues(of: name, in: b)) {
            case let (x?, y?): return x.filter { y.contains($0) }
            case let (x?, nil): return x
            case let (nil, y?): return y
            default: return nil
            }
        case let .logical(false, a, b):
            guard let x = pinnedValues(of: name, in: a), let y = pinnedValues(of: name, in: b) else { return nil }
            return x + y
        default:
            return nil
        }
    }

    /// Deletes every row whose partition is in `ids`.
    func deleteRows(inPartitions ids: Set<UInt16>) async throws {
        for shard in shards where !shard.snapshot.partitionsPresent.isDisjoint(with: ids) {
            _ = try await shard.submit(.deletePartitions(ids))
        }
    }

    /// At open: deletes rows of partitions whose drop committed but whose rows were not deleted yet
    /// (a crash in between). Synchronous, before the collection is handed out.
    func purgeDroppedPartitions() throws {
        let live = Set(partitionTable.withLock { $0.map(\.id) })
        for shard in shards {
            let orphans = shard.snapshot.partitionsPresent.subtracting(live)
            guard !orphans.isEmpty else { continue }
            _ = try shard.submitAndWait(.deletePartitions(orphans))
        }
    }
}
