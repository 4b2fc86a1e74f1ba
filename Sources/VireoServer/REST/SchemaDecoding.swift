import Vireo

/// Milvus' JSON forms of schemas and index parameters (collections/create, indexes/create) and of
/// collections/describe.
enum SchemaDecoding {
    static let consistencyLevels = Set(CollectionSchema.consistencyLevels)
    static let unsupportedTypes: Set<String> = ["Geometry", "Timestamptz"]

    /// Quick setup (`dimension`) or a custom schema (`schema`), with `indexParams` and `params`.
    static func createCall(_ body: JSONBody) throws -> CreateCollectionCall {
        let name = try body.collectionName
        let params = try body.object("params") ?? JSONBody(object: [:])
        let level = try params.string("consistencyLevel") ?? body.string("consistencyLevel") ?? "Strong"
        guard consistencyLevels.contains(level) else {
            throw APIError.invalid("consistencyLevel '\(level)' is invalid; use one of Strong, Session, Bounded, Eventually (Vireo is always strongly consistent)")
        }
        let shards = try params.int("shardsNum") ?? body.int("shardsNum") ?? 1
        let description = try body.string("description") ?? ""
        let properties = try createProperties(body, params)
        var indexes = try body.array("indexParams").map { list throws in try indexRequests(list) } ?? []

        if let schemaBody = try body.object("schema") {
            var fields: [FieldSchema] = []
            guard let list = try schemaBody.array("fields"), !list.isEmpty else {
                throw APIError.missing("schema.fields", "a schema needs a primary key field and a FloatVector field")
            }
            // Parts of a Milvus schema Vireo does not serve are refused, never dropped silently.
            if let structs = try schemaBody.array("structFields"), !structs.isEmpty {
                throw APIError.invalid("struct array fields (schema.structFields) are not supported by Vireo yet; store each sub-field as its own Array field, or the struct as a JSON field")
            }
            var functions: [FunctionSchema] = []
            for (i, item) in (try schemaBody.array("functions") ?? []).enumerated() {
                guard case .object = item else { throw APIError.wrongType("schema.functions[\(i)]", expected: "an object", got: item) }
                functions.append(try function(JSONBody(item), index: i))
            }
            let autoID = try schemaBody.bool("autoID") ?? schemaBody.bool("autoId") ?? false
            for (i, item) in list.enumerated() {
                guard case .object = item else { throw APIError.wrongType("schema.fields[\(i)]", expected: "an object", got: item) }
                fields.append(try field(JSONBody(item), index: i, autoID: autoID))
            }
            let dynamic = try schemaBody.bool("enableDynamicField") ?? params.bool("enableDynamicField") ?? false
            var schema = CollectionSchema(name: name, fields: fields, description: description, enableDynamicField: dynamic, shardsNum: shards)
            if let n = try params.int("partitionsNum") ?? body.int("partitionsNum") { schema.numPartitions = n }
            schema.consistencyLevel = level
            schema.functions = functions
            return CreateCollectionCall(schema: schema, indexes: indexes, load: !indexes.isEmpty, properties: properties)
        }

        // Quick setup.
        guard let dim = try body.int("dimension") else {
            throw APIError.missing("dimension", "quick setup needs the vector dimension; or give a full 'schema'")
        }
        let metric = try body.string("metricType").map { s throws in try MilvusParams.metric(s) } ?? .cosine
        let pkName = try body.string("primaryFieldName") ?? "id"
        let vectorName = try body.string("vectorFieldName") ?? "vector"
        let idType = try body.string("idType") ?? "Int64"
        let autoID = try body.bool("autoID") ?? body.bool("autoId") ?? false
        let pk: FieldSchema
        switch idType.lowercased() {
        case "int64": pk = .int64PrimaryKey(pkName, autoID: autoID)
        case "varchar":
            var f = FieldSchema.varCharPrimaryKey(pkName, maxLength: try params.int("max_length") ?? body.int("maxLength") ?? 256)
            f.autoID = autoID
            pk = f
        default: throw APIError.invalid("idType '\(idType)' is invalid; use Int64 or VarChar")
        }
        let dynamic = try params.bool("enableDynamicField") ?? body.bool("enableDynamicField") ?? true
        // Milvus' quick setup: the metric is the vector field's AUTOINDEX's (unless indexParams are given).
        var schema = CollectionSchema(name: name, fields: [pk, .floatVector(vectorName, dimension: dim)],
                                      description: description, enableDynamicField: dynamic, shardsNum: shards)
        schema.consistencyLevel = level
        if indexes.isEmpty { indexes = [IndexRequest(fieldName: vectorName, indexName: vectorName, metric: metric, indexType: "AUTOINDEX")] }
        return CreateCollectionCall(schema: schema, indexes: indexes, load: true, properties: properties)
    }

