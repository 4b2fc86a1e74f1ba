import Foundation
import SwiftProtobuf
import Vireo
import VireoMilvusProto

// Milvus' wire types under short names (the generated names follow the proto packages).
typealias PStatus = Milvus_Proto_Common_Status
typealias PKeyValue = Milvus_Proto_Common_KeyValuePair
typealias PFieldData = Milvus_Proto_Schema_FieldData
typealias PScalarField = Milvus_Proto_Schema_ScalarField
typealias PDataType = Milvus_Proto_Schema_DataType
typealias PFieldSchema = Milvus_Proto_Schema_FieldSchema
typealias PCollectionSchema = Milvus_Proto_Schema_CollectionSchema
typealias PTemplateValue = Milvus_Proto_Schema_TemplateValue

/// Translation between Milvus' protobuf messages and the handlers' typed values. Everything here
/// is pure: no handler calls, no transport.
enum ProtoConversions {
    // MARK: Status

    /// The `Status` of a response: Milvus' code and message, plus the legacy `error_code` that
    /// pymilvus still reads in places (`has_collection` treats `CollectionNotExists` as "no").
    static func status(_ e: APIError) -> PStatus {
        var s = PStatus()
        s.code = Int32(truncatingIfNeeded: e.code.rawValue)
        s.reason = e.message
        switch e.code {
        case .collectionNotFound: s.errorCode = .collectionNotExists
        case .indexNotFound: s.errorCode = .indexNotExist
        case .quotaExceeded: s.errorCode = .diskQuotaExhausted
        case .invalidParameter, .invalidInsertData, .invalidPrimaryKey, .missingParameter, .invalidJSON: s.errorCode = .illegalArgument
        default: s.errorCode = .unexpectedError
        }
        return s
    }

    // MARK: Types

    static func dataType(_ t: PDataType, field: String) throws -> DataType {
        switch t {
        case .bool: return .bool
        case .int8: return .int8
        case .int16: return .int16
        case .int32: return .int32
        case .int64: return .int64
        case .float: return .float
        case .double: return .double
        case .varChar, .string: return .varChar
        case .json: return .json
        case .array: return .array
        case .floatVector: return .floatVector
        case .float16Vector: return .float16Vector
        case .bfloat16Vector: return .bfloat16Vector
        case .int8Vector: return .int8Vector
        case .binaryVector: return .binaryVector
        case .sparseFloatVector: return .sparseFloatVector
        default:
            throw APIError.invalid("field '\(field)': data type \(t) is not supported by Vireo yet; use FloatVector, Float16Vector, BFloat16Vector, Int8Vector, BinaryVector or SparseFloatVector for vectors and Bool, Int8-64, Float, Double, VarChar, JSON or Array for scalars")
        }
    }

    static func protoType(_ t: DataType) -> PDataType {
        switch t {
        case .bool: return .bool
        case .int8: return .int8
        case .int16: return .int16
        case .int32: return .int32
        case .int64: return .int64
        case .float: return .float
        case .double: return .double
        case .varChar: return .varChar
        case .json: return .json
        case .array: return .array
        case .floatVector: return .floatVector
        case .float16Vector: return .float16Vector
        case .bfloat16Vector: return .bfloat16Vector
        case .int8Vector: return .int8Vector
        case .binaryVector: return .binaryVector
        case .sparseFloatVector: return .sparseFloatVector
        }
    }

    static func metric(_ s: String) throws -> Metric {
        guard let m = Metric(milvusName: s) else { throw APIError.invalid("metric type '\(s)' is not supported; use L2, IP or COSINE (dense vectors) or HAMMING, JACCARD (binary vectors)") }
        return m
    }

    // MARK: Schemas

    /// `CreateCollectionRequest.schema` (a serialized `CollectionSchema`) → the engine's schema.
    static func collectionSchema(_ request: Milvus_Proto_Milvus_CreateCollectionRequest) throws -> CollectionSchema {
        let p: PCollectionSchema
        do {
            p = try PCollectionSchema(serializedBytes: request.schema)
        } catch {
            throw APIError.invalid("CreateCollection: 'schema' is not a serialized milvus.proto.schema.CollectionSchema (\(error))")
        }
        guard p.structArrayFields.isEmpty else { throw APIError.invalid("struct array fields are not supported by Vireo yet") }
        var fields: [FieldSchema] = []
        for f in p.fields where !f.isDynamic {
            fields.append(try fieldSchema(f, schemaAutoID: p.autoID))
        }
        let name = request.collectionName.isEmpty ? p.name : request.collectionName
        var schema = CollectionSchema(name: name, fields: fields, description: p.description_p, enableDynamicField: p.enableDynamicField,
                                      shardsNum: request.shardsNum > 0 ? Int(request.shardsNum) : 1)
        if request.numPartitions > 0 { schema.numPartitions = Int(request.numPartitions) }
        schema.consistencyLevel = try consistencyLevelName(request.consistencyLevel)
        schema.functions = try p.functions.map(functionSchema)
        return schema
    }

    /// A consistency level's name (recorded and reported; Vireo reads strongly consistent).
    static func consistencyLevelName(_ level: Milvus_Proto_Common_ConsistencyLevel) throws -> String {
        guard CollectionSchema.consistencyLevels.indices.contains(level.rawValue) else {
            throw APIError.invalid("consistency_level \(level.rawValue) is invalid; use Strong (0), Session (1), Bounded (2), Eventually (3) or Customized (4)")
        }
        return CollectionSchema.consistencyLevels[level.rawValue]
    }

