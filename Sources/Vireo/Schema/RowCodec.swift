import Synchronization
import VireoStorage
import VireoText
/// A validated row in the engine's internal form.
struct PreparedRow: Sendable {
    var pk: PrimaryKey
    /// One vector per vector field, in schema order, as inserted.
    var vectors: [[Float]]
    /// Per vector field, whether the row has no vector (a nullable field given null or nothing); its
    /// entry in ``vectors`` is then zeros, stored only to keep row offsets dense and never searched.
    /// Empty when every vector is present.
    var nullVectors: [Bool] = []
    /// The scalar fields (schema order) and the dynamic field, encoded by ``RowCodec``.
    var scalars: [UInt8]
    /// The partition the row belongs to (0 = `_default`, or the first partition-key bucket).
    var partition: UInt16 = 0
    /// When the row was written, in milliseconds since 1970 (stamped by the shard's writer when it
    /// commits the batch; ``InsertTimeColumn/unknown`` for rows written before Vireo kept it).
    var insertedAt: Int64 = InsertTimeColumn.unknown
}

/// Validates rows against a schema and encodes/decodes their scalar part.
///
/// Scalar encoding (little-endian), field by field in schema order: a tag byte (0 = null,
/// 1 = present) then the value: Bool 1 byte; Int8…Int64 8 bytes; Float 4; Double 8; VarChar and JSON a
/// UInt32 byte length then UTF-8 (JSON as compact text); Array a UInt32 count then untagged elements;
/// SparseFloatVector a UInt32 count n, then n UInt32 indices (increasing), then n Float32 weights.
/// With the dynamic field enabled, then a UInt32 length and the `$meta` JSON object text (length 0 if
/// the row had no extra keys).
///
/// Fields added after the collection was created (``FieldSchema/addedLater``) come last, after the
/// dynamic field, in the order they were added: a row stored before a field existed simply ends
/// earlier, and reads the field's default value (or null). So adding a field rewrites no row.
struct RowCodec: Sendable {
    let schema: CollectionSchema
    /// Every scalar field, in schema order.
    let scalarFields: [FieldSchema]
    /// The scalar fields of the collection as created (stored before the dynamic field).
    let baseFields: [FieldSchema]
    /// Fields added later, in the order they were added (stored after the dynamic field; absent from
    /// rows written before them).
    let addedFields: [FieldSchema]
    let vectorFields: [FieldSchema]
    let fieldsByName: [String: FieldSchema]
    /// Default values, converted to the fields' types.
    let defaultValues: [String: FieldValue]
    /// BM25 functions by output field: the input field and its analyzer.
    let functionInputs: [String: (input: String, analyzer: Analyzer)]

    init(schema: CollectionSchema) {
        self.schema = schema
        scalarFields = schema.scalarFields
        baseFields = scalarFields.filter { !$0.addedLater }
        addedFields = scalarFields.filter(\.addedLater)
        vectorFields = schema.vectorFields
        fieldsByName = Dictionary(uniqueKeysWithValues: schema.fields.map { ($0.name, $0) })
        var defaults: [String: FieldValue] = [:]
        for f in schema.scalarFields {
            if let d = f.defaultValue, let row = try? schema.row(fromJSON: .object([f.name: d])), let v = row[f.name] { defaults[f.name] = v }
        }
        defaultValues = defaults
        var inputs: [String: (input: String, analyzer: Analyzer)] = [:]
        for fn in schema.functions {
            // The schema was validated: the input is an analysed VarChar field.
            guard let inName = fn.inputFields.first, let out = fn.outputFields.first, let input = schema.field(named: inName),
                  let analyzer = try? input.analyzer() else { continue }
            inputs[out] = (inName, analyzer)
        }
        functionInputs = inputs
    }

    /// A BM25 function's output for `row`: the term counts of its input text (empty for a null text).
    func functionOutput(_ output: String, row: Row) -> FieldValue? {
        guard let (input, analyzer) = functionInputs[output] else { return nil }
        var text = row[input] ?? .null
        if text == .null, let d = defaultValues[input] { text = d }
        guard case let .string(s) = text else { return .sparseVector(.empty) }
        return .sparseVector(TermHash.termCounts(analyzer.terms(s)))
    }