    /// The collection properties a create sets: `params.ttlSeconds`, `params.partitionKeyIsolation`,
    /// `params.mmapEnabled` (Milvus' REST names) and any `properties` object.
    private static func createProperties(_ body: JSONBody, _ params: JSONBody) throws -> [String: String] {
        var out: [String: String] = [:]
        if let o = try body.object("properties") {
            for (k, v) in o.object {
                switch v {
                case let .string(s): out[k] = s
                case let .int(i): out[k] = String(i)
                case let .bool(b): out[k] = String(b)
                default: throw APIError.wrongType("properties.\(k)", expected: "a string, integer or boolean", got: v)
                }
            }
        }
        if let ttl = try params.int("ttlSeconds") { out[CollectionProperties.ttlSeconds] = String(ttl) }
        if let iso = try params.bool("partitionKeyIsolation") { out[CollectionProperties.partitionKeyIsolation] = String(iso) }
        if let mmap = try params.bool("mmapEnabled") ?? params.bool("mmap_enabled") { out[CollectionProperties.mmapEnabled] = String(mmap) }
        return out
    }

    /// One of `schema.functions`: `name`, `type` (BM25), `inputFieldNames`, `outputFieldNames`,
    /// `params`, `description`.
    static func function(_ b: JSONBody, index i: Int) throws -> FunctionSchema {
        let what = "schema.functions[\(i)]"
        let name = try b.requiredString("name", hint: "\(what) needs a name")
        let typeName = try b.string("type") ?? b.string("functionType") ?? "BM25"
        guard let kind = FunctionSchema.Kind(milvusName: typeName) else {
            throw APIError.invalid("\(what): function type \(typeName) is not supported by Vireo; it runs BM25 functions (full-text search); compute embeddings before inserting")
        }
        func names(_ key: String) throws -> [String] {
            guard let list = try b.array(key) else { throw APIError.missing("\(what).\(key)", "a BM25 function names its input and output fields") }
            return try list.enumerated().map { j, v in
                guard case let .string(s) = v else { throw APIError.wrongType("\(what).\(key)[\(j)]", expected: "a field name", got: v) }
                return s
            }
        }
        var params: [String: String] = [:]
        for (k, v) in (try b.object("params"))?.object ?? [:] {
            if case let .string(s) = v { params[k] = s } else { params[k] = v.jsonText }
        }
        return FunctionSchema(name: name, kind: kind, inputFields: try names("inputFieldNames"), outputFields: try names("outputFieldNames"),
                              params: params, description: try b.string("description") ?? "")
    }

