import Foundation
import Vireo

/// One REST call after transport concerns (auth, body size, deadline) are handled.
struct RESTCall: Sendable {
    var body: JSONBody
    /// `Accept-Type-Allow-Int64: false`: int64 values as strings.
    var int64AsString: Bool
    /// `DB-Name` header (used when the body has no `dbName`).
    var dbHeader: String?
    /// Insert/upsert: the rows under `data`, already decoded against the collection's schema while
    /// parsing (nil: `data` is in `body`, for the generic path).
    var rows: [Row]? = nil
}

/// What an endpoint returns: the JSON of `data`, plus extra top-level envelope members (`topks`).
struct RESTReply: Sendable {
    var data: [UInt8]
    var extra: [(String, [UInt8])] = []

    static let empty = RESTReply(data: Array("{}".utf8))
}

/// The Milvus RESTful API v2 endpoints: request JSON → typed handler calls → response JSON.
/// No HTTP types here; ``RESTServer`` does the transport.
struct RESTEndpoints: Sendable {
    typealias Endpoint = @Sendable (RESTCall) async throws -> RESTReply
    let handlers: MilvusHandlers

    /// Path (below `/v2/vectordb/`) → endpoint. Every endpoint but `databases/*` (which name the
    /// database they act on) runs in the database of the request's `dbName`, else its `DB-Name`
    /// header, else `default`; a database that does not exist is code 800.
    var routes: [(String, Endpoint)] {
        let handlers = self.handlers
        return collectionRoutes.map { path, endpoint in
            guard !path.hasPrefix("databases/") else { return (path, endpoint) }
            return (path, { c in
                let database = try handlers.checkDatabase(try c.body.string("dbName") ?? c.dbHeader)
                return try await RequestScope.$database.withValue(database) { try await endpoint(c) }
            })
        }
    }

    private var collectionRoutes: [(String, Endpoint)] {
        [
            ("collections/create", createCollection),
            ("collections/describe", describeCollection),
            ("collections/list", listCollections),
            ("collections/has", hasCollection),
            ("collections/drop", dropCollection),
            ("collections/get_stats", collectionStats),
            ("collections/load", loadCollection),
            ("collections/release", releaseCollection),
            ("collections/get_load_state", loadState),
            ("collections/refresh_load", { c throws in try await handlers.refreshLoad(try c.body.collectionName); return .empty }),
            ("collections/flush", flush),
            ("collections/compact", compact),
            ("collections/get_compaction_state", compactionState),
            ("collections/rename", renameCollection),
            ("entities/insert", { c throws in try await write(c, upsert: false) }),
            ("entities/upsert", { c throws in try await write(c, upsert: true) }),
            ("entities/delete", delete),
            ("entities/get", get),
            ("entities/query", query),
            ("entities/search", search),
            ("entities/hybrid_search", hybridSearch),
            ("entities/advanced_search", hybridSearch),
            ("indexes/create", createIndex),
            ("indexes/describe", describeIndex),
            ("indexes/list", listIndexes),
            ("indexes/drop", dropIndex),
            ("partitions/create", createPartition),
            ("partitions/drop", dropPartition),
            ("partitions/has", hasPartition),
            ("partitions/list", listPartitions),
            ("partitions/get_stats", partitionStats),
            ("partitions/load", loadPartitions),
            ("partitions/release", releasePartitions),
        ] + databaseRoutes + propertyRoutes + accessRoutes
    }

    // MARK: Collections

    func createCollection(_ c: RESTCall) async throws -> RESTReply {
        let call = try SchemaDecoding.createCall(c.body)
        try await handlers.createCollection(call)
        return .empty
    }

    func describeCollection(_ c: RESTCall) async throws -> RESTReply {
        let d = try await handlers.describeCollection(try c.body.collectionName)
        var w = JSONWriter()
        SchemaDecoding.writeDescription(d, into: &w)
        return RESTReply(data: w.bytes)
    }