    /// A sparse row from its accepted forms: a ``FieldValue/sparseVector(_:)``, or Milvus' JSON form
    /// `{"index": weight, …}` (indices as text, 0…2³²−2; weights finite and non-negative).
    static func sparse(_ v: FieldValue, field f: FieldSchema, what: String) throws -> SparseVector {
        func bad(_ m: String) -> VireoError { .invalid(.invalidVector, "\(what): sparse vector field '\(f.name)' \(m)") }
        switch v {
        case let .sparseVector(x): return x
        case let .json(.object(o)) where o.count == 2 && o["indices"] != nil && o["values"] != nil:
            // Milvus' other JSON form: {"indices": [...], "values": [...]}.
            guard case let .array(indices)? = o["indices"], case let .array(values)? = o["values"], indices.count == values.count else {
                throw bad("gives \"indices\" and \"values\" that are not two lists of the same length")
            }
            guard indices.count <= SparseVector.maxNonZeros else { throw bad("has \(indices.count) entries; at most \(SparseVector.maxNonZeros) per row") }
            var pairs: [(index: UInt32, value: Float)] = []
            pairs.reserveCapacity(indices.count)
            for (k, w) in zip(indices, values) {
                guard case let .int(n) = k, let i = UInt32(exactly: n) else { throw bad("has the index \(k.jsonText.prefix(40)); indices are integers 0…\(SparseVector.maxIndex)") }
                switch w {
                case let .int(x): pairs.append((i, Float(x)))
                case let .double(x): pairs.append((i, Float(x)))
                default: throw bad("has a non-numeric weight at index \(i)")
                }
            }
            do { return try SparseVector(pairs) } catch { throw bad(error.message) }
        case let .json(.object(o)):
            guard o.count <= SparseVector.maxNonZeros else { throw bad("has \(o.count) entries; at most \(SparseVector.maxNonZeros) per row") }
            var pairs: [(index: UInt32, value: Float)] = []
            pairs.reserveCapacity(o.count)
            for (k, w) in o {
                guard let i = UInt32(k) else { throw bad("has the key \"\(k.prefix(40))\"; keys are indices 0…\(SparseVector.maxIndex) written as integers") }
                let x: Double
                switch w {
                case let .int(n): x = Double(n)
                case let .double(d): x = d
                default: throw bad("has a non-numeric weight at index \(i)")
                }
                pairs.append((i, Float(x)))
            }
            do { return try SparseVector(pairs) } catch { throw bad(error.message) }
        default:
            throw VireoError.invalid(.typeMismatch, "\(what): sparse vector field '\(f.name)' expects {index: weight, …}, got \(v.kindName)")
        }
    }

    // MARK: Validation