    static func consistencyLevel(named name: String) -> Milvus_Proto_Common_ConsistencyLevel {
        CollectionSchema.consistencyLevels.firstIndex(of: name).flatMap { Milvus_Proto_Common_ConsistencyLevel(rawValue: $0) } ?? .strong
    }

    /// A schema function: Vireo runs BM25 (the others are refused with what to use).
    static func functionSchema(_ p: Milvus_Proto_Schema_FunctionSchema) throws -> FunctionSchema {
        guard p.type == .bm25 else {
            throw APIError.invalid("function '\(p.name)' of type \(p.type) is not supported by Vireo; it runs BM25 functions (full-text search); compute embeddings before inserting")
        }
        var params: [String: String] = [:]
        for kv in p.params { params[kv.key] = kv.value }
        return FunctionSchema(name: p.name, kind: .bm25, inputFields: p.inputFieldNames, outputFields: p.outputFieldNames, params: params,
                              description: p.description_p)
    }

    /// The proto form of a schema's functions (field ids as ``protoSchema(_:)`` numbers fields).
    static func protoFunctions(_ s: CollectionSchema) -> [Milvus_Proto_Schema_FunctionSchema] {
        func id(_ name: String) -> Int64 { Int64(100 + (s.fields.firstIndex { $0.name == name } ?? 0)) }
        return s.functions.enumerated().map { i, fn in
            var p = Milvus_Proto_Schema_FunctionSchema()
            p.name = fn.name
            p.id = Int64(100 + s.fields.count + i)
            p.description_p = fn.description
            p.type = .bm25
            p.inputFieldNames = fn.inputFields
            p.inputFieldIds = fn.inputFields.map(id)
            p.outputFieldNames = fn.outputFields
            p.outputFieldIds = fn.outputFields.map(id)
            p.params = fn.params.sorted { $0.key < $1.key }.map { k, v in
                var kv = PKeyValue()
                kv.key = k
                kv.value = v
                return kv
            }
            return p
        }
    }

    static func fieldSchema(_ p: PFieldSchema, schemaAutoID: Bool) throws -> FieldSchema {
        var f = FieldSchema(name: p.name, dataType: try dataType(p.dataType, field: p.name))
        f.isPrimaryKey = p.isPrimaryKey
        f.autoID = p.isPrimaryKey && (p.autoID || schemaAutoID)
        f.description = p.description_p
        f.nullable = p.nullable
        f.isPartitionKey = p.isPartitionKey
        for kv in p.typeParams {
            func int() throws -> Int {
                guard let v = Int(kv.value.trimmingCharacters(in: .whitespaces)) else {
                    throw APIError.invalid("field '\(p.name)': type param \(kv.key) = '\(kv.value)' is not an integer")
                }
                return v
            }
            switch kv.key {
            case "dim": f.dimension = try int()
            case "max_length": f.maxLength = try int()
            case "max_capacity": f.maxCapacity = try int()
            // pymilvus sends these as "true"/"True" strings and the analyzer as JSON text.
            case "enable_analyzer": f.enableAnalyzer = try MilvusParams.flag(jsonParam(kv.value), "enable_analyzer")
            case "enable_match": f.enableMatch = try MilvusParams.flag(jsonParam(kv.value), "enable_match")
            case "analyzer_params": f.analyzerParams = kv.value
            case "multi_analyzer_params":
                throw APIError.invalid("field '\(p.name)': multi_analyzer_params (per-row language analyzers) is not supported by Vireo; give one analyzer_params")
            default: continue  // mmap and other settings Vireo does not use
            }
        }
        if f.dataType == .array {
            f.elementType = try dataType(p.elementType, field: p.name + "[]")
        }
        if p.hasDefaultValue, let v = defaultValue(p.defaultValue) { f.defaultValue = v }
        return f
    }

    static func defaultValue(_ v: Milvus_Proto_Schema_ValueField) -> JSONValue? {
        switch v.data {
        case let .boolData(b)?: return .bool(b)
        case let .intData(i)?: return .int(Int64(i))
        case let .longData(i)?: return .int(i)
        case let .floatData(x)?: return .double(Double(x))
        case let .doubleData(x)?: return .double(x)
        case let .stringData(s)?: return .string(s)
        default: return nil
        }
    }

    static func valueField(_ v: JSONValue, _ t: DataType) -> Milvus_Proto_Schema_ValueField? {
        var out = Milvus_Proto_Schema_ValueField()
        switch (t, v) {
        case let (.bool, .bool(b)): out.boolData = b
        case let (.int8, .int(i)), let (.int16, .int(i)), let (.int32, .int(i)): out.intData = Int32(truncatingIfNeeded: i)
        case let (.int64, .int(i)): out.longData = i
        case let (.float, .double(d)): out.floatData = Float(d)
        case let (.float, .int(i)): out.floatData = Float(i)
        case let (.double, .double(d)): out.doubleData = d
        case let (.double, .int(i)): out.doubleData = Double(i)
        case let (.varChar, .string(s)): out.stringData = s
        default: return nil
        }
        return out
    }

