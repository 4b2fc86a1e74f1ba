import Foundation
import Vireo

/// The transport-independent API: every Milvus operation Vireo serves, validated and executed in
/// one place. The REST adapter (and the gRPC adapter to come) translate their wire formats into
/// these typed calls and render the typed results; errors are ``APIError``s from ``ErrorTable``.
///
/// Handlers know no HTTP, JSON or protobuf. They hold the server-side state Milvus clients expect
/// that the embedded engine does not have: load states (``LoadStates``). Index names and metrics
/// live in the engine's catalog (``IndexSpec``).
public final class MilvusHandlers: Sendable {
    public let database: Database
    public let limits: ServerLimits
    let loads = LoadStates()
    let compactions = CompactionJobs()

    /// - Parameter stateDirectory: where an older server kept index names (`<data>/server` by
    ///   default); a file found there is moved into the catalog once and removed.
    public init(database: Database, limits: ServerLimits = ServerLimits(), stateDirectory: String? = "") {
        self.database = database
        self.limits = limits
        if let dir = stateDirectory.map({ $0.isEmpty ? database.path + "/server" : $0 }) {
            LegacyIndexNames.migrate(directory: dir, into: database)
        }
    }

    // MARK: Common checks

    /// The database a request names (`dbName` / `db_name` / gRPC `dbname` metadata), `default` when
    /// it names none; it must exist (Milvus code 800 otherwise). Transports run the request inside
    /// ``RequestScope/$database`` bound to the result.
    public func checkDatabase(_ name: String?) throws(APIError) -> String {
        guard let name, !name.isEmpty else { return Database.defaultDatabaseName }
        guard name.utf8.count <= 255 else { throw APIError.invalid("invalid database name '\(name.prefix(32))…': names have at most 255 characters") }
        guard database.hasDatabase(name) else { throw APIError.databaseNotFound(name) }
        return name
    }

    /// The database of the request being served.
    var currentDatabase: String { RequestScope.database }

    /// The collection `name` (its own name or an alias) in the request's database.
    func collection(_ name: String) throws -> Collection {
        try Self.checkCollectionName(name)
        return try database.collection(name, in: currentDatabase)
    }

    /// A collection (or alias) name from a request, checked against Milvus' naming rule before any
    /// lookup, so a malformed name is "Invalid collection name", not "not found" (as Milvus' proxy).
    static func checkCollectionName(_ name: String) throws {
        guard !name.isEmpty else { throw APIError.missing("collectionName") }
        try CollectionSchema.validateName(name, what: "collection name")
    }

    func loadedCollection(_ name: String) throws -> Collection {
        let c = try collection(name)
        guard loads.isLoaded(c) else { throw APIError.collectionNotLoaded(name) }
        return c
    }

    /// Runs `body`, converting every error through ``ErrorTable``.
    @inline(__always)
    func mapped<T>(_ op: OperationKind = .other, _ body: () async throws -> T) async throws(APIError) -> T {
        do { return try await body() } catch { throw ErrorTable.apiError(error, during: op) }
    }

    /// The schema of a collection (the REST adapter needs it to type JSON rows).
    public func schema(of name: String) throws(APIError) -> CollectionSchema {
        do { return try collection(name).schema } catch { throw ErrorTable.apiError(error) }
    }

    // MARK: Collections

