import Foundation
import Synchronization

/// Milvus' collection property keys (`pkg/common/common.go`) and what Vireo does with them.
///
/// Milvus stores any key a client sets on a collection and checks the values of the keys it knows;
/// Vireo does the same (bounded in number and size):
/// - `collection.ttl.seconds` is honoured: rows expire that long after their insert (``RowExpiry``).
/// - `mmap.enabled` and `lazyload.enabled` are validated (`true`/`false`) and reported; Vireo's
///   storage is always memory-mapped through LMDB, so they change nothing.
/// - `collection.autocompaction.enabled` is validated and honoured: `false` stops the background
///   compactor for the collection (an explicit compact still runs).
/// - `partitionkey.isolation` is validated (needs a partition-key field, as in Milvus) and reported.
/// - `collection.replica.number` (a positive integer) and `collection.resource_groups` (a
///   comma-separated list) are stored and reported: one process serves one replica.
/// - Rate and quota keys (`collection.insertRate.max.mb`, …) are stored and reported.
public enum CollectionProperties {
    public static let ttlSeconds = "collection.ttl.seconds"
    public static let mmapEnabled = "mmap.enabled"
    public static let lazyLoadEnabled = "lazyload.enabled"
    public static let autoCompactionEnabled = "collection.autocompaction.enabled"
    public static let partitionKeyIsolation = "partitionkey.isolation"
    public static let replicaNumber = "collection.replica.number"
    /// Milvus' switch for the dynamic field; fixed at creation in Vireo (see ``Collection/alterProperties(set:delete:)``).
    public static let dynamicFieldEnabled = "dynamicfield.enabled"
    public static let resourceGroups = "collection.resource_groups"

    /// At most this many properties per collection, keys of 1…255 bytes, values ≤ 64 KiB.
    static let maxCount = 64
    static let maxValueBytes = 65_536

    /// The TTL in `properties` (0 when absent or not a valid number: stored values were validated).
    static func ttlSeconds(_ properties: [String: String]) -> Int64 {
        properties[ttlSeconds].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }.map { max(0, $0) } ?? 0
    }

    /// Parses Milvus' boolean property spelling (`true`/`false`, any case).
    static func bool(_ value: String) -> Bool? {
        switch value.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true": return true
        case "false": return false
        default: return nil
        }
    }

    /// Checks a whole set of properties (bounds, then each key).
    static func validate(_ properties: [String: String], hasPartitionKey: Bool, collection: String) throws {
        guard properties.count <= maxCount else {
            throw VireoError.invalid(.invalidArgument, "a collection takes at most \(maxCount) properties, got \(properties.count)")
        }
        for (k, v) in properties.sorted(by: { $0.key < $1.key }) { try validate(k, v, hasPartitionKey: hasPartitionKey, collection: collection) }
    }

    /// Checks `key` = `value` for a collection with (or without) a partition key.
    ///
    /// - Throws: ``VireoError/Code/invalidArgument`` with Milvus' message for the key.
    static func validate(_ key: String, _ value: String, hasPartitionKey: Bool, collection: String) throws {
        guard !key.isEmpty, key.utf8.count <= 255, value.utf8.count <= maxValueBytes else {
            throw VireoError.invalid(.invalidArgument, "collection property '\(key.prefix(64))': keys are 1-255 bytes and values at most \(maxValueBytes) bytes")
        }
        switch key {
        case ttlSeconds:
            guard let ttl = Int64(value.trimmingCharacters(in: .whitespaces)), ttl >= 0, ttl <= Int64.max / 1000 else {
                throw VireoError.invalid(.invalidArgument, "collection TTL is not a valid positive integer: '\(value)'; give \(ttlSeconds) as a whole number of seconds (0 disables expiry)")
            }
        case mmapEnabled, lazyLoadEnabled, autoCompactionEnabled:
            guard bool(value) != nil else {
                throw VireoError.invalid(.invalidArgument, "invalid \(key) value: '\(value)'; only true or false is valid")
            }
        case partitionKeyIsolation:
            guard let on = bool(value) else {
                throw VireoError.invalid(.invalidArgument, "invalid value for \(key): '\(value)'; only true or false is valid")
            }
            if on && !hasPartitionKey {
                throw VireoError.invalid(.invalidSchema, "partition key isolation mode is enabled but no partition key field is set. Please set the partition key first (collection '\(collection)')")
            }
        case replicaNumber:
            guard let n = Int(value.trimmingCharacters(in: .whitespaces)), n > 0 else {
                throw VireoError.invalid(.invalidArgument, "invalid \(key) value: '\(value)'; give a positive integer (Vireo serves one replica)")
            }
        default:
            break
        }
    }
}

extension Collection {
    /// The collection's properties (Milvus' `properties`), as stored.
    public var properties: [String: String] { propertyTable.withLock { $0 } }

    /// The time to live of rows (`collection.ttl.seconds`); nil when rows never expire.
    public var timeToLive: Duration? {
        let s = expiry.ttlSeconds
        return s > 0 ? .seconds(s) : nil
    }

