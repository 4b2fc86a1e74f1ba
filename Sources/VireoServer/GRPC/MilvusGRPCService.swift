import Foundation
import GRPCCore
import Logging
import Synchronization
import SwiftProtobuf
import Vireo
import VireoMilvusProto

/// Per-call values the transport puts in gRPC metadata (pymilvus sends the database as `dbname`);
/// ``MilvusGRPCInterceptor`` binds them for the duration of a call.
enum GRPCCallContext {
    @TaskLocal static var dbName: String?
}

/// A response message with a Milvus `Status`.
protocol MilvusStatusResponse: Sendable {
    init()
    var milvusStatus: PStatus { get set }
    /// Whether the response's `status` field is present on the wire. Milvus always sends it (`status {}`
    /// on success); the Node, Go and Java SDKs read `status.error_code` and fail when it is absent.
    var hasMilvusStatus: Bool { get }
}

/// Milvus' `MilvusService` over gRPC: each RPC translates its protobuf request into the same
/// ``MilvusHandlers`` call the REST adapter makes, and the typed result back into protobuf.
///
/// As in Milvus, errors travel in the response `Status` (gRPC OK, Milvus code, reason, legacy
/// `error_code`) — never as gRPC errors, which pymilvus would retry. Authentication happens in
/// ``MilvusGRPCInterceptor`` (gRPC `UNAUTHENTICATED`, which pymilvus does not retry). RPCs of
/// `MilvusService` that are not declared in `proto/milvus.proto` answer `UNIMPLEMENTED`.
struct MilvusGRPCService: Milvus_Proto_Milvus_MilvusService.SimpleServiceProtocol {
    let handlers: MilvusHandlers
    let logger: Logger
    /// Identifies this server process in `Connect` (clients echo it as metadata).
    let identifier = Int64.random(in: 1...Int64.max)
    static let version = "v2.6.0"

    // MARK: Plumbing

    /// Runs one RPC: the database check, the body, the error table, metrics and the request log.
    /// `db` is the request's `db_name` field; when empty, the `dbname` metadata names the database
    /// (pymilvus sends both after `using_database`, only the metadata with `MilvusClient(db_name:)`).
    func call<R: MilvusStatusResponse>(_ method: String, _ op: OperationKind = .other, checkDatabase: Bool = true, db: String = "",
                                               _ body: () async throws -> R) async -> R {
        let started = ContinuousClock.now
        var response: R
        var failure: APIError?
        do {
            let database = checkDatabase ? try handlers.checkDatabase(db.isEmpty ? GRPCCallContext.dbName : db) : Database.defaultDatabaseName
            response = try await RequestScope.$database.withValue(database) { try await body() }
            if !response.hasMilvusStatus { response.milvusStatus = PStatus() }
        } catch {
            let e = ErrorTable.apiError(error, during: op)
            failure = e
            response = R()
            response.milvusStatus = ProtoConversions.status(e)
        }
        let elapsed = ContinuousClock.now - started
        let endpoint = "grpc/" + method
        ServerMetrics.record(endpoint: endpoint, code: failure?.code.rawValue ?? 0, duration: elapsed)
        if let failure {
            let meta: Logger.Metadata = ["endpoint": "\(endpoint)", "code": "\(failure.code)", "message": "\(failure.message)"]
            if failure.kind == .internal { logger.error("request failed", metadata: meta) } else { logger.info("request rejected", metadata: meta) }
        } else {
            logger.debug("request", metadata: ["endpoint": "\(endpoint)", "ms": "\(elapsed)"])
        }
        return response
    }

    private static func ok<R: MilvusStatusResponse>(_ type: R.Type = R.self) -> R { R() }

    private func schema(_ collection: String) throws -> CollectionSchema {
        try handlers.schema(of: collection)
    }

    // MARK: Session and server