    public func createCollection(_ call: CreateCollectionCall) async throws(APIError) {
        try await mapped {
            for ix in call.indexes {
                guard let f = call.schema.field(named: ix.fieldName) else {
                    throw APIError.invalid("index on '\(ix.fieldName)': no such field in the schema (fields: \(call.schema.fields.map(\.name).joined(separator: ", ")))")
                }
                // Validate the index before creating anything.
                let spec = try Self.indexSpec(ix, field: f, schema: call.schema).resolved(for: f.dataType)
                if f.dataType.isVector { try spec.validate(for: f) }
                try spec.validate(dimension: f.dimension ?? 1)
            }
            let c: Collection
            do {
                c = try database.createCollection(call.schema, in: currentDatabase, properties: call.properties)
            } catch let e as VireoError where e.code == .collectionAlreadyExists {
                // Milvus (rootcoord's createCollectionTask): creating a collection that exists with
                // the same parameters succeeds, so retried and concurrent creates are idempotent;
                // different parameters are refused. Its indexes follow the index rules (the same
                // one again is a no-op) and a load request loads it.
                let existing = try collection(call.schema.name)
                guard existing.schema == call.schema, existing.properties == call.properties else {
                    throw APIError(.unexpected, "create duplicate collection with different parameters, collection: \(call.schema.name); drop it first or choose another name", kind: .conflict)
                }
                for ix in call.indexes { try await createIndex(on: existing, ix) }
                if call.load && Self.indexesEveryVectorField(call) { loads.set(existing, loaded: true) }
                return
            }
            // Loaded on creation when asked and every vector field gets an index (see checkLoadable).
            loads.set(c, loaded: call.load && Self.indexesEveryVectorField(call))
            do {
                for ix in call.indexes { try await createIndex(on: c, ix) }
            } catch {
                // Creation with its indexes is one request: undo it so a corrected retry can succeed.
                try? database.dropCollection(call.schema.name, in: currentDatabase)
                loads.forget(c)
                throw error
            }
            // Asked to load, but a vector field has no index: Milvus keeps the collection and its
            // indexes, and its load step answers 1100 naming the field; so does Vireo.
            if call.load, !call.indexes.isEmpty, !Self.indexesEveryVectorField(call) { try checkLoadable(c) }
        }
    }

    public func describeCollection(_ name: String) async throws(APIError) -> CollectionDescription {
        try await mapped {
            let c = try collection(name)
            return CollectionDescription(schema: c.schema, indexes: try indexDescriptions(c),
                                         loadState: loads.isLoaded(c) ? .loaded : .notLoaded,
                                         partitionCount: c.listPartitions().count, id: c.id, createdAt: c.createdAt,
                                         database: c.databaseName, aliases: (try? database.listAliases(in: c.databaseName, collection: c.name)) ?? [],
                                         properties: c.properties)
        }
    }

    public func listCollections() -> [String] { database.listCollections(in: currentDatabase) }

    /// One line of `ShowCollections`: a collection's name, creation time and load state (unavailable
    /// collections are listed with no creation time, as not loaded).
    public struct CollectionSummary: Sendable {
        public var name: String
        public var createdAt: Date?
        public var loaded: Bool
    }

    /// Every collection, sorted by name; only the loaded ones with `loadedOnly` (Milvus' `ShowType.InMemory`).
    public func collectionSummaries(loadedOnly: Bool = false) -> [CollectionSummary] {
        database.listCollections(in: currentDatabase).compactMap { name in
            let c = try? database.collection(name, in: currentDatabase)
            let loaded = c.map { loads.isLoaded($0) } ?? false
            if loadedOnly && !loaded { return nil }
            return CollectionSummary(name: name, createdAt: c?.createdAt, loaded: loaded)
        }
    }

    public func hasCollection(_ name: String) throws(APIError) -> Bool {
        do { try Self.checkCollectionName(name) } catch { throw ErrorTable.apiError(error) }
        return database.hasCollection(name, in: currentDatabase)
    }

    /// Drops a collection. Dropping one that does not exist succeeds, as in Milvus (its rootcoord
    /// makes the drop idempotent), so a retried drop is not an error.
    public func dropCollection(_ name: String) async throws(APIError) {
        try await mapped {
            try Self.checkCollectionName(name)
            guard database.hasCollection(name, in: currentDatabase) else { return }
            let c = try? database.collection(name, in: currentDatabase)
            do {
                // An alias is refused here (Milvus: a collection is dropped by its own name).
                try database.dropCollection(name, in: currentDatabase)
            } catch let e as VireoError where e.code == .collectionNotFound {
                return  // dropped concurrently
            }
            if let c { loads.forget(c) }
        }
    }

    /// Live rows of a collection (exact; Milvus' `rowCount` may lag until a flush, Vireo's does not).
    public func collectionRowCount(_ name: String) async throws(APIError) -> Int {
        try await mapped { try collection(name).count() }
    }

    public func loadCollection(_ name: String) async throws(APIError) {
        try await mapped {
            let c = try collection(name)
            try checkLoadable(c)
            loads.set(c, loaded: true)
        }
    }

    /// Milvus' refresh load (after fields were added): a loaded collection already serves every
    /// field and row, so there is nothing to reload; one that is not loaded is refused, as in Milvus.
    public func refreshLoad(_ name: String) async throws(APIError) {
        try await mapped {
            let c = try collection(name)
            guard loads.isLoaded(c) else { throw APIError.collectionNotLoaded(name) }
        }
    }