    /// Whether the background compactor may compact this collection
    /// (`collection.autocompaction.enabled`, default true).
    var autoCompactionEnabled: Bool {
        properties[CollectionProperties.autoCompactionEnabled].flatMap(CollectionProperties.bool) ?? true
    }

    /// Sets the properties in `set` and removes the keys in `delete` (Milvus'
    /// `alter_collection_properties` / `drop_collection_properties`), durably. A new
    /// `collection.ttl.seconds` applies at once to every stored row (expiry is measured from each
    /// row's insert time); removing it stops expiry.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidArgument`` for an invalid value, both
    ///   `set` and `delete` given, or past the bounds on properties; a storage error.
    public func alterProperties(set: [String: String], delete: [String] = []) throws {
        guard set.isEmpty || delete.isEmpty else {
            throw VireoError.invalid(.invalidArgument, "cannot provide both DeleteKeys and ExtraParams; set and delete properties in two calls")
        }
        let hasKey = schema.partitionKey != nil
        for (k, v) in set { try CollectionProperties.validate(k, v, hasPartitionKey: hasKey, collection: name) }
        // Milvus 2.6 can turn the dynamic field on later; Vireo's row layout places `$meta` between
        // the fields a collection was created with and those added later, so it is fixed at
        // creation. Say so rather than store a property that changes nothing.
        if let v = set[CollectionProperties.dynamicFieldEnabled] {
            guard let on = CollectionProperties.bool(v) else {
                throw VireoError.invalid(.invalidArgument, "invalid \(CollectionProperties.dynamicFieldEnabled) value: '\(v)'; only true or false is valid")
            }
            guard on == schema.enableDynamicField else {
                throw VireoError.invalid(.invalidArgument, "\(CollectionProperties.dynamicFieldEnabled) cannot be changed on collection '\(name)' in Vireo (the dynamic field is \(schema.enableDynamicField ? "on" : "off") since creation); create a collection with enable_dynamic_field=\(on) and copy the rows, or add the keys as fields (add_collection_field)")
            }
        }
        for k in delete where k.isEmpty || k.utf8.count > 255 {
            throw VireoError.invalid(.invalidArgument, "collection property key '\(k.prefix(64))' is invalid: keys are 1-255 bytes")
        }
        try propertyChanges.withLock { _ in
            var updated = properties
            for k in delete { updated[k] = nil }
            updated.merge(set) { _, new in new }
            guard updated.count <= CollectionProperties.maxCount else {
                throw VireoError.invalid(.invalidArgument, "a collection takes at most \(CollectionProperties.maxCount) properties, this would make \(updated.count)")
            }
            let stored = updated
            try catalog.update("altering the properties") { $0.properties = stored.isEmpty ? nil : stored }
            propertyTable.withLock { $0 = stored }
            expiry.ttlSeconds = CollectionProperties.ttlSeconds(stored)
        }
    }

    // MARK: Field properties

    /// Milvus' field property keys that ``alterField(_:set:delete:)`` accepts.
    public static let fieldMaxLength = "max_length"
    public static let fieldMaxCapacity = "max_capacity"

    /// Changes properties of field `fieldName` (Milvus' `alter_collection_field`): `max_length` of a
    /// VarChar field (or an Array of VarChar), `max_capacity` of an Array field, `mmap.enabled` (also
    /// spelled `mmap_enabled`). New limits apply to later writes; stored rows are kept as they are
    /// (a lowered limit does not truncate them). Only `mmap.enabled` can be deleted.
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/unknownField`` or
    ///   ``VireoError/Code/invalidArgument`` (Milvus' messages).
    public func alterField(_ fieldName: String, set: [String: String], delete: [String] = []) throws {
        func bad(_ m: String) -> VireoError { .invalid(.invalidArgument, m) }
        func normalized(_ k: String) -> String { k == "mmap_enabled" ? CollectionProperties.mmapEnabled : k }
        try propertyChanges.withLock { _ in
            var schema = codec.schema
            guard let i = schema.fields.firstIndex(where: { $0.name == fieldName }) else {
                throw VireoError.invalid(.unknownField, "field '\(fieldName)' does not exist in collection '\(name)' (fields: \(schema.fields.map(\.name).joined(separator: ", ")))")
            }
            var field = schema.fields[i]
            for (key, value) in set.sorted(by: { $0.key < $1.key }) {
                let v = value.trimmingCharacters(in: .whitespaces)
                switch normalized(key) {
                case CollectionProperties.mmapEnabled:
                    guard let on = CollectionProperties.bool(v) else { throw bad("invalid mmap.enabled value: '\(value)'; only true or false is valid") }
                    field.mmapEnabled = on
                case Self.fieldMaxLength:
                    guard field.dataType == .varChar || (field.dataType == .array && field.elementType == .varChar) else {
                        throw bad("\(fieldName) can not modify the maxlength for non-string types")
                    }
                    guard let n = Int(v) else { throw bad("\(key) should be an integer, but got '\(value)'") }
                    guard n <= CollectionSchema.maxVarCharLength else {
                        throw bad("\(value) exceeds the maximum allowed value \(CollectionSchema.maxVarCharLength)")
                    }
                    guard n >= 1 else { throw bad("the maximum length of field \(fieldName) must be in [1, \(CollectionSchema.maxVarCharLength)], got \(n)") }
                    field.maxLength = n
                case Self.fieldMaxCapacity:
                    guard field.dataType == .array else { throw bad("\(fieldName) can not modify the maxcapacity for non-array types") }
                    guard let n = Int(v) else { throw bad("the value for \(key) of field \(fieldName) must be an integer") }
                    guard n > 0, n <= CollectionSchema.maxArrayCapacity else {
                        throw bad("the maximum capacity specified for a Array should be in (0, \(CollectionSchema.maxArrayCapacity)]")
                    }
                    field.maxCapacity = n
                default:
                    throw bad("\(key) does not allow update in collection field param")
                }
            }
            for key in delete {
                guard normalized(key) == CollectionProperties.mmapEnabled else { throw bad("\(key) is not allowed to drop in collection field param") }
                field.mmapEnabled = nil
            }
            if field.isPrimaryKey, let m = field.maxLength, m > CollectionSchema.maxPrimaryKeyLength {
                throw bad("primary key '\(fieldName)' takes a max_length of at most \(CollectionSchema.maxPrimaryKeyLength)")
            }
            schema.fields[i] = field
            let updated = schema
            try catalog.update("altering field '\(fieldName)'") { $0.schema.fields[i] = field }
            codecs.current = RowCodec(schema: updated)
        }
    }