    /// The engine's schema as `DescribeCollection` reports it. The dynamic field is **not** listed
    /// in `fields` (`enable_dynamic_field` says it exists): pymilvus 3.0.2's row insert fails with
    /// `AttributeError('get')` when `$meta` is among the fields.
    static func protoSchema(_ s: CollectionSchema) -> PCollectionSchema {
        var p = PCollectionSchema()
        p.name = s.name
        p.description_p = s.description
        p.enableDynamicField = s.enableDynamicField
        for (i, f) in s.fields.enumerated() {
            var pf = PFieldSchema()
            pf.fieldID = Int64(100 + i)
            pf.name = f.name
            pf.isPrimaryKey = f.isPrimaryKey
            pf.autoID = f.autoID
            pf.description_p = f.description
            pf.dataType = protoType(f.dataType)
            pf.nullable = f.nullable
            pf.isPartitionKey = f.isPartitionKey
            func param(_ k: String, _ v: Int?) {
                guard let v else { return }
                var kv = PKeyValue()
                kv.key = k
                kv.value = String(v)
                pf.typeParams.append(kv)
            }
            param("dim", f.dimension)
            param("max_length", f.maxLength)
            param("max_capacity", f.maxCapacity)
            if f.storesNormalizedVectors {
                // A field migrated from Vireo ≤ 0.2 (see FieldSchema.storesNormalizedVectors).
                var kv = PKeyValue()
                kv.key = FieldSchema.storesNormalizedVectorsParam
                kv.value = "true"
                pf.typeParams.append(kv)
            }
            if let m = f.mmapEnabled {
                var kv = PKeyValue()
                kv.key = "mmap.enabled"
                kv.value = String(m)
                pf.typeParams.append(kv)
            }
            func text(_ k: String, _ v: String?) {
                guard let v else { return }
                var kv = PKeyValue()
                kv.key = k
                kv.value = v
                pf.typeParams.append(kv)
            }
            text("enable_analyzer", f.enableAnalyzer ? "true" : nil)
            text("enable_match", f.enableMatch ? "true" : nil)
            text("analyzer_params", f.analyzerParams)
            pf.isFunctionOutput = s.isFunctionOutput(f.name)
            if let e = f.elementType { pf.elementType = protoType(e) }
            if let d = f.defaultValue, let v = valueField(d, f.dataType) { pf.defaultValue = v }
            p.fields.append(pf)
        }
        p.functions = protoFunctions(s)
        return p
    }

    // MARK: Key/value parameters

    static func dictionary(_ kvs: [PKeyValue]) -> [String: String] {
        var d: [String: String] = [:]
        for kv in kvs { d[kv.key] = kv.value }
        return d
    }

    static func json(_ text: String, _ what: String) throws -> JSONValue {
        do {
            return try JSONParser.parse(Array(text.utf8))
        } catch {
            throw APIError(.invalidJSON, "\(what) is not valid JSON: \(text.prefix(80))")
        }
    }

    /// A parameter value as JSON: pymilvus JSON-encodes each value (`"16"`, `"\"HNSW\""`), older
    /// clients send plain strings.
    static func jsonParam(_ text: String) -> JSONValue {
        (try? JSONParser.parse(Array(text.utf8))) ?? .string(text)
    }

    static func intParam(_ d: [String: String], _ key: String) throws -> Int? {
        guard let raw = d[key] else { return nil }
        switch jsonParam(raw) {
        case let .int(i): return Int(i)
        case let .double(x) where x == x.rounded() && abs(x) < 1e15: return Int(x)
        case let .string(s):
            if let i = Int(s.trimmingCharacters(in: .whitespaces)) { return i }
            fallthrough
        default: throw APIError.invalid("parameter '\(key)' must be an integer, got '\(raw.prefix(40))'")
        }
    }

    /// `CreateIndex.extra_params` → an index request: flat key/values (`index_type`, `metric_type`,
    /// `M`, `efConstruction`, `nlist`, …, each JSON-encoded, as pymilvus 3 sends) or one `params`
    /// key holding a JSON object (older clients), or both.
    static func indexRequest(_ r: Milvus_Proto_Milvus_CreateIndexRequest) throws -> IndexRequest {
        var object: [String: JSONValue] = ["fieldName": .string(r.fieldName)]
        if !r.indexName.isEmpty { object["indexName"] = .string(r.indexName) }
        var params: [String: JSONValue] = [:]
        for kv in r.extraParams {
            switch kv.key {
            case "index_type": object["indexType"] = .string(unquoted(kv.value))
            case "metric_type": object["metricType"] = .string(unquoted(kv.value))
            case "params":
                guard case let .object(o) = try json(kv.value, "index parameter 'params'") else {
                    throw APIError.invalid("index parameter 'params' must be a JSON object, got '\(kv.value.prefix(60))'")
                }
                for (k, v) in o {
                    switch k {
                    case "index_type": if case let .string(s) = v { object["indexType"] = .string(s) }
                    case "metric_type": if case let .string(s) = v { object["metricType"] = .string(s) }
                    default: params[k] = v
                    }
                }
            case "mmap.enabled", "mmap_enabled": continue  // storage hint; Vireo always maps segments
            default:
                params[kv.key] = jsonParam(kv.value)
            }
        }
        if !params.isEmpty { object["params"] = .object(params) }
        var ix = try MilvusParams.indexRequest(JSONBody(object: object), what: "index")
        ix.requestParams = r.extraParams.map { IndexSpec.RequestParam(key: $0.key, value: $0.value) }
        return ix
    }

    private static func unquoted(_ s: String) -> String {
        if case let .string(v) = jsonParam(s) { return v }
        return s
    }

    // MARK: Filters

    /// A filter with its template values (`{name}` placeholders, pymilvus' `filter_params`)
    /// substituted as literals.
    static func filter(_ expr: String, _ templates: [String: PTemplateValue]) throws -> String? {
        var f = expr
        for (k, v) in templates {
            f = f.replacingOccurrences(of: "{\(k)}", with: try literal(v))
        }
        return f.trimmingCharacters(in: .whitespaces).isEmpty ? nil : f
    }