    static func indexesEveryVectorField(_ call: CreateCollectionCall) -> Bool {
        let indexed = Set(call.indexes.map(\.fieldName))
        return call.schema.vectorFields.allSatisfy { indexed.contains($0.name) }
    }

    /// Milvus loads a collection only when every vector field has an index (its querycoord refuses
    /// otherwise, code 1100); Vireo could search unindexed fields exactly, but a client written
    /// against Milvus expects the refusal, and a field without an index is usually a forgotten one.
    func checkLoadable(_ c: Collection) throws {
        let indexed = Set(c.indexes.filter { !$0.kind.isScalar }.map(\.field))
        let missing = c.schema.vectorFields.map(\.name).filter { !indexed.contains($0) }
        guard missing.isEmpty else {
            throw APIError.invalid("index not found[collection=\(c.name)]: there is no vector index on field: [\(missing.joined(separator: " "))], please create index firstly (POST /v2/vectordb/indexes/create), then load collection '\(c.name)'")
        }
    }

    public func releaseCollection(_ name: String) async throws(APIError) {
        try await mapped {
            loads.set(try collection(name), loaded: false)
        }
    }

    public func loadState(_ name: String, partitions: [String]? = nil) async throws(APIError) -> LoadState {
        try await mapped {
            let c = try collection(name)
            guard loads.isLoaded(c) else { return .notLoaded }
            if let partitions, !loads.releasedPartitions(c).isDisjoint(with: partitions) { return .notLoaded }
            return .loaded
        }
    }

    public func flush(_ name: String) async throws(APIError) {
        try await mapped { try await collection(name).flush() }
    }

    // MARK: Entities

    /// Inserts rows (already typed against the schema); returns the count and primary keys.
    public func insert(_ name: String, rows: [Row], partition: String? = nil, upsert: Bool = false) async throws(APIError) -> Collection.WriteResult {
        try await mapped(.write) {
            let c = try collection(name)
            guard !rows.isEmpty else { throw APIError(.invalidInsertData, "'data' is empty; send at least one row") }
            guard rows.count <= limits.maxInsertRows else {
                throw APIError(.invalidInsertData, "\(rows.count) rows in one request; at most \(limits.maxInsertRows) are accepted — split the data into smaller batches")
            }
            let partition = partition.flatMap { $0.isEmpty ? nil : $0 }
            // Milvus' insert does not check stored keys, and its reads serve a key's newest row: an
            // insert of a stored key replaces it here (keys stay unique; `count(*)` counts it once).
            return upsert ? try await c.upsert(rows, partition: partition) : try await c.insert(rows, partition: partition, existing: .replace)
        }
    }