    // MARK: Adding fields

    /// The most fields a collection has, as Milvus limits them (`proxy.maxFieldNum`).
    public static let maxFields = 64

    /// Adds a scalar field to the collection (Milvus' `add_collection_field`), without rewriting a
    /// row: rows stored before it read its default value (or null, without one), in query output and
    /// in filters (`f is null`, `f == default`); later writes may set it.
    ///
    /// The field must be nullable, and cannot be a primary key, a vector, a partition key or an
    /// auto-id field (Milvus' rules and messages).
    ///
    /// - Throws: ``VireoError`` with ``VireoError/Code/invalidSchema`` or
    ///   ``VireoError/Code/invalidArgument``.
    public func addField(_ field: FieldSchema) throws {
        func bad(_ m: String) -> VireoError { .invalid(.invalidSchema, m) }
        var field = field
        try CollectionSchema.validateFieldName(field.name)
        guard !field.isPrimaryKey else { throw bad("not support to add primary key field, field name = \(field.name)") }
        guard !field.dataType.isVector else { throw bad("not support to add vector field, field name = \(field.name)") }
        guard !field.isPartitionKey else { throw bad("not support to add partition key field, field name  = \(field.name)") }
        guard !field.autoID else { throw bad("The auto_id can only be specified on the primary key field") }
        guard field.nullable else { throw bad("added field must be nullable, please check it, field name = \(field.name)") }
        field.addedLater = true
        field.metric = nil
        let added = field
        try propertyChanges.withLock { _ in
            var schema = codec.schema
            guard schema.field(named: added.name) == nil, !(schema.enableDynamicField && added.name == CollectionSchema.dynamicFieldName) else {
                throw bad("duplicate field name: \(added.name)")
            }
            guard schema.fields.count < Self.maxFields else { throw bad("The number of fields has reached the maximum value \(Self.maxFields)") }
            schema.fields.append(added)
            schema.name = name
            try schema.validate()
            let updated = schema
            try catalog.update("adding field '\(added.name)'") { $0.schema.fields.append(added) }
            codecs.current = RowCodec(schema: updated)
        }
    }

    // MARK: Index properties

    /// Sets (or, with `delete`, removes) properties of the index named `indexName` (Milvus'
    /// `alter_index_properties` / `drop_index_properties`). Only `mmap.enabled` may be set (Vireo
    /// maps every index in place, so it is reported and changes nothing); build parameters (`M`,
    /// `nlist`, the metric, …) cannot change: drop the index and create it again.
    ///
    /// - Throws: ``VireoError`` when no index has that name, or for another key or a bad value.
    public func alterIndex(_ indexName: String, set: [String: String], delete: [String] = []) throws {
        guard set.isEmpty || delete.isEmpty else {
            throw VireoError.invalid(.invalidArgument, "cannot provide both DeleteKeys and ExtraParams; set and delete index properties in two calls")
        }
        for (key, value) in set {
            guard key == CollectionProperties.mmapEnabled else {
                throw VireoError.invalid(.invalidArgument, "\(key) is not a configable index property; only mmap.enabled can be altered (drop the index and create it again to change build parameters)")
            }
            guard CollectionProperties.bool(value) != nil else {
                throw VireoError.invalid(.invalidArgument, "invalid mmap.enabled value: '\(value)'; only true or false is valid")
            }
        }
        for key in delete where key != CollectionProperties.mmapEnabled {
            throw VireoError.invalid(.invalidArgument, "\(key) is not a configable index property; only mmap.enabled can be dropped")
        }
        try updateIndexProperties(named: indexName) { props in
            for k in delete { props[k] = nil }
            for (k, v) in set { props[k] = v }  // stored as given, as Milvus does
        }
    }
}