    private static func literal(_ v: PTemplateValue) throws -> String {
        switch v.val {
        case let .boolVal(b)?: return b ? "true" : "false"
        case let .int64Val(i)?: return String(i)
        case let .floatVal(d)?: return JSONValue.double(d).jsonText
        case let .stringVal(s)?: return JSONValue.string(s).jsonText
        case let .arrayVal(a)?:
            switch a.data {
            case let .boolData(x)?: return "[" + x.data.map { $0 ? "true" : "false" }.joined(separator: ",") + "]"
            case let .longData(x)?: return "[" + x.data.map(String.init).joined(separator: ",") + "]"
            case let .doubleData(x)?: return JSONValue.array(x.data.map { .double($0) }).jsonText
            case let .stringData(x)?: return JSONValue.array(x.data.map { .string($0) }).jsonText
            case let .arrayData(x)?: return "[" + (try x.data.map { inner in
                var t = PTemplateValue()
                t.arrayVal = inner
                return try literal(t)
            }).joined(separator: ",") + "]"
            default: throw APIError.invalid("unsupported filter template array value")
            }
        default: throw APIError.invalid("unsupported filter template value")
        }
    }

    // MARK: Columns in (insert / upsert)

    /// Columnar `FieldData` (one per field, plus `$meta` for dynamic keys) → rows.
    static func rows(_ columns: [PFieldData], count declared: Int, schema: CollectionSchema) throws -> [Row] {
        var n = declared
        if n == 0, let first = columns.first { n = first.validData.isEmpty ? try columnLength(first) : first.validData.count }
        guard n > 0 else { throw APIError(.invalidInsertData, "the request has no rows (num_rows is 0)") }
        var rows = [Row](repeating: Row(minimumCapacity: columns.count), count: n)
        for col in columns {
            let name = col.fieldName
            let isMeta = col.isDynamic || (name == CollectionSchema.dynamicFieldName && schema.field(named: name) == nil)
            if isMeta {
                guard schema.enableDynamicField else {
                    throw APIError(.invalidInsertData, "collection '\(schema.name)' has no dynamic field; enable it (enable_dynamic_field=True) or remove the extra keys")
                }
                guard case let .scalars(s)? = col.field, case let .jsonData(j)? = s.data else {
                    throw APIError(.invalidInsertData, "the dynamic field '$meta' must be JSON data")
                }
                guard j.data.count == n else { throw lengthError(name, j.data.count, n) }
                for (i, bytes) in j.data.enumerated() {
                    guard !bytes.isEmpty else { continue }
                    guard case let .object(o) = try parseJSON(bytes, field: name, row: i) else {
                        throw APIError(.invalidInsertData, "row \(i): the dynamic field '$meta' must hold a JSON object")
                    }
                    for (k, v) in o { rows[i][k] = .json(v) }
                }
                continue
            }
            let field = schema.field(named: name)
            let values = try columnValues(col, field: field, rows: n)
            // A null in a field with a default value takes the default (the engine fills in absent keys).
            let hasDefault = field?.defaultValue != nil
            for i in 0..<n {
                guard let v = values[i] else { continue }
                if hasDefault, case .null = v { continue }
                rows[i][name] = v
            }
        }
        return rows
    }

    private static func lengthError(_ field: String, _ got: Int, _ want: Int) -> APIError {
        APIError(.invalidInsertData, "field '\(field)' has \(got) values for \(want) rows; every column needs one value per row")
    }

    private static func parseJSON(_ bytes: Data, field: String, row: Int) throws -> JSONValue {
        do {
            return try JSONParser.parse(Array(bytes))
        } catch {
            throw APIError(.invalidInsertData, "row \(row): field '\(field)' holds invalid JSON: \(String(decoding: bytes.prefix(60), as: UTF8.self))")
        }
    }

    private static func columnLength(_ col: PFieldData) throws -> Int {
        switch col.field {
        case let .vectors(v)?:
            // The dim comes from the request: bounded before it is multiplied (a bad one is refused with
            // its message when the column is decoded).
            guard v.dim > 0, v.dim <= CollectionSchema.maxDimension else { return 0 }
            switch v.data {
            case let .floatVector(f)?: return f.data.count / Int(v.dim)
            case let .float16Vector(b)?, let .bfloat16Vector(b)?: return b.count / (2 * Int(v.dim))
            case let .int8Vector(b)?: return b.count / Int(v.dim)
            case let .binaryVector(b)?: return Int(v.dim) >= 8 ? b.count / (Int(v.dim) / 8) : 0
            case let .sparseFloatVector(x)?: return x.contents.count
            default: return 0
            }
        case let .scalars(s)?:
            switch s.data {
            case let .boolData(x)?: return x.data.count
            case let .intData(x)?: return x.data.count
            case let .longData(x)?: return x.data.count
            case let .floatData(x)?: return x.data.count
            case let .doubleData(x)?: return x.data.count
            case let .stringData(x)?: return x.data.count
            case let .jsonData(x)?: return x.data.count
            case let .arrayData(x)?: return x.data.count
            default: return 0
            }
        default: return 0
        }
    }

    /// The `VectorField` member that carries vectors of type `t`.
    static func protoFieldName(_ t: DataType) -> String {
        switch t {
        case .float16Vector: return "float16_vector"
        case .bfloat16Vector: return "bfloat16_vector"
        case .int8Vector: return "int8_vector"
        case .binaryVector: return "binary_vector"
        default: return "float_vector"
        }
    }