    func listCollections(_ c: RESTCall) async throws -> RESTReply {
        var w = JSONWriter()
        w.json(.array(handlers.listCollections().map { .string($0) }))
        return RESTReply(data: w.bytes)
    }

    func hasCollection(_ c: RESTCall) async throws -> RESTReply {
        let has = try handlers.hasCollection(try c.body.collectionName)
        return RESTReply(data: Array("{\"has\":\(has)}".utf8))
    }

    func dropCollection(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.dropCollection(try c.body.collectionName)
        return .empty
    }

    func collectionStats(_ c: RESTCall) async throws -> RESTReply {
        let n = try await handlers.collectionRowCount(try c.body.collectionName)
        return RESTReply(data: Array("{\"rowCount\":\(n)}".utf8))
    }

    func loadCollection(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.loadCollection(try c.body.collectionName)
        return .empty
    }

    func releaseCollection(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.releaseCollection(try c.body.collectionName)
        return .empty
    }

    func loadState(_ c: RESTCall) async throws -> RESTReply {
        let s = try await handlers.loadState(try c.body.collectionName, partitions: try c.body.stringArray("partitionNames"))
        let json = s == .loaded ? "{\"loadState\":\"\(s.rawValue)\",\"loadProgress\":100}" : "{\"loadState\":\"\(s.rawValue)\"}"
        return RESTReply(data: Array(json.utf8))
    }

    func flush(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.flush(try c.body.collectionName)
        return .empty
    }

    /// Starts a compaction job and answers its id, an Int64 number as Milvus sends it (its text
    /// with `Accept-Type-Allow-Int64: false`, since ids pass 2^53), for `get_compaction_state`.
    func compact(_ c: RESTCall) async throws -> RESTReply {
        let job = try await handlers.compact(try c.body.collectionName)
        return RESTReply(data: Array("{\"compactionID\":\(Self.int64(job.id, c.int64AsString))}".utf8))
    }

    static func int64(_ v: Int64, _ asString: Bool) -> String { asString ? "\"\(v)\"" : String(v) }

    /// A job by `jobID` (or `compactionID`), else the newest job of `collectionName`; a job nobody
    /// knows is `UndefiedState` (Milvus' spelling), as over gRPC.
    func compactionState(_ c: RESTCall) async throws -> RESTReply {
        let job: CompactionJob?
        if let id = try c.body.int("jobID") ?? c.body.int("compactionID") {
            job = handlers.compactionJob(Int64(id))
        } else {
            job = try handlers.latestCompactionJob(try c.body.collectionName)
        }
        let state = job.map { $0.isFinished ? "Completed" : "Executing" } ?? "UndefiedState"
        let json = "{\"compactionID\":\(Self.int64(job?.id ?? 0, c.int64AsString)),\"state\":\"\(state)\",\"executingPlanNumber\":\(job?.executingPlans ?? 0),"
            + "\"timeoutPlanNumber\":0,\"completePlanNumber\":\(job?.completedPlans ?? 0),\"failedPlanNumber\":\(job?.failedPlans ?? 0)}"
        return RESTReply(data: Array(json.utf8))
    }

    func renameCollection(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.renameCollection(try c.body.collectionName, to: try c.body.requiredString("newCollectionName"),
                                            newDatabase: try c.body.string("newDbName"))
        return .empty
    }

    // MARK: Entities

    /// Insert or upsert. A row Milvus cannot take is 1804 with its "fail to deal the insert data"
    /// prefix (clients and Milvus' tests match on it), then what is wrong.
    func write(_ c: RESTCall, upsert: Bool) async throws -> RESTReply {
        do {
            return try await writeRows(c, upsert: upsert)
        } catch {
            var e = ErrorTable.apiError(error, during: .write)
            if e.code == .invalidInsertData { e.message = "fail to deal the insert data, error: " + e.message }
            throw e
        }
    }