    /// Validates `row` (the `index`-th of its request) and converts it.
    ///
    /// - Parameter autoID: the id to use when the primary key is auto-generated.
    func prepare(_ row: Row, index: Int, autoID: Int64?) throws -> PreparedRow {
        let pkField = schema.primaryKey
        func bad(_ code: VireoError.Code, _ m: String) -> VireoError { .invalid(code, "row \(index): \(m)") }
        var dynamic: [String: JSONValue] = [:]
        for key in row.keys where fieldsByName[key] == nil {
            guard schema.enableDynamicField, key != CollectionSchema.dynamicFieldName else {
                throw bad(.unknownField, "field '\(key)' is not in the schema of collection '\(schema.name)' (fields: \(schema.fields.map(\.name).joined(separator: ", "))); remove it or enable the dynamic field")
            }
            dynamic[key] = row[key]!.jsonValue
        }
        // Primary key.
        let pk: PrimaryKey
        if pkField.autoID {
            if let v = row[pkField.name], v != .null {
                throw bad(.invalidArgument, "primary key '\(pkField.name)' is generated by Vireo (autoID); do not pass it")
            }
            pk = .int(autoID!)
        } else {
            guard let v = row[pkField.name], v != .null else {
                throw bad(.missingField, "missing primary key '\(pkField.name)'")
            }
            switch (pkField.dataType, v) {
            case let (.int64, .int(i)): pk = .int(i)
            case let (.varChar, .string(s)):
                guard !s.isEmpty else { throw bad(.invalidArgument, "primary key '\(pkField.name)' is empty") }
                let limit = pkField.maxLength ?? CollectionSchema.maxPrimaryKeyLength
                guard s.utf8.count <= limit else {
                    throw bad(.invalidArgument, "primary key '\(pkField.name)' is \(s.utf8.count) bytes, longer than its maxLength \(limit); shorten it or recreate the collection with a larger maxLength (at most \(CollectionSchema.maxPrimaryKeyLength))")
                }
                pk = .string(s)
            default:
                throw bad(.typeMismatch, "primary key '\(pkField.name)' must be \(pkField.dataType == .int64 ? "an integer" : "a string"), got \(v.kindName)")
            }
        }
        // Vectors.
        var vectors: [[Float]] = []
        var nullVectors: [Bool] = []
        vectors.reserveCapacity(vectorFields.count)
        for (i, f) in vectorFields.enumerated() {
            guard let v = row[f.name], v != .null else {
                guard f.nullable else { throw bad(.missingField, "missing vector field '\(f.name)'; it is not nullable") }
                if nullVectors.isEmpty { nullVectors = [Bool](repeating: false, count: vectorFields.count) }
                nullVectors[i] = true
                vectors.append([Float](repeating: 0, count: f.dimension ?? 0))
                continue
            }
            vectors.append(try Self.vector(v, field: f, what: "row \(index)"))
        }
        // Scalars.
        var w = ByteWriter()
        func scalar(_ f: FieldSchema) throws {
            if functionInputs[f.name] != nil {
                if let given = row[f.name], given != .null {
                    throw bad(.invalidArgument, "field '\(f.name)' is a function output field: it is computed from '\(functionInputs[f.name]!.input)' at insert and cannot be given; remove it from the row")
                }
                w.u8(1)
                try encode(functionOutput(f.name, row: row)!, type: f.dataType, field: f, into: &w, index: index)
                return
            }
            var v = row[f.name] ?? .null
            if v == .null, let d = defaultValues[f.name] { v = d }
            if v == .null {
                guard f.nullable else { throw bad(.missingField, "missing field '\(f.name)' (\(f.dataType.rawValue)); it is not nullable") }
                w.u8(0)
                return
            }
            w.u8(1)
            try encode(v, type: f.dataType, field: f, into: &w, index: index)
        }
        for f in baseFields { try scalar(f) }
        if schema.enableDynamicField {
            if let meta = row[CollectionSchema.dynamicFieldName] {
                guard case let .json(.object(o)) = meta else {
                    throw bad(.typeMismatch, "'$meta' must be a JSON object")
                }
                for (k, v) in o where dynamic[k] == nil { dynamic[k] = v }
            }
            if dynamic.isEmpty { w.u32(0) } else { w.string(JSONValue.object(dynamic).jsonText) }
        }
        for f in addedFields { try scalar(f) }
        var prepared = PreparedRow(pk: pk, vectors: vectors, scalars: w.bytes)
        prepared.nullVectors = nullVectors
        return prepared
    }

