import Vireo

/// Writes compact JSON into a byte array: the REST responses.
///
/// Floats are written with Swift's shortest round-trip representation (`Float` values — vectors,
/// distances — as `Float`, so `0.1` stays `0.1`); non-finite numbers, which JSON cannot carry,
/// become `null`.
struct JSONWriter {
    var bytes: [UInt8] = []

    init(reserving n: Int = 256) { bytes.reserveCapacity(n) }

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func null() { raw("null") }
    mutating func bool(_ b: Bool) { b ? raw("true") : raw("false") }
    mutating func int(_ v: Int64) { bytes.append(contentsOf: String(v).utf8) }
    mutating func int(_ v: Int) { bytes.append(contentsOf: String(v).utf8) }

    mutating func double(_ d: Double) {
        guard d.isFinite else { return null() }
        if d == d.rounded(), abs(d) < 1e15 {
            bytes.append(contentsOf: String(Int64(d)).utf8)
            raw(".0")
        } else {
            bytes.append(contentsOf: d.description.utf8)
        }
    }

    mutating func float(_ f: Float) {
        guard f.isFinite else { return null() }
        bytes.append(contentsOf: f.description.utf8)
    }

    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x0a: raw("\\n")
            case 0x0d: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(b >> 4)])
                bytes.append(hex[Int(b & 0xf)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func json(_ v: JSONValue) {
        switch v {
        case .null: null()
        case let .bool(b): bool(b)
        case let .int(i): int(i)
        case let .double(d): double(d)
        case let .string(s): string(s)
        case let .array(a):
            bytes.append(UInt8(ascii: "["))
            for (k, e) in a.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                json(e)
            }
            bytes.append(UInt8(ascii: "]"))
        case let .object(o):
            bytes.append(UInt8(ascii: "{"))
            for (k, key) in o.keys.sorted().enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                string(key)
                bytes.append(UInt8(ascii: ":"))
                json(o[key]!)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// A field value; `int64AsString` writes Int64 field values as strings (Milvus'
    /// `Accept-Type-Allow-Int64: false`).
    mutating func field(_ v: FieldValue, int64AsString: Bool = false) {
        switch v {
        case .null: null()
        case let .bool(b): bool(b)
        case let .int(i): int64AsString ? string(String(i)) : int(i)
        case let .float(f): float(f)
        case let .double(d): double(d)
        case let .string(s): string(s)
        case let .json(j): json(j)
        case let .array(a):
            bytes.append(UInt8(ascii: "["))
            for (k, e) in a.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                field(e, int64AsString: int64AsString)
            }
            bytes.append(UInt8(ascii: "]"))
        case let .vectorBytes(b):
            // Milvus' REST API returns FLOAT16/BFLOAT16/BINARY vectors as base64 (Go's []byte).
            string(Base64.encode(b))
        case let .sparseVector(v):
            // Milvus' REST form of a sparse row: {"index": weight, …}.
            bytes.append(UInt8(ascii: "{"))
            for (k, (i, w)) in zip(v.indices, v.values).enumerated() {
                key(String(i), first: k == 0)
                float(w)
            }
            bytes.append(UInt8(ascii: "}"))
        case let .floatVector(vec):
            bytes.append(UInt8(ascii: "["))
            for (k, e) in vec.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                float(e)
            }
            bytes.append(UInt8(ascii: "]"))
        }
    }

    /// Writes `"key":` (with a leading comma unless `first`).
    mutating func key(_ k: String, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        string(k)
        bytes.append(UInt8(ascii: ":"))
    }
}