    private func writeRows(_ c: RESTCall, upsert: Bool) async throws -> RESTReply {
        let name = try c.body.collectionName
        let schema = try handlers.schema(of: name)
        let rows = try c.rows ?? Self.rows(c.body, schema, maxRows: handlers.limits.maxInsertRows)
        guard rows.count <= handlers.limits.maxInsertRows else {
            throw APIError(.invalidInsertData, "\(rows.count) rows in one request; at most \(handlers.limits.maxInsertRows) are accepted — split the data into smaller batches")
        }
        let result = try await handlers.insert(name, rows: rows, partition: try c.body.string("partitionName"), upsert: upsert)
        var w = JSONWriter()
        w.raw("{")
        w.key(upsert ? "upsertCount" : "insertCount", first: true)
        w.int(result.count)
        w.key(upsert ? "upsertIds" : "insertIds")
        w.raw("[")
        for (k, id) in result.ids.enumerated() {
            if k > 0 { w.raw(",") }
            w.field(id.fieldValue, int64AsString: c.int64AsString)
        }
        w.raw("]}")
        return RESTReply(data: w.bytes)
    }

    /// The rows under `data` of a generically parsed body.
    static func rows(_ body: JSONBody, _ schema: CollectionSchema, maxRows: Int) throws -> [Row] {
        guard let data = body["data"] else {
            throw APIError.missing("data", "give the rows as a list of objects, e.g. [{\"vector\": [...], \"text\": \"...\"}]")
        }
        let items: [JSONValue]
        switch data {
        case let .array(a): items = a
        case .object: items = [data]
        default: throw APIError.wrongType("data", expected: "a list of row objects", got: data)
        }
        guard items.count <= maxRows else {
            throw APIError(.invalidInsertData, "\(items.count) rows in one request; at most \(maxRows) are accepted — split the data into smaller batches")
        }
        var rows: [Row] = []
        rows.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case .object = item else {
                throw APIError(.invalidJSON, "data[\(i)] must be a row object ({\"field\": value, …}), got \(item.kindName)")
            }
            do {
                rows.append(try schema.row(fromJSON: Self.int64FromStrings(item, schema), index: i))
            } catch {
                throw ErrorTable.apiError(error, during: .write)
            }
        }
        return rows
    }

    /// Int64 fields given as strings (clients in int64-as-string mode send them so) become numbers.
    static func int64FromStrings(_ row: JSONValue, _ schema: CollectionSchema) -> JSONValue {
        guard case var .object(o) = row else { return row }
        for f in schema.fields where f.dataType == .int64 {
            if case let .string(s)? = o[f.name], let i = Int64(s) { o[f.name] = .int(i) }
        }
        return .object(o)
    }

    func delete(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        let filter = try Self.filter(c.body, required: true)
        let n = try await handlers.delete(name, filter: filter ?? "", partition: try c.body.string("partitionName"))
        return RESTReply(data: Array("{\"deleteCount\":\(n)}".utf8))
    }

    /// The `filter`, with `exprParams` ({name: value}) substituted for `{name}` placeholders.
    static func filter(_ body: JSONBody, required: Bool = false) throws -> String? {
        guard var f = try body.string("filter") else {
            if required { throw APIError.missing("filter", "delete needs a filter expression, e.g. \"id in [1, 2]\"") }
            return nil
        }
        if let params = try body.object("exprParams") {
            for (k, v) in params.object { f = f.replacingOccurrences(of: "{\(k)}", with: v.jsonText) }
        }
        return f
    }

    func get(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        let schema = try handlers.schema(of: name)
        guard let idValue = c.body["id"] else { throw APIError.missing("id", "give a primary key or a list of them") }
        let values: [JSONValue]
        if case let .array(a) = idValue { values = a } else { values = [idValue] }
        let ids = try Self.primaryKeys(values, "id", schema, code: .invalidPrimaryKey)
        let rows = try await handlers.get(name, ids: ids, outputFields: try c.body.stringArray("outputFields"),
                                          partitions: try c.body.stringArray("partitionNames"))
        return RESTReply(data: Self.rows(rows, schema, c.int64AsString))
    }

    /// Primary keys from JSON: integers (or their decimal text, since JSON numbers above 2^53 lose
    /// precision in most clients) for an Int64 key, strings for a VarChar key. `code` is the Milvus
    /// code for a value of the wrong kind: 1806 for get (Milvus' `ErrPrimaryKey`), 1100 for search.
    static func primaryKeys(_ values: [JSONValue], _ parameter: String, _ schema: CollectionSchema, code: MilvusCode) throws(APIError) -> [PrimaryKey] {
        let isInt = schema.primaryKey.dataType == .int64
        var ids: [PrimaryKey] = []
        ids.reserveCapacity(values.count)
        for (i, v) in values.enumerated() {
            switch (v, isInt) {
            case let (.int(x), true): ids.append(.int(x))
            case let (.string(s), true):
                guard let x = Int64(s) else { throw APIError(code, "\(parameter)[\(i)] = \"\(s.prefix(40))\" is not an Int64 primary key") }
                ids.append(.int(x))
            case let (.string(s), false): ids.append(.string(s))
            default:
                throw APIError(code, "\(parameter)[\(i)] must be \(isInt ? "an integer" : "a string") (the primary key '\(schema.primaryKey.name)' is \(schema.primaryKey.dataType.rawValue)), got \(v.kindName)")
            }
        }
        return ids
    }

    /// The query vectors of a search: `data` (vectors, or text for a BM25 field) or `ids` (primary keys
    /// whose stored vectors are the queries; Milvus 2.6.x REST). Exactly one of the two.
    private func queryVectors(_ body: JSONBody, collection: String, schema: CollectionSchema, field: FieldSchema?,
                              partitions: [String]?) async throws -> SearchQueries {
        if let field, field.dataType.isSparseVector {
            if let idsValue = body["ids"], idsValue != .null {
                if let data = body["data"], data != .null {
                    throw APIError.invalid("'ids' and 'data' are mutually exclusive: search either by primary keys or by queries")
                }
                guard case let .array(values) = idsValue, !values.isEmpty else {
                    throw APIError.wrongType("ids", expected: "a non-empty list of primary keys", got: idsValue)
                }
                let q = try await handlers.sparseQueries(of: try Self.primaryKeys(values, "ids", schema, code: .invalidParameter), in: collection,
                                                         field: field, partitions: partitions)
                return SearchQueries(sparse: q.sparse, texts: q.texts)
            }
            return try Self.sparseQueries(body, field: field, schema: schema)
        }
        guard let idsValue = body["ids"], idsValue != .null else { return SearchQueries(vectors: try body.vectors(field: field)) }
        if let data = body["data"], data != .null {
            throw APIError.invalid("'ids' and 'data' are mutually exclusive: search either by primary keys or by query vectors")
        }
        guard case let .array(values) = idsValue else { throw APIError.wrongType("ids", expected: "a list of primary keys", got: idsValue) }
        guard !values.isEmpty else { throw APIError.missing("ids", "give at least one primary key to search with") }
        let keys = try Self.primaryKeys(values, "ids", schema, code: .invalidParameter)
        if let empty = keys.firstIndex(of: .string("")) {
            throw APIError.invalid("ids[\(empty)] is an empty string; a VarChar primary key is never empty")
        }
        return SearchQueries(vectors: try await handlers.vectors(of: keys, in: collection, field: field?.name, partitions: partitions))
    }

    /// The queries of a sparse field: `data` as text (a BM25 function's output field) or as sparse
    /// vectors `{"index": weight, …}`.
    static func sparseQueries(_ body: JSONBody, field: FieldSchema, schema: CollectionSchema) throws -> SearchQueries {
        guard let items = try body.array("data"), !items.isEmpty else {
            throw APIError.missing("data", schema.isFunctionOutput(field.name) ? "give the query text, e.g. [\"how to index text\"]" : "give sparse query vectors, e.g. [{\"12\": 0.5}]")
        }
        var out = SearchQueries()
        for (i, item) in items.enumerated() {
            switch item {
            case let .string(text): out.texts.append(text)
            case .object:
                do {
                    out.sparse.append(try field.sparseVector(from: .json(item), what: "data[\(i)]"))
                } catch let e as VireoError {
                    throw APIError.invalid(e.message)
                }
            default:
                throw APIError.wrongType("data[\(i)]", expected: schema.isFunctionOutput(field.name) ? "query text" : "a sparse vector {\"index\": weight}", got: item)
            }
        }
        return out
    }

    func query(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        let schema = try handlers.schema(of: name)
        let call = QueryCall(collection: name, filter: try Self.filter(c.body), outputFields: try c.body.stringArray("outputFields") ?? ["*"],
                             limit: try c.body.int("limit") ?? 100, offset: try c.body.int("offset") ?? 0,
                             partitions: try c.body.stringArray("partitionNames"), ignoreGrowing: try c.body.bool("ignoreGrowing") ?? false)
        switch try await handlers.query(call) {
        case let .count(n): return RESTReply(data: Array("[{\"count(*)\":\(n)}]".utf8))
        case let .rows(rows): return RESTReply(data: Self.rows(rows, schema, c.int64AsString))
        }
    }

    static func rows(_ rows: [Row], _ schema: CollectionSchema, _ int64AsString: Bool) -> [UInt8] {
        var w = JSONWriter(reserving: rows.count * 64)
        w.raw("[")
        for (k, row) in rows.enumerated() {
            if k > 0 { w.raw(",") }
            writeRow(row, schema, int64AsString, into: &w, extra: nil)
        }
        w.raw("]")
        return w.bytes
    }

    /// A row object; the primary key first, then the other fields in name order.
    static func writeRow(_ row: Row, _ schema: CollectionSchema, _ int64AsString: Bool, into w: inout JSONWriter, extra: ((inout JSONWriter) -> Void)?) {
        w.raw("{")
        var first = true
        let pk = schema.primaryKey.name
        if let v = row[pk] {
            w.key(pk, first: true)
            w.field(v, int64AsString: int64AsString && schema.primaryKey.dataType == .int64)
            first = false
        }
        if let extra {
            if !first { w.raw(",") }
            extra(&w)
            first = false
        }
        for key in row.keys.sorted() where key != pk {
            w.key(key, first: first)
            first = false
            let type = schema.field(named: key)?.dataType
            let asString = int64AsString && (type == .int64 || (type == .array && schema.field(named: key)?.elementType == .int64))
            w.field(row[key]!, int64AsString: asString)
        }
        w.raw("}")
    }

    /// The collection's only vector field (dense or sparse), searched when a request names none.
    static func onlyVectorField(_ schema: CollectionSchema) -> FieldSchema? {
        let all = schema.fields.filter(\.dataType.isAnyVector)
        return all.count == 1 ? all[0] : nil
    }

    func search(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        let schema = try handlers.schema(of: name)
        let anns = try c.body.string("annsField")
        let annsField = anns.flatMap { schema.field(named: $0) } ?? Self.onlyVectorField(schema)
        let partitions = try c.body.stringArray("partitionNames")
        let queries = try await queryVectors(c.body, collection: name, schema: schema, field: annsField, partitions: partitions)
        var call = SearchCall(collection: name, vectors: queries.vectors, annsField: anns,
                              filter: try Self.filter(c.body), limit: try c.body.int("limit") ?? c.body.int("topK") ?? 100,
                              offset: try c.body.int("offset") ?? 0, outputFields: try c.body.stringArray("outputFields") ?? [],
                              partitions: partitions, options: try MilvusParams.searchOptions(c.body))
        call.sparseVectors = queries.sparse
        call.texts = queries.texts
        call.grouping = try MilvusParams.grouping(field: c.body.string("groupingField"), size: c.body["groupSize"],
                                                  strict: c.body["strictGroupSize"], names: ("groupSize", "strictGroupSize"))
        let hits = try await handlers.search(call)
        return Self.hits(hits, schema, c.int64AsString)
    }

    static func hits(_ hits: [[SearchHit]], _ schema: CollectionSchema, _ int64AsString: Bool) -> RESTReply {
        var w = JSONWriter(reserving: hits.reduce(0) { $0 + $1.count } * 48)
        w.raw("[")
        var first = true
        let pk = schema.primaryKey
        for list in hits {
            for hit in list {
                if !first { w.raw(",") }
                first = false
                var row = hit.fields
                row[pk.name] = hit.id.fieldValue
                writeRow(row, schema, int64AsString, into: &w) { w in
                    w.key("distance", first: true)
                    w.float(hit.score)
                }
            }
        }
        w.raw("]")
        var topks = JSONWriter()
        topks.json(.array(hits.map { .int(Int64($0.count)) }))
        return RESTReply(data: w.bytes, extra: [("topks", topks.bytes)])
    }

    func hybridSearch(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        let schema = try handlers.schema(of: name)
        guard let subs = try c.body.array("search"), !subs.isEmpty else {
            throw APIError.missing("search", "give a list of searches, e.g. [{\"data\": [[…]], \"annsField\": \"v1\", \"limit\": 10}]")
        }
        let limit = try c.body.int("limit") ?? 100
        let offset = try c.body.int("offset") ?? 0
        let partitions = try c.body.stringArray("partitionNames")
        var searches: [SearchCall] = []
        for (i, s) in subs.enumerated() {
            guard case .object = s else { throw APIError.wrongType("search[\(i)]", expected: "an object", got: s) }
            let b = try JSONBody(s)
            let subSchema = try handlers.schema(of: name)
            let subField = try b.string("annsField").flatMap { subSchema.field(named: $0) }
            let queries = try await queryVectors(b, collection: name, schema: subSchema, field: subField ?? Self.onlyVectorField(subSchema),
                                                 partitions: partitions)
            var sub = SearchCall(collection: name, vectors: queries.vectors, annsField: try b.string("annsField"),
                                 filter: try Self.filter(b), limit: try b.int("limit") ?? limit.addingSaturated(offset), offset: try b.int("offset") ?? 0,
                                 partitions: partitions, options: try MilvusParams.searchOptions(b))
            sub.sparseVectors = queries.sparse
            sub.texts = queries.texts
            searches.append(sub)
        }
        let rerank: Rerank
        if let r = try c.body.object("rerank") {
            let strategy = (try r.string("strategy") ?? "rrf").lowercased()
            let params = try r.object("params") ?? JSONBody(object: [:])
            switch strategy {
            case "rrf": rerank = .rrf(k: try params.double("k") ?? 60)
            case "weighted":
                guard let ws = try params.array("weights") else { throw APIError.missing("rerank.params.weights", "give one weight in [0, 1] per search") }
                var weights: [Double] = []
                for (i, x) in ws.enumerated() {
                    switch x {
                    case let .int(v): weights.append(Double(v))
                    case let .double(v): weights.append(v)
                    default: throw APIError.wrongType("rerank.params.weights[\(i)]", expected: "a number", got: x)
                    }
                }
                rerank = .weighted(weights)
            default: throw APIError.invalid("rerank strategy '\(strategy)' is not supported; use \"rrf\" or \"weighted\"")
            }
        } else {
            rerank = .rrf(k: 60)
        }
        let call = HybridSearchCall(collection: name, searches: searches, rerank: rerank, limit: limit, offset: offset,
                                    outputFields: try c.body.stringArray("outputFields") ?? [], partitions: partitions)
        return Self.hits(try await handlers.hybridSearch(call), schema, c.int64AsString)
    }

    // MARK: Indexes

    func createIndex(_ c: RESTCall) async throws -> RESTReply {
        let name = try c.body.collectionName
        guard let list = try c.body.array("indexParams") else { throw APIError.missing("indexParams") }
        try await handlers.createIndexes(name, try SchemaDecoding.indexRequests(list))
        return .empty
    }

    func describeIndex(_ c: RESTCall) async throws -> RESTReply {
        let list = try await handlers.describeIndex(try c.body.collectionName, indexName: try c.body.string("indexName"))
        var w = JSONWriter()
        w.raw("[")
        for (k, d) in list.enumerated() {
            if k > 0 { w.raw(",") }
            // Build parameters, a JSON path index's text parameters, then the index's properties (`mmap.enabled`), as their text.
            let params = JSONValue.object(d.params.mapValues { .int(Int64($0)) }.merging(d.textParams.mapValues { .string($0) }) { a, _ in a }.merging(d.properties.mapValues { .string($0) }) { a, _ in a })
            w.json(.object([
                "indexName": .string(d.indexName), "fieldName": .string(d.fieldName), "indexType": .string(d.indexType),
                "metricType": .string(d.metric?.rawValue ?? ""), "totalRows": .int(Int64(d.totalRows)), "indexedRows": .int(Int64(d.indexedRows)),
                "pendingRows": .int(Int64(d.pendingRows)), "indexState": .string(d.finished ? "Finished" : "InProgress"),
                "failReason": .string(""), "params": params,
            ]))
        }
        w.raw("]")
        return RESTReply(data: w.bytes)
    }

    func listIndexes(_ c: RESTCall) async throws -> RESTReply {
        var w = JSONWriter()
        w.json(.array(try await handlers.listIndexes(try c.body.collectionName).map { .string($0) }))
        return RESTReply(data: w.bytes)
    }

    func dropIndex(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.dropIndex(try c.body.collectionName, indexName: try c.body.requiredString("indexName"))
        return .empty
    }

    // MARK: Partitions

    func createPartition(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.createPartition(try c.body.collectionName, try c.body.requiredString("partitionName"))
        return .empty
    }

    func dropPartition(_ c: RESTCall) async throws -> RESTReply {
        try await handlers.dropPartition(try c.body.collectionName, try c.body.requiredString("partitionName"))
        return .empty
    }

    func hasPartition(_ c: RESTCall) async throws -> RESTReply {
        let has = try await handlers.hasPartition(try c.body.collectionName, try c.body.requiredString("partitionName"))
        return RESTReply(data: Array("{\"has\":\(has)}".utf8))
    }

    func listPartitions(_ c: RESTCall) async throws -> RESTReply {
        var w = JSONWriter()
        w.json(.array(try await handlers.listPartitions(try c.body.collectionName).map { .string($0) }))
        return RESTReply(data: w.bytes)
    }

    func partitionStats(_ c: RESTCall) async throws -> RESTReply {
        let n = try await handlers.partitionRowCount(try c.body.collectionName, try c.body.requiredString("partitionName"))
        return RESTReply(data: Array("{\"rowCount\":\(n)}".utf8))
    }

    func loadPartitions(_ c: RESTCall) async throws -> RESTReply {
        guard let names = try c.body.stringArray("partitionNames"), !names.isEmpty else { throw APIError.missing("partitionNames") }
        try await handlers.setPartitionsLoaded(try c.body.collectionName, names, loaded: true)
        return .empty
    }

    func releasePartitions(_ c: RESTCall) async throws -> RESTReply {
        guard let names = try c.body.stringArray("partitionNames"), !names.isEmpty else { throw APIError.missing("partitionNames") }
        try await handlers.setPartitionsLoaded(try c.body.collectionName, names, loaded: false)
        return .empty
    }
}

/// The queries of one search, by kind (one kind per search).
struct SearchQueries {
    var vectors: [[Float]] = []
    var sparse: [SparseVector] = []
    var texts: [String] = []
}