    /// Validates a vector value for field `f`: type, dimension, finiteness. Vectors are kept exactly as
    /// given, except in fields that store normalised vectors (``FieldSchema/storesNormalizedVectors``).
    static func vector(_ v: FieldValue, field f: FieldSchema, what: String) throws -> [Float] {
        let element = VectorElement(f.dataType) ?? .float32
        if element != .float32 { return try compactVector(v, field: f, element: element, what: what) }
        var floats: [Float]
        switch v {
        case let .floatVector(x): floats = x
        case let .array(items):
            floats = []
            floats.reserveCapacity(items.count)
            for item in items {
                switch item {
                case let .float(x): floats.append(x)
                case let .double(x): floats.append(Float(x))
                case let .int(x): floats.append(Float(x))
                default:
                    throw VireoError.invalid(.typeMismatch, "\(what): vector field '\(f.name)' must be a list of numbers")
                }
            }
        default:
            throw VireoError.invalid(.typeMismatch, "\(what): vector field '\(f.name)' must be a float vector, got \(v.kindName)")
        }
        let dim = f.dimension!
        guard floats.count == dim else {
            throw VireoError.invalid(.dimensionMismatch, "\(what): vector field '\(f.name)' expects \(dim) dimensions, got \(floats.count); re-embed with a model of dimension \(dim) or create a collection with dimension \(floats.count)")
        }
        if let bad = floats.firstIndex(where: { !$0.isFinite }) {
            throw VireoError.invalid(.invalidVector, "\(what): vector field '\(f.name)' has a non-finite value (\(floats[bad])) at position \(bad); vectors must be finite numbers")
        }
        if f.storesNormalizedVectors {
            try normalize(&floats, field: f, what: what)
        }
        return floats
    }

    /// A FLOAT16, BFLOAT16, INT8 or BINARY vector, from its encoding (``FieldValue/vectorBytes(_:)``,
    /// base64 text as Milvus' REST API sends it) or from numbers (floats rounded to the element type,
    /// as Milvus converts them; int8 values must be integers in -128...127; a binary vector given as
    /// numbers is its dimension/8 bytes, 0...255). Returns the float32 widening.
    static func compactVector(_ v: FieldValue, field f: FieldSchema, element: VectorElement, what: String) throws -> [Float] {
        let dim = f.dimension!
        let want = element.bytesPerVector(dim: dim)
        func badBytes(_ n: Int) -> VireoError {
            .invalid(.dimensionMismatch, "\(what): vector field '\(f.name)' (\(element.typeName), dim \(dim)) needs \(want) bytes per vector, got \(n); re-encode the vector with dimension \(dim)")
        }
        var floats: [Float]
        switch v {
        case let .vectorBytes(b):
            guard b.count == want else { throw badBytes(b.count) }
            floats = element.floats(b, dim: dim)
        case let .string(s):
            guard element != .int8, let b = Base64.decode(s) else {
                throw VireoError.invalid(.typeMismatch, "\(what): vector field '\(f.name)' (\(element.typeName)) must be \(element == .int8 ? "a list of integers in -128...127" : "base64 text of its bytes or a list of numbers")")
            }
            guard b.count == want else { throw badBytes(b.count) }
            floats = element.floats(b, dim: dim)
        case .floatVector, .array:
            var numbers: [Double] = []
            if case let .floatVector(x) = v { numbers = x.map(Double.init) } else if case let .array(items) = v {
                numbers.reserveCapacity(items.count)
                for item in items {
                    switch item {
                    case let .float(x): numbers.append(Double(x))
                    case let .double(x): numbers.append(x)
                    case let .int(x): numbers.append(Double(x))
                    default: throw VireoError.invalid(.typeMismatch, "\(what): vector field '\(f.name)' (\(element.typeName)) must be a list of numbers")
                    }
                }
            }
            switch element {
            case .binary where numbers.count == dim && dim != want:
                // Already one 0/1 value per dimension (query vectors widened by a server edge).
                guard numbers.allSatisfy({ $0 == 0 || $0 == 1 }) else {
                    throw VireoError.invalid(.invalidVector, "\(what): vector field '\(f.name)' (BinaryVector) given \(dim) numbers must hold bits 0 or 1")
                }
                floats = numbers.map(Float.init)
            case .binary:
                guard numbers.count == want else { throw badBytes(numbers.count) }
                var bytes: [UInt8] = []
                bytes.reserveCapacity(want)
                for (i, x) in numbers.enumerated() {
                    guard let b = UInt8(exactly: x) else {
                        throw VireoError.invalid(.invalidVector, "\(what): vector field '\(f.name)' (BinaryVector) byte \(i) is \(x); each element is a byte in 0...255 holding 8 dimensions")
                    }
                    bytes.append(b)
                }
                floats = element.floats(bytes, dim: dim)
            case .int8:
                guard numbers.count == dim else {
                    throw VireoError.invalid(.dimensionMismatch, "\(what): vector field '\(f.name)' expects \(dim) dimensions, got \(numbers.count)")
                }
                floats = []
                floats.reserveCapacity(dim)
                for (i, x) in numbers.enumerated() {
                    guard let b = Int8(exactly: x) else {
                        throw VireoError.invalid(.invalidVector, "\(what): vector field '\(f.name)' (Int8Vector) has \(x) at position \(i); elements must be integers in -128...127")
                    }
                    floats.append(Float(b))
                }
            case .float16, .bfloat16, .float32:
                guard numbers.count == dim else {
                    throw VireoError.invalid(.dimensionMismatch, "\(what): vector field '\(f.name)' expects \(dim) dimensions, got \(numbers.count); re-embed with a model of dimension \(dim) or create a collection with dimension \(numbers.count)")
                }
                floats = numbers.map { element.rounded(Float($0)) }
            }
        default:
            throw VireoError.invalid(.typeMismatch, "\(what): vector field '\(f.name)' must be a \(element.typeName), got \(v.kindName)")
        }
        if let bad = floats.firstIndex(where: { !$0.isFinite }) {
            throw VireoError.invalid(.invalidVector, "\(what): vector field '\(f.name)' has a non-finite value (\(floats[bad])) at position \(bad) as \(element.typeName)\(element == .float16 ? " (half precision holds magnitudes up to 65504)" : ""); vectors must be finite numbers")
        }
        return floats
    }

