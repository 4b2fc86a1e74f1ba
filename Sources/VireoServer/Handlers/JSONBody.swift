import Foundation
import Vireo

/// A JSON object of Milvus parameters with typed accessors that fail with Milvus' codes: 1801 for a
/// value of the wrong JSON type, 1802 for a missing required parameter. REST request bodies are
/// such objects; gRPC carries the same parameters as JSON-encoded key/values, which its adapter
/// gathers into one, so both decode through ``MilvusParams`` (one place per parameter).
struct JSONBody: Sendable {
    let object: [String: JSONValue]

    init(_ value: JSONValue) throws {
        // Milvus accepts a `null` body for calls without a payload (collections/list); required
        // parameters are then reported missing one by one, as for `{}`.
        if value == .null {
            object = [:]
            return
        }
        guard case let .object(o) = value else {
            throw APIError(.invalidJSON, "can only accept json format request: the body must be a JSON object, got \(value.kindName)")
        }
        object = o
    }

    init(object: [String: JSONValue]) { self.object = object }

    subscript(_ key: String) -> JSONValue? {
        if case .null? = object[key] { return nil }
        return object[key]
    }

    func string(_ key: String) throws -> String? {
        guard let v = self[key] else { return nil }
        guard case let .string(s) = v else { throw APIError.wrongType(key, expected: "a string", got: v) }
        return s
    }

    func requiredString(_ key: String, hint: String = "") throws -> String {
        guard let s = try string(key), !s.isEmpty else { throw APIError.missing(key, hint) }
        return s
    }

    /// An integer; integral floats and numeric strings are accepted (Milvus' params are often strings).
    func int(_ key: String) throws -> Int? {
        guard let v = self[key] else { return nil }
        return try Self.int(v, key)
    }

    static func int(_ v: JSONValue, _ key: String) throws -> Int {
        switch v {
        case let .int(i): return Int(i)
        case let .double(d) where d == d.rounded() && abs(d) < 9e15: return Int(d)
        case let .string(s):
            if let i = Int(s.trimmingCharacters(in: .whitespaces)) { return i }
            throw APIError.wrongType(key, expected: "an integer", got: v)
        default: throw APIError.wrongType(key, expected: "an integer", got: v)
        }
    }

    func double(_ key: String) throws -> Double? {
        guard let v = self[key] else { return nil }
        switch v {
        case let .int(i): return Double(i)
        case let .double(d): return d
        case let .string(s):
            if let d = Double(s), d.isFinite { return d }
            throw APIError.wrongType(key, expected: "a number", got: v)
        default: throw APIError.wrongType(key, expected: "a number", got: v)
        }
    }