    static func field(_ b: JSONBody, index i: Int, autoID: Bool) throws -> FieldSchema {
        let name = try b.requiredString("fieldName", hint: "every field of schema.fields needs a fieldName")
        let typeName = try b.requiredString("dataType", hint: "field '\(name)' needs a dataType")
        if unsupportedTypes.contains(typeName) {
            throw APIError.invalid("field '\(name)': dataType \(typeName) is not supported by Vireo yet; use FloatVector, Float16Vector, BFloat16Vector, Int8Vector or BinaryVector for vectors")
        }
        // Milvus' REST API takes the type names exactly as spelled (its DataType_value map).
        guard let type = DataType.allCases.first(where: { $0.rawValue == typeName }) else {
            let hint = DataType(milvusName: typeName).map { " (did you mean \($0.rawValue)? type names are case-sensitive)" } ?? ""
            throw APIError.invalid("field '\(name)': invalid dataType '\(typeName)'\(hint); use one of \(DataType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let tp = try b.object("elementTypeParams") ?? JSONBody(object: [:])
        var f = FieldSchema(name: name, dataType: type)
        f.isPrimaryKey = try b.bool("isPrimary") ?? false
        let fieldAuto = try b.bool("autoID") ?? b.bool("autoId") ?? autoID
        f.autoID = f.isPrimaryKey && fieldAuto
        f.dimension = try tp.int("dim")
        f.maxLength = try tp.int("max_length")
        f.maxCapacity = try tp.int("max_capacity")
        if let v = tp["enable_analyzer"] { f.enableAnalyzer = try MilvusParams.flag(v, "enable_analyzer") }
        if let v = tp["enable_match"] { f.enableMatch = try MilvusParams.flag(v, "enable_match") }
        switch tp["analyzer_params"] {
        case nil, .null?: break
        case let .string(text)?: f.analyzerParams = text
        case let .object(o)?: f.analyzerParams = JSONValue.object(o).jsonText
        case let v?: throw APIError.wrongType("field '\(name)'.elementTypeParams.analyzer_params", expected: "a JSON object", got: v)
        }
        f.nullable = try b.bool("nullable") ?? false
        f.description = try b.string("description") ?? ""
        if type == .array {
            guard let e = try b.string("elementDataType") else {
                throw APIError.missing("elementDataType", "Array field '\(name)' needs its element type")
            }
            guard let et = DataType(milvusName: e) else { throw APIError.invalid("field '\(name)': invalid elementDataType '\(e)'") }
            f.elementType = et
        }
        if let d = b["defaultValue"] { f.defaultValue = d }
        f.isPartitionKey = try b.bool("isPartitionKey") ?? false
        return f
    }

    static func indexRequests(_ list: [JSONValue]) throws -> [IndexRequest] {
        var out: [IndexRequest] = []
        for (i, item) in list.enumerated() {
            guard case .object = item else { throw APIError.wrongType("indexParams[\(i)]", expected: "an object", got: item) }
            out.append(try MilvusParams.indexRequest(try JSONBody(item), what: "indexParams[\(i)]"))
        }
        return out
    }

    /// A default value as Milvus' REST describe shows it: its handler puts the field's proto
    /// `ValueField` in the reply as is, so Go's JSON encoder writes the oneof as
    /// `{"Data": {"<Member>": value}}` (`LongData` for Int64, `IntData` for Int8/16/32, `FloatData`,
    /// `DoubleData`, `BoolData`, `StringData`); nil when the value does not fit the type.
    static func milvusDefaultValue(_ v: JSONValue, _ t: DataType) -> JSONValue? {
        let member: (String, JSONValue)
        switch (t, v) {
        case let (.bool, .bool(b)): member = ("BoolData", .bool(b))
        case let (.int8, .int(i)), let (.int16, .int(i)), let (.int32, .int(i)): member = ("IntData", .int(i))
        case let (.int64, .int(i)): member = ("LongData", .int(i))
        case let (.float, .int(i)): member = ("FloatData", .int(i))
        case let (.float, .double(d)):
            // A float32, written as Go writes one: the shortest text that reads back as that float.
            let x = Float(d)
            member = ("FloatData", x == x.rounded() && abs(x) < 1e15 ? .int(Int64(x)) : .double(Double("\(x)") ?? Double(x)))
        case let (.double, .double(d)): member = ("DoubleData", .double(d))
        case let (.double, .int(i)): member = ("DoubleData", .int(i))
        case let (.varChar, .string(s)): member = ("StringData", .string(s))
        default: return nil
        }
        return .object(["Data": .object([member.0: member.1])])
    }

    /// A schema's functions as `collections/describe` lists them.
    static func functions(_ s: CollectionSchema) -> [JSONValue] {
        func id(_ name: String) -> JSONValue { .int(Int64(100 + (s.fields.firstIndex { $0.name == name } ?? 0))) }
        return s.functions.enumerated().map { i, fn in
            .object([
                "name": .string(fn.name), "id": .int(Int64(100 + s.fields.count + i)), "description": .string(fn.description),
                "type": .string(fn.kind.rawValue),
                "inputFieldNames": .array(fn.inputFields.map { .string($0) }), "inputFieldIds": .array(fn.inputFields.map(id)),
                "outputFieldNames": .array(fn.outputFields.map { .string($0) }), "outputFieldIds": .array(fn.outputFields.map(id)),
                "params": .array(fn.params.sorted { $0.key < $1.key }.map { .object(["key": .string($0.key), "value": .string($0.value)]) }),
            ])
        }
    }

    /// `collections/describe` data.
    static func writeDescription(_ d: CollectionDescription, into w: inout JSONWriter) {
        let s = d.schema
        var fields: [JSONValue] = []
        for (i, f) in s.fields.enumerated() {
            var o: [String: JSONValue] = [
                "name": .string(f.name), "id": .int(Int64(100 + i)), "type": .string(f.dataType.rawValue),
                "primaryKey": .bool(f.isPrimaryKey), "partitionKey": .bool(f.isPartitionKey), "clusteringKey": .bool(false),
                "autoId": .bool(f.autoID), "description": .string(f.description), "nullable": .bool(f.nullable),
            ]
            var params: [JSONValue] = []
            func param(_ k: String, _ v: Int?) { if let v { params.append(.object(["key": .string(k), "value": .string(String(v))])) } }
            param("dim", f.dimension)
            param("max_length", f.maxLength)
            param("max_capacity", f.maxCapacity)
            if f.storesNormalizedVectors {
                // A field migrated from Vireo ≤ 0.2 (see FieldSchema.storesNormalizedVectors).
                params.append(.object(["key": .string(FieldSchema.storesNormalizedVectorsParam), "value": .string("true")]))
            }
            if let m = f.mmapEnabled { params.append(.object(["key": .string("mmap.enabled"), "value": .string(String(m))])) }
            if f.enableAnalyzer { params.append(.object(["key": .string("enable_analyzer"), "value": .string("true")])) }
            if f.enableMatch { params.append(.object(["key": .string("enable_match"), "value": .string("true")])) }
            if let a = f.analyzerParams { params.append(.object(["key": .string("analyzer_params"), "value": .string(a)])) }
            if s.isFunctionOutput(f.name) { o["isFunctionOutput"] = .bool(true) }
            o["params"] = .array(params)
            if let e = f.elementType { o["elementType"] = .string(e.rawValue) }
            if let dv = f.defaultValue.flatMap({ Self.milvusDefaultValue($0, f.dataType) }) { o["defaultValue"] = dv }
            fields.append(.object(o))
        }
        let indexes: [JSONValue] = d.indexes.map {
            .object(["indexName": .string($0.indexName), "fieldName": .string($0.fieldName), "metricType": .string($0.metric?.rawValue ?? "")])
        }
        // The catalog id, as gRPC reports it: unique per database and collection, kept across renames.
        let id = Int64(bitPattern: d.id)
        let pk = s.primaryKey
        w.json(.object([
            "collectionName": .string(s.name), "collectionID": .int(id), "description": .string(s.description),
            "autoId": .bool(pk.autoID), "fields": .array(fields), "functions": .array(functions(s)), "aliases": .array(d.aliases.map { .string($0) }),
            "dbName": .string(d.database),
            "indexes": .array(indexes), "load": .string(d.loadState.rawValue), "shardsNum": .int(Int64(s.shardsNum)),
            "partitionsNum": .int(Int64(d.partitionCount)), "consistencyLevel": .string(s.consistencyLevel),
            "enableDynamicField": .bool(s.enableDynamicField),
            "properties": .array(d.properties.sorted { $0.key < $1.key }.map { .object(["key": .string($0.key), "value": .string($0.value)]) }),
        ]))
    }
}