    /// Deletes the rows matching `filter`; returns how many were deleted.
    public func delete(_ name: String, filter: String, partition: String? = nil) async throws(APIError) -> Int {
        try await mapped(.byPrimaryKey) {
            let c = try collection(name)
            guard !filter.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw APIError.missing("filter", "delete needs a filter expression, e.g. \"id in [1, 2]\" (an empty filter would delete everything)")
            }
            return try await c.delete(filter: filter, partition: partition.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    public func get(_ name: String, ids: [PrimaryKey], outputFields: [String]? = nil, partitions: [String]? = nil) async throws(APIError) -> [Row] {
        try await mapped(.byPrimaryKey) {
            let c = try loadedCollection(name)
            return try c.get(ids: ids, outputFields: withPrimaryKey(outputFields ?? ["*"], c.schema), partitions: try readPartitions(c, partitions))
        }
    }

    /// The stored vectors of rows given by primary key, in the order given (search by primary keys);
    /// a key that names no row is an error. At most ``ServerLimits/maxNQ`` keys.
    public func vectors(of ids: [PrimaryKey], in name: String, field: String?, partitions: [String]? = nil) async throws(APIError) -> [[Float]] {
        try await mapped(.byPrimaryKey) {
            let c = try loadedCollection(name)
            guard !ids.isEmpty else { throw APIError.missing("ids", "give at least one primary key to search with") }
            guard ids.count <= limits.maxNQ else {
                throw APIError.invalid("\(ids.count) primary keys in one search; at most \(limits.maxNQ) (nq) are accepted")
            }
            let vectorField = try vectorField(c.schema, field)
            let rows = try c.get(ids: ids, outputFields: [c.schema.primaryKey.name, vectorField.name], partitions: try readPartitions(c, partitions))
            var byKey: [PrimaryKey: [Float]] = [:]
            var withoutVector: Set<PrimaryKey> = []
            for row in rows {
                if row[vectorField.name] == .null, let key = row[c.schema.primaryKey.name] {
                    if case let .int(i) = key { withoutVector.insert(.int(i)) } else if case let .string(s) = key { withoutVector.insert(.string(s)) }
                    continue
                }
                guard let value = row[vectorField.name], let v = Self.queryFloats(value, field: vectorField) else { continue }
                switch row[c.schema.primaryKey.name] {
                case let .int(i)?: byKey[.int(i)] = v
                case let .string(s)?: byKey[.string(s)] = v
                default: continue
                }
            }
            return try ids.map { id in
                if withoutVector.contains(id) {
                    throw APIError.invalid("primary key \(id) has no vector in nullable field '\(vectorField.name)' (it is null): search by primary keys needs rows whose vector is set")
                }
                guard let v = byKey[id] else {
                    throw APIError.invalid("primary key \(id) is not in collection '\(name)' (or not in the partitions searched): search by primary keys needs existing rows")
                }
                return v
            }
        }
    }

    public func query(_ call: QueryCall) async throws(APIError) -> QueryOutcome {
        try await mapped {
            let c = try loadedCollection(call.collection)
            let partitions = try readPartitions(c, call.partitions)
            let filter = call.filter.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
            if call.outputFields.contains(where: { $0.lowercased() == "count(*)" }) {
                guard call.outputFields.count == 1 else {
                    throw APIError.invalid("count(*) must be the only output field; query the other fields separately")
                }
                return .count(try await c.count(QueryRequest(filter: filter, partitions: partitions, ignoreGrowing: call.ignoreGrowing)))
            }
            // Compared without adding: limit and offset come from the request and may be any Int.
            // Milvus' messages (proxy validateMaxQueryResultWindow), with its code 65535.
            guard call.offset >= 0 else {
                throw APIError.outOfRange("offset [\(call.offset)] is invalid, should be gte than 0")
            }
            guard call.limit >= 1 else {
                throw APIError.outOfRange("limit [\(call.limit)] is invalid, should be greater than 0")
            }
            guard call.limit <= limits.maxQueryWindow, call.offset <= limits.maxQueryWindow - call.limit else {
                throw APIError.outOfRange("invalid max query result window, (offset+limit) should be in range [1, \(limits.maxQueryWindow)], but got \(call.limit.addingSaturated(call.offset)) (use a filter on the primary key to page further)")
            }
            let fields = call.outputFields.isEmpty ? ["*"] : call.outputFields
            return .rows(try await c.query(QueryRequest(filter: filter, outputFields: withPrimaryKey(fields, c.schema), limit: call.limit,
                                                        offset: call.offset, partitions: partitions, maxResultBytes: limits.maxResultBytes,
                                                        ignoreGrowing: call.ignoreGrowing)))
        }
    }

    public func search(_ call: SearchCall) async throws(APIError) -> [[SearchHit]] {
        try await mapped {
            let c = try loadedCollection(call.collection)
            try checkSearchShape(call)
            var request = try engineRequest(call, outputFields: call.outputFields, schema: c.schema)
            request.partitions = try readPartitions(c, call.partitions)
            return try await c.search(request)
        }
    }

    public func hybridSearch(_ call: HybridSearchCall) async throws(APIError) -> [[SearchHit]] {
        try await mapped {
            let c = try loadedCollection(call.collection)
            guard !call.searches.isEmpty else {
                // Milvus' proxy words (clients match on them), then what to do.
                throw APIError.invalid("nq [0] is invalid, nq (number of search vector per search request) should be in range [1, \(limits.maxNQ)], but got 0: hybrid_search needs at least one search request")
            }
            let window = call.limit.addingSaturated(call.offset)
            guard call.limit >= 1, call.offset >= 0, window <= limits.maxTopK else {
                throw APIError.searchWindow("invalid max query result window, (offset+limit) should be in range [1, \(limits.maxTopK)], but got \(window)")
            }
            var searches: [SearchRequest] = []
            var hits = 0
            for var s in call.searches {
                s.partitions = s.partitions ?? call.partitions
                try checkSearchShape(s)
                hits += s.queryCount * (s.limit + s.offset)
                try checkHitBudget(hits)
                var request = try engineRequest(s, outputFields: [], schema: c.schema)
                request.partitions = try readPartitions(c, s.partitions)
                searches.append(request)
            }
            // Fusion (RRF / weighted, with each field's index metric) is the engine's.
            return try await c.hybridSearch(HybridSearchRequest(searches: searches, ranker: call.rerank, limit: call.limit, offset: call.offset,
                                                                outputFields: call.outputFields.isEmpty ? [] : withPrimaryKey(call.outputFields, c.schema)))
        }
    }

    private func checkSearchShape(_ call: SearchCall) throws {
        guard call.queryCount > 0 else { throw APIError.missing("data", "give at least one query vector") }
        guard call.queryCount <= limits.maxNQ else {
            throw APIError.invalid("nq (number of search vector per search request) should be in range [1, \(limits.maxNQ)], but got \(call.queryCount): send at most \(limits.maxNQ) query vectors per search")
        }
        try checkTopK(limit: call.limit, offset: call.offset)
        try checkHitBudget(call.queryCount * (call.limit + call.offset))  // each factor ≤ 16,384 here
        if let g = call.grouping, (1...SearchGrouping.maxSize).contains(g.size) {
            // A grouping search returns up to group_size hits per group.
            try checkHitBudget(call.queryCount * (call.limit + call.offset) * g.size)
        }
    }

    /// A search's limit and offset, with Milvus' messages and code 65535 over gRPC, 1100 over REST
    /// (proxy parseSearchInfo: topk, offset and offset + topk each in [1, 16,384]).
    private func checkTopK(limit: Int, offset: Int) throws {
        let max = limits.maxTopK
        guard limit >= 1, limit <= max else {
            throw APIError.searchWindow("topk [\(limit)] is invalid, it should be in range [1, \(max)], but got \(limit)")
        }
        guard offset >= 0, offset <= max else {
            throw APIError.searchWindow("offset [\(offset)] is invalid, it should be in range [1, \(max)], but got \(offset)")
        }
        guard offset <= max - limit else {
            throw APIError.searchWindow("offset+topk [\(offset + limit)] is invalid, it should be in range [1, \(max)], but got \(offset + limit)")
        }
    }

    /// Refuses a search whose nq × (limit + offset) passes ``ServerLimits/maxSearchHits``.
    private func checkHitBudget(_ hits: Int) throws {
        guard hits <= limits.maxSearchHits else {
            throw APIError.invalid("this search asks for \(hits) hits (nq × (limit + offset)); at most \(limits.maxSearchHits) are served per request — send fewer query vectors per call or a smaller limit")
        }
    }

    private func vectorField(_ schema: CollectionSchema, _ name: String?) throws -> FieldSchema {
        if let name {
            guard let f = schema.field(named: name), f.dataType.isAnyVector else {
                throw APIError.invalid("annsField '\(name)' is not a vector field of collection '\(schema.name)' (vector fields: \(schema.fields.filter(\.dataType.isAnyVector).map(\.name).joined(separator: ", ")))")
            }
            return f
        }
        let all = schema.fields.filter(\.dataType.isAnyVector)
        guard all.count == 1 else {
            throw APIError.invalid("collection '\(schema.name)' has \(all.count) vector fields; name the one to search with annsField (\(all.map(\.name).joined(separator: ", ")))")
        }
        return all[0]
    }

    /// The engine's request for a validated search call. The metric a call names is checked by the
    /// engine against the field's index (Milvus' "metric type not match").
    private func engineRequest(_ call: SearchCall, outputFields: [String], schema: CollectionSchema) throws -> SearchRequest {
        let field = try vectorField(schema, call.annsField)
        let filter = call.filter.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        let o = call.options
        var request = SearchRequest(vectors: call.vectors, annsField: field.name, limit: call.limit, metric: o.metric, outputFields: outputFields,
                                    params: SearchParameters(ef: o.ef, nprobe: o.nprobe, refineK: o.refineK, exact: o.exact, ignoreGrowing: o.ignoreGrowing), filter: filter,
                                    offset: call.offset)
        request.sparseVectors = call.sparseVectors
        request.texts = call.texts
        request.params.dropRatio = o.dropRatio
        request.maxResultBytes = limits.maxResultBytes
        request.range = o.range
        request.grouping = call.grouping
        request.scoreBeyond = call.iteratorBound
        // The candidates a range or grouping search may examine share the hit budget of the call.
        request.maxCandidates = limits.maxSearchHits / max(1, call.queryCount)
        return request
    }

    /// Milvus always returns the primary key with query and get rows.
    private func withPrimaryKey(_ fields: [String], _ schema: CollectionSchema) -> [String] {
        fields.contains("*") || fields.contains(schema.primaryKey.name) ? fields : fields + [schema.primaryKey.name]
    }

    // MARK: Indexes

    public func createIndexes(_ name: String, _ indexes: [IndexRequest]) async throws(APIError) {
        try await mapped {
            let c = try collection(name)
            guard !indexes.isEmpty else { throw APIError.missing("indexParams", "give at least one index") }
            for ix in indexes { try await createIndex(on: c, ix) }
        }
    }

    private func createIndex(on c: Collection, _ ix: IndexRequest) async throws {
        let f: FieldSchema
        if let declared = c.schema.field(named: ix.fieldName) {
            f = declared
        } else if c.schema.enableDynamicField, ix.textParams["json_path"] != nil, ix.fieldName != CollectionSchema.dynamicFieldName {
            // A key of the dynamic field ($meta) indexed by path, as Milvus 2.6 allows: the key is
            // a JSON document of its own, named as filters name it (`key["a"]`).
            f = FieldSchema(name: ix.fieldName, dataType: .json)
        } else {
            throw APIError.invalid("field '\(ix.fieldName)' is not in collection '\(c.name)' (fields: \(c.schema.fields.map(\.name).joined(separator: ", ")))")
        }
        // The metric and name travel in the spec; the engine keeps both in the catalog record.
        var spec = try Self.indexSpec(ix, field: f, schema: c.schema)
        if spec.jsonPath != nil {
            // A JSON field takes several path indexes, told apart by name (Milvus 2.6): the same
            // index again is a no-op, another one under a taken name is refused.
            if let existing = c.indexes.first(where: { $0.indexName == spec.indexName }) {
                var a = spec, b = existing
                a.isAutoIndex = nil
                b.isAutoIndex = nil
                a.name = nil
                b.name = nil
                a.requestParams = nil
                b.requestParams = nil
                if a == b { return }
                throw APIError.invalid("CreateIndex failed: at most one distinct index is allowed per field: index '\(existing.indexName)' already exists on field '\(existing.field)'\(existing.jsonPath.map { " (json_path \($0.path), json_cast_type \($0.castType.rawValue))" } ?? ""); give this index another index_name, or drop that one first")
            }
            try await c.createIndex(spec)
            return
        }
        if let existing = c.indexes.first(where: { $0.field == f.name }) {
            // Milvus: one index per field; the same one again is a no-op, another is refused until
            // the first is dropped. (The Swift API's createIndex replaces instead.)
            if spec.metric == nil { spec.metric = existing.metric }
            var a = spec, b = existing
            a.name = nil
            b.name = nil
            a.isAutoIndex = nil  // AUTOINDEX is HNSW with defaults: the same index
            b.isAutoIndex = nil
            a.requestParams = nil  // the same parameters may be spelled differently
            b.requestParams = nil
            if a == b { return }
            throw APIError.invalid("CreateIndex failed: at most one distinct index is allowed per field: field '\(f.name)' already has index '\(existing.indexName)' (\(existing.milvusIndexType)\(existing.metric.map { ", metric \($0)" } ?? "")); release the collection and drop that index first to create another")
        }
        try await c.createIndex(spec)
    }

    /// The engine's index for a request: `AUTOINDEX` is HNSW on a vector field and INVERTED on a
    /// scalar field (Milvus picks per type too).
    static func indexSpec(_ ix: IndexRequest, field f: FieldSchema, schema: CollectionSchema) throws -> IndexSpec {
        let auto = ix.indexType.uppercased() == "AUTOINDEX"
        if f.dataType == .json {
            // Milvus 2.6 indexes a JSON field by path: INVERTED (AUTOINDEX picks it) with json_path
            // and json_cast_type (indexparamcheck's INVERTEDChecker).
            // INVERTED, STL_SORT and BITMAP are accepted as Milvus accepts them; Vireo serves each
            // with its JSON path structure (the cast values sorted by row), which answers the same
            // filters, and describes the index by the type it was created with.
            let kinds: [String: IndexSpec.Kind] = ["AUTOINDEX": .inverted, "INVERTED": .inverted, "STL_SORT": .stlSort, "BITMAP": .bitmap]
            guard let kind = kinds[ix.indexType.uppercased()] else {
                throw APIError.invalid("index type \(ix.indexType) cannot index JSON field '\(f.name)': create an INVERTED, STL_SORT, BITMAP (or AUTOINDEX) index with json_path and json_cast_type")
            }
            let path = try JSONPathIndex(field: f.name, schema: schema, path: ix.textParams["json_path"],
                                         castType: ix.textParams["json_cast_type"], castFunction: ix.textParams["json_cast_function"])
            // Unnamed path indexes are named after their path (Milvus: `field/a/b`), so one field
            // takes several without names; the whole document keeps the field's name.
            let name = ix.indexName.flatMap { $0.isEmpty ? nil : $0 } ?? (path.pointer.isEmpty ? nil : f.name + path.pointer)
            var spec = IndexSpec(field: f.name, kind: kind, name: name)
            spec.jsonPath = path
            if auto { spec.isAutoIndex = true }
            spec.requestParams = ix.requestParams
            return spec
        }
        if f.dataType.isSparseVector {
            // SPARSE_INVERTED_INDEX (AUTOINDEX picks it) or SPARSE_WAND, metric IP or BM25.
            var spec = try IndexSpec(field: f.name, milvusIndexType: auto ? "SPARSE_INVERTED_INDEX" : ix.indexType, metric: ix.metric,
                                     name: ix.indexName.flatMap { $0.isEmpty ? nil : $0 })
            guard spec.kind.isSparse else {
                throw APIError.invalid("data type SparseFloatVector can't build with this index \(spec.kind.rawValue): field '\(f.name)' takes SPARSE_INVERTED_INDEX, SPARSE_WAND or AUTOINDEX")
            }
            spec.sparse = try SparseIndexConfiguration(params: ix.textParams.filter { MilvusParams.sparseIndexParams.contains($0.key) }, kind: spec.kind)
            if auto { spec.isAutoIndex = true }
            spec.requestParams = ix.requestParams
            return spec
        }
        let type = !f.dataType.isVector && auto ? "INVERTED" : ix.indexType
        // Milvus' default metric for a float-vector index is COSINE; nil lets the engine keep the
        // metric of an index the field already has.
        var spec = try IndexSpec(field: f.name, milvusIndexType: type, params: ix.params, metric: f.dataType.isVector ? ix.metric : nil,
                                 name: ix.indexName.flatMap { $0.isEmpty ? nil : $0 })
        try spec.applyQuantizationParams(ix.textParams.filter { MilvusParams.quantizationIndexParams.contains($0.key) })
        if auto { spec.isAutoIndex = true }
        spec.requestParams = ix.requestParams
        return spec
    }

    /// A stored vector as read back (floats, int8 integers, or FLOAT16/BFLOAT16/BINARY bytes) as the
    /// float32 query a search by primary key uses.
    static func queryFloats(_ v: FieldValue, field: FieldSchema) -> [Float]? {
        switch v {
        case let .floatVector(x): return x
        case let .array(items): return items.map { if case let .int(i) = $0 { return Float(i) } else { return 0 } }
        case let .vectorBytes(b):
            guard let e = VectorElement(field.dataType), let d = field.dimension, b.count == e.bytesPerVector(dim: d) else { return nil }
            return e.floats(b, dim: d)
        default: return nil
        }
    }

    private func indexDescriptions(_ c: Collection) throws -> [IndexDescription] {
        try c.indexes.map { spec in
            let status = try c.indexStatus(field: spec.field)
            let metric = spec.metric
            var params: [String: Int] = [:]
            switch spec.kind {
            case .flat, .inverted, .stlSort, .trie, .bitmap: break
            case .binFlat: break
            case .hnsw, .hnswSQ: params = ["M": spec.hnsw.M, "efConstruction": spec.hnsw.efConstruction]
            case .ivfFlat, .binIvfFlat, .ivfSQ8: params = ["nlist": spec.ivf.nlist]
            case .ivfPQ: params = ["nlist": spec.ivf.nlist, "m": spec.ivf.m, "nbits": spec.ivf.nbits]
            case .sparseInvertedIndex, .sparseWAND: break
            }
            let total = status.totalRows + status.growingRows
            var text: [String: String] = [:]
            if let path = spec.jsonPath {
                // Milvus reports a JSON path index with the parameters it was created with.
                text = ["json_path": path.path, "json_cast_type": path.castType.rawValue]
                if let f = path.castFunction { text["json_cast_function"] = f }
            }
            if spec.kind == .hnswSQ {
                text["sq_type"] = spec.hnsw.sqType ?? "SQ8"
                text["refine"] = spec.hnsw.refine == true ? "true" : "false"
                if let t = spec.hnsw.refineType { text["refine_type"] = t }
            }
            if let sparse = spec.sparse {
                text["inverted_index_algo"] = sparse.algorithm
                if spec.metric == .bm25 {
                    text["bm25_k1"] = String(sparse.bm25K1)
                    text["bm25_b"] = String(sparse.bm25B)
                }
            }
            return IndexDescription(indexName: spec.indexName, fieldName: spec.field,
                                    indexType: spec.milvusIndexType, metric: metric, params: params,
                                    totalRows: total, indexedRows: status.indexedRows, pendingRows: total - status.indexedRows,
                                    finished: status.isFinished, properties: spec.properties ?? [:], textParams: text,
                                    requestParams: spec.requestParams)
        }
    }

    public func listIndexes(_ name: String) async throws(APIError) -> [String] {
        try await mapped { try indexDescriptions(try collection(name)).map(\.indexName) }
    }

    /// Indexes named `indexName` (all indexes when nil or empty).
    public func describeIndex(_ name: String, indexName: String?) async throws(APIError) -> [IndexDescription] {
        try await mapped {
            let all = try indexDescriptions(try collection(name))
            guard let indexName, !indexName.isEmpty else { return all }
            let found = all.filter { $0.indexName == indexName }
            guard !found.isEmpty else {
                throw APIError(.indexNotFound, "index not found[indexName=\(indexName)] in collection '\(name)' (indexes: \(all.map(\.indexName).joined(separator: ", ")))", kind: .notFound)
            }
            return found
        }
    }

    /// Drops an index. (Milvus requires the collection released first; Vireo does not, since
    /// searches fall back to exact.)
    public func dropIndex(_ name: String, indexName: String) async throws(APIError) {
        try await mapped {
            let c = try collection(name)
            guard !indexName.isEmpty else { throw APIError.missing("indexName") }
            // An index that does not exist is already dropped: success, as Milvus' datacoord answers.
            guard c.indexes.contains(where: { $0.indexName == indexName }) else { return }
            try await c.dropIndex(named: indexName)
        }
    }

    // MARK: Partitions

    /// The partitions a read covers: the named ones (each must exist and be loaded: 200 / 201, as
    /// Milvus), or — when none are named — every loaded partition (nil when all are loaded).
    func readPartitions(_ c: Collection, _ names: [String]?) throws -> [String]? {
        let released = loads.releasedPartitions(c)
        if let names, !names.isEmpty {
            for p in names {
                guard c.hasPartition(p) else { throw c.partitionNotFoundError(p) }
                if released.contains(p) {
                    throw APIError(.partitionNotLoaded, "partition not loaded[partition=\(p)] in collection '\(c.name)': load it first (POST /v2/vectordb/partitions/load)", kind: .unavailable)
                }
            }
            return names
        }
        guard !released.isEmpty else { return nil }
        let loaded = c.listPartitions().filter { !released.contains($0) }
        guard !loaded.isEmpty else { throw APIError.collectionNotLoaded(c.name) }
        return loaded
    }
}

extension Collection {
    func partitionNotFoundError(_ p: String) -> APIError {
        APIError(.partitionNotFound, "partition not found[partition=\(p)] in collection '\(name)' (partitions: \(listPartitions().joined(separator: ", ")))", kind: .notFound)
    }
}

/// The per-request context the handlers read: the database a request addresses. The REST and gRPC
/// adapters bind it (after ``MilvusHandlers/checkDatabase(_:)``) around each request, so every
/// handler resolves collection names in the request's database without each signature carrying it.
public enum RequestScope {
    @TaskLocal public static var database: String = Database.defaultDatabaseName
}