    /// A column of FLOAT16/BFLOAT16/INT8/BINARY vectors (bytes), one ``FieldValue/vectorBytes(_:)``
    /// per row, checked against the field's type and dimension; nil for another kind of data.
    private static func compactColumn(_ v: Milvus_Proto_Schema_VectorField, field: FieldSchema?, name: String, rows n: Int) throws -> [FieldValue?]? {
        let bytes: Data
        let type: DataType
        switch v.data {
        case let .float16Vector(b)?: (bytes, type) = (b, .float16Vector)
        case let .bfloat16Vector(b)?: (bytes, type) = (b, .bfloat16Vector)
        case let .int8Vector(b)?: (bytes, type) = (b, .int8Vector)
        case let .binaryVector(b)?: (bytes, type) = (b, .binaryVector)
        default: return nil
        }
        if let field, field.dataType != type {
            throw APIError(.invalidInsertData, "field '\(name)' is \(field.dataType.rawValue), but its data came as \(protoFieldName(type)); send \(protoFieldName(field.dataType))")
        }
        let dim = Int(v.dim)
        if let want = field?.dimension, dim != want {
            throw APIError(.invalidInsertData, "the dim (\(dim)) of field data(\(name)) is not equal to schema dim (\(want))")
        }
        // dim is bounded before it is multiplied (both come from the request).
        guard dim > 0, dim <= CollectionSchema.maxDimension, type != .binaryVector || dim % 8 == 0 else {
            throw APIError(.invalidInsertData, "field '\(name)': dim \(dim) is invalid for \(type.rawValue)")
        }
        let per = VectorElement(type)!.bytesPerVector(dim: dim)
        guard bytes.count == per * n else {
            throw APIError(.invalidInsertData, "field '\(name)': \(bytes.count) bytes of \(protoFieldName(type)) do not make \(n) vectors of dimension \(dim) (\(per) bytes each)")
        }
        let all = [UInt8](bytes)
        return (0..<n).map { i in .vectorBytes(Array(all[(i * per)..<((i + 1) * per)])) }
    }

    /// One column's values, nil where a nullable field is null (`valid_data` false). The data of a
    /// nullable column may hold a value per row or only the valid ones; both are accepted.
    private static func columnValues(_ col: PFieldData, field: FieldSchema?, rows n: Int) throws -> [FieldValue?] {
        let name = col.fieldName
        let valid = col.validData
        if !valid.isEmpty, valid.count != n { throw lengthError(name + " (valid_data)", valid.count, n) }
        func spread(_ items: [FieldValue]) throws -> [FieldValue?] {
            if items.count == n {
                if valid.isEmpty { return items }
                return (0..<n).map { valid[$0] ? items[$0] : .null }
            }
            let validCount = valid.isEmpty ? n : valid.reduce(0) { $0 + ($1 ? 1 : 0) }
            guard !valid.isEmpty, items.count == validCount else { throw lengthError(name, items.count, n) }
            var out: [FieldValue?] = []
            out.reserveCapacity(n)
            var k = 0
            for i in 0..<n {
                if valid[i] {
                    out.append(items[k])
                    k += 1
                } else {
                    out.append(.null)
                }
            }
            return out
        }
        switch col.field {
        case .vectors? where !valid.isEmpty:
            // A nullable vector field: Milvus 2.6 clients send vectors for the valid rows only.
            let validCount = valid.reduce(0) { $0 + ($1 ? 1 : 0) }
            if validCount == 0 { return [FieldValue?](repeating: .null, count: n) }
            var inner = col
            inner.validData = []
            let items = try columnValues(inner, field: field, rows: try columnLength(inner) == n && validCount != n ? n : validCount)
            return try spread(items.map { $0 ?? .null })
        case let .vectors(v)?:
            if case let .sparseFloatVector(x)? = v.data {
                if let field, !field.dataType.isSparseVector {
                    throw APIError(.invalidInsertData, "field '\(name)' is \(field.dataType.rawValue), but its data came as sparse_float_vector")
                }
                guard x.contents.count == n else { throw lengthError(name, x.contents.count, n) }
                return try x.contents.enumerated().map { i, row in .sparseVector(try sparseRow(row, what: "row \(i) of field '\(name)'")) }
            }
            if let compact = try compactColumn(v, field: field, name: name, rows: n) { return compact }
            guard case let .floatVector(f)? = v.data else {
                throw APIError(.invalidInsertData, "field '\(name)': sparse and vector-array data are not supported by Vireo")
            }
            // FLOAT16/BFLOAT16 fields also take float32 data, rounded on insert (Milvus 2.6; pymilvus 3
            // sends lists and float32 arrays so).
            if let field, ![.floatVector, .float16Vector, .bfloat16Vector].contains(field.dataType) {
                throw APIError(.invalidInsertData, "field '\(name)' is \(field.dataType.rawValue); send its vectors as \(protoFieldName(field.dataType)) bytes, not float_vector")
            }
            let dim = Int(v.dim)
            if let want = field?.dimension, dim != want {
                throw APIError(.invalidInsertData, "the dim (\(dim)) of field data(\(name)) is not equal to schema dim (\(want))")
            }
            // dim is bounded before it is multiplied (both come from the request).
            guard dim > 0, dim <= CollectionSchema.maxDimension, f.data.count == dim * n else {
                throw APIError(.invalidInsertData, "field '\(name)': \(f.data.count) floats do not make \(n) vectors of dimension \(dim)")
            }
            var out: [FieldValue?] = []
            out.reserveCapacity(n)
            let flat = f.data
            for i in 0..<n { out.append(.floatVector(Array(flat[(i * dim)..<((i + 1) * dim)]))) }
            return out
        case let .scalars(s)?:
            return try spread(try scalarValues(s, field: field, name: name))
        default:
            throw APIError(.invalidInsertData, "field '\(name)' has no data")
        }
    }