    /// A boolean; strings are read as Milvus (Go's `strconv.ParseBool`) reads them: `"1"`, `"t"`,
    /// `"true"` (any case) and `"0"`, `"f"`, `"false"`.
    func bool(_ key: String) throws -> Bool? {
        guard let v = self[key] else { return nil }
        switch v {
        case let .bool(b): return b
        case let .string(s):
            switch s.lowercased() {
            case "1", "t", "true": return true
            case "0", "f", "false": return false
            default: throw APIError.wrongType(key, expected: "a boolean (true, false, \"true\", \"false\", \"1\" or \"0\")", got: v)
            }
        default: throw APIError.wrongType(key, expected: "a boolean (true, false, \"true\", \"false\", \"1\" or \"0\")", got: v)
        }
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let v = self[key] else { return nil }
        guard case let .array(items) = v else {
            if case let .string(s) = v { return [s] }
            throw APIError.wrongType(key, expected: "a list of strings", got: v)
        }
        var out: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item else { throw APIError.wrongType("\(key)[\(i)]", expected: "a string", got: item) }
            out.append(s)
        }
        return out
    }

    func object(_ key: String) throws -> JSONBody? {
        guard let v = self[key] else { return nil }
        guard case let .object(o) = v else { throw APIError.wrongType(key, expected: "an object", got: v) }
        return JSONBody(object: o)
    }

    func array(_ key: String) throws -> [JSONValue]? {
        guard let v = self[key] else { return nil }
        guard case let .array(a) = v else { throw APIError.wrongType(key, expected: "a list", got: v) }
        return a
    }

    /// The collection name (`collectionName`, required).
    var collectionName: String {
        get throws { try requiredString("collectionName") }
    }

    /// Query vectors: a list of lists of numbers (a single flat list is one vector).
    func vectors(_ key: String = "data", field: FieldSchema? = nil) throws -> [[Float]] {
        guard let items = try array(key), !items.isEmpty else {
            throw APIError.missing(key, "give the query vectors as a list of lists of numbers, e.g. [[0.1, 0.2, …]]")
        }
        if let field, let element = VectorElement(field.dataType), element != .float32, let dim = field.dimension {
            return try Self.compactQueries(items, key, field: field, element: element, dim: dim)
        }
        if items.allSatisfy({ if case .array = $0 { return false } else { return true } }) {
            return [try Self.floats(items, "\(key)[0]")]
        }
        var out: [[Float]] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard case let .array(v) = item else {
                if case .string = item {
                    throw APIError.invalid("\(key)[\(i)] is text; Vireo has no text-embedding functions (BM25), send float vectors")
                }
                throw APIError.wrongType("\(key)[\(i)]", expected: "a list of numbers (one query vector)", got: item)
            }
            out.append(try Self.floats(v, "\(key)[\(i)]"))
        }
        return out
    }

    /// Query vectors of a FLOAT16/BFLOAT16/INT8/BINARY field as Milvus' REST API takes them: base64
    /// text of the vector's bytes (not INT8), or a list of numbers (floats for FLOAT16/BFLOAT16,
    /// integers for INT8, the dimension/8 bytes for BINARY), widened to float32.
    static func compactQueries(_ items: [JSONValue], _ key: String, field: FieldSchema, element: VectorElement, dim: Int) throws -> [[Float]] {
        let per = element.bytesPerVector(dim: dim)
        let list = items.allSatisfy({ if case .array = $0 { return false }; if case .string = $0 { return false }; return true }) ? [JSONValue.array(items)] : items
        return try list.enumerated().map { i, item in
            let what = "\(key)[\(i)]"
            switch item {
            case let .string(s) where element != .int8:
                guard let b = Base64.decode(s) else { throw APIError.invalid("\(what) is not base64 text of a \(field.dataType.rawValue)") }
                guard b.count == per else {
                    throw APIError.invalid("\(what) has \(b.count) bytes, but a \(field.dataType.rawValue) of dimension \(dim) has \(per)")
                }
                return element.floats(b, dim: dim)
            case let .array(v) where element == .binary:
                guard v.count == per else {
                    throw APIError.invalid("\(what) has \(v.count) bytes, but a BinaryVector of dimension \(dim) has \(per) (one byte, 0...255, per 8 dimensions)")
                }
                let bytes = try v.enumerated().map { j, x -> UInt8 in
                    guard case let .int(n) = x, let b = UInt8(exactly: n) else {
                        throw APIError.wrongType("\(what)[\(j)]", expected: "a byte (0...255)", got: x)
                    }
                    return b
                }
                return element.floats(bytes, dim: dim)
            case let .array(v):
                return try floats(v, what)
            default:
                throw APIError.wrongType(what, expected: element == .int8 ? "a list of integers" : "a list of numbers or base64 text", got: item)
            }
        }
    }

    static func floats(_ items: [JSONValue], _ what: String) throws -> [Float] {
        var v: [Float] = []
        v.reserveCapacity(items.count)
        for (j, x) in items.enumerated() {
            switch x {
            case let .double(d): v.append(Float(d))
            case let .int(i): v.append(Float(i))
            default: throw APIError.wrongType("\(what)[\(j)]", expected: "a number", got: x)
            }
        }
        return v
    }
}