    func connect(request: Milvus_Proto_Milvus_ConnectRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ConnectResponse {
        await call("Connect") {
            var r = Milvus_Proto_Milvus_ConnectResponse()
            var info = Milvus_Proto_Common_ServerInfo()
            info.buildTags = "vireo"
            info.deployMode = "STANDALONE"
            info.reserved = ["server": "vireo", "version": Self.version]
            r.serverInfo = info
            r.identifier = identifier
            r.status = PStatus()
            return r
        }
    }

    func getVersion(request: Milvus_Proto_Milvus_GetVersionRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetVersionResponse {
        await call("GetVersion", checkDatabase: false) {
            var r = Milvus_Proto_Milvus_GetVersionResponse()
            r.version = Self.version
            return r
        }
    }

    func checkHealth(request: Milvus_Proto_Milvus_CheckHealthRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_CheckHealthResponse {
        await call("CheckHealth", checkDatabase: false) {
            var r = Milvus_Proto_Milvus_CheckHealthResponse()
            r.isHealthy = true
            return r
        }
    }

    /// A hybrid timestamp as Milvus makes them (physical milliseconds << 18 | a logical counter).
    func allocTimestamp(request: Milvus_Proto_Milvus_AllocTimestampRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_AllocTimestampResponse {
        await call("AllocTimestamp", checkDatabase: false) {
            var r = Milvus_Proto_Milvus_AllocTimestampResponse()
            r.timestamp = Self.hybridTimestamp()
            return r
        }
    }

    private static let logical = Atomic<UInt64>(0)

    /// Milliseconds since the Unix epoch (0 for no date).
    static func utcMilliseconds(_ date: Date?) -> UInt64 {
        guard let date else { return 0 }
        return UInt64(max(0, date.timeIntervalSince1970 * 1000))
    }

    /// A date as a Milvus hybrid timestamp (physical milliseconds << 18, logical 0).
    static func hybridTimestamp(of date: Date?) -> UInt64 { utcMilliseconds(date) << 18 }

    static func hybridTimestamp() -> UInt64 {
        let ms = UInt64(max(0, Date().timeIntervalSince1970 * 1000))
        let l = logical.add(1, ordering: .relaxed).newValue & 0x3FFFF
        return ms << 18 | l
    }

    // MARK: Collections

    func createCollection(request: Milvus_Proto_Milvus_CreateCollectionRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateCollection", db: request.dbName) {
            let schema = try ProtoConversions.collectionSchema(request)
            // Milvus creates collections released; pymilvus then creates the indexes and loads.
            try await handlers.createCollection(CreateCollectionCall(schema: schema, indexes: [], load: false,
                                                                     properties: Self.properties(request.properties)))
            return PStatus()
        }
    }

    func dropCollection(request: Milvus_Proto_Milvus_DropCollectionRequest, context: ServerContext) async throws -> PStatus {
        await call("DropCollection", db: request.dbName) {
            try await handlers.dropCollection(request.collectionName)
            return PStatus()
        }
    }

    func hasCollection(request: Milvus_Proto_Milvus_HasCollectionRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_BoolResponse {
        await call("HasCollection", db: request.dbName) {
            var r = Milvus_Proto_Milvus_BoolResponse()
            r.value = try handlers.hasCollection(request.collectionName)
            return r
        }
    }

    func describeCollection(request: Milvus_Proto_Milvus_DescribeCollectionRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_DescribeCollectionResponse {
        await call("DescribeCollection", db: request.dbName) {
            let d = try await handlers.describeCollection(request.collectionName)
            var r = Milvus_Proto_Milvus_DescribeCollectionResponse()
            r.schema = ProtoConversions.protoSchema(d.schema)
            r.collectionName = d.schema.name
            r.collectionID = Self.collectionID(d.id)
            r.shardsNum = Int32(d.schema.shardsNum)
            r.numPartitions = Int64(d.partitionCount)
            r.consistencyLevel = ProtoConversions.consistencyLevel(named: d.schema.consistencyLevel)
            r.dbName = d.database
            r.aliases = d.aliases
            r.createdTimestamp = Self.hybridTimestamp(of: d.createdAt)
            r.createdUtcTimestamp = Self.utcMilliseconds(d.createdAt)
            r.properties = d.properties.sorted { $0.key < $1.key }.map { Self.kv($0.key, $0.value) }
            return r
        }
    }

    func showCollections(request: Milvus_Proto_Milvus_ShowCollectionsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ShowCollectionsResponse {
        await call("ShowCollections", db: request.dbName) {
            var r = Milvus_Proto_Milvus_ShowCollectionsResponse()
            var listed = handlers.collectionSummaries(loadedOnly: request.type == .inMemory)
            if !request.collectionNames.isEmpty {
                let wanted = Set(request.collectionNames)
                listed = listed.filter { wanted.contains($0.name) }
            }
            r.collectionNames = listed.map(\.name)
            r.collectionIds = listed.map { Self.collectionID(handlers.collectionID(named: $0.name) ?? 0) }
            r.createdTimestamps = listed.map { Self.hybridTimestamp(of: $0.createdAt) }
            r.createdUtcTimestamps = listed.map { Self.utcMilliseconds($0.createdAt) }
            r.inMemoryPercentages = listed.map { $0.loaded ? 100 : 0 }
            r.queryServiceAvailable = listed.map(\.loaded)
            return r
        }
    }

    func renameCollection(request: Milvus_Proto_Milvus_RenameCollectionRequest, context: ServerContext) async throws -> PStatus {
        await call("RenameCollection", db: request.dbName) {
            try await handlers.renameCollection(request.oldName, to: request.newName, newDatabase: request.newDbname)
            return PStatus()
        }
    }

    func getCollectionStatistics(request: Milvus_Proto_Milvus_GetCollectionStatisticsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetCollectionStatisticsResponse {
        await call("GetCollectionStatistics", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetCollectionStatisticsResponse()
            r.stats = [Self.kv("row_count", String(try await handlers.collectionRowCount(request.collectionName)))]
            return r
        }
    }

    static func kv(_ k: String, _ v: String) -> PKeyValue {
        var p = PKeyValue()
        p.key = k
        p.value = v
        return p
    }

    func loadCollection(request: Milvus_Proto_Milvus_LoadCollectionRequest, context: ServerContext) async throws -> PStatus {
        await call("LoadCollection", db: request.dbName) {
            try await handlers.loadCollection(request.collectionName)
            return PStatus()
        }
    }

    func releaseCollection(request: Milvus_Proto_Milvus_ReleaseCollectionRequest, context: ServerContext) async throws -> PStatus {
        await call("ReleaseCollection", db: request.dbName) {
            try await handlers.releaseCollection(request.collectionName)
            return PStatus()
        }
    }

    /// Vireo loads nothing (segments are used from the memory map), so progress is 100 as soon as a
    /// collection is loaded, and 0 while it is released.
    func getLoadingProgress(request: Milvus_Proto_Milvus_GetLoadingProgressRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetLoadingProgressResponse {
        await call("GetLoadingProgress", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetLoadingProgressResponse()
            let parts = request.partitionNames.isEmpty ? nil : request.partitionNames
            let state = try await handlers.loadState(request.collectionName, partitions: parts)
            r.progress = state == .loaded ? 100 : 0
            r.refreshProgress = r.progress
            return r
        }
    }

    func getLoadState(request: Milvus_Proto_Milvus_GetLoadStateRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetLoadStateResponse {
        await call("GetLoadState", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetLoadStateResponse()
            let parts = request.partitionNames.isEmpty ? nil : request.partitionNames
            switch try await handlers.loadState(request.collectionName, partitions: parts) {
            case .loaded: r.state = .loaded
            case .loading: r.state = .loading
            case .notLoaded: r.state = .notLoad
            }
            return r
        }
    }

    // MARK: Partitions

    func createPartition(request: Milvus_Proto_Milvus_CreatePartitionRequest, context: ServerContext) async throws -> PStatus {
        await call("CreatePartition", db: request.dbName) {
            try await handlers.createPartition(request.collectionName, request.partitionName)
            return PStatus()
        }
    }

    func dropPartition(request: Milvus_Proto_Milvus_DropPartitionRequest, context: ServerContext) async throws -> PStatus {
        await call("DropPartition", db: request.dbName) {
            try await handlers.dropPartition(request.collectionName, request.partitionName)
            return PStatus()
        }
    }

    func hasPartition(request: Milvus_Proto_Milvus_HasPartitionRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_BoolResponse {
        await call("HasPartition", db: request.dbName) {
            var r = Milvus_Proto_Milvus_BoolResponse()
            r.value = try await handlers.hasPartition(request.collectionName, request.partitionName)
            return r
        }
    }

    func showPartitions(request: Milvus_Proto_Milvus_ShowPartitionsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ShowPartitionsResponse {
        await call("ShowPartitions", db: request.dbName) {
            var r = Milvus_Proto_Milvus_ShowPartitionsResponse()
            var names = try await handlers.listPartitions(request.collectionName)
            if !request.partitionNames.isEmpty {
                let wanted = Set(request.partitionNames)
                names = names.filter { wanted.contains($0) }
            }
            // The catalog's partition ids (a partition dropped between the two reads is left out).
            let ids = try await handlers.partitionIDs(request.collectionName)
            let idOf = Dictionary(ids.partitions.map { ($0.name, $0.id) }, uniquingKeysWith: { a, _ in a })
            let listed = names.compactMap { n in idOf[n].map { (name: n, id: $0) } }
            names = listed.map(\.name)
            r.partitionNames = names
            r.partitionIds = listed.map { Self.partitionID(collection: ids.collection, partition: $0.id) }
            r.createdTimestamps = names.map { _ in 0 }
            r.createdUtcTimestamps = names.map { _ in 0 }
            // Milvus reports 100 for a loaded partition and 0 for a released one (attu's partitions tab).
            var percent: [Int64] = []
            for n in names { percent.append(try await handlers.loadState(request.collectionName, partitions: [n]) == .loaded ? 100 : 0) }
            r.inMemoryPercentages = percent
            return r
        }
    }

    func loadPartitions(request: Milvus_Proto_Milvus_LoadPartitionsRequest, context: ServerContext) async throws -> PStatus {
        await call("LoadPartitions", db: request.dbName) {
            guard !request.partitionNames.isEmpty else { throw APIError.missing("partition_names") }
            try await handlers.setPartitionsLoaded(request.collectionName, request.partitionNames, loaded: true)
            return PStatus()
        }
    }

    func releasePartitions(request: Milvus_Proto_Milvus_ReleasePartitionsRequest, context: ServerContext) async throws -> PStatus {
        await call("ReleasePartitions", db: request.dbName) {
            guard !request.partitionNames.isEmpty else {
                throw APIError.invalid("invalid parameter[expected=any partition][actual=empty partition list]: give partition_names to release")
            }
            try await handlers.setPartitionsLoaded(request.collectionName, request.partitionNames, loaded: false)
            return PStatus()
        }
    }

    func getPartitionStatistics(request: Milvus_Proto_Milvus_GetPartitionStatisticsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetPartitionStatisticsResponse {
        await call("GetPartitionStatistics", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetPartitionStatisticsResponse()
            let n = try await handlers.partitionRowCount(request.collectionName, request.partitionName)
            r.stats = [Self.kv("row_count", String(n))]
            return r
        }
    }

    // MARK: Indexes

    func createIndex(request: Milvus_Proto_Milvus_CreateIndexRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateIndex", db: request.dbName) {
            var ix = try ProtoConversions.indexRequest(request)
            if ix.indexName == nil || ix.indexName == "" { ix.indexName = nil }
            try await handlers.createIndexes(request.collectionName, [ix])
            return PStatus()
        }
    }

    func descriptions(_ collection: String, indexName: String, fieldName: String) async throws -> [IndexDescription] {
        let all = try await handlers.describeIndex(collection, indexName: nil)
        if !indexName.isEmpty {
            let named = all.filter { $0.indexName == indexName }
            if !named.isEmpty { return named }
            if fieldName.isEmpty { return try await handlers.describeIndex(collection, indexName: indexName) }  // reports 700
        }
        let list = fieldName.isEmpty ? all : all.filter { $0.fieldName == fieldName }
        guard !list.isEmpty else {
            throw APIError(.indexNotFound, "index not found[collection=\(collection)]\(fieldName.isEmpty ? "" : " on field '\(fieldName)'")", kind: .notFound)
        }
        return list
    }

    func describeIndex(request: Milvus_Proto_Milvus_DescribeIndexRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_DescribeIndexResponse {
        await call("DescribeIndex", db: request.dbName) {
            var r = Milvus_Proto_Milvus_DescribeIndexResponse()
            r.indexDescriptions = try await descriptions(request.collectionName, indexName: request.indexName, fieldName: request.fieldName)
                .map { Self.protoIndexDescription($0, collection: request.collectionName) }
            return r
        }
    }

    /// An index as `DescribeIndex` and `GetIndexStatistics` report it.
    static func protoIndexDescription(_ d: IndexDescription, collection: String) -> Milvus_Proto_Milvus_IndexDescription {
        var p = Milvus_Proto_Milvus_IndexDescription()
        p.indexName = d.indexName
        // JSON path indexes share their field: their ids also hash the index name.
        let idKey = collection + "/" + d.fieldName + (d.textParams["json_path"] == nil ? "" : "/" + d.indexName)
        p.indexID = Int64(bitPattern: StableHash.hash(.string(idKey)) >> 12)
        p.fieldName = d.fieldName
        let properties = d.properties.sorted { $0.key < $1.key }.map { Self.kv($0.key, $0.value) }
        if let sent = d.requestParams {
            // Milvus answers with the parameters as the client sent them (its "user index params"),
            // so pymilvus' ORM reads back its JSON `params` pair and MilvusClient its flat pairs.
            // index_type and metric_type are added when the request left them to the defaults, and
            // the properties set since (alter_index_properties) replace any sent at creation.
            var pairs = sent.filter { d.properties[$0.key] == nil }.map { Self.kv($0.key, $0.value) }
            if let m = d.metric, !pairs.contains(where: { $0.key == "metric_type" }) { pairs.insert(Self.kv("metric_type", m.rawValue), at: 0) }
            if !pairs.contains(where: { $0.key == "index_type" }) { pairs.insert(Self.kv("index_type", d.indexType), at: 0) }
            p.params = pairs + properties
        } else {
            p.params = [Self.kv("index_type", d.indexType)] + (d.metric.map { [Self.kv("metric_type", $0.rawValue)] } ?? [])
                + d.params.sorted { $0.key < $1.key }.map { Self.kv($0.key, String($0.value)) }
                + d.textParams.sorted { $0.key < $1.key }.map { Self.kv($0.key, $0.value) }
                + properties
        }
        p.indexedRows = Int64(d.indexedRows)
        p.totalRows = Int64(d.totalRows)
        p.pendingIndexRows = Int64(d.pendingRows)
        p.state = d.finished ? .finished : .inProgress
        return p
    }

    func getIndexState(request: Milvus_Proto_Milvus_GetIndexStateRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetIndexStateResponse {
        await call("GetIndexState", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetIndexStateResponse()
            let list = try await descriptions(request.collectionName, indexName: request.indexName, fieldName: request.fieldName)
            r.state = list.allSatisfy(\.finished) ? .finished : .inProgress
            return r
        }
    }

    func getIndexBuildProgress(request: Milvus_Proto_Milvus_GetIndexBuildProgressRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetIndexBuildProgressResponse {
        await call("GetIndexBuildProgress", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetIndexBuildProgressResponse()
            let list = try await descriptions(request.collectionName, indexName: request.indexName, fieldName: request.fieldName)
            r.indexedRows = Int64(list.reduce(0) { $0 + $1.indexedRows })
            r.totalRows = Int64(list.reduce(0) { $0 + $1.totalRows })
            return r
        }
    }

    func dropIndex(request: Milvus_Proto_Milvus_DropIndexRequest, context: ServerContext) async throws -> PStatus {
        await call("DropIndex", db: request.dbName) {
            var name = request.indexName
            if name.isEmpty, !request.fieldName.isEmpty {
                name = try await descriptions(request.collectionName, indexName: "", fieldName: request.fieldName).first?.indexName ?? ""
            }
            try await handlers.dropIndex(request.collectionName, indexName: name)
            return PStatus()
        }
    }

    // MARK: Writes

    private func write(_ method: String, db: String, collection: String, partition: String, columns: [PFieldData], numRows: UInt32,
                       upsert: Bool) async -> Milvus_Proto_Milvus_MutationResult {
        await call(method, .write, db: db) {
            let schema = try schema(collection)
            guard Int(numRows) <= handlers.limits.maxInsertRows else {
                throw APIError(.invalidInsertData, "\(numRows) rows in one request; at most \(handlers.limits.maxInsertRows) are accepted — split the data into smaller batches")
            }
            let rows = try ProtoConversions.rows(columns, count: Int(numRows), schema: schema)
            let result = try await handlers.insert(collection, rows: rows, partition: partition, upsert: upsert)
            var r = Milvus_Proto_Milvus_MutationResult()
            r.ids = ProtoConversions.ids(result.ids, isInt: schema.primaryKey.dataType == .int64)
            r.succIndex = (0..<UInt32(result.count)).map { $0 }
            if upsert { r.upsertCnt = Int64(result.count) } else { r.insertCnt = Int64(result.count) }
            r.timestamp = Self.hybridTimestamp()
            return r
        }
    }

    func insert(request: Milvus_Proto_Milvus_InsertRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_MutationResult {
        await write("Insert", db: request.dbName, collection: request.collectionName, partition: request.partitionName, columns: request.fieldsData,
                    numRows: request.numRows, upsert: false)
    }

    func upsert(request: Milvus_Proto_Milvus_UpsertRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_MutationResult {
        if request.partialUpdate {
            return await call("Upsert") { throw APIError.invalid("partial upsert (partial_update) is not supported by Vireo yet; send whole rows") }
        }
        return await write("Upsert", db: request.dbName, collection: request.collectionName, partition: request.partitionName, columns: request.fieldsData,
                           numRows: request.numRows, upsert: true)
    }

    func delete(request: Milvus_Proto_Milvus_DeleteRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_MutationResult {
        await call("Delete", .byPrimaryKey, db: request.dbName) {
            let filter = try ProtoConversions.filter(request.expr, request.exprTemplateValues) ?? ""
            let n = try await handlers.delete(request.collectionName, filter: filter, partition: request.partitionName)
            var r = Milvus_Proto_Milvus_MutationResult()
            r.deleteCnt = Int64(n)
            r.timestamp = Self.hybridTimestamp()
            return r
        }
    }

    /// Vireo's flush is synchronous: when `Flush` answers, the rows are durable and sealed, so
    /// `GetFlushState` is truthfully `flushed` for any timestamp it returned.
    func flush(request: Milvus_Proto_Milvus_FlushRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_FlushResponse {
        await call("Flush", db: request.dbName) {
            var r = Milvus_Proto_Milvus_FlushResponse()
            r.dbName = handlers.requestDatabase
            for name in request.collectionNames {
                try await handlers.flush(name)
                r.collSegIds[name] = Milvus_Proto_Schema_LongArray()
                r.flushCollSegIds[name] = Milvus_Proto_Schema_LongArray()
                r.collSealTimes[name] = Int64(Date().timeIntervalSince1970)
                r.collFlushTs[name] = Self.hybridTimestamp()
            }
            return r
        }
    }

    func getFlushState(request: Milvus_Proto_Milvus_GetFlushStateRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetFlushStateResponse {
        await call("GetFlushState", db: request.dbName) {
            if !request.collectionName.isEmpty { _ = try schema(request.collectionName) }
            var r = Milvus_Proto_Milvus_GetFlushStateResponse()
            r.flushed = true
            return r
        }
    }

    // MARK: Storage maintenance

    /// The id Milvus' replies carry for a collection: its catalog id (assigned once at create, unique
    /// across databases, kept across renames and restarts; see `MilvusHandlers+Admin.swift`).
    static func collectionID(_ id: UInt64) -> Int64 { Int64(bitPattern: id) }

    /// A partition's id: unique across collections (the collection's catalog id above the
    /// partition's own, which Vireo never reuses within a collection).
    static func partitionID(collection: UInt64, partition: UInt16) -> Int64 {
        Int64(bitPattern: collection << 16 | UInt64(partition))
    }

    /// pymilvus `compact()`: starts a background job over the whole collection and answers with its
    /// id. Clustering (`is_clustering`), L0, chosen-segment and target-size compactions are Milvus
    /// features Vireo has no use for; asking for one is an error, not a silent full compaction.
    func manualCompaction(request: Milvus_Proto_Milvus_ManualCompactionRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ManualCompactionResponse {
        await call("ManualCompaction", db: request.dbName) {
            if request.majorCompaction {
                throw APIError.invalid("clustering compaction needs a clustering key field, which Vireo does not have: call compact() without is_clustering")
            }
            if request.l0Compaction { throw APIError.invalid("Vireo keeps no L0 delete segments: call compact() without is_l0") }
            if !request.segmentIds.isEmpty || request.targetSize != 0 {
                throw APIError.invalid("Vireo compacts whole collections: leave segment_ids and target_size unset")
            }
            var name = request.collectionName
            if name.isEmpty && request.collectionID != 0 {
                name = handlers.collectionName(id: UInt64(bitPattern: request.collectionID)) ?? ""
                if name.isEmpty { throw APIError(.collectionNotFound, "collection id \(request.collectionID) not found") }
            }
            let job = try await handlers.compact(name)
            var r = Milvus_Proto_Milvus_ManualCompactionResponse()
            r.compactionID = job.id
            r.compactionPlanCount = Int32(clamping: job.plans)
            return r
        }
    }

    func getCompactionState(request: Milvus_Proto_Milvus_GetCompactionStateRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetCompactionStateResponse {
        await call("GetCompactionState") {
            var r = Milvus_Proto_Milvus_GetCompactionStateResponse()
            guard let job = handlers.compactionJob(request.compactionID) else {
                r.state = .undefiedState
                return r
            }
            r.state = job.isFinished ? .completed : .executing
            r.executingPlanNo = Int64(job.executingPlans)
            r.completedPlanNo = Int64(job.completedPlans)
            r.failedPlanNo = Int64(job.failedPlans)
            return r
        }
    }

    /// The plans of a finished job: each names the segments rewritten (shard in the high 32 bits,
    /// segment id in the low) and the segment they became (0: every row was deleted).
    func getCompactionStateWithPlans(request: Milvus_Proto_Milvus_GetCompactionPlansRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetCompactionPlansResponse {
        await call("GetCompactionStateWithPlans", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetCompactionPlansResponse()
            // pymilvus' get_compaction_tasks names a collection instead of a job: its newest job.
            let found = request.compactionID == 0 && !request.collectionName.isEmpty
                ? try handlers.latestCompactionJob(request.collectionName) : handlers.compactionJob(request.compactionID)
            guard let job = found else {
                r.state = .undefiedState
                return r
            }
            r.state = job.isFinished ? .completed : .executing
            let collection = Self.collectionID(handlers.collectionID(named: job.collection) ?? 0)
            for (i, m) in (job.report?.merges ?? []).enumerated() {
                var info = Milvus_Proto_Milvus_CompactionMergeInfo()
                let base = Int64(m.shard) << 32
                info.sources = m.sources.map { base | $0 }
                info.target = m.target.map { base | $0 } ?? 0
                info.targets = m.target.map { [base | $0] } ?? []
                info.planID = Int64(i + 1)
                info.triggerID = job.id
                info.collectionID = collection
                info.type = m.sources.count > 1 ? .mix : .single
                info.state = .completed
                r.mergeInfos.append(info)
            }
            return r
        }
    }

    // MARK: Reads

    /// A `SearchRequest` (top level or inside a hybrid search) → a typed search.
    private func searchCall(_ request: Milvus_Proto_Milvus_SearchRequest, collection: String, schema: CollectionSchema,
                            defaultLimit: Int?, partitions: [String]) async throws -> (SearchCall, roundDecimal: Int) {
        guard request.unknownFields.data.isEmpty else {
            throw APIError.invalid("the search uses a feature Vireo does not serve (highlighting, search aggregation or function chains)")
        }
        if request.hasFunctionScore { throw APIError.invalid("function rerankers (function_score) are not supported by Vireo yet") }
        let p = ProtoConversions.dictionary(request.searchParams)
        let anns = p["anns_field"].flatMap { $0.isEmpty ? nil : $0 }
        let searchable = schema.fields.filter(\.dataType.isAnyVector)
        let field: FieldSchema? = anns.flatMap { schema.field(named: $0) } ?? (searchable.count == 1 ? searchable[0] : nil)
        var vectors: [[Float]] = []
        var sparse: [SparseVector] = []
        var texts: [String] = []
        switch request.searchInput {
        case let .placeholderGroup(bytes)?:
            if let q = try ProtoConversions.sparseQueries(bytes) {
                (sparse, texts) = q
            } else {
                if let field, field.dataType.isSparseVector {
                    throw APIError.invalid("'\(field.name)' is a sparse vector field: search it with sparse vectors or, for a BM25 function's output, with query text")
                }
                vectors = try ProtoConversions.vectors(bytes, field: field)
            }
        case let .ids(ids)?:
            // Search by primary keys (pymilvus `search(ids=…)`): the stored vectors of those rows are the queries.
            let keys = try ProtoConversions.primaryKeys(ids, schema: schema)
            if let field, field.dataType.isSparseVector {
                (sparse, texts) = try await handlers.sparseQueries(of: keys, in: collection, field: field, partitions: partitions.isEmpty ? nil : partitions)
            } else {
                vectors = try await handlers.vectors(of: keys, in: collection, field: field?.name, partitions: partitions.isEmpty ? nil : partitions)
            }
        case nil:
            throw APIError.missing("placeholder_group", "a search needs query vectors (placeholder_group) or primary keys (ids)")
        }
        // search_params: metric_type and params (a JSON object with ef / nprobe / …), gathered into
        // Milvus' search-parameter object and decoded where REST's are (MilvusParams).
        var sp: [String: JSONValue] = [:]
        if let m = p["metric_type"], !m.isEmpty { sp["metric_type"] = .string(m) }
        if let g = p["ignore_growing"], !g.isEmpty { sp["ignore_growing"] = ProtoConversions.jsonParam(g) }
        if let raw = p["params"], !raw.isEmpty {
            guard case let .object(o) = try ProtoConversions.json(raw, "search parameter 'params'") else {
                throw APIError.invalid("search parameter 'params' must be a JSON object")
            }
            sp["params"] = .object(o)
        }
        let options = try MilvusParams.searchOptions(JSONBody(object: ["searchParams": .object(sp)]))
        let limit = try ProtoConversions.intParam(p, "topk") ?? ProtoConversions.intParam(p, "limit") ?? defaultLimit ?? 10
        let offset = try ProtoConversions.intParam(p, "offset") ?? 0
        let round = try ProtoConversions.intParam(p, "round_decimal") ?? -1
        let filter = try ProtoConversions.filter(request.dsl, request.exprTemplateValues)
        var call = SearchCall(collection: collection, vectors: vectors, annsField: anns, filter: filter, limit: limit, offset: offset,
                              outputFields: request.outputFields, partitions: partitions.isEmpty ? nil : partitions, options: options)
        call.sparseVectors = sparse
        call.texts = texts
        call.grouping = try MilvusParams.grouping(field: p["group_by_field"], size: p["group_size"].map { .string($0) },
                                                  strict: p["strict_group_size"].map { .string($0) },
                                                  names: ("group_size", "strict_group_size"))
        return (call, round)
    }

    /// pymilvus' search iterator v2 (`search_iter_v2`): each call returns the next `search_iter_batch_size`
    /// hits strictly beyond `search_iter_last_bound` (the previous batch's last score), as Milvus does;
    /// the reply carries a token and the new last bound. Vireo keeps no iterator state: the token only
    /// identifies the iterator, and each batch is a range search from the bound.
    static func iteratorV2(_ p: [String: String], call: inout SearchCall) throws -> (token: String, lastBound: Float?)? {
        guard let flag = p["search_iter_v2"], try MilvusParams.flag(.string(flag), "search_iter_v2") else { return nil }
        guard call.queryCount == 1 else { throw APIError.invalid("search_iterator_v2 takes one query, got \(call.queryCount)") }
        guard call.grouping == nil, call.options.range == nil else {
            throw APIError.invalid("search_iterator_v2 cannot be combined with grouping or range search")
        }
        if let batch = try ProtoConversions.intParam(p, "search_iter_batch_size") { call.limit = batch }
        call.offset = 0
        var lastBound: Float?
        if let raw = p["search_iter_last_bound"], !raw.isEmpty {
            guard let b = Float(raw.trimmingCharacters(in: .whitespaces)), b.isFinite else {
                throw APIError.invalid("search_iter_last_bound must be a finite number, got '\(raw)'")
            }
            lastBound = b
        }
        let token = p["search_iter_id"].flatMap { $0.isEmpty ? nil : $0 } ?? UUID().uuidString
        if let b = lastBound {
            // Strictly beyond the bound: larger distances for L2, smaller similarities for IP / COSINE.
            // The metric decides which; the engine checks the direction against the index's metric.
            call.iteratorBound = b
        }
        return (token, lastBound)
    }

    private func results(_ hits: [[SearchHit]], schema: CollectionSchema, outputFields: [String], limit: Int,
                         roundDecimal: Int, grouping: SearchGrouping? = nil) -> Milvus_Proto_Milvus_SearchResults {
        var data = Milvus_Proto_Schema_SearchResultData()
        data.numQueries = Int64(hits.count)
        data.topK = Int64(limit)
        data.topks = hits.map { Int64($0.count) }
        let flat = hits.flatMap { $0 }
        let isInt = schema.primaryKey.dataType == .int64
        data.ids = ProtoConversions.ids(flat.map(\.id), isInt: isInt)
        var scale: Float?
        if roundDecimal >= 0 { scale = Float(pow(10, Double(min(roundDecimal, 6)))) }
        data.scores = flat.map { s in scale.map { ($0 * s.score).rounded() / $0 } ?? s.score }
        data.primaryFieldName = schema.primaryKey.name
        if let f = flat.first?.groupValue != nil ? grouping.flatMap({ schema.field(named: $0.field) }) : nil {
            // Grouping search: each hit's group value (Milvus' group_by_field_value column).
            data.groupByFieldValue = ProtoConversions.column(flat.map(\.groupValue), f)
        }
        if !outputFields.isEmpty {
            let out = ProtoConversions.outputColumns(outputFields, schema: schema, includePrimaryKey: false)
            let pk = schema.primaryKey.name
            let rows = flat.map { hit -> Row in
                var row = hit.fields
                row[pk] = hit.id.fieldValue
                return row
            }
            data.fieldsData = ProtoConversions.columns(rows, out, schema: schema)
            data.outputFields = out.names
        }
        var r = Milvus_Proto_Milvus_SearchResults()
        r.results = data
        r.collectionName = schema.name
        return r
    }

    func search(request: Milvus_Proto_Milvus_SearchRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_SearchResults {
        await call("Search", db: request.dbName) {
            let schema = try schema(request.collectionName)
            var (s, round) = try await searchCall(request, collection: request.collectionName, schema: schema, defaultLimit: nil,
                                                  partitions: request.partitionNames)
            let iterator = try Self.iteratorV2(ProtoConversions.dictionary(request.searchParams), call: &s)
            let hits = try await handlers.search(s)
            var r = results(hits, schema: schema, outputFields: request.outputFields, limit: s.limit, roundDecimal: round,
                            grouping: s.grouping)
            r.sessionTs = Self.hybridTimestamp()
            if let iterator {
                var info = Milvus_Proto_Schema_SearchIteratorV2Results()
                info.token = iterator.token
                info.lastBound = hits.first?.last?.score ?? iterator.lastBound ?? 0
                r.results.searchIteratorV2Results = info
            }
            return r
        }
    }

    func hybridSearch(request: Milvus_Proto_Milvus_HybridSearchRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_SearchResults {
        await call("HybridSearch", db: request.dbName) {
            guard request.unknownFields.data.isEmpty else {
                throw APIError.invalid("the hybrid search uses a feature Vireo does not serve (function chains)")
            }
            let schema = try schema(request.collectionName)
            var rank = ProtoConversions.dictionary(request.rankParams)
            if request.hasFunctionScore { try Self.rerankFunction(request.functionScore, into: &rank) }
            let limit = try ProtoConversions.intParam(rank, "limit") ?? 10
            let offset = try ProtoConversions.intParam(rank, "offset") ?? 0
            let round = try ProtoConversions.intParam(rank, "round_decimal") ?? -1
            var searches: [SearchCall] = []
            for sub in request.requests {
                var (s, _) = try await searchCall(sub, collection: request.collectionName, schema: schema, defaultLimit: limit.addingSaturated(offset),
                                                  partitions: sub.partitionNames.isEmpty ? request.partitionNames : sub.partitionNames)
                if s.grouping != nil { throw APIError.invalid("grouping (group_by_field) is not supported inside a hybrid search's requests") }
                s.outputFields = []
                searches.append(s)
            }
            let strategy = (rank["strategy"].map { ProtoConversions.jsonParam($0) }).flatMap { v -> String? in
                if case let .string(s) = v { return s.lowercased() }
                return nil
            } ?? "rrf"
            var params: [String: JSONValue] = [:]
            if let raw = rank["params"], !raw.isEmpty, case let .object(o) = try ProtoConversions.json(raw, "rank parameter 'params'") { params = o }
            let rerank: Rerank
            switch strategy {
            case "rrf":
                let k: Double
                switch params["k"] {
                case let .int(i)?: k = Double(i)
                case let .double(d)?: k = d
                case nil: k = 60
                default: throw APIError.invalid("rrf parameter k must be a number")
                }
                rerank = .rrf(k: k)
            case "weighted":
                guard case let .array(ws)? = params["weights"] else { throw APIError.missing("weights", "the weighted ranker needs one weight in [0, 1] per search") }
                rerank = .weighted(try ws.map { w in
                    switch w {
                    case let .int(i): return Double(i)
                    case let .double(d): return d
                    default: throw APIError.invalid("ranker weights must be numbers")
                    }
                })
            default:
                throw APIError.invalid("ranker strategy '\(strategy)' is not supported; use rrf or weighted")
            }
            let call = HybridSearchCall(collection: request.collectionName, searches: searches, rerank: rerank, limit: limit, offset: offset,
                                        outputFields: request.outputFields,
                                        partitions: request.partitionNames.isEmpty ? nil : request.partitionNames)
            let hits = try await handlers.hybridSearch(call)
            return results(hits, schema: schema, outputFields: request.outputFields, limit: limit, roundDecimal: round)
        }
    }

    /// A hybrid search's `function_score` (pymilvus `Function(function_type=RERANK, params={"reranker":
    /// "rrf", "k": 60})` or `{"reranker": "weighted", "weights": [...], "norm_score": true}`, what
    /// LangChain's Milvus store sends) as the `strategy` and `params` rank parameters the RRF and
    /// weighted rankers read. Other rerank functions (decay, model) are refused with what to use.
    static func rerankFunction(_ f: Milvus_Proto_Schema_FunctionScore, into rank: inout [String: String]) throws {
        guard f.functions.count == 1, let fn = f.functions.first else {
            throw APIError.invalid("function_score holds \(f.functions.count) functions; Vireo fuses a hybrid search with one rerank function (rrf or weighted)")
        }
        guard fn.type == .rerank, fn.inputFieldNames.isEmpty else {
            throw APIError.invalid("function '\(fn.name)' (\(fn.type)) cannot rerank a hybrid search: give a Rerank function with reranker rrf or weighted and no input fields")
        }
        let p = ProtoConversions.dictionary(fn.params)
        let reranker = p["reranker"].map { ProtoConversions.jsonParam($0) }.flatMap { v -> String? in if case let .string(s) = v { s.lowercased() } else { nil } }
        var params: [String: JSONValue] = [:]
        switch reranker {
        case "rrf"?:
            if let k = p["k"] { params["k"] = ProtoConversions.jsonParam(k) }
        case "weighted"?:
            guard let w = p["weights"] else { throw APIError.missing("weights", "the weighted reranker needs one weight in [0, 1] per search") }
            params["weights"] = ProtoConversions.jsonParam(w)
            if let norm = p["norm_score"], try !MilvusParams.flag(ProtoConversions.jsonParam(norm), "norm_score") {
                throw APIError.invalid("norm_score false is not supported: Vireo's weighted reranker normalises each search's scores (Milvus' arctan / cosine rules) before weighting; leave norm_score true")
            }
        default:
            throw APIError.invalid("reranker '\(p["reranker"] ?? "")' is not supported in function_score; use rrf or weighted (decay and model rerankers are not served)")
        }
        rank["strategy"] = reranker
        rank["params"] = JSONValue.object(params).jsonText
    }

    func query(request: Milvus_Proto_Milvus_QueryRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_QueryResults {
        await call("Query", db: request.dbName) {
            let schema = try schema(request.collectionName)
            let p = ProtoConversions.dictionary(request.queryParams)
            let filter = try ProtoConversions.filter(request.expr, request.exprTemplateValues)
            let offset = try ProtoConversions.intParam(p, "offset") ?? 0
            let given = try ProtoConversions.intParam(p, "limit")
            let isCount = request.outputFields.contains { $0.lowercased() == "count(*)" }
            if given == nil, filter == nil, !isCount {
                throw APIError.invalid("empty expression should be used with limit: give a filter or a limit")
            }
            // Without a limit Milvus returns every match, up to its query window.
            let window = handlers.limits.maxQueryWindow
            let limit = given ?? max(1, window - min(max(offset, 0), window))  // a bad offset is refused by the handler
            let requested = request.outputFields.isEmpty ? [schema.primaryKey.name] : request.outputFields
            // pymilvus sends `ignore_growing` as "True"/"False"; JSON-encoded booleans and "0"/"1" work too.
            let ignoreGrowing = try p["ignore_growing"].flatMap { $0.isEmpty ? nil : $0 }
                .map { try JSONBody(object: ["ignore_growing": ProtoConversions.jsonParam($0)]).bool("ignore_growing") ?? false } ?? false
            let call = QueryCall(collection: request.collectionName, filter: filter, outputFields: requested, limit: limit, offset: offset,
                                 partitions: request.partitionNames.isEmpty ? nil : request.partitionNames, ignoreGrowing: ignoreGrowing)
            var r = Milvus_Proto_Milvus_QueryResults()
            // Iterators pin their reads to this timestamp (Vireo reads the latest committed state).
            r.sessionTs = Self.hybridTimestamp()
            r.collectionName = schema.name
            r.primaryFieldName = schema.primaryKey.name
            switch try await handlers.query(call) {
            case let .count(n):
                var fd = PFieldData()
                fd.type = .int64
                fd.fieldName = "count(*)"
                var s = PScalarField()
                var a = Milvus_Proto_Schema_LongArray()
                a.data = [Int64(n)]
                s.longData = a
                fd.scalars = s
                r.fieldsData = [fd]
                r.outputFields = ["count(*)"]
            case let .rows(rows):
                let out = ProtoConversions.outputColumns(requested, schema: schema, includePrimaryKey: true)
                r.fieldsData = ProtoConversions.columns(rows, out, schema: schema)
                r.outputFields = out.names
            }
            return r
        }
    }
}

// MARK: Status plumbing

extension PStatus: MilvusStatusResponse {
    var milvusStatus: PStatus {
        get { self }
        set { self = newValue }
    }
    var hasMilvusStatus: Bool { true }
}

extension Milvus_Proto_Milvus_ConnectResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetVersionResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_CheckHealthResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_AllocTimestampResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ManualCompactionResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetCompactionStateResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetCompactionPlansResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_BoolResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_DescribeCollectionResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ShowCollectionsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetCollectionStatisticsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetLoadingProgressResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetLoadStateResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ShowPartitionsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetPartitionStatisticsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_DescribeIndexResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetIndexStateResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetIndexBuildProgressResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_MutationResult: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_FlushResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetFlushStateResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_SearchResults: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_QueryResults: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }

/// Authentication and per-call metadata for every gRPC call: the credential in `authorization`
/// (pymilvus sends base64 of `user:password` or of the API key, without a scheme; `Bearer` and
/// `Basic` forms are accepted too) and the database in `dbname`.
struct MilvusGRPCInterceptor: ServerInterceptor {
    let authenticator: Authenticator

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if authenticator.isEnabled {
            let header = request.metadata[stringValues: "authorization"].first(where: { _ in true })
            guard Self.accepts(header, authenticator) else {
                ServerMetrics.record(endpoint: "grpc/" + context.descriptor.method, code: MilvusCode.unauthenticated.rawValue, duration: .zero)
                throw RPCError(code: .unauthenticated, message: "user hasn't authenticated: send a token (MilvusClient(token=\"user:password\" or an API key))")
            }
        }
        let db = request.metadata[stringValues: "dbname"].first(where: { _ in true })
        return try await GRPCCallContext.$dbName.withValue(db) {
            try await next(request, context)
        }
    }

    static func accepts(_ header: String?, _ authenticator: Authenticator) -> Bool {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return false }
        if header.range(of: "Bearer ", options: [.caseInsensitive, .anchored]) != nil
            || header.range(of: "Basic ", options: [.caseInsensitive, .anchored]) != nil {
            return authenticator.accepts(authorization: header)
        }
        guard let data = Data(base64Encoded: header), let token = String(data: data, encoding: .utf8) else { return false }
        return authenticator.accepts(authorization: "Bearer " + token)
    }
}