    /// One sparse row in Milvus' binary form: (UInt32 index, Float32 value) pairs, little-endian.
    static func sparseRow(_ bytes: Data, what: String) throws -> SparseVector {
        guard bytes.count % 8 == 0 else {
            throw APIError(.invalidInsertData, "\(what): a sparse row is (uint32 index, float32 value) pairs, 8 bytes each; got \(bytes.count) bytes")
        }
        guard bytes.count / 8 <= SparseVector.maxNonZeros else {
            throw APIError(.invalidInsertData, "\(what): \(bytes.count / 8) non-zeros; at most \(SparseVector.maxNonZeros) per row")
        }
        var pairs: [(index: UInt32, value: Float)] = []
        pairs.reserveCapacity(bytes.count / 8)
        let b = [UInt8](bytes)
        func u32(_ at: Int) -> UInt32 { UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24 }
        for k in stride(from: 0, to: b.count, by: 8) { pairs.append((u32(k), Float(bitPattern: u32(k + 4)))) }
        do {
            return try SparseVector(pairs)
        } catch {
            throw APIError(.invalidInsertData, "\(what): \(error.message)")
        }
    }

    /// A sparse row in Milvus' binary form.
    static func sparseBytes(_ v: SparseVector) -> Data {
        var d = Data(capacity: 8 * v.count)
        for (i, w) in zip(v.indices, v.values) {
            withUnsafeBytes(of: i.littleEndian) { d.append(contentsOf: $0) }
            withUnsafeBytes(of: w.bitPattern.littleEndian) { d.append(contentsOf: $0) }
        }
        return d
    }

    static func scalarValues(_ s: PScalarField, field: FieldSchema?, name: String) throws -> [FieldValue] {
        switch s.data {
        case let .boolData(x)?: return x.data.map { .bool($0) }
        case let .intData(x)?: return x.data.map { .int(Int64($0)) }
        case let .longData(x)?: return x.data.map { .int($0) }
        case let .floatData(x)?: return x.data.map { .float($0) }
        case let .doubleData(x)?: return x.data.map { .double($0) }
        case let .stringData(x)?: return x.data.map { .string($0) }
        case let .jsonData(x)?:
            return try x.data.enumerated().map { i, bytes in .json(try parseJSON(bytes, field: name, row: i)) }
        case let .arrayData(x)?:
            return try x.data.map { .array(try scalarValues($0, field: nil, name: name + "[]")) }
        case nil:
            return []
        default:
            throw APIError(.invalidInsertData, "field '\(name)': this kind of scalar data is not supported by Vireo")
        }
    }

    // MARK: Columns out (query / search results)

    /// What the client asked for, resolved against the schema: the schema fields to return (in
    /// schema order), and the dynamic keys (nil: all of them, for `*` or `$meta`).
    struct OutputColumns {
        var fields: [FieldSchema] = []
        var dynamic = false
        var dynamicKeys: [String]? = []
        /// The names for `output_fields` in the result.
        var names: [String] = []
    }

    static func outputColumns(_ requested: [String], schema: CollectionSchema, includePrimaryKey: Bool) -> OutputColumns {
        var out = OutputColumns()
        let all = requested.contains("*")
        var wanted = Set<String>()
        for r in requested where r != "*" { wanted.insert(r) }
        if includePrimaryKey { wanted.insert(schema.primaryKey.name) }
        for f in schema.fields where (all && !schema.isFunctionOutput(f.name)) || wanted.contains(f.name) {
            out.fields.append(f)
            out.names.append(f.name)
        }
        if schema.enableDynamicField {
            if all || wanted.contains(CollectionSchema.dynamicFieldName) {
                out.dynamic = true
                out.dynamicKeys = nil
                out.names.append(CollectionSchema.dynamicFieldName)
            } else {
                let keys = requested.filter { $0 != "*" && schema.field(named: $0) == nil }
                if !keys.isEmpty {
                    out.dynamic = true
                    out.dynamicKeys = keys
                    out.names.append(contentsOf: keys)
                }
            }
        }
        return out
    }

    /// Rows → columnar `FieldData`, one column per output field plus `$meta`.
    static func columns(_ rows: [Row], _ out: OutputColumns, schema: CollectionSchema) -> [PFieldData] {
        var result: [PFieldData] = []
        result.reserveCapacity(out.fields.count + 1)
        for (i, f) in schema.fields.enumerated() where out.fields.contains(where: { $0.name == f.name }) {
            var fd = column(rows.map { $0[f.name] }, f)
            fd.fieldID = Int64(100 + i)
            result.append(fd)
        }
        if out.dynamic {
            var fd = PFieldData()
            fd.type = .json
            fd.fieldName = CollectionSchema.dynamicFieldName
            fd.isDynamic = true
            var j = Milvus_Proto_Schema_JSONArray()
            j.data.reserveCapacity(rows.count)
            let keys = out.dynamicKeys.map(Set.init)
            for row in rows {
                var o: [String: JSONValue] = [:]
                for (k, v) in row where schema.field(named: k) == nil && (keys?.contains(k) ?? true) {
                    if case .null = v { continue }
                    o[k] = v.jsonValue
                }
                var w = JSONWriter()
                w.json(.object(o))
                j.data.append(Data(w.bytes))
            }
            var s = PScalarField()
            s.jsonData = j
            fd.scalars = s
            result.append(fd)
        }
        return result
    }