    /// Scales `floats` to unit length (COSINE queries, legacy normalised fields).
    ///
    /// - Throws: ``VireoError`` for an all-zero vector, which has no direction.
    static func normalize(_ floats: inout [Float], field f: FieldSchema, what: String) throws {
        var s: Double = 0
        for x in floats { s += Double(x) * Double(x) }
        guard s > 0 else {
            throw VireoError.invalid(.invalidVector, "\(what): vector field '\(f.name)' is all zeros, which has no direction for COSINE; drop the row or use L2/IP")
        }
        let inv = Float(1 / s.squareRoot())
        for i in floats.indices { floats[i] *= inv }
    }

    private func encode(_ v: FieldValue, type: DataType, field f: FieldSchema, into w: inout ByteWriter, index: Int) throws {
        func mismatch(_ expected: String) -> VireoError {
            .invalid(.typeMismatch, "row \(index): field '\(f.name)' (\(f.dataType.rawValue)) expects \(expected), got \(v.kindName)")
        }
        switch type {
        case .bool:
            guard case let .bool(b) = v else { throw mismatch("a boolean") }
            w.u8(b ? 1 : 0)
        case .int8, .int16, .int32, .int64:
            guard case let .int(i) = v else { throw mismatch("an integer") }
            guard type.integerRange!.contains(i) else {
                throw VireoError.invalid(.invalidArgument, "row \(index): field '\(f.name)' value \(i) is out of the \(type.rawValue) range \(type.integerRange!)")
            }
            w.i64(i)
        case .float:
            switch v {
            case let .float(x): w.f32(x)
            case let .double(x): w.f32(Float(x))
            case let .int(x): w.f32(Float(x))
            default: throw mismatch("a number")
            }
        case .double:
            switch v {
            case let .float(x): w.f64(Double(x))
            case let .double(x): w.f64(x)
            case let .int(x): w.f64(Double(x))
            default: throw mismatch("a number")
            }
        case .varChar:
            guard case let .string(s) = v else { throw mismatch("a string") }
            let limit = f.maxLength ?? CollectionSchema.maxVarCharLength
            guard s.utf8.count <= limit else {
                throw VireoError.invalid(.invalidArgument, "row \(index): field '\(f.name)' is \(s.utf8.count) bytes, longer than its maxLength \(limit); shorten it or recreate the field with a larger maxLength")
            }
            w.string(s)
        case .json:
            w.string(v.jsonValue.jsonText)
        case .array:
            guard case let .array(items) = v else { throw mismatch("an array") }
            let cap = f.maxCapacity ?? CollectionSchema.maxArrayCapacity
            guard items.count <= cap else {
                throw VireoError.invalid(.invalidArgument, "row \(index): array field '\(f.name)' has \(items.count) elements, more than its maxCapacity \(cap)")
            }
            w.u32(UInt32(items.count))
            for item in items {
                guard item != .null else {
                    throw VireoError.invalid(.typeMismatch, "row \(index): array field '\(f.name)' cannot hold null elements")
                }
                try encode(item, type: f.elementType!, field: f, into: &w, index: index)
            }
        case .sparseFloatVector:
            let x = try Self.sparse(v, field: f, what: "row \(index)")
            w.u32(UInt32(x.count))
            for i in x.indices { w.u32(i) }
            for v in x.values { w.f32(v) }
        case .floatVector, .float16Vector, .bfloat16Vector, .int8Vector, .binaryVector:
            preconditionFailure("vectors are not scalar columns")
        }
    }

