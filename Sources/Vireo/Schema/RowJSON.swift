/// Conversion of JSON rows (JSON Lines import, the REST API) to typed rows.
extension CollectionSchema {
    /// Converts a JSON object to a ``Row`` using the schema's field types: numbers become integers
    /// or floats as the field wants, number lists become vectors, objects become JSON values. Keys that
    /// are not fields are kept as JSON (the dynamic field decides whether they are accepted).
    ///
    /// - Throws: ``VireoError`` (``VireoError/Code/typeMismatch``) when the value is not a JSON object.
    public func row(fromJSON json: JSONValue, index: Int = 0) throws -> Row {
        guard case let .object(object) = json else {
            throw VireoError.invalid(.typeMismatch, "row \(index): expected a JSON object, got \(json.jsonText.prefix(40))")
        }
        var row = Row()
        for (key, value) in object {
            row[key] = fieldValue(fromJSON: value, for: field(named: key))
        }
        return row
    }

    /// One JSON value as the value of `field` (nil: a key outside the schema, kept as JSON for the
    /// dynamic field): number arrays become vectors for vector fields; values are checked against
    /// the field's type later, when the row is written.
    public func fieldValue(fromJSON v: JSONValue, for field: FieldSchema?) -> FieldValue {
        guard let field else { return .json(v) }
        switch (field.dataType, v) {
        case (_, .null): return .null
        case (.json, _): return .json(v)
        case let (.floatVector, .array(items)):
            var floats: [Float] = []
            floats.reserveCapacity(items.count)
            for item in items {
                switch item {
                case let .double(d): floats.append(Float(d))
                case let .int(i): floats.append(Float(i))
                default: return .array(items.map(plain))  // let validation name the bad element
                }
            }
            return .floatVector(floats)
        case let (.array, .array(items)): return .array(items.map(plain))
        case (.sparseFloatVector, .object): return .json(v)  // `{"index": weight}`, parsed by the row codec
        default: return plain(v)
        }
    }

    private func plain(_ v: JSONValue) -> FieldValue {
        switch v {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .double(d): return .double(d)
        case let .string(s): return .string(s)
        case let .array(a): return .array(a.map(plain))
        case .object: return .json(v)
        }
    }
}

extension FieldValue {
    /// The value as JSON (vectors as number arrays), for JSON output.
    public var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case let .float(f): return .double(Double(f))
        case let .double(d): return .double(d)
        case let .string(s): return .string(s)
        case let .json(j): return j
        case let .array(a): return .array(a.map(\.jsonValue))
        case let .floatVector(v): return .array(v.map { .double(Double($0)) })
        case let .vectorBytes(b): return .string(Base64.encode(b))
        case let .sparseVector(v):
            // Milvus' JSON form of a sparse row: index (as text) → weight.
            var o: [String: JSONValue] = [:]
            for (i, w) in zip(v.indices, v.values) { o[String(i)] = .double(Double(w)) }
            return .object(o)
        }
    }
}