    /// One field's values (nil or `.null` where absent) as a column; nullable columns carry
    /// `valid_data` and a placeholder value per null row.
    static func column(_ values: [FieldValue?], _ f: FieldSchema) -> PFieldData {
        var fd = PFieldData()
        fd.type = protoType(f.dataType)
        fd.fieldName = f.name
        var valid: [Bool] = []
        var anyNull = false
        valid.reserveCapacity(values.count)
        for v in values {
            let isNull: Bool
            switch v {
            case nil, .null?: isNull = true
            default: isNull = false
            }
            valid.append(!isNull)
            anyNull = anyNull || isNull
        }
        if f.nullable || anyNull { fd.validData = valid }
        // A nullable vector column holds vectors for its valid rows only (Milvus 2.6; pymilvus maps
        // rows to vectors through a prefix sum of valid_data), unlike scalar columns' placeholders.
        let values = f.dataType.isAnyVector && !fd.validData.isEmpty ? values.enumerated().filter { valid[$0.offset] }.map(\.element) : values
        if f.dataType.isSparseVector {
            var vf = Milvus_Proto_Schema_VectorField()
            var sa = Milvus_Proto_Schema_SparseFloatArray()
            var dim: Int64 = 0
            for v in values {
                guard case let .sparseVector(x)? = v else { sa.contents.append(Data()); continue }
                if let last = x.indices.last { dim = max(dim, Int64(last) + 1) }
                sa.contents.append(sparseBytes(x))
            }
            sa.dim = dim
            vf.dim = dim
            vf.sparseFloatVector = sa
            fd.vectors = vf
            return fd
        }
        if f.dataType == .floatVector {
            var vf = Milvus_Proto_Schema_VectorField()
            let dim = f.dimension ?? 0
            vf.dim = Int64(dim)
            var fa = Milvus_Proto_Schema_FloatArray()
            fa.data.reserveCapacity(values.count * dim)  // values: the valid rows
            for v in values {
                if case let .floatVector(x)? = v, x.count == dim { fa.data.append(contentsOf: x) } else { fa.data.append(contentsOf: repeatElement(0, count: dim)) }
            }
            vf.floatVector = fa
            fd.vectors = vf
            return fd
        }
        if let element = VectorElement(f.dataType) {
            // FLOAT16/BFLOAT16/BINARY rows come as their bytes, INT8 rows as integers.
            var vf = Milvus_Proto_Schema_VectorField()
            let dim = f.dimension ?? 0
            vf.dim = Int64(dim)
            let per = element.bytesPerVector(dim: dim)
            var data = Data()
            data.reserveCapacity(values.count * per)
            for v in values {
                switch v {
                case let .vectorBytes(b)? where b.count == per: data.append(contentsOf: b)
                case let .array(items)? where items.count == dim && element == .int8:
                    for item in items { if case let .int(x) = item { data.append(UInt8(bitPattern: Int8(truncatingIfNeeded: x))) } else { data.append(0) } }
                default: data.append(contentsOf: repeatElement(0, count: per))
                }
            }
            switch element {
            case .float16: vf.float16Vector = data
            case .bfloat16: vf.bfloat16Vector = data
            case .int8: vf.int8Vector = data
            case .binary, .float32: vf.binaryVector = data
            }
            fd.vectors = vf
            return fd
        }
        fd.scalars = scalarColumn(values, f.dataType, element: f.elementType)
        return fd
    }

    static func scalarColumn(_ values: [FieldValue?], _ t: DataType, element: DataType?) -> PScalarField {
        var s = PScalarField()
        switch t {
        case .bool:
            var a = Milvus_Proto_Schema_BoolArray()
            a.data = values.map { if case let .bool(b)? = $0 { return b } else { return false } }
            s.boolData = a
        case .int8, .int16, .int32:
            var a = Milvus_Proto_Schema_IntArray()
            a.data = values.map { if case let .int(i)? = $0 { return Int32(truncatingIfNeeded: i) } else { return 0 } }
            s.intData = a
        case .int64:
            var a = Milvus_Proto_Schema_LongArray()
            a.data = values.map { if case let .int(i)? = $0 { return i } else { return 0 } }
            s.longData = a
        case .float:
            var a = Milvus_Proto_Schema_FloatArray()
            a.data = values.map {
                switch $0 {
                case let .float(x)?: return x
                case let .double(x)?: return Float(x)
                case let .int(i)?: return Float(i)
                default: return 0
                }
            }
            s.floatData = a
        case .double:
            var a = Milvus_Proto_Schema_DoubleArray()
            a.data = values.map {
                switch $0 {
                case let .double(x)?: return x
                case let .float(x)?: return Double(x)
                case let .int(i)?: return Double(i)
                default: return 0
                }
            }
            s.doubleData = a
        case .varChar:
            var a = Milvus_Proto_Schema_StringArray()
            a.data = values.map { if case let .string(x)? = $0 { return x } else { return "" } }
            s.stringData = a
        case .json:
            var a = Milvus_Proto_Schema_JSONArray()
            a.data = values.map { v in
                guard let v else { return Data("null".utf8) }
                if case .null = v { return Data("null".utf8) }
                var w = JSONWriter()
                w.json(v.jsonValue)
                return Data(w.bytes)
            }
            s.jsonData = a
        case .array:
            var a = Milvus_Proto_Schema_ArrayArray()
            let e = element ?? .int64
            a.elementType = protoType(e)
            a.data = values.map { v in
                if case let .array(items)? = v { return scalarColumn(items.map { Optional($0) }, e, element: nil) }
                return scalarColumn([], e, element: nil)
            }
            s.arrayData = a
        case .floatVector, .float16Vector, .bfloat16Vector, .int8Vector, .binaryVector, .sparseFloatVector:
            break  // vector columns are written by `column(_:_:)`
        }
        return s
    }