    // MARK: Decoding

    /// Decodes the stored scalar bytes of one row into `out`, keeping only fields in `wanted`
    /// (nil = all). Dynamic keys are returned as top-level fields, as Milvus does.
    func decodeScalars(_ bytes: UnsafeRawBufferPointer, wanted: Set<String>?, into out: inout Row) {
        var r = ByteReader(bytes)
        func field(_ f: FieldSchema) {
            let present = r.u8() != 0
            let keep = wanted?.contains(f.name) ?? true
            if !present {
                if keep { out[f.name] = .null }
                return
            }
            let v = decodeValue(type: f.dataType, field: f, reader: &r)
            if keep { out[f.name] = v }
        }
        for f in baseFields { field(f) }
        if schema.enableDynamicField {
            let text = r.string()
            if !text.isEmpty, case let .object(o)? = try? JSONValue(parsing: text) {
                for (k, v) in o where wanted?.contains(k) ?? true || wanted?.contains(CollectionSchema.dynamicFieldName) == true {
                    out[k] = .json(v)
                }
            }
        }
        for f in addedFields {
            if r.isAtEnd {
                // Stored before the field was added: it reads its default value, or null.
                if wanted?.contains(f.name) ?? true { out[f.name] = defaultValues[f.name] ?? .null }
            } else {
                field(f)
            }
        }
    }

    /// Decodes only the fields in `wanted` (by name; dynamic keys too) as JSON values, skipping the
    /// others without materialising them: the filter fast path.
    func filterValues(_ bytes: UnsafeRawBufferPointer, wanted: Set<String>, into out: inout [String: JSONValue]) {
        var r = ByteReader(bytes)
        func field(_ f: FieldSchema) {
            let present = r.u8() != 0
            guard present else { return }
            if wanted.contains(f.name) {
                out[f.name] = decodeValue(type: f.dataType, field: f, reader: &r).jsonValue
            } else {
                skipValue(type: f.dataType, field: f, reader: &r)
            }
        }
        for f in baseFields { field(f) }
        if schema.enableDynamicField {
            if wanted.contains(where: { fieldsByName[$0] == nil }) {
                let text = r.string()
                if !text.isEmpty, case let .object(o)? = try? JSONValue(parsing: text) {
                    for (k, v) in o where wanted.contains(k) && fieldsByName[k] == nil { out[k] = v }
                }
            } else if !addedFields.isEmpty {
                r.skip(Int(r.u32()))
            }
        }
        for f in addedFields {
            if r.isAtEnd {
                // Stored before the field was added: it reads its default value, or null.
                if wanted.contains(f.name), let d = defaultValues[f.name] { out[f.name] = d.jsonValue }
            } else {
                field(f)
            }
        }
    }

