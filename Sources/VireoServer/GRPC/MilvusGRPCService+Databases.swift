import Foundation
import GRPCCore
import Vireo
import VireoMilvusProto

/// `MilvusService` RPCs for databases, aliases, and what tools (attu, SDK utilities) poll.
extension MilvusGRPCService {
    static func properties(_ kvs: [PKeyValue]) -> [String: String] {
        var out: [String: String] = [:]
        for kv in kvs { out[kv.key] = kv.value }
        return out
    }

    // MARK: Databases

    func createDatabase(request: Milvus_Proto_Milvus_CreateDatabaseRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateDatabase", checkDatabase: false) {
            try handlers.createDatabase(request.dbName, properties: Self.properties(request.properties))
            return PStatus()
        }
    }

    func dropDatabase(request: Milvus_Proto_Milvus_DropDatabaseRequest, context: ServerContext) async throws -> PStatus {
        await call("DropDatabase", checkDatabase: false) {
            try handlers.dropDatabase(request.dbName)
            return PStatus()
        }
    }

    func listDatabases(request: Milvus_Proto_Milvus_ListDatabasesRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ListDatabasesResponse {
        await call("ListDatabases", checkDatabase: false) {
            var r = Milvus_Proto_Milvus_ListDatabasesResponse()
            let all = handlers.listDatabases()
            r.dbNames = all.map(\.name)
            r.dbIds = all.map(\.id)
            r.createdTimestamp = all.map { Self.hybridTimestamp(of: $0.createdAt) }
            return r
        }
    }

    /// `properties` replace or add keys, `delete_keys` remove them (pymilvus `alter_database_properties`
    /// and `drop_database_properties`).
    func alterDatabase(request: Milvus_Proto_Milvus_AlterDatabaseRequest, context: ServerContext) async throws -> PStatus {
        await call("AlterDatabase", checkDatabase: false) {
            try handlers.alterDatabase(request.dbName, set: Self.properties(request.properties), delete: request.deleteKeys)
            return PStatus()
        }
    }

    func describeDatabase(request: Milvus_Proto_Milvus_DescribeDatabaseRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_DescribeDatabaseResponse {
        await call("DescribeDatabase", checkDatabase: false) {
            // pymilvus' `using_database` describes the database it switches to; an empty name is
            // the connection's database (Milvus: `default`).
            let name = request.dbName.isEmpty ? (GRPCCallContext.dbName.flatMap { $0.isEmpty ? nil : $0 } ?? Database.defaultDatabaseName) : request.dbName
            let d = try handlers.describeDatabase(name)
            var r = Milvus_Proto_Milvus_DescribeDatabaseResponse()
            r.dbName = d.name
            r.dbID = d.id
            r.createdTimestamp = Self.hybridTimestamp(of: d.createdAt)
            r.properties = d.properties.sorted { $0.key < $1.key }.map { Self.kv($0.key, $0.value) }
            return r
        }
    }

    // MARK: Aliases

    func createAlias(request: Milvus_Proto_Milvus_CreateAliasRequest, context: ServerContext) async throws -> PStatus {
        await call("CreateAlias", db: request.dbName) {
            try handlers.createAlias(request.alias, collection: request.collectionName)
            return PStatus()
        }
    }

    func dropAlias(request: Milvus_Proto_Milvus_DropAliasRequest, context: ServerContext) async throws -> PStatus {
        await call("DropAlias", db: request.dbName) {
            try handlers.dropAlias(request.alias)
            return PStatus()
        }
    }

    func alterAlias(request: Milvus_Proto_Milvus_AlterAliasRequest, context: ServerContext) async throws -> PStatus {
        await call("AlterAlias", db: request.dbName) {
            try handlers.alterAlias(request.alias, collection: request.collectionName)
            return PStatus()
        }
    }

    func describeAlias(request: Milvus_Proto_Milvus_DescribeAliasRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_DescribeAliasResponse {
        await call("DescribeAlias", db: request.dbName) {
            var r = Milvus_Proto_Milvus_DescribeAliasResponse()
            r.collection = try handlers.describeAlias(request.alias)
            r.alias = request.alias
            r.dbName = handlers.requestDatabase
            return r
        }
    }

    func listAliases(request: Milvus_Proto_Milvus_ListAliasesRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ListAliasesResponse {
        await call("ListAliases", db: request.dbName) {
            var r = Milvus_Proto_Milvus_ListAliasesResponse()
            r.aliases = try handlers.listAliases(collection: request.collectionName)
            r.collectionName = request.collectionName
            r.dbName = handlers.requestDatabase
            return r
        }
    }

    func truncateCollection(request: Milvus_Proto_Milvus_TruncateCollectionRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_TruncateCollectionResponse {
        await call("TruncateCollection", db: request.dbName) {
            try await handlers.truncateCollection(request.collectionName)
            return Milvus_Proto_Milvus_TruncateCollectionResponse()
        }
    }

    // MARK: What tools poll

    /// One process serves everything: a healthy standalone node (pymilvus and attu wait for
    /// `Healthy`).
    func getComponentStates(request: Milvus_Proto_Milvus_GetComponentStatesRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ComponentStates {
        await call("GetComponentStates", checkDatabase: false) {
            var r = Milvus_Proto_Milvus_ComponentStates()
            var info = Milvus_Proto_Milvus_ComponentInfo()
            info.nodeID = 1
            info.role = "standalone"
            info.stateCode = .healthy
            r.state = info
            return r
        }
    }

    /// `{"metric_type": "system_info"}` is answered with Milvus' system topology JSON (one node: this
    /// process); other metric types are refused as Milvus refuses unknown ones.
    func getMetrics(request: Milvus_Proto_Milvus_GetMetricsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetMetricsResponse {
        await call("GetMetrics", checkDatabase: false) {
            guard request.request.utf8.count <= 65_536 else { throw APIError.invalid("GetMetrics request is over 64 KiB; send {\"metric_type\": \"system_info\"}") }
            let parsed: JSONValue
            do throws(JSONParser.Failure) { parsed = try JSONParser.parse(Array(request.request.utf8)) } catch {
                throw APIError.invalid("GetMetrics request must be JSON such as {\"metric_type\": \"system_info\"}: malformed at byte \(error.offset): \(error.message)")
            }
            guard case let .object(o) = parsed, case let .string(type)? = o["metric_type"] else {
                throw APIError.invalid("GetMetrics request needs \"metric_type\" (a string), e.g. {\"metric_type\": \"system_info\"}")
            }
            guard type.lowercased() == "system_info" else {
                throw APIError.invalid("sorry, but this metric type is not implemented: \(type.prefix(64)) (Vireo answers metric_type system_info)")
            }
            var r = Milvus_Proto_Milvus_GetMetricsResponse()
            r.response = SystemInfo.json(version: Self.version, database: handlers.database)
            r.componentName = SystemInfo.nodeName
            return r
        }
    }

    func getIndexStatistics(request: Milvus_Proto_Milvus_GetIndexStatisticsRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetIndexStatisticsResponse {
        await call("GetIndexStatistics", db: request.dbName) {
            var r = Milvus_Proto_Milvus_GetIndexStatisticsResponse()
            r.indexDescriptions = try await descriptions(request.collectionName, indexName: request.indexName, fieldName: "")
                .map { Self.protoIndexDescription($0, collection: request.collectionName) }
            return r
        }
    }

    /// One replica on one node while the collection is loaded; none while it is released (as Milvus).
    func getReplicas(request: Milvus_Proto_Milvus_GetReplicasRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetReplicasResponse {
        await call("GetReplicas", db: request.dbName) {
            // attu and the Node SDK name the collection by id (DescribeCollection's collectionID).
            var name = request.collectionName
            if name.isEmpty, request.collectionID != 0 {
                guard let found = handlers.collectionName(id: UInt64(bitPattern: request.collectionID)) else {
                    throw APIError(.collectionNotFound, "collection not found[collection=\(request.collectionID)]")
                }
                name = found
            }
            guard !name.isEmpty else { throw APIError.missing("collection_name") }
            let state = try await handlers.loadedCollectionID(name)
            var r = Milvus_Proto_Milvus_GetReplicasResponse()
            guard state.loaded else { return r }
            let cname = try handlers.schema(of: name).name
            let ids = try await handlers.partitionIDs(name)
            let loaded = Set(state.partitions)
            var replica = Milvus_Proto_Milvus_ReplicaInfo()
            replica.replicaID = 1
            replica.collectionID = Self.collectionID(ids.collection)
            replica.partitionIds = ids.partitions.filter { loaded.contains($0.name) }.map { Self.partitionID(collection: ids.collection, partition: $0.id) }
            replica.nodeIds = [1]
            replica.resourceGroupName = "__default_resource_group"
            if request.withShardNodes {
                let shards = try handlers.schema(of: name).shardsNum
                replica.shardReplicas = (0..<shards).map { i in
                    var s = Milvus_Proto_Milvus_ShardReplica()
                    s.leaderID = 1
                    s.dmChannelName = "\(cname)_shard_\(i)"
                    s.nodeIds = [1]
                    return s
                }
            }
            r.replicas = [replica]
            return r
        }
    }

    /// Vireo's authentication is a token, not Milvus' user table (RBAC): there are no users to list.
    func listCredUsers(request: Milvus_Proto_Milvus_ListCredUsersRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_ListCredUsersResponse {
        await call("ListCredUsers", checkDatabase: false) { Milvus_Proto_Milvus_ListCredUsersResponse() }
    }

    /// The segments a search reads: every non-empty segment of every shard while the collection is
    /// loaded, none while it is released; `nodeID` is this process (1). Vireo's segments are per
    /// shard, not per partition (Milvus'), so a segment holding rows of several partitions is listed
    /// once per partition, each time with that partition's id and rows.
    func getQuerySegmentInfo(request: Milvus_Proto_Milvus_GetQuerySegmentInfoRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetQuerySegmentInfoResponse {
        await call("GetQuerySegmentInfo", db: request.dbName) {
            let state = try await handlers.loadedCollectionID(request.collectionName)
            let (c, segments) = try await handlers.segments(request.collectionName)
            var r = Milvus_Proto_Milvus_GetQuerySegmentInfoResponse()
            guard state.loaded else { return r }
            let indexNames = Dictionary(c.indexes.map { ($0.field, $0.indexName) }, uniquingKeysWith: { a, _ in a })
            r.infos = Self.perPartition(segments, of: c).map { s, partition, rows in
                var p = Milvus_Proto_Milvus_QuerySegmentInfo()
                p.segmentID = s.id
                p.collectionID = Self.collectionID(c.id)
                p.partitionID = partition
                p.memSize = Int64(s.rows > 0 ? s.vectorBytes * rows / s.rows : 0)
                p.numRows = Int64(rows)
                p.indexName = s.indexedFields.first.flatMap { indexNames[$0] } ?? ""
                p.nodeID = 1
                p.nodeIds = [1]
                p.state = s.state == .sealed ? .sealed : .growing
                p.level = .l1
                return p
            }
            return r
        }
    }

    /// Stored segments: sealed ones are `Flushed` (durable and immutable), the growing one `Growing`
    /// (durable in LMDB too); `states` filters them. Listed per partition, as `GetQuerySegmentInfo`.
    func getPersistentSegmentInfo(request: Milvus_Proto_Milvus_GetPersistentSegmentInfoRequest, context: ServerContext) async throws -> Milvus_Proto_Milvus_GetPersistentSegmentInfoResponse {
        await call("GetPersistentSegmentInfo", db: request.dbName) {
            let (c, segments) = try await handlers.segments(request.collectionName)
            var r = Milvus_Proto_Milvus_GetPersistentSegmentInfoResponse()
            let wanted = Set(request.states)
            r.infos = Self.perPartition(segments, of: c).compactMap { s, partition, rows in
                var p = Milvus_Proto_Milvus_PersistentSegmentInfo()
                p.segmentID = s.id
                p.collectionID = Self.collectionID(c.id)
                p.partitionID = partition
                p.numRows = Int64(rows)
                p.state = s.state == .sealed ? .flushed : .growing
                p.level = .l1
                p.insertChannel = "\(c.name)_shard_\(s.shard)"
                if !wanted.isEmpty && !wanted.contains(p.state) { return nil }
                return p
            }
            return r
        }
    }

    /// `(segment, partition id, rows)` for every non-empty segment and each live partition it holds
    /// rows of (rows of a partition being dropped are left out).
    static func perPartition(_ segments: [Collection.SegmentInfo], of c: Collection) -> [(Collection.SegmentInfo, Int64, Int)] {
        let live = Set(c.partitionIDs().map(\.id))
        return segments.flatMap { s in
            s.partitionRows.sorted { $0.key < $1.key }.compactMap { id, rows -> (Collection.SegmentInfo, Int64, Int)? in
                rows > 0 && live.contains(id) ? (s, partitionID(collection: c.id, partition: id), rows) : nil
            }
        }
    }
}

extension Milvus_Proto_Milvus_TruncateCollectionResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ListDatabasesResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_DescribeDatabaseResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_DescribeAliasResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ListAliasesResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ComponentStates: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetMetricsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetIndexStatisticsResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetReplicasResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_ListCredUsersResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetQuerySegmentInfoResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }
extension Milvus_Proto_Milvus_GetPersistentSegmentInfoResponse: MilvusStatusResponse { var milvusStatus: PStatus { get { status } set { status = newValue } }; var hasMilvusStatus: Bool { hasStatus } }

/// Milvus' `system_info` metrics (its `metricsinfo.SystemTopology`), for this one process.
///
/// attu parses the topology a Milvus standalone reports: one node per component role, the proxy
/// forwarding to the coordinators and each coordinator managing its worker nodes. Its home page and
/// load dialog read the `rootcoord` node's `system_info.deploy_mode` and fail without one, its
/// system view draws the proxy's and coordinators' `connected` edges, and it sums `hardware_infos`
/// over the nodes. Vireo is all of these roles in one process, so every node carries the same
/// hardware and version facts; identifiers are unique in the graph, as Milvus makes them.
enum SystemInfo {
    static let nodeName = "vireo-standalone"
    private static let started = Date()

    /// The roles, in Milvus' names, and the roles each one connects to (`forward` from the proxy,
    /// `manage` from a coordinator to its workers, Milvus' two edge types).
    static let roles: [(role: String, edges: [(target: String, type: String)])] = [
        ("proxy", [("rootcoord", "forward"), ("querycoord", "forward"), ("datacoord", "forward")]),
        ("rootcoord", []),
        ("querycoord", [("querynode", "manage")]),
        ("datacoord", [("datanode", "manage")]),
        ("querynode", []),
        ("datanode", []),
    ]

    static func json(version: String, database: Database) -> String {
        let fs = try? FileManager.default.attributesOfFileSystem(forPath: database.path)
        let disk = (fs?[.systemSize] as? NSNumber)?.int64Value ?? 0
        let free = (fs?[.systemFreeSize] as? NSNumber)?.int64Value ?? 0
        let created = ISO8601DateFormatter().string(from: started)
        let now = ISO8601DateFormatter().string(from: Date())
        let hardware: JSONValue = .object([
            "ip": .string(ProcessInfo.processInfo.hostName),
            "cpu_core_count": .int(Int64(ProcessInfo.processInfo.activeProcessorCount)),
            "cpu_core_usage": .double(0),
            "memory": .int(Int64(clamping: ProcessInfo.processInfo.physicalMemory)),
            "memory_usage": .int(residentBytes()),
            "disk": .int(disk),
            "disk_usage": .int(max(0, disk - free)),
        ])
        let identifiers = Dictionary(uniqueKeysWithValues: roles.enumerated().map { ($1.role, Int64($0 + 1)) })
        let nodes: [JSONValue] = roles.map { role, edges in
            let id = identifiers[role] ?? 0
            return .object([
                "identifier": .int(id),
                "connected": .array(edges.map { e in
                    .object(["connected_identifier": .int(identifiers[e.target] ?? 0), "type": .string(e.type), "target_type": .string(e.target)])
                }),
                "infos": .object([
                    "has_error": .bool(false),
                    "error_reason": .string(""),
                    "name": .string("\(role)\(id)"),
                    "hardware_infos": hardware,
                    "system_info": .object([
                        "system_version": .string(version),
                        "deploy_mode": .string("STANDALONE"),
                        "build_version": .string(version),
                        "build_time": .string(""),
                        "used_go_version": .string(""),
                    ]),
                    "created_time": .string(created),
                    "updated_time": .string(now),
                    "type": .string(role),
                    "id": .int(id),
                    "system_configurations": .object([:]),
                ]),
            ])
        }
        var w = JSONWriter()
        w.json(.object(["nodes_info": .array(nodes)]))
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Resident memory of this process (Linux `/proc/self/statm`), 0 where unknown.
    private static func residentBytes() -> Int64 {
        guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let parts = s.split(separator: " ")
        guard parts.count > 1, let pages = Int64(parts[1]) else { return 0 }
        return pages * 4096
    }
}