    /// `IDs` from a request → primary keys of the collection's key type (Int64 or VarChar).
    static func primaryKeys(_ ids: Milvus_Proto_Schema_IDs, schema: CollectionSchema) throws -> [PrimaryKey] {
        let isInt = schema.primaryKey.dataType == .int64
        switch ids.idField {
        case let .intID(a)?:
            guard isInt else { throw APIError.invalid("primary key '\(schema.primaryKey.name)' is VarChar; give string ids (str_id), not integers") }
            return a.data.map { .int($0) }
        case let .strID(a)?:
            guard !isInt else { throw APIError.invalid("primary key '\(schema.primaryKey.name)' is Int64; give integer ids (int_id), not strings") }
            return a.data.map { .string($0) }
        case nil:
            throw APIError.missing("ids", "give the primary keys to search with (int_id or str_id)")
        }
    }

    static func ids(_ keys: [PrimaryKey], isInt: Bool) -> Milvus_Proto_Schema_IDs {
        var ids = Milvus_Proto_Schema_IDs()
        if isInt {
            var a = Milvus_Proto_Schema_LongArray()
            a.data = keys.map { if case let .int(i) = $0 { return i } else { return 0 } }
            ids.intID = a
        } else {
            var a = Milvus_Proto_Schema_StringArray()
            a.data = keys.map { if case let .string(s) = $0 { return s } else { return $0.description } }
            ids.strID = a
        }
        return ids
    }

    // MARK: Placeholders

    /// A `PlaceholderGroup` of sparse vectors (type 104, each value a binary sparse row) or of query
    /// text (type 21, UTF-8: a BM25 search); nil for dense vector groups (``vectors(_:field:)``).
    static func sparseQueries(_ bytes: Data) throws -> (sparse: [SparseVector], texts: [String])? {
        guard let group = try? Milvus_Proto_Common_PlaceholderGroup(serializedBytes: bytes), let p = group.placeholders.first,
              p.type == .sparseFloatVector || p.type == .varChar else { return nil }
        guard group.placeholders.count == 1 else { throw APIError.invalid("one placeholder per search is supported, got \(group.placeholders.count)") }
        guard !p.values.isEmpty else { throw APIError.missing("data", "give at least one query") }
        if p.type == .sparseFloatVector {
            return (try p.values.enumerated().map { i, v in try sparseRow(v, what: "query \(i)") }, [])
        }
        return ([], try p.values.enumerated().map { i, v in
            guard let text = String(validating: v, as: UTF8.self) else { throw APIError.invalid("query text \(i) is not valid UTF-8") }
            return text
        })
    }

    /// `PlaceholderGroup` bytes → query vectors: float32 little-endian per vector, or the encoding of
    /// a FLOAT16/BFLOAT16/INT8/BINARY field (widened to float32; bits become 0/1 values). The
    /// placeholder type must match the field's type, as in Milvus.
    static func vectors(_ bytes: Data, field: FieldSchema?) throws -> [[Float]] {
        let dimension = field?.dimension
        let group: Milvus_Proto_Common_PlaceholderGroup
        do {
            group = try Milvus_Proto_Common_PlaceholderGroup(serializedBytes: bytes)
        } catch {
            throw APIError.invalid("placeholder_group is not a serialized milvus.proto.common.PlaceholderGroup")
        }
        guard let p = group.placeholders.first else { throw APIError.missing("data", "give at least one query vector") }
        guard group.placeholders.count == 1 else { throw APIError.invalid("one placeholder per search is supported, got \(group.placeholders.count)") }
        let placeholderType: DataType
        switch p.type {
        case .floatVector: placeholderType = .floatVector
        case .float16Vector: placeholderType = .float16Vector
        case .bfloat16Vector: placeholderType = .bfloat16Vector
        case .int8Vector: placeholderType = .int8Vector
        case .binaryVector: placeholderType = .binaryVector
        default:
            throw APIError.invalid("query vectors of type \(p.type) are not supported; Vireo searches dense and binary vectors (not text or sparse vectors)")
        }
        let fp32ForHalf = placeholderType == .floatVector && (field?.dataType == .float16Vector || field?.dataType == .bfloat16Vector)
        if let field, field.dataType.isVector, field.dataType != placeholderType, !fp32ForHalf {
            throw APIError.invalid("vector type must be the same, field \(field.name) - type \(field.dataType.rawValue), search info type \(placeholderType.rawValue)")
        }
        if placeholderType != .floatVector, let element = VectorElement(placeholderType) {
            guard let d = dimension else {
                throw APIError.invalid("name the vector field (anns_field) to search with \(placeholderType.rawValue) queries")
            }
            let per = element.bytesPerVector(dim: d)
            return try p.values.enumerated().map { i, v in
                guard v.count == per else {
                    throw APIError.invalid("query vector \(i) has \(v.count) bytes, but a \(placeholderType.rawValue) of dimension \(d) has \(per)")
                }
                return element.floats([UInt8](v), dim: d)
            }
        }
        var out: [[Float]] = []
        out.reserveCapacity(p.values.count)
        for (i, v) in p.values.enumerated() {
            guard v.count % 4 == 0 else { throw APIError.invalid("query vector \(i) has \(v.count) bytes, not a whole number of float32 values") }
            let n = v.count / 4
            if let d = dimension, n != d {
                throw APIError.invalid("the dimension of query vector \(i) is \(n), but the vector field has dimension \(d)")
            }
            var floats = [Float]()
            floats.reserveCapacity(n)
            let bytes = [UInt8](v)
            for k in 0..<n {
                let b = 4 * k
                let bits = UInt32(bytes[b]) | UInt32(bytes[b + 1]) << 8 | UInt32(bytes[b + 2]) << 16 | UInt32(bytes[b + 3]) << 24
                floats.append(Float(bitPattern: bits))
            }
            out.append(floats)
        }
        return out
    }
}