    private func skipValue(type: DataType, field f: FieldSchema, reader r: inout ByteReader) {
        switch type {
        case .bool: r.skip(1)
        case .int8, .int16, .int32, .int64, .double: r.skip(8)
        case .float: r.skip(4)
        case .varChar, .json: r.skip(Int(r.u32()))
        case .array:
            let n = Int(r.u32())
            for _ in 0..<n { skipValue(type: f.elementType!, field: f, reader: &r) }
        case .sparseFloatVector: r.skip(8 * Int(r.u32()))
        case .floatVector, .float16Vector, .bfloat16Vector, .int8Vector, .binaryVector: preconditionFailure("vectors are not scalar columns")
        }
    }

    private func decodeValue(type: DataType, field f: FieldSchema, reader r: inout ByteReader) -> FieldValue {
        switch type {
        case .bool: return .bool(r.u8() != 0)
        case .int8, .int16, .int32, .int64: return .int(r.i64())
        case .float: return .float(r.f32())
        case .double: return .double(r.f64())
        case .varChar: return .string(r.string())
        case .json: return .json((try? JSONValue(parsing: r.string())) ?? .null)
        case .array:
            let n = Int(r.u32())
            var items: [FieldValue] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(decodeValue(type: f.elementType!, field: f, reader: &r)) }
            return .array(items)
        case .sparseFloatVector:
            let n = Int(r.u32())
            let indices = (0..<n).map { _ in r.u32() }
            let values = (0..<n).map { _ in r.f32() }
            return .sparseVector(SparseVector(storedIndices: indices, values: values))
        case .floatVector, .float16Vector, .bfloat16Vector, .int8Vector, .binaryVector: preconditionFailure("vectors are not scalar columns")
        }
    }
}


/// The codec of a collection's current schema, shared by the collection and its shards, so that a
/// schema change (a field property, an added field) reaches every reader and writer at once. Every
/// schema a collection goes through decodes every row stored under an earlier one (fields are only
/// appended; see ``RowCodec``).
final class CodecBox: Sendable {
    private struct State {
        var codec: RowCodec
        /// Bumped with every new codec: a filter parsed against an older one is not cached.
        var generation = 0
        var filters: [String: Filter] = [:]
    }
    private let value: Mutex<State>
    /// Parsed filters kept at most (all dropped when full: a workload repeats a handful).
    static let parsedFilterLimit = 64

    init(_ codec: RowCodec) { value = Mutex(State(codec: codec)) }

    var current: RowCodec {
        get { value.withLock { $0.codec } }
        set {
            value.withLock { state in
                state = State(codec: newValue, generation: state.generation + 1)
            }
        }
    }

    /// `expression` parsed against the current schema (named `name`), from a cache of the last
    /// ``parsedFilterLimit`` expressions up to ``Filter/cacheableLength`` bytes: a per-query search
    /// with a filter spent 6.6 % of its time tokenizing and parsing the same text again (dev, 50 %
    /// selective filter, HNSW ef 16, `perf`). The cache goes with the codec when the schema changes.
    ///
    /// - Throws: what ``Filter/init(_:schema:)`` throws (errors are not cached).
    func filter(_ expression: String, name: String) throws -> Filter {
        let (codec, generation, cached) = value.withLock { ($0.codec, $0.generation, $0.filters[expression]) }
        if let cached { return cached }
        var schema = codec.schema
        schema.name = name
        let parsed = try Filter(expression, schema: schema)
        guard expression.utf8.count <= Filter.cacheableLength else { return parsed }
        value.withLock { state in
            guard state.generation == generation else { return }
            if state.filters.count >= Self.parsedFilterLimit { state.filters.removeAll(keepingCapacity: true) }
            state.filters[expression] = parsed
        }
        return parsed
    }

    /// How many parsed filters are cached (tests).
    var cachedFilters: Int { value.withLock { $0.filters.count } }
}
